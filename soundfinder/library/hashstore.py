"""The common part of tables keyed by content hash and stamped with the version that made a
row (`descriptors`, `fingerprints`): created with the catalog's connection, absent in a
read-only view of a library older than them, read in chunks, and asked which indexed content
still lacks a row of the current version (the work `soundfinder analyze` resumes).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from soundfinder.library.catalog import Catalog, decode_path
from soundfinder.library.records import INDEXED

CHUNK = 900  # SQLite's parameter limit is 999 on older builds


class VersionedHashStore:
    """Subclasses set TABLE (a constant name) and SCHEMA (its CREATE TABLE IF NOT EXISTS)."""

    TABLE = ""
    SCHEMA = ""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.db = catalog.db
        self._exists: bool | None = None
        if not catalog.readonly:
            self.db.execute(self.SCHEMA)
            self._exists = True

    def _ready(self) -> bool:
        """A read-only view of a library made before this table existed has none."""
        if self._exists is None:
            self._exists = self.db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?",
                                           (self.TABLE,)).fetchone() is not None
        return self._exists

    def _select(self, columns: str, hashes: Iterable[str], where: str = "", params=()) -> Iterator[tuple]:
        """Rows (hash, columns…) for `hashes`, `CHUNK` at a time; nothing when there is no table."""
        if not self._ready():
            return
        hs = [h for h in set(hashes) if h]
        for s in range(0, len(hs), CHUNK):
            chunk = hs[s:s + CHUNK]
            marks = ",".join("?" * len(chunk))
            yield from self.db.execute(f"SELECT hash, {columns} FROM {self.TABLE} "
                                       f"WHERE {where}{' AND ' if where else ''}hash IN ({marks})", [*params, *chunk])

    def missing(self, version: str) -> list[tuple[str, str]]:
        """(hash, one path) of indexed content without a row of `version`, by path: the work left
        for `soundfinder analyze`, so an interrupted run resumes where it stopped."""
        if not self._ready():
            rows = self.db.execute("SELECT hash, MIN(path) FROM files WHERE status=? AND hash IS NOT NULL "
                                   "GROUP BY hash ORDER BY MIN(path)", (INDEXED,))
        else:
            rows = self.db.execute(
                f"SELECT f.hash, MIN(f.path) FROM files f LEFT JOIN {self.TABLE} t ON t.hash = f.hash "
                "WHERE f.status=? AND f.hash IS NOT NULL AND (t.hash IS NULL OR t.version <> ?) "
                "GROUP BY f.hash ORDER BY MIN(f.path)", (INDEXED, version))
        return [(h, decode_path(p)) for h, p in rows]

    def count(self, version: str | None = None) -> int:
        if not self._ready():
            return 0
        if version is None:
            return int(self.db.execute(f"SELECT COUNT(*) FROM {self.TABLE}").fetchone()[0])
        return int(self.db.execute(f"SELECT COUNT(*) FROM {self.TABLE} WHERE version=?", (version,)).fetchone()[0])
