"""Wires the project bar, the auditioner and drags into the main window (tempo/key sync).

The window asks `play(path)` wherever it auditions and routes drags through `drag_paths`;
this controller owns the rest: the bar's settings (remembered between sessions), the render
cache in the user's cache folder (cleaned on start), and what is known of each result's tempo
and key (read from the result rows the window already holds).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QGuiApplication

from soundfinder import config
from soundfinder.gui.audition import Auditioner
from soundfinder.gui.project_bar import Project, ProjectBar
from soundfinder.render import RenderCache

# Holding this while dragging delivers the original file instead of the fitted render.
ORIGINAL_MODIFIER = Qt.KeyboardModifier.AltModifier


def hit_facts(hit) -> dict:
    """Tempo, key, loop/one-shot and note of a result row, from its analysis (None where unknown)."""
    desc = getattr(hit, "descriptors", None)
    return {name: getattr(desc, name, None) for name in ("bpm", "key", "kind", "pitch")}


class SyncController(QObject):
    def __init__(self, window, executor=None):
        super().__init__(window)
        self.window = window
        user = config.load_user_settings()
        project = Project(bpm=float(config.get("project_bpm", user=user)),
                          key=str(config.get("project_key", user=user)) or None,
                          sync=bool(config.get("project_sync", user=user)),
                          to_key=bool(config.get("project_to_key", user=user)))
        self.bar = ProjectBar(project)
        self.cache = RenderCache(config.cache_dir() / "renders")
        self.cache.clean()
        self.auditioner = Auditioner(window.player, self.cache, self.facts, executor=executor, parent=self)
        self.auditioner.set_project(project)
        self.auditioner.hint.connect(self.bar.show_hint)
        self.auditioner.problem.connect(lambda msg: window.statusBar().showMessage(msg, 6000))
        self.bar.changed.connect(self._project_changed)

    def facts(self, path: str) -> dict:
        results = self.window.results
        row = results.row_of(path)
        return hit_facts(results.hits[row]) if row >= 0 else {}

    def play(self, path: str | None) -> None:
        if path:
            self.auditioner.play(path)

    def drag_paths(self, paths: list[str]) -> list[str]:
        original = bool(config.get("drag_original")) or bool(
            QGuiApplication.keyboardModifiers() & ORIGINAL_MODIFIER)
        return [self.auditioner.drag_path(p, original=original) for p in paths]

    def close(self) -> None:
        self.bar.close_link()
        self.auditioner.close()

    def _project_changed(self, project: Project) -> None:
        self.auditioner.set_project(project)
        for name, value in (("project_bpm", project.bpm), ("project_key", project.key or ""),
                            ("project_sync", project.sync), ("project_to_key", project.to_key)):
            self.window._save_setting(name, value)  # coalesced and written off the UI thread
        path = self.window.current_path()
        if path and self.window.player.playing:
            self.play(path)  # hear the change at once; only the auditioned sample is re-rendered
