"""Renders kept on disk in the user's cache folder, so auditioning a fitted loop twice costs one render.

Each render lives in a folder named by a hash of what it depends on (the source file's path,
size and modification time; the plan; the renderer version), under the file name a musician
sees in the DAW after dragging: `Dusty Keys 03 (124 BPM, A minor).wav`. The cache is an LRU
bounded by size: a hit refreshes the file's time, and `clean()` (run on start and after each
new render) removes the least recently used renders until the total fits the cap.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from pathlib import Path

from soundfinder.render.fit import FitPlan
from soundfinder.render.stretch import RENDER_VERSION, render_file

DEFAULT_CAP_BYTES = 2 * 1024**3


def _sanitize(name: str) -> str:
    bad = '<>:"/\\|?*'
    return "".join("_" if c in bad or ord(c) < 32 else c for c in name).strip() or "render"


class RenderCache:
    """Find or make the render of (source, plan); safe to call from several worker threads."""

    def __init__(self, root: str | os.PathLike, cap_bytes: int = DEFAULT_CAP_BYTES):
        self.root = Path(root)
        self.cap_bytes = int(cap_bytes)
        self._lock = threading.Lock()

    def key(self, source: str | os.PathLike, plan: FitPlan, percussive: bool) -> str:
        st = os.stat(source)
        parts = (os.path.abspath(os.fspath(source)), st.st_size, st.st_mtime_ns, round(plan.stretch, 6),
                 plan.semitones, bool(percussive), RENDER_VERSION)
        return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()[:20]

    def path_for(self, source: str | os.PathLike, plan: FitPlan, percussive: bool = False) -> Path:
        stem = Path(os.fspath(source)).stem
        label = plan.label()
        name = _sanitize(f"{stem} ({label})" if label else stem) + ".wav"
        return self.root / self.key(source, plan, percussive) / name

    def lookup(self, source, plan: FitPlan, percussive: bool = False) -> Path | None:
        """The cached render if there is one (its time is refreshed), else None."""
        path = self.path_for(source, plan, percussive)
        if path.is_file():
            try:
                os.utime(path)
            except OSError:
                pass
            return path
        return None

    def get(self, source, plan: FitPlan, percussive: bool = False) -> Path:
        """The render of `source` with `plan`, rendered now if it is not cached."""
        hit = self.lookup(source, plan, percussive)
        if hit is not None:
            return hit
        path = self.path_for(source, plan, percussive)
        render_file(source, plan, path, percussive=percussive)
        self.clean(keep=path)
        return path

    def clean(self, keep: Path | None = None) -> int:
        """Remove leftovers of interrupted renders and the least recently used renders over the cap.

        Returns the number of renders removed.
        """
        with self._lock:
            if not self.root.is_dir():
                return 0
            entries = []
            for folder in self.root.iterdir():
                if not folder.is_dir():
                    continue
                files = [f for f in folder.iterdir() if f.is_file()]
                for f in files:
                    if f.name.startswith(".") and f.name.endswith(".tmp"):
                        f.unlink(missing_ok=True)
                wavs = [f for f in folder.iterdir() if f.is_file()]
                if not wavs:
                    shutil.rmtree(folder, ignore_errors=True)
                    continue
                st = [w.stat() for w in wavs]
                entries.append((max(s.st_mtime for s in st), sum(s.st_size for s in st), folder))
            total = sum(e[1] for e in entries)
            removed = 0
            for _, size, folder in sorted(entries):
                if total <= self.cap_bytes:
                    break
                if keep is not None and keep.parent == folder:
                    continue
                shutil.rmtree(folder, ignore_errors=True)
                total -= size
                removed += 1
            return removed
