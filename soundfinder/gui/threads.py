"""The one thread helper: run a function off the UI thread, get its result back on it.

`run_task(fn, callback, executor=...)` runs `fn()` on an executor and later calls
`callback(result=..., error=...)` on the main (Qt) thread, where touching widgets is safe.
Every background job in the GUI goes through here; tests may inject a synchronous
executor (`ImmediateExecutor`) to make the order deterministic.
"""

from __future__ import annotations

import queue
import threading
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor

from PySide6.QtCore import QCoreApplication, QObject, Signal

Callback = Callable[..., None]


class _Poster(QObject):
    """Lives in the main thread; a signal emitted from any thread is delivered there."""

    deliver = Signal(object, object, object)  # callback, result, error

    def __init__(self):
        super().__init__()
        self.deliver.connect(self._call)

    @staticmethod
    def _call(callback: Callback, result, error) -> None:
        callback(result=result, error=error)


_poster: _Poster | None = None


def _get_poster() -> _Poster:
    global _poster
    if _poster is None:
        _poster = _Poster()
        app = QCoreApplication.instance()
        if app is not None:
            _poster.moveToThread(app.thread())
    return _poster


class ImmediateExecutor(Executor):
    """Runs each task in the caller's thread at once (for deterministic tests)."""

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - handed to the callback
            fut.set_exception(e)
        return fut


def serial_executor(name: str) -> ThreadPoolExecutor:
    """One background thread: tasks run in submission order, never two at once."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sf-{name}")


class DaemonExecutor(Executor):
    """One daemon thread running tasks in order: for work the process must not wait for when the
    window closes (a model download of minutes). `ThreadPoolExecutor` threads are joined at exit."""

    def __init__(self, name: str):
        self._name = name
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, fn, /, *args, **kwargs) -> Future:
        fut: Future = Future()
        self._tasks.put((fut, fn, args, kwargs))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=f"sf-{self._name}", daemon=True)
                self._thread.start()
        return fut

    def _run(self) -> None:
        while True:
            fut, fn, args, kwargs = self._tasks.get()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(*args, **kwargs))
            except BaseException as e:  # noqa: BLE001 - handed to whoever holds the future
                fut.set_exception(e)


def run_task(fn: Callable[[], object], callback: Callback | None, executor: Executor) -> Future:
    """Run `fn` on `executor`; call `callback(result=, error=)` on the main thread afterwards."""
    poster = _get_poster()

    def job():
        try:
            result, error = fn(), None
        except Exception as e:  # reported to the callback, never lost silently
            result, error = None, e
            error.__sf_traceback__ = traceback.format_exc()
        if callback is not None:
            poster.deliver.emit(callback, result, error)
        return result

    return executor.submit(job)
