"""What the window does on user commands: context menu, settings, reveal, drops."""

from __future__ import annotations

import os
import sys

from PySide6.QtCore import QProcess, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QMenu

from soundfinder.audio import is_audio_path


def dropped_paths(mime) -> tuple[list[str], list[str]] | None:
    """(folders, audio files) among the local files of a drop, or None when there are none."""
    if not mime.hasUrls():
        return None
    folders, files = [], []
    for url in mime.urls():
        path = url.toLocalFile()
        if not path:
            continue
        if os.path.isdir(path):
            folders.append(path)
        elif os.path.isfile(path) and is_audio_path(path):
            files.append(path)
    return (folders, files) if folders or files else None


def reveal(path: str) -> None:
    """Show `path` in the system's file manager (selected where the platform can)."""
    if sys.platform == "darwin":
        QProcess.startDetached("open", ["-R", path])
    elif sys.platform == "win32":
        QProcess.startDetached("explorer", [f"/select,{os.path.normpath(path)}"])
    else:
        QDesktopServices.openUrl(QUrl.fromLocalFile(os.path.dirname(path)))


def copy_paths(paths: list[str]) -> None:
    QGuiApplication.clipboard().setText("\n".join(paths))


def context_menu(window, pos) -> None:
    view = window.view
    index = view.indexAt(pos)
    if not index.isValid():
        return
    paths = view.selected_paths() or [window.current_path()]
    path = window.current_path() or paths[0]
    menu = QMenu(view)
    menu.addAction("Play", lambda: window.player.play(path))
    menu.addAction("Find similar sounds", lambda: window.find_similar(path))
    window.extras.add_menu_actions(menu, paths)  # more like these, thumbs up/down
    menu.addSeparator()
    menu.addAction("Edit tags…" if len(paths) == 1 else f"Edit tags of {len(paths)} sounds…",
                   lambda: window.tags.edit_tags(paths))
    menu.addSeparator()
    menu.addAction("Copy path" if len(paths) == 1 else f"Copy {len(paths)} paths", lambda: copy_paths(paths))
    menu.addAction("Reveal in file manager", lambda: reveal(path))
    menu.exec(view.viewport().mapToGlobal(pos))


def open_settings(window) -> None:
    from soundfinder.gui.settings_dialog import SettingsDialog

    window.settings_saver.flush(wait=True)  # the dialog shows what the file holds
    dialog = SettingsDialog(window)
    if not dialog.exec():
        return
    before = {n: window.setting(n) for n in ("model", "device", "precision", "library")}
    values = dialog.save()
    for name in values:  # what was chosen in the dialog now wins over the command line
        window.overrides.pop(name, None)
    window.search_bar.autoplay.setChecked(bool(values["autoplay"]))
    window.search_bar.volume.setValue(int(round(values["volume"] * 100)))
    after = {n: window.setting(n) for n in before}
    if after != before:
        window.tags.tagger.cancel()
        window.live.stop()  # the live library writes the old library until it stops
        window.start_core()
    else:
        window.run_query(window.search_bar.text())
