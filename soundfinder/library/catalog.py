"""The per-file catalog in SQLite: one row per file, content hashes, tags.

WAL with synchronous=NORMAL gives atomic, durable-on-checkpoint commits in microseconds.
Paths are stored as the file system's raw bytes so names that are not valid UTF-8 survive.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Iterator

from soundfinder.library import names
from soundfinder.library.records import FAILED, INDEXED, OFFLINE, FileInfo, FileRecord

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS vectors (
    id INTEGER PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS files (
    id INTEGER PRIMARY KEY,
    path BLOB NOT NULL UNIQUE,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT,
    duration REAL,
    sample_rate INTEGER,
    channels INTEGER,
    format TEXT,
    subtype TEXT,
    status TEXT NOT NULL,
    error TEXT,
    vector_id INTEGER REFERENCES vectors(id),
    added REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_hash ON files(hash);
CREATE INDEX IF NOT EXISTS files_vector ON files(vector_id);
CREATE INDEX IF NOT EXISTS files_status ON files(status);
CREATE TABLE IF NOT EXISTS tags (
    file_id INTEGER NOT NULL REFERENCES files(id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    source TEXT NOT NULL,          -- 'user', 'auto' or 'rejected' (removed by the user, see tags.py)
    label_set TEXT,
    score REAL,
    tagger TEXT,
    PRIMARY KEY (file_id, tag, source)
);
CREATE INDEX IF NOT EXISTS tags_tag ON tags(tag);
"""

FILE_COLUMNS = ("id, path, size, mtime_ns, hash, duration, sample_rate, channels, format, subtype, "
                "status, error, vector_id")


def encode_path(path: str) -> bytes:
    return os.fsencode(path)


_FS_CODEC = (sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def decode_path(raw: bytes) -> str:
    """os.fsdecode, without its type dispatch (a third of a 1000-row list's Python time)."""
    return raw.decode(*_FS_CODEC) if type(raw) is bytes else os.fsdecode(bytes(raw))


def _record(row) -> FileRecord:
    return FileRecord(row[0], decode_path(row[1]), *row[2:])


class Catalog:
    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        if readonly:
            uri = f"file:{os.fspath(path)}?mode=ro"
            self.db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=10)
        else:
            self.db = sqlite3.connect(os.fspath(path), check_same_thread=False, timeout=10,
                                      isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self.db.execute("PRAGMA cache_size=-32768")  # 32 MB: index pages of a 1M catalog stay hot
            with self.transaction():
                for statement in _statements():
                    self.db.execute(statement)
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                if names.apply_schema(self.db):  # full-text names (names.py): table, trigger, catch-up
                    names.catch_up(self.db)
        self.readonly = readonly

    def close(self) -> None:
        self.db.close()

    def transaction(self):
        return _Transaction(self.db)

    # -- meta ----------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, key: str, value: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    # -- vectors -------------------------------------------------------------------------

    def vector_count(self) -> int:
        row = self.db.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM vectors").fetchone()
        return int(row[0])

    def vector_for_hash(self, content_hash: str) -> int | None:
        row = self.db.execute("SELECT id FROM vectors WHERE hash=?", (content_hash,)).fetchone()
        return int(row[0]) if row else None

    def add_vector(self, vector_id: int, content_hash: str) -> None:
        self.db.execute("INSERT INTO vectors (id, hash) VALUES (?, ?)", (vector_id, content_hash))

    def live_vector_ids(self) -> set[int]:
        rows = self.db.execute("SELECT DISTINCT vector_id FROM files WHERE status=? AND vector_id IS NOT NULL",
                               (INDEXED,))
        return {int(r[0]) for r in rows}

    # `+status` below keeps SQLite off the status index (which matches nearly every row) and on
    # the vector_id index: a full scan there made every commit cost 140 ms at 1M files.
    def is_vector_live(self, vector_id: int) -> bool:
        row = self.db.execute("SELECT 1 FROM files WHERE vector_id=? AND +status=? LIMIT 1",
                              (vector_id, INDEXED)).fetchone()
        return row is not None

    # -- files ---------------------------------------------------------------------------

    def get(self, path: str) -> FileRecord | None:
        row = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE path=?",
                              (encode_path(path),)).fetchone()
        return _record(row) if row else None

    def files(self, status: str | None = None) -> Iterator[FileRecord]:
        if status:
            rows = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files WHERE status=? ORDER BY path", (status,))
        else:
            rows = self.db.execute(f"SELECT {FILE_COLUMNS} FROM files ORDER BY path")
        for row in rows:
            yield _record(row)

    def files_under(self, folder: str) -> Iterator[FileRecord]:
        prefix = encode_path(folder.rstrip(os.sep) + os.sep)
        rows = self.db.execute(
            f"SELECT {FILE_COLUMNS} FROM files WHERE substr(path, 1, ?) = ?", (len(prefix), prefix))
        for row in rows:
            yield _record(row)

    def files_for_vectors(self, vector_ids: Iterable[int]) -> dict[int, list[FileRecord]]:
        ids = list(vector_ids)
        out: dict[int, list[FileRecord]] = {}
        for s in range(0, len(ids), 900):
            chunk = ids[s:s + 900]
            q = ",".join("?" * len(chunk))
            for row in self.db.execute(
                    f"SELECT {FILE_COLUMNS} FROM files WHERE +status=? AND vector_id IN ({q}) ORDER BY path",
                    (INDEXED, *chunk)):
                rec = _record(row)
                out.setdefault(rec.vector_id, []).append(rec)
        return out

    def upsert(self, info: FileInfo, status: str, error: str | None, vector_id: int | None) -> int:
        now = time.time()
        self.db.execute(
            """INSERT INTO files (path, size, mtime_ns, hash, duration, sample_rate, channels, format,
                                  subtype, status, error, vector_id, added, updated)
               VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)
               ON CONFLICT(path) DO UPDATE SET size=excluded.size, mtime_ns=excluded.mtime_ns,
                 hash=excluded.hash, duration=excluded.duration, sample_rate=excluded.sample_rate,
                 channels=excluded.channels, format=excluded.format, subtype=excluded.subtype,
                 status=excluded.status, error=excluded.error, vector_id=excluded.vector_id,
                 updated=excluded.updated""",
            (encode_path(info.path), info.size, info.mtime_ns, info.hash, info.duration, info.sample_rate,
             info.channels, info.format, info.subtype, status, error, vector_id, now, now))
        return self.db.execute("SELECT id FROM files WHERE path=?", (encode_path(info.path),)).fetchone()[0]

    def move(self, old: str, info: FileInfo, vector_id: int | None) -> None:
        """Re-point a record at its new path, keeping its id and so its tags."""
        self.db.execute("DELETE FROM files WHERE path=? AND path<>?", (encode_path(info.path), encode_path(old)))
        self.db.execute(
            """UPDATE files SET path=?, size=?, mtime_ns=?, hash=?, status=?, vector_id=?,
                   duration=COALESCE(?, duration), sample_rate=COALESCE(?, sample_rate),
                   channels=COALESCE(?, channels), format=COALESCE(?, format),
                   subtype=COALESCE(?, subtype), updated=? WHERE path=?""",
            (encode_path(info.path), info.size, info.mtime_ns, info.hash, INDEXED, vector_id,
             info.duration, info.sample_rate, info.channels, info.format, info.subtype, time.time(),
             encode_path(old)))

    def remove(self, path: str) -> int | None:
        """Delete a record; returns the vector id it pointed to."""
        row = self.db.execute("SELECT vector_id FROM files WHERE path=?", (encode_path(path),)).fetchone()
        if row is None:
            return None
        self.db.execute("DELETE FROM files WHERE path=?", (encode_path(path),))
        return row[0]

    def set_status(self, path: str, status: str) -> int | None:
        row = self.db.execute("SELECT vector_id FROM files WHERE path=?", (encode_path(path),)).fetchone()
        if row is None:
            return None
        self.db.execute("UPDATE files SET status=?, updated=? WHERE path=?",
                        (status, time.time(), encode_path(path)))
        return row[0]

    def counts(self) -> dict[str, int]:
        out = {INDEXED: 0, FAILED: 0, OFFLINE: 0}
        for status, n in self.db.execute("SELECT status, COUNT(*) FROM files GROUP BY status"):
            out[status] = n
        out["files"] = sum(out.values())
        out["vectors"] = int(self.db.execute(
            "SELECT COUNT(DISTINCT vector_id) FROM files WHERE status=? AND vector_id IS NOT NULL",
            (INDEXED,)).fetchone()[0])
        return out

    # -- tags ----------------------------------------------------------------------------

    def tags_for(self, file_ids: Iterable[int]) -> dict[int, list[str]]:
        ids = list(file_ids)
        out: dict[int, list[str]] = {}
        for s in range(0, len(ids), 900):
            chunk = ids[s:s + 900]
            q = ",".join("?" * len(chunk))
            for fid, tag in self.db.execute(
                    f"SELECT DISTINCT file_id, tag FROM tags WHERE file_id IN ({q}) AND source<>'rejected' "
                    "ORDER BY tag", chunk):
                out.setdefault(fid, []).append(tag)
        return out


def _statements() -> list[str]:
    from soundfinder.library import collections, userdata  # their own tables, created with the catalog

    return [s.strip() for s in (SCHEMA + userdata.SCHEMA + collections.SCHEMA).split(";") if s.strip()]


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on any exception (the connection is in autocommit)."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
        return False
