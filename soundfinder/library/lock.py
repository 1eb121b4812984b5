"""One writer per library: an advisory lock that names its holder and dies with it.

`flock` is released by the kernel when the holding process exits or is killed, so a crash
never leaves a stale lock; the holder's pid/host/command are written into the file only
to tell the refused process who holds it.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

from soundfinder.library.errors import LibraryLockedError


class WriterLock:
    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except BlockingIOError:
            holder = self.holder()
            os.close(fd)
            who = (f"process {holder.get('pid')} on {holder.get('host')} ({holder.get('command')})"
                   if holder else "another process")
            raise LibraryLockedError(
                f"the library {self.path.parent} is open for writing by {who}; close it first "
                f"(read-only commands such as search and status still work)") from None
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                                 "command": " ".join(sys.argv[:3])}).encode())
        self._fd = fd

    def held_by_other(self) -> dict | None:
        """The holder's details if another process holds the lock now, else None (no waiting)."""
        if self._fd is not None:
            return None
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            _lock(fd)
        except BlockingIOError:
            return self.holder() or {"pid": None}
        finally:
            os.close(fd)  # closing drops a lock we took
        return None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def release(self) -> None:
        if self._fd is not None:
            try:
                os.ftruncate(self._fd, 0)
            except OSError:
                pass
            os.close(self._fd)
            self._fd = None


def _lock(fd: int) -> None:
    if sys.platform == "win32":  # pragma: no cover - exercised on Windows builds only
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            raise BlockingIOError from None
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
