"""Collections (a kit for a project, hand-picked) and smart collections (a saved search).

A hand-made collection holds recordings by content hash (like favourites, see userdata.py): its
members follow moves and renames and survive re-indexing and a change of model. A smart
collection stores only its definition (JSON: text, example file, tags, filters, limit,
threshold); its contents are the search's answer at the time it is shown
(`soundfinder.query.smart`), so a new sound that fits appears by itself.

Tables (created with the catalog):

    collections        id, name (unique, case-insensitive), smart definition JSON or NULL
    collection_items   collection id, hash, last known path, time added
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from soundfinder.library.catalog import _record, decode_path, encode_path
from soundfinder.library.records import FileRecord
from soundfinder.library.userdata import (
    PREFIXED_COLUMNS,
    CatalogStore,
    UserDataError,
    hashes_for,
    pick_present,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS collections (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    smart TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS collection_items (
    collection_id INTEGER NOT NULL REFERENCES collections(id) ON DELETE CASCADE,
    hash TEXT NOT NULL,
    path BLOB NOT NULL,
    added REAL NOT NULL,
    PRIMARY KEY (collection_id, hash)
);
CREATE INDEX IF NOT EXISTS collection_items_hash ON collection_items(hash);
"""

MAX_NAME = 100


@dataclass
class SmartDefinition:
    """What a smart collection searches for. `filters` holds the BPM/key/kind filters of
    `soundfinder.query.filters` (kept as given; see `soundfinder.query.smart`)."""

    query: str | None = None
    like: str | None = None
    tags: list[str] = field(default_factory=list)
    not_tags: list[str] = field(default_factory=list)
    filters: dict = field(default_factory=dict)
    limit: int = 50
    threshold: float | None = None

    def validate(self) -> SmartDefinition:
        if not (self.query and self.query.strip()) and not self.like and not self.tags:
            raise UserDataError("a smart collection needs a query text, an example file (--like) or a tag")
        if not isinstance(self.limit, int) or not 1 <= self.limit <= 10000:
            raise UserDataError(f"the limit is a whole number from 1 to 10000, not {self.limit!r}")
        if self.threshold is not None and not -1.0 <= float(self.threshold) <= 1.0:
            raise UserDataError(f"the score threshold is from -1 to 1, not {self.threshold!r}")
        if not isinstance(self.filters, dict):
            raise UserDataError("smart collection filters must be a mapping")
        return self

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> SmartDefinition:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass
class CollectionInfo:
    name: str
    count: int  # members (a smart collection: None until evaluated)
    smart: SmartDefinition | None

    def to_json(self) -> dict:
        return {"name": self.name, "smart": self.smart is not None, "count": self.count,
                "definition": self.smart.to_json() if self.smart else None}


@dataclass
class Member:
    path: str
    hash: str
    added: float
    present: bool

    def to_json(self) -> dict:
        return {"path": self.path, "added": self.added, "present": self.present}


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise UserDataError("a collection name cannot be empty")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise UserDataError(f"a collection name is at most {MAX_NAME} characters")
    return name


class Collections(CatalogStore):
    """Collections and smart-collection definitions over the catalog's connection."""

    def _id(self, name: str, smart: bool | None = None) -> int:
        rows = self._read("SELECT id, smart IS NOT NULL FROM collections WHERE name=?", (check_name(name),))
        if not rows:
            raise UserDataError(f"no collection named {name!r}")
        cid, is_smart = rows[0]
        if smart is False and is_smart:
            raise UserDataError(f"{name!r} is a smart collection: its contents come from its search")
        if smart is True and not is_smart:
            raise UserDataError(f"{name!r} is not a smart collection")
        return int(cid)

    # -- the collections -----------------------------------------------------------------

    def create(self, name: str, smart: SmartDefinition | None = None) -> str:
        name = check_name(name)
        definition = json.dumps(smart.validate().to_json()) if smart is not None else None
        now = time.time()
        with self._writing("collections"):
            if self.db.execute("SELECT 1 FROM collections WHERE name=?", (name,)).fetchone():
                raise UserDataError(f"a collection named {name!r} already exists")
            self.db.execute("INSERT INTO collections (name, smart, created, updated) VALUES (?, ?, ?, ?)",
                            (name, definition, now, now))
        return name

    def rename(self, old: str, new: str) -> str:
        cid = self._id(old)
        new = check_name(new)
        with self._writing("collections"):
            other = self.db.execute("SELECT id FROM collections WHERE name=?", (new,)).fetchone()
            if other and other[0] != cid:
                raise UserDataError(f"a collection named {new!r} already exists")
            self.db.execute("UPDATE collections SET name=?, updated=? WHERE id=?", (new, time.time(), cid))
        return new

    def delete(self, name: str) -> None:
        """Delete a collection (its sounds stay in the library and on disk)."""
        cid = self._id(name)
        with self._writing("collections"):
            self.db.execute("DELETE FROM collection_items WHERE collection_id=?", (cid,))
            self.db.execute("DELETE FROM collections WHERE id=?", (cid,))

    def list(self) -> list[CollectionInfo]:
        rows = self._read("""SELECT c.name, c.smart, (SELECT COUNT(*) FROM collection_items i
                                                     WHERE i.collection_id=c.id)
                             FROM collections c ORDER BY c.name COLLATE NOCASE""")
        return [CollectionInfo(name, None if smart else n,
                               SmartDefinition.from_json(json.loads(smart)) if smart else None)
                for name, smart, n in rows]

    def smart(self, name: str) -> SmartDefinition:
        cid = self._id(name, smart=True)
        (raw,) = self._read("SELECT smart FROM collections WHERE id=?", (cid,))[0]
        return SmartDefinition.from_json(json.loads(raw))

    # -- members -------------------------------------------------------------------------

    def add(self, name: str, paths: str | Iterable[str]) -> int:
        """Add files (all or none: an unknown path adds nothing). Returns how many were new."""
        cid = self._id(name, smart=False)
        pairs = hashes_for(self.catalog, paths)
        now = time.time()
        added = 0
        with self._writing("collections"):
            for path, h in pairs:
                added += self.db.execute(
                    "INSERT OR IGNORE INTO collection_items (collection_id, hash, path, added) VALUES (?,?,?,?)",
                    (cid, h, encode_path(path), now)).rowcount
            self.db.execute("UPDATE collections SET updated=? WHERE id=?", (now, cid))
        return added

    def remove(self, name: str, paths: str | Iterable[str]) -> int:
        """Remove files; a path the library no longer knows is matched by its stored path."""
        cid = self._id(name, smart=False)
        if isinstance(paths, str):
            paths = [paths]
        removed = 0
        with self._writing("collections"):
            for path in paths:
                rec = self.catalog.get(path)
                if rec is not None and rec.hash:
                    n = self.db.execute("DELETE FROM collection_items WHERE collection_id=? AND hash=?",
                                        (cid, rec.hash)).rowcount
                else:
                    n = self.db.execute("DELETE FROM collection_items WHERE collection_id=? AND path=?",
                                        (cid, encode_path(path))).rowcount
                if n == 0:
                    raise UserDataError(f"not in collection {name!r}: {path}")
                removed += n
        return removed

    def members(self, name: str) -> list[Member]:
        """A hand-made collection's sounds in the order they were added; a sound whose file is
        gone is listed by its last path with present=False."""
        cid = self._id(name, smart=False)
        return list(self._cached(("members", cid), lambda: self._members(cid), ("collections",)))

    def _members(self, cid: int) -> list[Member]:
        rows = self._read(
            """SELECT i.hash, i.path, f.path, f.status, i.added FROM collection_items i
               LEFT JOIN files f ON f.hash=i.hash WHERE i.collection_id=? ORDER BY i.added, i.rowid""", (cid,))
        return [Member(decode_path(path), h, added, present)
                for h, path, present, (added,) in pick_present(rows, 4)]

    def member_records(self, name: str) -> list[FileRecord]:
        """The catalog records of a collection's present sounds, one per member (the copy
        `members` shows), in the order they were added. The members come from collection_items
        alone; their files' rows are kept by hash until the files change (`_file_rows`), so
        adding a sound to a collection of 1000 reads one file, not 1000 (10 ms at 100k)."""
        cid = self._id(name, smart=False)
        rows = self._cached(("member_records", cid), lambda: self._member_rows(cid), ("collections",))
        return [_record(row) for row in rows]  # fresh records: callers attach tags to them

    def _member_rows(self, cid: int) -> list[tuple]:
        items = self._read("SELECT hash, path FROM collection_items WHERE collection_id=? ORDER BY added, rowid",
                           (cid,))
        files = self._file_rows(h for h, _ in items)
        out = []
        for h, last in items:  # hashes are unique per collection: pick each one's copy alone
            fs = files.get(h)
            if fs:  # one file (the usual case) is the copy shown; else `members`' rule picks one
                out.append(fs[0][2:] if len(fs) == 1 else pick_present([(h, last, *f) for f in fs], 4)[0][3])
        return out

    def _file_rows(self, hashes) -> dict[str, list[tuple]]:
        """{hash: [(path, status, *FILE_COLUMNS)]} of the files holding each content, kept
        until a write this store does not attribute to a group of its own (the files changed)."""
        known = self._cached("file_rows", dict, ())
        todo = sorted({h for h in hashes if h not in known})
        for s in range(0, len(todo), 900):
            chunk = todo[s:s + 900]
            for h in chunk:
                known[h] = []
            for row in self._read(f"SELECT f.hash, f.path, f.status, {PREFIXED_COLUMNS} FROM files f "
                                  f"WHERE f.hash IN ({','.join('?' * len(chunk))})", chunk):
                known[row[0]].append(row[1:])
        return known

    def of(self, path: str) -> list[str]:
        """Names of the hand-made collections holding a file's content."""
        rec = self.catalog.get(path)
        if rec is None or not rec.hash:
            return []
        return [n for (n,) in self._read(
            """SELECT c.name FROM collection_items i JOIN collections c ON c.id=i.collection_id
               WHERE i.hash=? ORDER BY c.name COLLATE NOCASE""", (rec.hash,))]

    # -- backup --------------------------------------------------------------------------

    def dump(self) -> list[dict]:
        out = []
        for cid, name, smart, created in self._read("SELECT id, name, smart, created FROM collections ORDER BY id"):
            items = [{"hash": h, "path": decode_path(p), "added": a} for h, p, a in self._read(
                "SELECT hash, path, added FROM collection_items WHERE collection_id=? ORDER BY added, rowid",
                (cid,))]
            out.append({"name": name, "smart": json.loads(smart) if smart else None, "created": created,
                        "items": items})
        return out

    def load(self, data: list[dict], resolve) -> None:
        """Write collections from `dump()` output (inside the caller's transaction); a name that
        exists gets the backup's members added."""
        for c in data:
            name = check_name(c["name"])
            smart = c.get("smart")
            definition = json.dumps(SmartDefinition.from_json(smart).validate().to_json()) if smart else None
            row = self.db.execute("SELECT id FROM collections WHERE name=?", (name,)).fetchone()
            if row is None:
                created = float(c.get("created") or time.time())
                cid = self.db.execute("INSERT INTO collections (name, smart, created, updated) VALUES (?,?,?,?)",
                                      (name, definition, created, created)).lastrowid
            else:
                cid = row[0]
            for item in c.get("items", []):
                self.db.execute(
                    "INSERT OR IGNORE INTO collection_items (collection_id, hash, path, added) VALUES (?,?,?,?)",
                    (cid, resolve(item["hash"], item["path"]), encode_path(item["path"]), float(item["added"])))

    def clear(self) -> None:
        self.db.execute("DELETE FROM collection_items")
        self.db.execute("DELETE FROM collections")
