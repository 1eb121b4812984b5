"""The command line: `main.py` builds the parser, one module per group of commands.

The core never imports this package; it imports the core.
"""

from soundfinder.cli.common import (  # noqa: F401  (re-exported for the command modules and tests)
    EXIT_ERROR,
    EXIT_USAGE,
    CliError,
    _display,
    _quiet_transformers,
    load_embedder,
    open_library,
)
from soundfinder.cli.main import build_parser, main  # noqa: F401
