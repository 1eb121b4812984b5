"""The dark theme (a QSS in resources/theme/) and the app icon (resources/icons/)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QIcon, QPalette
from PySide6.QtWidgets import QApplication

from soundfinder.resources import ResourcesNotFound, resources_dir


def _resource(*parts: str):
    try:
        return resources_dir().joinpath(*parts)
    except ResourcesNotFound:
        return None


def app_icon() -> QIcon:
    icon = QIcon()
    for name in ("soundfinder.svg", "soundfinder-256.png", "soundfinder-64.png"):
        path = _resource("icons", name)
        if path is not None and path.is_file():
            icon.addFile(str(path))
    return icon


def dark_palette() -> QPalette:
    p = QPalette()
    colours = {
        QPalette.ColorRole.Window: "#1b1f24", QPalette.ColorRole.WindowText: "#d8dee4",
        QPalette.ColorRole.Base: "#15181c", QPalette.ColorRole.AlternateBase: "#1a1e23",
        QPalette.ColorRole.Text: "#d8dee4", QPalette.ColorRole.Button: "#262c33",
        QPalette.ColorRole.ButtonText: "#d8dee4", QPalette.ColorRole.Highlight: "#2f6f69",
        QPalette.ColorRole.HighlightedText: "#ffffff", QPalette.ColorRole.ToolTipBase: "#262c33",
        QPalette.ColorRole.ToolTipText: "#d8dee4", QPalette.ColorRole.PlaceholderText: "#7d8590",
        QPalette.ColorRole.Link: "#6fe0d3",
    }
    for role, colour in colours.items():
        p.setColor(role, QColor(colour))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.ButtonText, QPalette.ColorRole.WindowText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor("#5c6570"))
    return p


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    app.setPalette(dark_palette())
    qss = _resource("theme", "dark.qss")
    if qss is not None and qss.is_file():
        icons = _resource("icons")
        app.setStyleSheet(qss.read_text(encoding="utf-8").replace("@ICONS@", icons.as_posix() if icons else ""))
    app.setWindowIcon(app_icon())
