"""What the player plays for a selected sample: the file itself, or its render fitted to the project.

With Sync off, or for a sample that needs no change, the original file plays at once. With
Sync on, a loop's fitted render is played: from the render cache at once when it was heard
before, else rendered on a worker thread (the UI never waits) and played when ready, unless
the selection has moved on meanwhile. A render that fails falls back to the original with a
message. Drags ask `drag_path()` so the DAW receives exactly what was heard.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor

from PySide6.QtCore import QObject, Signal

from soundfinder.gui.project_bar import Project
from soundfinder.render import FitError, FitPlan, RenderCache, RenderError, plan_fit

Facts = Callable[[str], dict]  # path -> {"bpm", "key", "kind", "pitch"} (values may be None)


class Auditioner(QObject):
    hint = Signal(str)  # a short note for the project bar ("tempo unknown — set it", warnings)
    problem = Signal(str)  # a render failed: the original plays instead
    _rendered = Signal(int, str, str, str)  # token, source, rendered path, error

    def __init__(self, player, cache: RenderCache, facts: Facts, executor: Executor | None = None, parent=None):
        super().__init__(parent)
        self.player = player
        self.cache = cache
        self.facts = facts
        self.project = Project()
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="render")
        self._token = 0
        self.source: str | None = None  # the sample last auditioned (the player may hold its render)
        self._rendered.connect(self._on_rendered)

    def set_project(self, project: Project) -> None:
        self.project = project

    def plan(self, path: str) -> tuple[FitPlan, bool]:
        """The fit for `path` under the current project, and whether it is percussive (no key)."""
        f = {"bpm": None, "key": None, "kind": None, "pitch": None, **(self.facts(path) or {})}
        if not self.project.sync:
            return FitPlan(), f["key"] is None
        try:
            plan = plan_fit(source_bpm=f["bpm"], source_key=f["key"], kind=f["kind"],
                            target_bpm=self.project.bpm, target_key=self.project.key, pitch=f["pitch"],
                            to_key=self.project.to_key)
        except FitError as e:
            return FitPlan(warnings=(str(e),)), f["key"] is None
        return plan, f["key"] is None

    def play(self, path: str) -> None:
        """Audition `path` (fitted when Sync is on); returns at once."""
        self._token += 1
        self.source = path
        plan, percussive = self.plan(path)
        self.hint.emit(" · ".join(plan.warnings))
        if plan.is_identity:
            self.player.play(path)
            return
        hit = self.cache.lookup(path, plan, percussive)
        if hit is not None:
            self.player.play(str(hit))
            return
        token = self._token
        self.player.stop()

        def work() -> None:
            try:
                out = str(self.cache.get(path, plan, percussive))
                self._rendered.emit(token, path, out, "")
            except (RenderError, OSError) as e:
                self._rendered.emit(token, path, "", str(e))

        self.executor.submit(work)

    def drag_path(self, path: str, original: bool = False) -> str:
        """The file a drag of `path` delivers: the fitted render with Sync on, else the original."""
        if original:
            return path
        plan, percussive = self.plan(path)
        if plan.is_identity:
            return path
        try:
            return str(self.cache.get(path, plan, percussive))
        except (RenderError, OSError) as e:
            self.problem.emit(f"could not fit {os.path.basename(path)} ({e}); dragging the original")
            return path

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)

    def _on_rendered(self, token: int, source: str, rendered: str, error: str) -> None:
        if token != self._token:
            return  # the selection moved on while this rendered; the cache keeps it for later
        if error:
            self.problem.emit(f"could not fit {os.path.basename(source)}: {error}; playing the original")
            self.player.play(source)
        else:
            self.player.play(rendered)
