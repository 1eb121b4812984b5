"""The `soundfinder` command: index, search, similar, status, list, forget (and the GUI).

The command line is a contract for scripts: `--json` output is stable, exit code 0 means
the command did its job (files that failed to decode are reported, not fatal), and every
usage, model or library problem is one line on stderr with a non-zero exit.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from soundfinder import __version__, config

EXIT_USAGE = 2
EXIT_ERROR = 1


class CliError(Exception):
    pass


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
    from soundfinder.embed import ClapEmbedder

    _quiet_transformers()
    return ClapEmbedder.load(str(config.get("model", args.model)), device=str(config.get("device", args.device)),
                             precision=str(config.get("precision", getattr(args, "precision", None))))


def open_library(args, embedder=None, readonly: bool = False):
    from soundfinder.library import Library

    return Library.open(str(config.get("library", args.library)), space=embedder.space if embedder else None,
                        readonly=readonly)


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=True)
    sys.stdout.write("\n")


def _display(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


class _ProgressPrinter:
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


# -- commands ---------------------------------------------------------------------------

def cmd_index(args) -> int:
    from soundfinder.indexing import index_paths

    for p in args.paths:
        if not os.path.exists(p):
            raise CliError(f"no such file or folder: {p}")
    embedder = load_embedder(args)
    printer = _ProgressPrinter()
    with open_library(args, embedder) as lib:
        try:
            summary = index_paths(lib, embedder, args.paths, progress=printer)
        finally:
            printer.close()
    if args.json:
        _print_json(summary.to_json())
    else:
        s = summary
        print(f"new {s.new}, changed {s.changed}, moved {s.moved}, removed {s.removed}, "
              f"unchanged {s.unchanged}, failed {s.failed}" + (f", offline {s.offline}" if s.offline else "")
              + f" ({s.seconds:.1f} s)")
        for path, reason in s.failures[:50]:
            print(f"  failed: {_display(path)}: {reason}")
        if len(s.failures) > 50:
            print(f"  ... and {len(s.failures) - 50} more (soundfinder list --failed)")
        for path, reason in s.problems:
            print(f"  skipped folder: {_display(path)}: {reason} (its files are kept as they were)")
    return 0


def _print_hits(hits, as_json: bool) -> None:
    if as_json:
        _print_json([h.to_json() for h in hits])
        return
    if not hits:
        print("no results")
    for h in hits:
        tags = f"  [{', '.join(h.record.tags)}]" if h.record.tags else ""
        print(f"{h.score:6.3f}  {_display(h.path)}{tags}")


def cmd_search(args) -> int:
    from soundfinder.search import search_text

    if not args.text.strip():
        raise CliError("the search text is empty")
    embedder = load_embedder(args)
    with open_library(args, embedder, readonly=True) as lib:
        _check_space(lib, embedder)
        _print_hits(search_text(lib, embedder, args.text, k=args.k, tags=args.tag, not_tags=args.not_tag),
                    args.json)
    return 0


def cmd_similar(args) -> int:
    from soundfinder.audio import DecodeError
    from soundfinder.search import search_similar

    if not os.path.isfile(args.file):
        raise CliError(f"no such file: {args.file}")
    embedder = load_embedder(args)
    with open_library(args, embedder, readonly=True) as lib:
        _check_space(lib, embedder)
        try:
            hits = search_similar(lib, embedder, args.file, k=args.k, tags=args.tag, not_tags=args.not_tag)
        except DecodeError as e:
            raise CliError(str(e)) from None
        _print_hits(hits, args.json)
    return 0


def _check_space(lib, embedder) -> None:
    from soundfinder.library import SpaceMismatchError

    if lib.space_id is not None and lib.space_id != embedder.space.id:
        raise SpaceMismatchError(
            f"this library was indexed with {lib.space_id}, not {embedder.space.id}; use the same "
            f"--model, or index into a new --library")


def cmd_status(args) -> int:
    from soundfinder.library import LibraryError

    try:
        lib = open_library(args, readonly=True)
    except LibraryError:
        stats = {"files": 0, "indexed": 0, "failed": 0, "offline": 0, "vectors": 0, "model": None,
                 "library": str(config.get("library", args.library)), "folders": []}
    else:
        with lib:
            stats = lib.stats()
    if args.json:
        _print_json(stats)
    else:
        print(f"library  {stats['library']}\nmodel    {stats['model']}\nfiles    {stats['files']} "
              f"({stats['indexed']} indexed, {stats['failed']} failed, {stats['offline']} offline)\n"
              f"vectors  {stats['vectors']}")
        for f in stats["folders"]:
            print(f"folder   {f}")
    return 0


def cmd_list(args) -> int:
    with open_library(args, readonly=True) as lib:
        records = list(lib.files("failed" if args.failed else None))
        lib.attach_tags(records)
    if args.json:
        _print_json([r.to_json() for r in records])
    else:
        for r in records:
            extra = f"  {r.error}" if r.error else ""
            print(f"{r.status:8} {_display(r.path)}{extra}")
    return 0


def cmd_forget(args) -> int:
    paths = [os.path.abspath(p) for p in args.paths]
    with open_library(args) as lib:
        n = 0
        for p in paths:
            under = [r.path for r in lib.files_under(p)]
            n += lib.forget(under + [p])
    print(f"forgot {n} file(s); nothing on disk was touched")
    return 0


def cmd_gui(args) -> int:
    try:
        from soundfinder.gui.app import run
    except ImportError as e:
        raise CliError(f"the desktop app is not available: {e}") from None
    return run(args)


# -- parser -----------------------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="soundfinder", description="Find sounds by describing them.")
    p.add_argument("--version", action="version", version=f"soundfinder {__version__}")
    p.add_argument("--library", help="library folder (env SOUNDFINDER_LIBRARY)")
    p.add_argument("--model", help="CLAP hub id or local folder (env SOUNDFINDER_MODEL)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda", "mps"], help="where the model runs")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16", "float16"], help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("index", help="add folders or files to the library and embed new sounds")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("search", help="find sounds matching a description")
    s.add_argument("text")
    s.add_argument("-k", type=int, default=20, help="number of results (default 20)")
    s.add_argument("--json", action="store_true")
    _add_tag_filters(s)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("similar", help="find sounds like a file (inside or outside the library)")
    s.add_argument("file")
    s.add_argument("-k", type=int, default=20)
    s.add_argument("--json", action="store_true")
    _add_tag_filters(s)
    s.set_defaults(func=cmd_similar)

    s = sub.add_parser("status", help="library counts and model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("list", help="every file in the catalog")
    s.add_argument("--failed", action="store_true", help="only files that could not be indexed")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("forget", help="remove files or folders from the library (not from disk)")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.set_defaults(func=cmd_forget)

    for name in EXTENSIONS:
        _register_extension(name, sub)
    return p


def _add_tag_filters(s) -> None:
    s.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only sounds with this tag (repeat: all of them)")
    s.add_argument("--not-tag", action="append", default=[], metavar="TAG", help="no sounds with this tag")


# Modules that add subcommands: each has `register(subparsers)` and imports its heavy
# dependencies inside its handlers, so `soundfinder --help` stays fast.
EXTENSIONS = (
    "soundfinder.tagging_cli",
    "soundfinder.indexing.watch_cli",
    "soundfinder.doctor",
    "soundfinder.training.cli",
    "soundfinder.selftest",
)


def _register_extension(name: str, sub) -> None:
    import importlib

    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as e:
        if e.name is not None and name.startswith(e.name):
            return  # not part of this build
        raise
    module.register(sub)


def main(argv: list[str] | None = None) -> int:
    from soundfinder.audio import DecodeError
    from soundfinder.embed.model import ModelLoadError
    from soundfinder.library import LibraryError
    from soundfinder.library.tags import TagError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_gui(args)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        parser.error("-k must be at least 1")
    try:
        return args.func(args)
    except (CliError, ModelLoadError, LibraryError, DecodeError, TagError) as e:
        print(f"soundfinder: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("soundfinder: interrupted; everything committed so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
