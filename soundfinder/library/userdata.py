"""The user's marks on sounds: favourites, 1–5 ratings, hidden sounds, and listening history.

Keyed by content hash, not by catalog row or path, because the marks belong to a *recording*:
- a move or rename keeps the bytes, so the mark follows with no bookkeeping;
- re-indexing (a record forgotten and found again) and a change of model (a new library over
  the same files, or re-embedding) compute the same hash, so nothing is lost;
- a drive that goes offline keeps its records (status offline) and its marks (never purged).
Byte-identical copies share their marks, as they share one vector. The last known path of each
mark is stored too: it is shown while no file has the hash, and a restore on another machine
falls back to it.

Tables (created with the catalog, see `catalog._statements`):

    user_marks    hash → favourite, rating, hidden, last path, time of the last change
    user_history  one row per audition or drag (kind, hash, path, time), the last 200 per kind

Queries are small joins on the catalog's `files(hash)` index: favourites at 100k files cost
what the number of favourites costs, not the library's size.
"""

from __future__ import annotations

import sqlite3
import time
import weakref
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass

from soundfinder.library.catalog import FILE_COLUMNS, Catalog, _record, decode_path, encode_path
from soundfinder.library.errors import LibraryError
from soundfinder.library.records import FileRecord

SCHEMA = """
CREATE TABLE IF NOT EXISTS user_marks (
    hash TEXT PRIMARY KEY,
    path BLOB NOT NULL,
    favourite INTEGER NOT NULL DEFAULT 0,
    rating INTEGER CHECK (rating IS NULL OR rating BETWEEN 1 AND 5),
    hidden INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS user_marks_favourite ON user_marks(favourite) WHERE favourite=1;
CREATE INDEX IF NOT EXISTS user_marks_hidden ON user_marks(hidden) WHERE hidden=1;
CREATE TABLE IF NOT EXISTS user_history (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    hash TEXT NOT NULL,
    path BLOB NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS user_history_kind ON user_history(kind, at);
"""

AUDITIONED = "auditioned"
DRAGGED = "dragged"
HISTORY_KINDS = (AUDITIONED, DRAGGED)
HISTORY_KEEP = 200  # per kind


class UserDataError(LibraryError):
    """A favourite, rating, collection or history operation cannot be done; the message says why."""


@dataclass
class Mark:
    hash: str
    path: str  # a present file with this content if there is one, else the last known path
    favourite: bool
    rating: int | None
    hidden: bool
    present: bool  # a catalog record has this content

    def to_json(self) -> dict:
        return {"path": self.path, "hash": self.hash, "favourite": self.favourite, "rating": self.rating,
                "hidden": self.hidden, "present": self.present}


@dataclass
class HistoryEntry:
    kind: str
    path: str
    hash: str
    at: float
    present: bool

    def to_json(self) -> dict:
        return {"kind": self.kind, "path": self.path, "at": self.at, "present": self.present}


def missing_table(e: sqlite3.Error) -> bool:
    """A library written before user data existed, opened read-only, has no tables yet."""
    return isinstance(e, sqlite3.OperationalError) and "no such table" in str(e)


def hashes_for(catalog: Catalog, paths: str | Iterable[str]) -> list[tuple[str, str]]:
    """[(path, content hash)] of files the library knows; UserDataError names the first it does
    not (or one it has not hashed yet)."""
    if isinstance(paths, str):
        paths = [paths]
    out = []
    for path in paths:
        rec = catalog.get(path)
        if rec is None:
            raise UserDataError(f"not in the library: {path}")
        if not rec.hash:
            raise UserDataError(f"not indexed yet (no content hash): {path}")
        out.append((path, rec.hash))
    return out


PREFIXED_COLUMNS = ", ".join("f." + c.strip() for c in FILE_COLUMNS.split(","))

# A file's path for a hash: the stored path if a file there still has it, else any present one.
PRESENT_PATH = """COALESCE((SELECT f.path FROM files f WHERE f.hash={h} AND f.path={p}),
                            (SELECT f.path FROM files f WHERE f.hash={h}
                             ORDER BY f.status='indexed' DESC, f.path LIMIT 1))"""


def pick_present(rows: list, extra_from: int) -> list[tuple]:
    """Rows of (hash, last path, file path or None, file status, *extra) grouped by hash, in
    order: [(hash, path to show, present, extra)]. The path shown is the stored one if a file
    there still has the content, else an indexed copy, else any copy, else the stored path."""
    out: dict[str, list] = {}
    for row in rows:
        h, last, path, status = row[:4]
        best = out.get(h)
        rank = 3 if path is not None and path == last else 2 if status == "indexed" else 1 if path else 0
        if best is None or rank > best[0] or (rank == best[0] and rank and path < best[1]):
            out[h] = [rank, path if path is not None else last, tuple(row[extra_from:])]
    return [(h, p, rank > 0, extra) for h, (rank, p, extra) in out.items()]


_RESULTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # catalog -> {key: (state, result)}
# catalog -> {group: rows this connection changed in transactions that touched only that group's
# tables}: a list that does not read a group skips its changes (a star keeps a collection cached).
_WRITES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# user_marks by the column a write sets (a rating never changes who is a favourite); user_history;
# collections + collection_items
MARKS = ("marks.favourite", "marks.rating", "marks.hidden")
GROUPS = (*MARKS, "history", "collections")


class CatalogStore:
    """A store over the catalog's connection whose reads find nothing (not an error) in a
    catalog made before its tables existed.

    Lists the GUI asks for again and again (favourites, hidden, a collection's members) are
    kept per catalog until the database changes: `total_changes` counts this connection's
    writes, `PRAGMA data_version` another connection's (an indexer in another process), so a
    repeat costs two counters instead of a join over the files (~5 ms CPU per 1000 marks at
    100k files, bench/duplicates.py). Writes made through `_writing(group)` touch only that
    group's tables, so a list that does not read the group (`reads`) stays cached across them:
    rating a sound does not re-read the open collection (10 ms at 100k)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    def _state(self, reads: tuple[str, ...] = GROUPS) -> tuple[int, int]:
        own = _WRITES.get(self.catalog, {})
        skipped = sum(n for group, n in own.items() if group not in reads)
        return self.db.total_changes - skipped, self.db.execute("PRAGMA data_version").fetchone()[0]

    def _cached(self, key, compute, reads: tuple[str, ...] = GROUPS):
        """compute(), or its result from an earlier call if nothing it reads changed since:
        the files (any unattributed write), or the tables of the groups in `reads`."""
        state = self._state(reads)
        seen = _RESULTS.setdefault(self.catalog, {})
        hit = seen.get(key)
        if hit is None or hit[0] != state:
            hit = seen[key] = (state, compute())
        return hit[1]

    @contextmanager
    def _writing(self, group: str):
        """A transaction that writes only `group`'s tables (GROUPS), counted as such."""
        before = self.db.total_changes
        try:
            with self.catalog.transaction():
                yield
        finally:
            counts = _WRITES.setdefault(self.catalog, {})
            counts[group] = counts.get(group, 0) + self.db.total_changes - before

    @property
    def db(self) -> sqlite3.Connection:
        return self.catalog.db

    def _read(self, sql: str, params=()) -> list:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as e:
            if missing_table(e):
                return []
            raise


class UserData(CatalogStore):
    """Favourites, ratings, hidden sounds and history over the catalog's connection."""

    # -- marks ---------------------------------------------------------------------------

    def set_favourite(self, paths: str | Iterable[str], on: bool = True) -> int:
        """Star (or unstar) files. Returns how many marks changed."""
        return self._set(paths, "favourite", int(bool(on)))

    def set_hidden(self, paths: str | Iterable[str], on: bool = True) -> int:
        """Hide files from every search and list (undone with on=False; listed by `hidden`)."""
        return self._set(paths, "hidden", int(bool(on)))

    def set_rating(self, paths: str | Iterable[str], rating: int | None) -> int:
        if rating is not None and (not isinstance(rating, int) or not 1 <= rating <= 5):
            raise UserDataError(f"a rating is a whole number from 1 to 5 (or none), not {rating!r}")
        return self._set(paths, "rating", rating)

    def _set(self, paths: str | Iterable[str], column: str, value) -> int:
        pairs = hashes_for(self.catalog, paths)
        now = time.time()
        changed = 0
        with self._writing(f"marks.{column}"):  # its path and time too: read only by `marks`
            for path, h in pairs:
                self.db.execute("INSERT OR IGNORE INTO user_marks (hash, path, updated) VALUES (?, ?, ?)",
                                (h, encode_path(path), now))
                changed += self.db.execute(
                    f"UPDATE user_marks SET {column}=?, path=?, updated=? WHERE hash=? AND {column} IS NOT ?",
                    (value, encode_path(path), now, h, value)).rowcount
            self.db.execute("DELETE FROM user_marks WHERE favourite=0 AND hidden=0 AND rating IS NULL")
        return changed

    def favourite_hashes(self) -> set[str]:
        return set(self._cached("favourite_hashes", lambda: {
            h for (h,) in self._read("SELECT hash FROM user_marks WHERE favourite=1")}, ("marks.favourite",)))

    def hidden_hashes(self) -> set[str]:
        return set(self._cached("hidden_hashes", lambda: {
            h for (h,) in self._read("SELECT hash FROM user_marks WHERE hidden=1")}, ("marks.hidden",)))

    def ratings(self) -> dict[str, int]:
        return dict(self._cached("ratings", lambda: dict(
            self._read("SELECT hash, rating FROM user_marks WHERE rating IS NOT NULL")), ("marks.rating",)))

    def marks(self, where: str = "1") -> list[Mark]:
        """Marks (all, or those matching a SQL condition on user_marks), each with a present path."""
        return list(self._cached(("marks", where), lambda: self._marks(where), MARKS))

    def _marks(self, where: str) -> list[Mark]:
        """One LEFT JOIN on files(hash), the present path picked here: half the lookups of two
        correlated subqueries per mark."""
        rows = self._read(
            f"""SELECT m.hash, m.path, f.path, f.status, m.favourite, m.rating, m.hidden
                FROM user_marks m LEFT JOIN files f ON f.hash=m.hash WHERE {where}
                ORDER BY m.updated DESC, m.hash""")
        return [Mark(h, decode_path(path), bool(fav), rating, bool(hid), present)
                for h, path, present, (fav, rating, hid) in pick_present(rows, 4)]

    def favourites(self) -> list[Mark]:
        return self.marks("m.favourite=1")

    def hidden(self) -> list[Mark]:
        return self.marks("m.hidden=1")

    def favourite_records(self) -> list[FileRecord]:
        """Every catalog record whose content is a favourite (all copies), by path."""
        rows = self._cached("favourite_records", lambda: self._read(
            f"""SELECT {PREFIXED_COLUMNS} FROM user_marks m JOIN files f ON f.hash=m.hash
                WHERE m.favourite=1 ORDER BY f.path"""), ("marks.favourite",))
        return [_record(r) for r in rows]  # fresh records: callers attach tags to them

    # -- history -------------------------------------------------------------------------

    def record(self, kind: str, path: str) -> None:
        """Note that a file was auditioned or dragged out; the oldest beyond 200 go."""
        if kind not in HISTORY_KINDS:
            raise UserDataError(f"history kind must be one of {', '.join(HISTORY_KINDS)}, not {kind!r}")
        ((path, h),) = hashes_for(self.catalog, path)
        with self._writing("history"):
            self.db.execute("INSERT INTO user_history (kind, hash, path, at) VALUES (?, ?, ?, ?)",
                            (kind, h, encode_path(path), time.time()))
            self.db.execute("""DELETE FROM user_history WHERE kind=? AND id NOT IN
                               (SELECT id FROM user_history WHERE kind=? ORDER BY at DESC, id DESC LIMIT ?)""",
                            (kind, kind, HISTORY_KEEP))

    def history(self, kind: str = AUDITIONED, limit: int = HISTORY_KEEP) -> list[HistoryEntry]:
        """Most recent first."""
        rows = self._read(
            f"""SELECT h.kind, h.hash, h.path, {PRESENT_PATH.format(h='h.hash', p='h.path')}, h.at
                FROM user_history h WHERE h.kind=? ORDER BY h.at DESC, h.id DESC LIMIT ?""", (kind, limit))
        return [HistoryEntry(k, decode_path(now if now is not None else last), h, at, now is not None)
                for k, h, last, now, at in rows]

    def clear_history(self, kind: str | None = None) -> int:
        with self._writing("history"):
            if kind is None:
                return self.db.execute("DELETE FROM user_history").rowcount
            return self.db.execute("DELETE FROM user_history WHERE kind=?", (kind,)).rowcount

    # -- backup --------------------------------------------------------------------------

    def dump(self) -> dict:
        marks = [{"hash": h, "path": decode_path(p), "favourite": bool(f), "rating": r, "hidden": bool(hd),
                  "updated": u} for h, p, f, r, hd, u in self._read(
                      "SELECT hash, path, favourite, rating, hidden, updated FROM user_marks ORDER BY hash")]
        history = [{"kind": k, "hash": h, "path": decode_path(p), "at": at} for k, h, p, at in self._read(
            "SELECT kind, hash, path, at FROM user_history ORDER BY at, id")]
        return {"marks": marks, "history": history}

    def load(self, data: dict, resolve) -> None:
        """Write marks and history from `dump()` output (inside the caller's transaction).

        `resolve(hash, path)` gives the hash to store: the same, or the hash of the file now at
        `path` when this library has no file of that content (restored on another copy)."""
        for m in data.get("marks", []):
            rating = m.get("rating")
            if rating is not None and not (isinstance(rating, int) and 1 <= rating <= 5):
                raise UserDataError(f"backup: rating {rating!r} of {m.get('path')} is not 1–5")
            h = resolve(m["hash"], m["path"])
            self.db.execute(
                """INSERT INTO user_marks (hash, path, favourite, rating, hidden, updated) VALUES (?,?,?,?,?,?)
                   ON CONFLICT(hash) DO UPDATE SET favourite=max(favourite, excluded.favourite),
                     rating=COALESCE(excluded.rating, rating), hidden=max(hidden, excluded.hidden),
                     path=excluded.path, updated=excluded.updated""",
                (h, encode_path(m["path"]), int(bool(m.get("favourite"))), rating,
                 int(bool(m.get("hidden"))), float(m.get("updated") or time.time())))
        for e in data.get("history", []):
            if e.get("kind") not in HISTORY_KINDS:
                raise UserDataError(f"backup: unknown history kind {e.get('kind')!r}")
            self.db.execute("INSERT INTO user_history (kind, hash, path, at) VALUES (?, ?, ?, ?)",
                            (e["kind"], resolve(e["hash"], e["path"]), encode_path(e["path"]), float(e["at"])))

    def clear(self) -> None:
        """Delete every mark and history entry (inside the caller's transaction)."""
        self.db.execute("DELETE FROM user_marks")
        self.db.execute("DELETE FROM user_history")


def doctor_check(db: sqlite3.Connection) -> tuple[dict, list[tuple[str, str, int]]]:
    """For `soundfinder doctor`: (facts, [(code, message, count)]) about the user's data.

    Marks and collection members whose content no file has now are *facts*, not problems: the
    drive may be offline or the file moved outside the library, and they come back with it. A
    smart collection whose definition does not parse is a problem (its search cannot run)."""
    import json

    try:
        facts = {
            "favourites": db.execute("SELECT COUNT(*) FROM user_marks WHERE favourite=1").fetchone()[0],
            "hidden": db.execute("SELECT COUNT(*) FROM user_marks WHERE hidden=1").fetchone()[0],
            "history": db.execute("SELECT COUNT(*) FROM user_history").fetchone()[0],
            "collections": db.execute("SELECT COUNT(*) FROM collections").fetchone()[0],
            "marks_without_file": db.execute(
                "SELECT COUNT(*) FROM user_marks m WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.hash=m.hash)"
            ).fetchone()[0],
            "members_without_file": db.execute(
                "SELECT COUNT(*) FROM collection_items i WHERE NOT EXISTS (SELECT 1 FROM files f WHERE f.hash=i.hash)"
            ).fetchone()[0],
        }
        smart = db.execute("SELECT name, smart FROM collections WHERE smart IS NOT NULL").fetchall()
    except sqlite3.Error as e:
        if missing_table(e):
            return {}, []
        raise
    bad = []
    for name, raw in smart:
        try:
            if not isinstance(json.loads(raw), dict):
                raise ValueError
        except ValueError:
            bad.append(name)
    problems = [("smart-collection-damaged", f"{len(bad)} smart collection definitions cannot be read: "
                 f"{', '.join(bad[:5])} (delete and create them again)", len(bad))] if bad else []
    return facts, problems
