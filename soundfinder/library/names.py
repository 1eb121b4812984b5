"""Full-text search over file names and folders (SQLite FTS5), kept inside the catalog.

A producer's name is often the best evidence there is ("Kick_808_Deep_03.wav"); this table
holds each file's name and nearest folders as search tokens (rules in `nametokens.py`: the
same ones training captions use) so a query can rank them next to the sound.

Rows follow the `files` table inside the same transaction: `Library.commit` writes the tokens
of every added, changed and moved file (`put`), and a trigger deletes a file's row when its
record goes (forget, replace on move). The row id is the file id. A catalog written without
this table (an older version, or a tool that inserts rows directly) is brought up to date when
it next opens for writing: rows are filled for file ids past the last indexed one, and all of
them when the tokenisation rules changed (`NAMES_VERSION`).

Every query is built from our own tokens, each quoted for FTS5 ("near", "*", '"' are words,
never operators), and any SQLite error answers "no name matches": a query never fails here.
Where SQLite lacks FTS5, `available` is False and search runs on sound alone.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from soundfinder.library.nametokens import path_tokens
from soundfinder.library.records import INDEXED

NAMES_VERSION = "2"  # bump when nametokens' rules change: every row is re-tokenised on next open
_META_KEY = "names_version"

SCHEMA = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS names USING fts5(name, folders, vid UNINDEXED, tokenize='unicode61')",
    "CREATE TRIGGER IF NOT EXISTS names_forget AFTER DELETE ON files BEGIN "
    "DELETE FROM names WHERE rowid = old.id; END",
)

# A query word found only in a file's folders counts this much of one in its own name
# ("Kicks/snare_01.wav" is a snare). Search weighs words by rarity itself (query/fusion.py).
FOLDER_WEIGHT = 0.5


@dataclass(frozen=True)
class NameMatch:
    """One file whose name matched: how many query tokens it holds (folder-only ones count
    FOLDER_WEIGHT), and which, in its own name and (only) in its folders' names."""

    file_id: int
    vector_id: int | None
    score: float
    tokens: tuple[str, ...]
    folder_tokens: tuple[str, ...] = ()


def apply_schema(db: sqlite3.Connection) -> bool:
    """Create the table and trigger (inside the catalog's opening transaction); False without FTS5."""
    try:
        for statement in SCHEMA:
            db.execute(statement)
    except sqlite3.OperationalError:
        return False  # SQLite built without FTS5: names are simply not searched
    return True


def catch_up(db: sqlite3.Connection) -> int:
    """Tokenise the files the table lacks (all of them when the rules changed); returns how many.

    Cheap when nothing is missing: two lookups of the largest row id.
    """
    if db.execute("SELECT 1 FROM sqlite_master WHERE name='names'").fetchone() is None:
        return 0
    row = db.execute("SELECT value FROM meta WHERE key=?", (_META_KEY,)).fetchone()
    if row is None or row[0] != NAMES_VERSION:
        db.execute("DROP TABLE names")  # the columns may have changed too
        db.execute(SCHEMA[0])
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (_META_KEY, NAMES_VERSION))
        after = -1
    else:
        after = db.execute("SELECT COALESCE(MAX(rowid), -1) FROM names").fetchone()[0]
        last = db.execute("SELECT COALESCE(MAX(id), -1) FROM files").fetchone()[0]
        if last <= after:
            return 0
    rows = db.execute("SELECT id, path, vector_id FROM files WHERE id > ? ORDER BY id", (after,)).fetchall()
    db.executemany("INSERT OR REPLACE INTO names (rowid, name, folders, vid) VALUES (?, ?, ?, ?)",
                   (_row(fid, os.fsdecode(bytes(raw)), vid) for fid, raw, vid in rows))
    return len(rows)


def _row(file_id: int, path: str, vector_id: int | None) -> tuple[int, str, str, int | None]:
    name, folders = path_tokens(path)
    return file_id, " ".join(name), " ".join(folders), vector_id


def _quote(token: str) -> str:
    """One FTS5 string: the token as a literal word, whatever characters it holds."""
    return '"' + token.replace('"', '""') + '"'


def match_expression(any_of: Sequence[str], phrases: Sequence[Sequence[str]] = (), require_all: bool = False) -> str:
    """FTS5 query: files with any (or all) of `any_of`, and every phrase as adjacent tokens."""
    parts = []
    if any_of:
        parts.append("(" + (" AND " if require_all else " OR ").join(_quote(t) for t in any_of) + ")")
    for phrase in phrases:
        if phrase:
            parts.append(_quote(" ".join(phrase)))
    return " AND ".join(parts)


class NameIndex:
    """The `names` table of one catalog: written inside the catalog's transactions."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._available: bool | None = None

    @classmethod
    def of(cls, catalog) -> NameIndex:
        """The index of `catalog` (one per catalog object, so `available` is looked up once)."""
        index = getattr(catalog, "_name_index", None)
        if index is None:
            index = catalog._name_index = cls(catalog)
        return index

    @property
    def available(self) -> bool:
        if self._available is None:
            self._available = self.catalog.db.execute(
                "SELECT 1 FROM sqlite_master WHERE name='names'").fetchone() is not None
        return self._available

    def put(self, file_id: int, path: str, vector_id: int | None) -> None:
        """Index (or re-index) one file's name; call inside the transaction that wrote its record."""
        if self.available:
            self.catalog.db.execute("INSERT OR REPLACE INTO names (rowid, name, folders, vid) VALUES (?, ?, ?, ?)",
                                    _row(file_id, path, vector_id))

    def put_path(self, path: str) -> None:
        """Index the file recorded at `path` (after a move re-pointed its record)."""
        rec = self.catalog.get(path)
        if rec is not None:
            self.put(rec.id, path, rec.vector_id)

    def matching(self, any_of: Sequence[str], phrases: Sequence[Sequence[str]] = (), require_all: bool = False,
                 limit: int = 50_000) -> dict[int, int]:
        """{file id: vector id} of the files whose names hold all (or any) of `any_of` and every
        phrase, in no particular order (files without a vector, i.e. failed ones, left out).

        A plain FTS5 lookup: no ranking and no join (SQLite evaluates MATCH row by row inside
        a join: 30 s at 100k files, against 15 ms alone). The vector id is stored beside the
        tokens for that reason; search checks the file's status when it loads the hits.
        """
        expr = match_expression(any_of, phrases, require_all)
        if not expr or not self.available:
            return {}
        try:
            return {fid: vid for fid, vid in self.catalog.db.execute(
                "SELECT rowid, vid FROM names WHERE names MATCH ? LIMIT ?", (expr, limit)) if vid is not None}
        except sqlite3.Error:
            return {}  # never an SQL error for a query; the sound side still answers

    def doc_freq(self, tokens: Iterable[str]) -> dict[str, int]:
        """How many names hold each token (for weighting rare words above common ones)."""
        out = {}
        for t in dict.fromkeys(tokens):
            try:
                out[t] = self.catalog.db.execute("SELECT COUNT(*) FROM names WHERE names MATCH ?",
                                                 (_quote(t),)).fetchone()[0]
            except sqlite3.Error:
                out[t] = 0
        return out

    def files_of(self, vector_ids: Iterable[int]) -> dict[int, int]:
        """{file id: vector id} of the indexed files holding `vector_ids` (no paths decoded)."""
        return self._pairs("SELECT id, vector_id FROM files WHERE vector_id IN ({q}) AND +status = ?", vector_ids)

    def _pairs(self, sql: str, ids: Iterable[int]) -> dict[int, int]:
        ids = list(ids)
        out: dict[int, int] = {}
        for s in range(0, len(ids), 900):
            chunk = ids[s:s + 900]
            for fid, vid in self.catalog.db.execute(sql.format(q=",".join("?" * len(chunk))), (*chunk, INDEXED)):
                if vid is not None:
                    out[fid] = vid
        return out

    def search(self, any_of: Sequence[str], phrases: Sequence[Sequence[str]] = (), limit: int = 200) -> list[NameMatch]:
        """Files whose names hold any of `any_of` (and every phrase), most query tokens first."""
        vids = self.matching(any_of, phrases, limit=50_000)
        tokens = self.tokens_of(vids)
        want = list(dict.fromkeys([*any_of, *(t for p in phrases for t in p)]))
        out = []
        for fid, vid in vids.items():
            own, around = tokens.get(fid, (set(), set()))
            mine = tuple(t for t in want if t in own)
            theirs = tuple(t for t in want if t in around and t not in own)
            out.append(NameMatch(fid, vid, len(mine) + FOLDER_WEIGHT * len(theirs), mine, theirs))
        out.sort(key=lambda m: (-m.score, m.file_id))
        return out[:limit]

    def tokens_of(self, file_ids: Iterable[int]) -> dict[int, tuple[set[str], set[str]]]:
        """{file id: (name tokens, folder tokens)} for explaining and demoting results."""
        ids = list(file_ids)
        out: dict[int, tuple[set[str], set[str]]] = {}
        if not self.available:
            return out
        for s in range(0, len(ids), 900):
            chunk = ids[s:s + 900]
            q = ",".join("?" * len(chunk))
            try:
                rows = self.catalog.db.execute(f"SELECT rowid, name, folders FROM names WHERE rowid IN ({q})", chunk)
                for fid, name, folders in rows:
                    out[fid] = (set(name.split()), set(folders.split()))
            except sqlite3.Error:
                return out
        return out
