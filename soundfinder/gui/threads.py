"""The one thread helper: run a function off the UI thread, get its result back on it.

`run_task(fn, callback, executor=...)` runs `fn()` on an executor and later calls
`callback(result=..., error=...)` on the main (Qt) thread, where touching widgets is safe.
Every background job in the GUI goes through here; tests may inject a synchronous
executor (`ImmediateExecutor`) to make the order deterministic.
"""

from __future__ import annotations

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
