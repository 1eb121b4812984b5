"""The `soundfinder` command: builds the parser from one module per group and dispatches.

Every command module has `register(subparsers)` and imports its heavy dependencies inside its
handlers, so `soundfinder --help` stays fast. A module that fails to import is an error, never
silently dropped (a missing command would look like a typo to the user).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from soundfinder import __version__
from soundfinder.cli.common import EXIT_ERROR, CliError

# One module per group of commands, in the order `--help` lists them.
COMMAND_MODULES = (
    "soundfinder.cli.library",
    "soundfinder.cli.tags",
    "soundfinder.cli.watch",
    "soundfinder.cli.map",
    "soundfinder.cli.doctor",
    "soundfinder.cli.train",
    "soundfinder.cli.selftest",
    "soundfinder.cli.render",
    "soundfinder.cli.analysis",
    "soundfinder.cli.manage",
    "soundfinder.cli.export",
)


def cmd_gui(args) -> int:
    try:
        from soundfinder.gui.app import run
    except ImportError as e:
        raise CliError(f"the desktop app is not available: {e}") from None
    return run(args)



def build_parser() -> argparse.ArgumentParser:
    from soundfinder.config import add_global_flags

    p = argparse.ArgumentParser(prog="soundfinder", description="Find sounds by describing them.")
    p.add_argument("--version", action="version", version=f"soundfinder {__version__}")
    add_global_flags(p)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    from soundfinder.audio import DecodeError
    from soundfinder.config import ConfigError
    from soundfinder.library import LibraryError
    from soundfinder.library.tags import TagError
    from soundfinder.model.clap import ModelLoadError

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        return cmd_gui(args)
    if getattr(args, "k", 1) is not None and getattr(args, "k", 1) < 1:
        parser.error("-k must be at least 1")
    try:
        return args.func(args)
    except (CliError, ConfigError, ModelLoadError, LibraryError, DecodeError, TagError) as e:
        print(f"soundfinder: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", EXIT_ERROR)
    except KeyboardInterrupt:
        print("soundfinder: interrupted; everything committed so far is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
