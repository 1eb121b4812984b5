"""Find the audio files under the library's folders, safely.

Walks without following symlinked folders into loops (each real folder is visited once),
never opens special files, and reports folders it cannot read instead of failing.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from soundfinder.audio import is_audio_path
from soundfinder.library.records import FileInfo

HASH_CHUNK = 1 << 20


@dataclass
class ScanResult:
    files: dict[str, FileInfo] = field(default_factory=dict)  # path -> stat facts (no hash yet)
    problems: list[tuple[str, str]] = field(default_factory=list)  # path, reason
    missing_roots: list[str] = field(default_factory=list)

    @property
    def unreadable_folders(self) -> list[str]:
        """Folders whose listing failed: their known files must not be taken for deleted."""
        return [p for p, _ in self.problems if p not in self.files]

    def reason_for(self, path: str) -> str | None:
        return next((r for p, r in self.problems if p == path), None)


def scan_folders(roots: Iterable[str], follow_symlinks: bool = True) -> ScanResult:
    result = ScanResult()
    seen_dirs: set[tuple[int, int]] = set()
    for root in roots:
        root = os.path.abspath(os.path.expanduser(root))
        if os.path.isfile(root):
            _add_file(root, result)
            continue
        if not os.path.isdir(root):
            result.missing_roots.append(root)
            continue
        stack = [root]
        while stack:
            folder = stack.pop()
            try:
                st = os.stat(folder)
            except OSError as e:
                result.problems.append((folder, f"folder unreadable: {e.strerror}"))
                continue
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs:
                continue  # a symlink loop or a second link to a folder already walked
            seen_dirs.add(key)
            try:
                entries = list(os.scandir(folder))
            except OSError as e:
                result.problems.append((folder, f"folder unreadable: {e.strerror}"))
                continue
            for entry in entries:
                try:
                    is_dir = entry.is_dir(follow_symlinks=follow_symlinks)
                except OSError:
                    is_dir = False
                if is_dir:
                    stack.append(entry.path)
                elif is_audio_path(entry.name):
                    _add_file(entry.path, result)
    return result


def _add_file(path: str, result: ScanResult) -> None:
    try:
        st = os.stat(path)
    except OSError as e:
        # dangling symlinks and permission problems are recorded as failures by the pipeline
        result.files[path] = FileInfo(path=path, size=-1, mtime_ns=-1)
        result.problems.append((path, _stat_reason(path, e)))
        return
    if stat.S_ISDIR(st.st_mode):
        return
    result.files[path] = FileInfo(path=path, size=st.st_size, mtime_ns=st.st_mtime_ns)


def _stat_reason(path: str, e: OSError) -> str:
    if e.errno == errno.ELOOP:
        return "unreadable: symbolic link loop"
    if e.errno == errno.ENOENT and os.path.islink(path):
        return "unreadable: broken link (its target is missing)"
    if isinstance(e, PermissionError):
        return "unreadable: permission denied"
    return f"unreadable: {e.strerror or e}"


def content_hash(path: str) -> str:
    """blake2b of the file's bytes: identical audio files share one vector; moves are recognised.

    Opened without blocking and checked after opening, so a FIFO (or a file swapped for one
    between the scan and now) is refused instead of hanging the indexer.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file (pipe, socket or device)")
        h = hashlib.blake2b(digest_size=16)
        while chunk := os.read(fd, HASH_CHUNK):
            h.update(chunk)
        return h.hexdigest()
    finally:
        os.close(fd)
