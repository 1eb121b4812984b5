"""Applying a set of changed paths (from the watcher) to the library: work proportional to the change.

Gone records whose content reappeared elsewhere become moves (keeping vector and tags); the
rest goes through the pipeline one file root at a time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable

from soundfinder.indexing.pipeline import IndexSummary, Progress, index_paths
from soundfinder.indexing.scan import content_hash, scan_folders
from soundfinder.library import INDEXED, Batch, FileInfo


def apply_changes(library, embedder, paths: Iterable[str], folders: list[str], *,
                  progress: Callable[[Progress], None] | None = None, cancel: threading.Event | None = None,
                  index: Callable[..., IndexSummary] = index_paths) -> IndexSummary:
    """Bring the catalog up to date with what is now at `paths` (files or folders, present or gone).

    Work is proportional to the change, not to the library: only the given paths are looked at.
    A path gone from disk removes its records (or those under it, for a folder), except that
    a gone record whose content reappears at a new path moves there, keeping its vector and
    tags. Paths under a library folder that is itself missing (an unplugged drive) are left to
    a reconcile of that folder, which marks its records offline instead of deleting them.

    Args:
        folders: the library's folders; paths outside them are ignored.
    """
    cancel = cancel or threading.Event()
    paths = list(paths)
    if progress is not None:
        progress(Progress("scanning", 0, len(paths)))  # also where a paused worker holds the job
    present: dict[str, FileInfo] = {}
    gone: dict[str, object] = {}  # path -> FileRecord
    missing_folders: set[str] = set()
    for path in sorted({os.path.abspath(p) for p in paths}):
        folder = _folder_of(path, folders)
        if folder is None:
            continue
        if not os.path.isdir(folder):
            missing_folders.add(folder)
            continue
        if os.path.isdir(path):
            found = scan_folders([path]).files
            present.update(found)
            gone.update((r.path, r) for r in library.files_under(path) if r.path not in found)
        elif os.path.isfile(path):
            present.update(scan_folders([path]).files)  # keeps only audio files
        else:
            if (rec := library.get(path)) is not None:
                gone[path] = rec
            gone.update((r.path, r) for r in library.files_under(path))  # a gone folder
    summary = IndexSummary()
    if cancel.is_set():
        summary.cancelled = True
        return summary

    # 1. Gone records whose bytes reappeared elsewhere are moves (same size first: hashing is cheap then).
    if gone:
        by_hash: dict[str, list[str]] = {}
        for rec in gone.values():
            if rec.hash and rec.status == INDEXED:
                by_hash.setdefault(rec.hash, []).append(rec.path)
        sizes = {rec.size for rec in gone.values() if rec.hash in by_hash}
        moved = []
        for info in present.values():
            if info.size not in sizes or library.get(info.path) is not None:
                continue
            try:
                info.hash = content_hash(info.path)
            except OSError:
                continue  # the pipeline records why below
            if by_hash.get(info.hash):
                old = by_hash[info.hash].pop()
                moved.append((old, info))
                del gone[old]
        library.commit(Batch(moved=moved, removed=sorted(gone)))
        for _, info in moved:
            present.pop(info.path)
        summary.moved, summary.removed = len(moved), len(gone)

    # 2. Everything else present goes through the pipeline, one file root each (never a folder root,
    #    which would make a subfolder a library folder of its own).
    if present:
        summary.add(index(library, embedder, sorted(present), progress=progress, cancel=cancel))
    for folder in sorted(missing_folders):
        summary.add(index(library, embedder, [folder], progress=progress, cancel=cancel))
    return summary


def _folder_of(path: str, folders: list[str]) -> str | None:
    """The innermost library folder holding `path` (the one whose absence matters)."""
    holding = [f for f in folders if path == f or path.startswith(f.rstrip(os.sep) + os.sep)]
    return max(holding, key=len) if holding else None
