"""The window's side of the live library: folder requests, and results that follow the disk.

Every commit of the live library (files added, changed, removed, moved) re-asks the current
question, throttled to one refresh per `REFRESH_MS`, so a burst of commits costs one query;
a renamed file keeps its selection under its new path.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, QTimer

REFRESH_MS = 400  # file changes re-run the current query at most this often
BUSY_REFRESH_MS = 1000  # ... and this often while a big job commits batch after batch


class LiveController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.renamed: dict[str, str] = {}  # old path -> new, to keep a renamed selection
        self._state = "idle"
        self.refresh_timer = QTimer(self, singleShot=True, interval=REFRESH_MS)
        self.refresh_timer.timeout.connect(self._refresh)
        live, panel = window.live, window.panel
        panel.addRequested.connect(lambda f: self.add_folders([f]))
        panel.rescanRequested.connect(self.rescan)
        panel.removeRequested.connect(self.remove_folder)
        panel.cancelRequested.connect(live.cancel)
        panel.pauseRequested.connect(lambda pause: live.pause() if pause else live.resume())
        live.progress.connect(panel.show_progress)
        live.progress.connect(self._progress)
        live.changed.connect(self._files_changed)
        live.jobDone.connect(self._job_done)
        live.failed.connect(window._problem)

    def _progress(self, p) -> None:
        # Working or idle decides what an empty library says ("Listening…" or "Add a folder").
        if p.state != self._state:
            self._state = p.state
            self.window._update_stack()

    def add_folders(self, folders: list[str]) -> None:
        """Follow new folders: the live library scans, indexes and then watches them."""
        if self.window.writable(sound=True):
            for folder in folders:
                self.window.live.add_folder(folder)
            self.window._update_stack()

    def rescan(self, folders: list[str]) -> None:
        if self.window.writable(sound=True):
            self.window.live.reconcile(folders)

    def remove_folder(self, folder: str) -> None:
        if self.window.writable(sound=True):
            self.window.live.remove_folder(folder)

    def _files_changed(self, changes) -> None:
        """A commit of the live library: refresh counts and results soon (throttled, not per commit)."""
        for old, new in changes.moved:
            self.renamed[old] = new
        for path, reason in changes.failed:
            self.window.panel.add_error(path, reason)
        self.refresh_soon()

    def refresh_soon(self) -> None:
        if not self.refresh_timer.isActive():
            self.refresh_timer.start(BUSY_REFRESH_MS if self.window.live.busy else REFRESH_MS)

    def _refresh(self) -> None:
        self.window.bridge.refresh_stats()
        self.window.refresh_results()

    def _job_done(self, result) -> None:
        w, s = self.window, result.summary
        for path, reason in s.failures:
            w.panel.add_error(path, reason)
        if result.error:
            w._problem(f"Indexing stopped: {result.error}")
        elif s.cancelled:
            w.statusBar().showMessage("Indexing cancelled; what was indexed stays. Rescan picks up the rest.", 8000)
        elif s.new or s.changed or s.removed or s.moved:
            w.statusBar().showMessage(f"Library updated: {s.new} new, {s.changed} changed, {s.moved} moved, "
                                      f"{s.removed} removed, {s.failed} failed ({s.seconds:.1f} s)", 8000)
        w.bridge.refresh_tags()
        self.refresh_soon()
