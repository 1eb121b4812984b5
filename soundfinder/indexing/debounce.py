"""Turning a stream of file-system events into settled change sets (the watcher's debounce).

Kept apart from the watcher's threads so its rule can be read, and tested with a fake clock,
on its own.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

_UNSEEN = object()


def _stat_state(path: str):
    """What must stay the same for a path to count as settled: size and mtime, or absence."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_size, st.st_mtime_ns, os.path.isdir(path))


@dataclass
class _Pending:
    first: float  # first event: bounds how long a path may wait behind others still changing
    stable_since: float | None = None  # when its current state was first observed
    state: object = _UNSEEN


class ChangeCollector:
    """Coalesces events into settled change sets: path → "something happened here".

    A path is settled once its size and mtime (or its absence) have not changed and no event
    has touched it for `debounce` seconds, so a file still being copied waits. Settled paths
    are handed over together when everything pending has settled (a burst of thousands of
    events becomes one change set), or after `max_wait` even if other paths are still changing.
    A file created and deleted within the window is handed over as a path that is gone and
    unknown to the catalog, which costs nothing.

    Args:
        clock: monotonic seconds; `stat`: path → comparable state (both injected by tests).
    """

    def __init__(self, debounce: float = 1.0, max_wait: float = 10.0, clock: Callable[[], float] = time.monotonic,
                 stat: Callable[[str], object] = _stat_state):
        self.debounce = debounce
        self.max_wait = max_wait
        self.clock = clock
        self.stat = stat
        self.lock = threading.Lock()
        self._pending: dict[str, _Pending] = {}

    def add(self, path: str) -> None:
        now = self.clock()
        with self.lock:
            p = self._pending.get(path)
            if p is None:
                self._pending[path] = _Pending(first=now)
            else:
                p.stable_since, p.state = None, _UNSEEN

    def __len__(self) -> int:
        with self.lock:
            return len(self._pending)

    def take_ready(self) -> list[str]:
        """Settled paths to apply now (possibly none). Call with `lock` held."""
        now = self.clock()
        settled, unsettled = [], []
        for path, p in self._pending.items():
            state = self.stat(path)
            if p.stable_since is None or state != p.state:
                p.state, p.stable_since = state, now
            (settled if now - p.stable_since >= self.debounce else unsettled).append(path)
        if unsettled:
            # Hold a folder while something inside it is still being written, and everything
            # while the burst goes on, unless it has waited long enough.
            busy = _ancestors(unsettled)
            settled = [s for s in settled if now - self._pending[s].first >= self.max_wait and s not in busy]
        for s in settled:
            del self._pending[s]
        return settled


def _ancestors(paths: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        d = os.path.dirname(path)
        while d not in out:
            out.add(d)
            parent = os.path.dirname(d)
            if parent == d:
                break
            d = parent
    return out
