"""The library folder: catalog, vectors and documents kept consistent behind one class.

Layout of a library folder:
    catalog.sqlite   files, content hashes, tags (SQLite WAL)
    vectors.f32      append-only float32 rows, the durable vectors
    vectors.hnsw     a snapshot of the search graph (rebuilt from vectors.f32 if lost)
    documents.json   the library's folders (TinyDB, atomic writes)
    lock             who is writing

Commit order (invariant 2 of DESIGN.md): vectors are appended and fsynced, then the catalog
transaction that refers to them commits. A crash in between leaves rows past the catalog's
vector count, which `open` cuts off. No catalog row ever points at a missing vector.

Long because: it is the one facade over the catalog, the vector log, the graph, tags and the
stores handed out by accessor (descriptors, fingerprints, names, user data, collections); each
verb is a few lines that delegate to its module. The folder list is in folders.py.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from soundfinder.library.catalog import Catalog
from soundfinder.library.descriptors import DescriptorStore
from soundfinder.library.documents import open_documents
from soundfinder.library.errors import (
    LibraryError,
    LibraryLockedError,
    LibraryWriteError,
    SpaceMismatchError,
    write_error,
)
from soundfinder.library.folders import FolderList
from soundfinder.library.lock import WriterLock
from soundfinder.library.maps import MapStore
from soundfinder.library.names import NameIndex
from soundfinder.library.opening import open_storage, take_writer_lock
from soundfinder.library.records import FAILED, INDEXED, OFFLINE, Batch, FileRecord
from soundfinder.library.tags import AutoTag, TagCount, TagRecord, TagStore
from soundfinder.library.threadsafe import locked_store, serialised
from soundfinder.library.vectorindex import VectorIndex
from soundfinder.library.vectorlog import VectorLog

# A snapshot of the hnsw graph is written once this many vectors (or 2% of the library,
# whichever is more) would need replaying on open: saving a 1M graph takes ~5 s, replaying
# 20k vectors a few seconds, so both stay a small fraction of the work that caused them.
SNAPSHOT_EVERY = 5000
SNAPSHOT_FRACTION = 0.02


@serialised
class Library(FolderList):
    """Safe to share between threads: every public verb and property takes `lock` (see
    threadsafe.py); hold `lock` yourself to keep other threads out between several calls."""

    def __init__(self, root: Path, catalog: Catalog, log: VectorLog, index: VectorIndex,
                 lock: WriterLock | None, readonly: bool):
        self.lock = threading.RLock()
        self.root = root
        self.catalog = catalog
        self.log = log
        self.index = index
        self._lock = lock
        self.readonly = readonly
        self.documents = open_documents(root / "documents.json", readonly=readonly)

    # -- open / close --------------------------------------------------------------------

    @classmethod
    def open(cls, root: str | os.PathLike, space=None, readonly: bool = False,
             exact_below: int = 20000) -> Library:
        """Open (or create) a library.

        Args:
            space: the `EmbeddingSpace` of the model in use. A new library adopts it; an
                existing one refuses a different one (vectors of two models never mix).
                None opens without checking (status, list, doctor).
            readonly: no lock, no writes; works while another process indexes.
        """
        root = Path(root).expanduser().resolve()
        if readonly and not (root / "catalog.sqlite").exists():
            raise LibraryError(f"no library at {root} (run `soundfinder index FOLDER` first)")
        with ExitStack() as undo:  # whatever fails below releases the lock and the catalog
            lock = None if readonly else take_writer_lock(root, undo)
            catalog, log, committed = open_storage(root, space, readonly, undo)
            index = VectorIndex(log, root / "vectors.hnsw", exact_below=exact_below) if log is not None else None
            lib = cls(root, catalog, log, index, lock, readonly)
            if index is not None:
                index.dead = set(range(committed)) - catalog.live_vector_ids()
            undo.pop_all()
        return lib

    def close(self) -> None:
        """Save the graph, close the documents and the catalog, release the lock: every step
        runs even if one fails; the first failure is raised after all of them."""
        errors = []
        for step in (self._save_graph, self.documents.close, self.catalog.close, self._release):
            try:
                step()
            except Exception as e:  # noqa: PERF203 - each step must run
                errors.append(e)
        if errors:
            raise errors[0]

    def _save_graph(self) -> None:
        if self.index is not None and not self.readonly and self.index.unsnapshotted > 0:
            try:
                self.index.save_snapshot()
            except OSError:
                pass  # the log is the durable record; the graph is rebuilt on next open

    def _release(self) -> None:
        if self._lock:
            lock, self._lock = self._lock, None
            lock.release()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- facts ---------------------------------------------------------------------------

    @property
    def space_id(self) -> str | None:
        return self.catalog.get_meta("space")

    @property
    def model(self) -> str | None:
        return self.catalog.get_meta("model")

    def stats(self) -> dict:
        c = self.catalog.counts()
        return {"files": c["files"], "indexed": c[INDEXED], "failed": c[FAILED], "offline": c[OFFLINE],
                "vectors": c["vectors"], "model": self.model, "space": self.space_id,
                "library": str(self.root), "folders": self.folders()}

    def get(self, path: str) -> FileRecord | None:
        return self.catalog.get(path)

    def files(self, status: str | None = None) -> Iterator[FileRecord]:
        return self.catalog.files(status)

    def files_under(self, folder: str) -> Iterator[FileRecord]:
        return self.catalog.files_under(folder)

    def vector_for_hash(self, content_hash: str) -> int | None:
        return self.catalog.vector_for_hash(content_hash)

    def vector(self, vector_id: int) -> np.ndarray:
        return self.log.read(vector_id, vector_id + 1)[0]

    # -- writes --------------------------------------------------------------------------

    def _writable(self) -> None:
        if self.readonly:
            raise LibraryError("the library is open read-only")

    def commit(self, batch: Batch) -> None:
        """Apply a batch atomically: all of it is in the library after this returns, or none."""
        self._writable()
        if not len(batch):
            return
        try:
            self._commit(batch)
        except (OSError, sqlite3.Error) as e:
            raise write_error(self.root, e) from e

    def _commit(self, batch: Batch) -> None:
        first = None
        if batch.embedded:
            if self.log is None:
                raise LibraryError("the library has no embedding space yet; open it with a model")
            first = self.log.append(np.stack([v for _, v in batch.embedded]))
        touched: set[int] = set()
        try:
            with self.catalog.transaction():
                for i, (info, _) in enumerate(batch.embedded):
                    vid = first + i
                    self.catalog.add_vector(vid, info.hash)
                    self._replace(info.path, touched)
                    self.names.put(self.catalog.upsert(info, INDEXED, info.warning, vid), info.path, vid)
                    touched.add(vid)
                for info, vid in batch.reused:
                    self._replace(info.path, touched)
                    self.names.put(self.catalog.upsert(info, INDEXED, info.warning, vid), info.path, vid)
                    touched.add(vid)
                for old, info in batch.moved:
                    vid = self.catalog.vector_for_hash(info.hash) if info.hash else None
                    old_vid = self.catalog.get(old).vector_id if self.catalog.get(old) else None
                    self.catalog.move(old, info, vid)
                    self.names.put_path(info.path)
                    touched.update(v for v in (vid, old_vid) if v is not None)
                for info, reason in batch.failed:
                    self._replace(info.path, touched)
                    self.names.put(self.catalog.upsert(info, FAILED, reason, None), info.path, None)
                for path in batch.removed:
                    vid = self.catalog.remove(path)
                    if vid is not None:
                        touched.add(vid)
                for path in batch.offline:
                    vid = self.catalog.set_status(path, OFFLINE)
                    if vid is not None:
                        touched.add(vid)
        except BaseException:
            if first is not None:
                self.log.truncate(first)  # the catalog never saw them
                self.index.truncated()
            raise
        if first is not None:
            self.index.added(first, len(batch.embedded))
        self._refresh_dead(touched)
        if self.index is not None and self.index.unsnapshotted >= max(
                SNAPSHOT_EVERY, SNAPSHOT_FRACTION * len(self.log)):
            self.index.save_snapshot()

    def _replace(self, path: str, touched: set[int]) -> None:
        old = self.catalog.get(path)
        if old is not None and old.vector_id is not None:
            touched.add(old.vector_id)

    def _refresh_dead(self, vector_ids: Iterable[int]) -> None:
        if self.index is None:
            return
        for vid in vector_ids:
            if self.catalog.is_vector_live(vid):
                self.index.dead.discard(vid)
            else:
                self.index.dead.add(vid)

    def forget(self, paths: Iterable[str]) -> int:
        """Remove records (the files on disk are untouched). Returns how many were known."""
        self._writable()
        known = [p for p in paths if self.catalog.get(p) is not None]
        self.commit(Batch(removed=known))
        return len(known)

    def snapshot(self) -> None:
        """Save the search graph now (on idle or close) so the next open replays nothing."""
        self._writable()
        if self.index is not None:
            self.index.save_snapshot()

    # -- search --------------------------------------------------------------------------

    def knn(self, query: np.ndarray, k: int, candidates: Iterable[int] | None = None) -> list[tuple[int, float]]:
        if self.index is None:
            return []
        cand = None if candidates is None else np.fromiter(candidates, dtype=np.int64)
        return self.index.search(query, k, cand)

    def neighbours(self, vector_ids, k: int):
        """(labels, similarities) of the `k` nearest live vectors of each of `vector_ids`."""
        if self.index is None:
            return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
        return self.index.neighbours(np.asarray(vector_ids, dtype=np.int64), k)

    @property
    @locked_store
    def names(self) -> NameIndex:
        """Full-text search over file names and folders (names.py), written with each commit."""
        return NameIndex.of(self.catalog)

    def files_for_vectors(self, vector_ids: Iterable[int]) -> dict[int, list[FileRecord]]:
        return self.catalog.files_for_vectors(vector_ids)

    def attach_tags(self, records: list[FileRecord]) -> list[FileRecord]:
        tags = self.catalog.tags_for(r.id for r in records)
        for r in records:
            r.tags = tags.get(r.id, [])
        return records

    # -- tags (rules and SQL in tags.py) -------------------------------------------------

    @property
    def _tags(self) -> TagStore:
        return TagStore(self.catalog)  # a few references: cheap, and follows a reopened catalog

    def set_user_tags(self, paths: str | Iterable[str], tags: Iterable[str]) -> list[str]:
        """Tag files (a path or several); the user's tags are never touched by auto-tagging."""
        self._writable()
        return self._tags.set_user(paths, tags)

    def unset_user_tags(self, paths: str | Iterable[str], tags: Iterable[str]) -> list[str]:
        """Remove tags (user or auto) and remember it, so auto-tagging does not bring them back."""
        self._writable()
        return self._tags.unset_user(paths, tags)

    def clear_user_tags(self, paths: str | Iterable[str], tags: Iterable[str] | None = None) -> int:
        """Forget the user's additions and removals on files (auto-tagging decides again)."""
        self._writable()
        return self._tags.clear_user(paths, tags)

    def replace_auto_tags(self, label_set: str, tagger_version: str,
                          rows: Iterable[tuple[int, Sequence[AutoTag]]]) -> int:
        """Store one label set's auto tags ((file_id, tags) rows) in one transaction."""
        self._writable()
        return self._tags.replace_auto(label_set, tagger_version, rows)

    def remove_auto_tags(self, label_sets: Iterable[str]) -> int:
        self._writable()
        return self._tags.remove_auto(label_sets)

    def auto_tag_versions(self) -> dict[str, str]:
        """{label set: tagger version of its last auto-tagging run}."""
        return self._tags.auto_versions()

    def tags_of(self, path: str, include_rejected: bool = False) -> list[TagRecord]:
        return self._tags.tags_of(path, include_rejected)

    def tag_counts(self) -> list[TagCount]:
        return self._tags.counts()

    def export_tags(self, include_rejected: bool = True) -> Iterator[TagRecord]:
        return self._tags.export(include_rejected)

    def files_with_tags(self, all_of: Iterable[str] = (), none_of: Iterable[str] = ()) -> dict[int, int]:
        """{file id: vector id} of indexed files with all tags of `all_of` and none of `none_of`."""
        return self._tags.files_with_tags(all_of, none_of)

    def indexed_vectors(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(file ids, vector ids, vectors) of the indexed files, by vector id. `vectors` is the
        whole vector log as a read-only memory map (index it with the vector ids), not a copy."""
        file_ids, vector_ids = self._tags.indexed_file_vectors()
        matrix = self.log.matrix() if self.log is not None else np.zeros((0, 0), dtype=np.float32)
        return file_ids, vector_ids, matrix

    def _store(self, attr: str, make):
        """The store held in `attr`, made again when the catalog was reopened."""
        store = getattr(self, attr, None)
        if store is None or store.catalog is not self.catalog:
            store = make(self.catalog)
            setattr(self, attr, store)
        return store

    @property
    @locked_store
    def descriptors(self) -> DescriptorStore:
        """Tempo, key, pitch, kind and loudness per content hash (rules in descriptors.py)."""
        return self._store("_descriptors", DescriptorStore)

    @property
    @locked_store
    def fingerprints(self):
        """Signal fingerprints per content hash, for `duplicates` (rules in fingerprints.py)."""
        from soundfinder.library.fingerprints import FingerprintStore

        return self._store("_fingerprints", FingerprintStore)

    # -- user data (favourites, ratings, hidden, history; collections): keyed by content hash

    @property
    @locked_store
    def userdata(self):
        from soundfinder.library.userdata import UserData

        return UserData(self.catalog)

    @property
    @locked_store
    def collections(self):
        from soundfinder.library.collections import Collections

        return Collections(self.catalog)

    def hidden_hashes(self) -> set[str]:
        """Content the user hid: search never lists it."""
        return self.userdata.hidden_hashes()

    @property
    def maps(self) -> MapStore:
        """The stored 2-D map of the library's vectors (`maps.py`; computed by query/maplayout)."""
        return MapStore(self.root, self.space_id, self.readonly)


__all__ = ["Library", "LibraryError", "LibraryLockedError", "LibraryWriteError", "SpaceMismatchError"]
