"""Saving the user's settings from the window without writing on every slider tick.

A volume drag emits dozens of values a second; each used to rewrite and fsync the settings file
on the UI thread. `SettingsSaver` remembers the latest value of each changed setting and writes
them together once the changes stop for `DELAY_MS`, on a background thread (one at a time, in
order, so a later write never loses to an earlier one). `flush(wait=True)` writes now, for the
moments the file must be current: before the Settings dialog reads it, before a model change
is loaded, and at close.
"""

from __future__ import annotations

import sys
from concurrent.futures import Executor, Future

from PySide6.QtCore import QObject, QTimer

from soundfinder import config
from soundfinder.gui.threads import ImmediateExecutor, serial_executor

DELAY_MS = 500  # quiet time after the last change before the file is written
WRITE_TIMEOUT_S = 5.0  # a flush that must finish waits at most this long (a hung network home)


def _write(values: dict) -> None:
    user = config.load_user_settings()
    user.update(values)
    config.save_user_settings(user)


def _report(future: Future) -> None:
    if not future.cancelled() and future.exception() is not None:
        print(f"soundfinder: could not save the settings: {future.exception()}", file=sys.stderr)


class SettingsSaver(QObject):
    def __init__(self, parent=None, executor: Executor | None = None, delay_ms: int = DELAY_MS):
        super().__init__(parent)
        self.pending: dict = {}
        self._executor = executor or serial_executor("settings")
        self._last: Future | None = None
        self.timer = QTimer(self, singleShot=True, interval=delay_ms)
        self.timer.timeout.connect(self.flush)

    def set(self, name: str, value) -> None:
        """Remember `value` for setting `name`; it is written once the changes pause."""
        self.pending[name] = value
        self.timer.start()  # restarts the quiet period

    def flush(self, wait: bool = False) -> None:
        """Write what is pending now; with `wait`, return once it (and every earlier write) is on disk."""
        self.timer.stop()
        if self.pending:
            values, self.pending = self.pending, {}
            self._last = self._executor.submit(_write, values)
            self._last.add_done_callback(_report)
        if wait and self._last is not None:
            self._last.result(timeout=WRITE_TIMEOUT_S)

    def close(self) -> None:
        """Write what is pending and let the writer thread end (bounded: never holds up closing long)."""
        try:
            self.flush(wait=True)
        except Exception:  # noqa: BLE001 - a failed write was reported (_report), a slow one ends on its own
            pass
        finally:
            self._executor.shutdown(wait=False)
            self._executor = ImmediateExecutor()  # a change after closing (rare) is written at once
