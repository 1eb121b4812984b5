"""Opening a library folder: the lock, leftovers of a crash, the catalog and the vector log.

Every step that holds something (the writer lock, the catalog's connection) registers its
undo on an `ExitStack` owned by `Library.open`, so whatever fails later (the documents, the
search graph, a KeyboardInterrupt) releases all of it: a failed open never leaves the folder
locked.
"""

from __future__ import annotations

import os
import sqlite3
from contextlib import ExitStack
from pathlib import Path

from soundfinder.library.catalog import Catalog
from soundfinder.library.errors import LibraryError, SpaceMismatchError, is_damaged, write_error
from soundfinder.library.lock import WriterLock
from soundfinder.library.vectorlog import VectorLog, VectorLogError


def take_writer_lock(root: Path, stack: ExitStack) -> WriterLock:
    """Create the folder if needed and take the writer lock (released by `stack` on failure)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LibraryError(f"cannot create the library folder {root}: {e.strerror}") from None
    if not os.access(root, os.W_OK):
        raise LibraryError(f"the library folder {root} is not writable")
    lock = WriterLock(root / "lock")
    try:
        lock.acquire()
    except OSError as e:
        raise write_error(root, e) from None
    stack.callback(lock.release)
    remove_leftover_temps(root)
    return lock


def remove_leftover_temps(root: Path) -> None:
    """Temporary files of a write a crash interrupted (the renamed-over originals are intact)."""
    try:
        names = os.listdir(root)
    except OSError:
        return
    for name in names:
        if name.endswith(".tmp") and (name.startswith(".") or name == "vectors.hnsw.tmp"):
            try:
                os.unlink(root / name)
            except OSError:
                pass


def open_storage(root: Path, space, readonly: bool, stack: ExitStack) -> tuple[Catalog, VectorLog | None, int]:
    """(catalog, vector log, committed vector count); the catalog is closed by `stack` on failure.

    A new library adopts `space`; an existing one refuses another. Vectors past the catalog's
    count (a crash between the log's fsync and the catalog's commit) are cut off here.
    """
    try:
        catalog = Catalog(root / "catalog.sqlite", readonly=readonly)
        stack.callback(catalog.close)
        stored_space, dim = catalog.get_meta("space"), catalog.get_meta("dim")
        if space is not None and stored_space is not None and stored_space != space.id:
            raise SpaceMismatchError(
                f"this library was indexed with {stored_space}, not {space.id}; vectors of two "
                f"models are never mixed. Use the original model (--model), or re-embed into a "
                f"new library with --library NEW_FOLDER")
        if dim is None and space is not None and not readonly:
            with catalog.transaction():
                catalog.set_meta("space", space.id)
                catalog.set_meta("model", space.model)
                catalog.set_meta("dim", str(space.dim))
            dim = str(space.dim)
        log = VectorLog(root / "vectors.f32", int(dim or 0), readonly=readonly) if dim else None
        committed = catalog.vector_count()
        if log is not None and len(log) != committed:
            log.truncate(committed)
        return catalog, log, committed
    except VectorLogError as e:
        raise LibraryError(f"cannot open the library at {root}: {e}; `soundfinder doctor --repair` "
                           f"can repair it") from None
    except (OSError, sqlite3.Error) as e:
        if is_damaged(e):
            raise LibraryError(f"cannot open the library at {root}: the catalog is damaged ({e})") from None
        if not readonly:
            raise write_error(root, e) from None
        raise LibraryError(f"cannot open the library at {root}: {e}") from None
