"""Starting the desktop app: `soundfinder` with no subcommand ends up in `run(args)`."""

from __future__ import annotations

import os
import sys


def _quiet() -> None:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")


def make_app(argv: list[str] | None = None):
    """The QApplication (created once), themed and named."""
    from PySide6.QtWidgets import QApplication

    from soundfinder.gui.theme import apply_theme

    app = QApplication.instance()
    if app is None:
        app = QApplication(argv or [sys.argv[0]])
        app.setApplicationName("soundfinder")
        app.setApplicationDisplayName("soundfinder")
        app.setDesktopFileName("soundfinder")
        apply_theme(app)
    return app


def overrides_from(args) -> dict:
    return {name: getattr(args, name, None) for name in ("library", "model", "device", "precision")}


def run(args) -> int:
    """Open the main window; returns the exit code when it closes."""
    _quiet()
    app = make_app()
    from soundfinder.gui.main_window import MainWindow

    window = MainWindow(overrides_from(args))
    window.show()
    return app.exec()
