"""What every command shares: errors, loading the model and the library, printing.

The command line is a contract for scripts: `--json` output is stable, exit code 0 means
the command did its job (files that failed to decode are reported, not fatal), and every
usage, model or library problem is one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import os
import sys
import time

from soundfinder import config

EXIT_USAGE = 2
EXIT_ERROR = 1


class CliError(Exception):
    """One line for the user; `exit_code` 2 marks a usage problem (a value the command cannot take)."""

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code


def _quiet_transformers() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except Exception:
        pass


def load_embedder(args):
    from soundfinder.model import ClapEmbedder

    _quiet_transformers()
    return ClapEmbedder.load(str(config.get("model", args.model)), device=str(config.get("device", args.device)),
                             precision=str(config.get("precision", getattr(args, "precision", None))),
                             download_progress=_download_printer())


def _download_printer():
    """The first start's model download, one line every few seconds on stderr."""
    last = [0.0]

    def show(p) -> None:
        now = time.monotonic()
        if now - last[0] >= 2.0 or (p.total and p.done >= p.total):
            last[0] = now
            print(f"downloading the model: {p.describe()}", file=sys.stderr, flush=True)

    return show


def open_library(args, embedder=None, readonly: bool = False):
    from soundfinder.library import Library

    return Library.open(str(config.get("library", args.library)), space=embedder.space if embedder else None,
                        readonly=readonly)


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=True)
    sys.stdout.write("\n")


def display(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


class ProgressPrinter:
    """A progress bar on a terminal, a plain line every few seconds otherwise (logs, CI)."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.last = 0.0
        self.bar = None

    def __call__(self, p) -> None:
        if p.phase != "embedding":
            return
        if self.tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=p.total, unit="file", file=self.stream, dynamic_ncols=True)
            self.bar.n = p.done
            self.bar.set_postfix_str(os.path.basename(p.current or "")[-30:], refresh=False)
            self.bar.refresh()
        elif time.monotonic() - self.last > 5 or p.done == p.total:
            self.last = time.monotonic()
            self.stream.write(f"embedding {p.done}/{p.total} files ({p.rate:.1f} files/s)\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()



def check_space(lib, embedder) -> None:
    """Refuse to compare vectors of two models (one embedding space per library)."""
    from soundfinder.library import SpaceMismatchError

    if lib.space_id is not None and lib.space_id != embedder.space.id:
        raise SpaceMismatchError(
            f"this library was indexed with {lib.space_id}, not {embedder.space.id}; use the same "
            f"--model, or index into a new --library")


# Old private names, kept so the command modules read the same.
_print_json = print_json
_display = display
_check_space = check_space
