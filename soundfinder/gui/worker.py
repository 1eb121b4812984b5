"""The library's background writers as Qt signals: the live library and auto-tagging.

`LiveBridge` owns a `soundfinder.indexing.watch.LiveLibrary` (watching every library folder,
one indexing worker). LiveLibrary calls back on background threads; the bridge only re-emits
each callback as a signal, which Qt queues onto the UI thread. Requests (add or remove a
folder, pause, resume, cancel) only queue work or set flags; starting (which walks folders to
set up watches) runs on a background thread, stopping (which joins the worker) at close.

`AutoTagger` runs `soundfinder.query.autotag.tag_library` on its own thread. Only one writer may touch
the library at a time: the tagger holds the library's lock while it writes, so the live
worker simply waits at its next commit (its queue, its watches and its progress stay as they were).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, Signal

from soundfinder.gui.threads import run_task, serial_executor


class LiveBridge(QObject):
    progress = Signal(object)  # soundfinder.indexing.worker.WorkerProgress
    changed = Signal(object)  # AppliedChanges: what one commit added, removed, moved...
    jobDone = Signal(object)  # JobResult
    started = Signal()
    failed = Signal(str)

    def __init__(self, parent=None, executor=None, options: dict | None = None):
        """`options`: keywords for LiveLibrary (tests pass a short `debounce`)."""
        super().__init__(parent)
        self.live = None
        self.options = dict(options or {})
        self.state = "idle"  # the worker's last reported state: "idle", "working" or "paused"
        self._executor = executor or serial_executor("live")
        self.progress.connect(self._remember)

    @property
    def busy(self) -> bool:
        return self.state != "idle"

    @property
    def paused(self) -> bool:
        return self.state == "paused"

    def _remember(self, p) -> None:
        self.state = p.state

    def start(self, library, embedder) -> None:
        """Follow every folder of `library`: reconcile them (changes made while closed), then watch."""
        from soundfinder.indexing.watch import LiveLibrary

        def job():
            live = LiveLibrary(library, embedder, on_change=self.changed.emit, on_progress=self.progress.emit,
                               on_job_done=self.jobDone.emit, **self.options)
            live.start()
            self.live = live  # set here, not in the callback: `stop` may run before callbacks do
            return live

        def done(result=None, error=None):
            if error is not None:
                self.failed.emit(f"watching the library folders failed: {error}")
            else:
                self.started.emit()

        self.state = "working"  # the reconcile is queued
        run_task(job, done, self._executor)

    def _request(self, fn) -> None:
        """Run a request after the start (it may still be setting up watches)."""
        def job():
            if self.live is None:
                raise RuntimeError("the library is not being watched (read-only or not open)")
            fn(self.live)

        run_task(job, lambda result=None, error=None: error is not None and self.failed.emit(str(error)),
                 self._executor)

    def add_folder(self, folder: str) -> None:
        self._request(lambda live: live.add_folder(folder))

    def remove_folder(self, folder: str) -> None:
        self._request(lambda live: live.remove_folder(folder))

    def reconcile(self, folders: list[str] | None = None) -> None:
        """Rescan folders against the catalog (all of them when None)."""
        self._request(lambda live: live.worker.submit_reconcile(folders) if folders else live.reconcile())

    def pause(self) -> None:
        if self.live is not None:
            self.live.pause()

    def resume(self) -> None:
        if self.live is not None:
            self.live.resume()

    def cancel(self) -> None:
        """Stop the running and queued jobs (committed work stays); watching goes on."""
        if self.live is not None:
            self.live.resume()  # a paused job must wake up to see its cancel
            self.live.cancel()

    def stop(self, timeout: float = 30) -> None:
        """Stop watching and end the worker; close the library only after this returns."""
        self._executor.submit(lambda: None).result(timeout=timeout)  # a start in flight finishes first
        live, self.live = self.live, None
        if live is not None:
            live.stop(timeout)
        self.state = "idle"


class AutoTagger(QObject):
    progress = Signal(object)  # soundfinder.query.autotag.TagProgress
    finished = Signal(object)  # TagSummary
    failed = Signal(str)

    def __init__(self, parent=None, executor=None):
        super().__init__(parent)
        self._executor = executor or serial_executor("tag")
        self._cancel: threading.Event | None = None

    @property
    def busy(self) -> bool:
        return self._cancel is not None

    def start(self, library, embedder, set_names: list[str] | None = None) -> None:
        """Auto-tag every indexed file of `library` (a shared `Library`) with the named sets (default all)."""
        from soundfinder.query.autotag import TagProgress, label_sets_for, matrix_cache, tag_library

        if self._cancel is not None:
            return
        cancel = self._cancel = threading.Event()

        def job():
            # 1. The text tower (label matrices) runs outside the lock: searches go on meanwhile.
            cache = matrix_cache()
            sets = label_sets_for(library.root, set_names)
            space = embedder.space.id
            for i, ls in enumerate(sets):
                self.progress.emit(TagProgress(ls.name, i, len(sets), 0, 0))
                cache.matrix(space, ls, embedder.encode_text)
                if ls.mode == "multi":
                    cache.neutral(space, ls, embedder.encode_text)
                if cancel.is_set():
                    break
            # 2. The writes: the one writer while they run (the live worker waits at its next commit).
            with library.lock:
                return tag_library(library, embedder, set_names, progress=self.progress.emit, cancel=cancel,
                                   cache=cache)

        def done(result=None, error=None):
            self._cancel = None
            if error is not None:
                self.failed.emit(str(error))
            else:
                self.finished.emit(result)

        run_task(job, done, self._executor)

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()

    def shutdown(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
