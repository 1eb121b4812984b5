"""Background indexing as Qt signals: the GUI's side of `soundfinder.indexing`.

`IndexWorker` runs `index_paths` on its own thread and turns the core's progress callback
into throttled Qt signals on the main thread. Jobs queue: adding a folder while another is
indexing runs it afterwards. The folder watcher (issue #4) can replace this class as long
as it emits the same three signals.
"""

from __future__ import annotations

import threading
import time

from PySide6.QtCore import QObject, Signal

from soundfinder.gui.threads import run_task, serial_executor

# At most this many progress signals per second reach the UI (phase changes always do).
PROGRESS_HZ = 10


class IndexWorker(QObject):
    progress = Signal(object)  # soundfinder.indexing.Progress (a snapshot)
    finished = Signal(object)  # IndexSummary
    failed = Signal(str)

    def __init__(self, bridge, parent=None, executor=None):
        super().__init__(parent)
        self.bridge = bridge
        self._executor = executor or serial_executor("index")
        self._cancels: set[threading.Event] = set()
        self.pending = 0

    @property
    def busy(self) -> bool:
        return self.pending > 0

    def start(self, roots: list[str]) -> None:
        """Index `roots` (folders or files) after any job already running."""
        from soundfinder.indexing import index_paths

        bridge = self.bridge
        self.pending += 1
        cancel = threading.Event()
        self._cancels.add(cancel)
        last = {"t": 0.0, "phase": None}

        def report(p):
            now = time.monotonic()
            if p.phase != last["phase"] or now - last["t"] >= 1 / PROGRESS_HZ or p.done == p.total:
                last["t"], last["phase"] = now, p.phase
                self.progress.emit(_snapshot(p))

        def job():
            if bridge.library is None or bridge.embedder is None:
                raise RuntimeError("the model and library are not loaded yet")
            return index_paths(bridge.library, bridge.embedder, roots, progress=report, cancel=cancel)

        def done(result=None, error=None):
            self.pending -= 1
            self._cancels.discard(cancel)
            if error is not None:
                self.failed.emit(str(error))
            else:
                self.finished.emit(result)

        run_task(job, done, self._executor)

    def cancel(self) -> None:
        """Stop the running job and drop the queued ones (what was committed stays)."""
        for event in list(self._cancels):
            event.set()

    def shutdown(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)


def _snapshot(p):
    """A copy of the progress the worker keeps mutating, safe to read on the UI thread."""
    from soundfinder.indexing import Progress

    return Progress(p.phase, p.done, p.total, p.current, list(p.errors), p.started)
