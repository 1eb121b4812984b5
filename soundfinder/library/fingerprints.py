"""Signal fingerprints (analysis/fingerprint.py) per distinct content, for `duplicates`.

Keyed by content hash like vectors and descriptors: byte-identical copies share one row, a move
or rename keeps it, a changed file gets a new one. Each row records the fingerprint version
that made it; a row of another version is as good as none (`get_many` leaves it out), so old
libraries and old rows only make `duplicates` decode more, never decide wrongly.
The library stores what the indexing pipeline computed; it never computes anything itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from soundfinder.library.catalog import Catalog, decode_path
from soundfinder.library.records import INDEXED

SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    hash TEXT PRIMARY KEY,
    version TEXT NOT NULL,  -- analysis.fingerprint.VERSION that made it
    data BLOB NOT NULL      -- empty: the sound is silent
)
"""


class FingerprintStore:
    """SQL for the `fingerprints` table; created with the catalog's connection (cheap)."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog
        self.db = catalog.db
        self._exists: bool | None = None
        if not catalog.readonly:
            self.db.execute(SCHEMA)
            self._exists = True

    def _ready(self) -> bool:
        """A read-only view of a library made before fingerprints existed has no table."""
        if self._exists is None:
            self._exists = self.db.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='fingerprints'").fetchone() is not None
        return self._exists

    def put_many(self, rows: Iterable[tuple[str, str, bytes]]) -> int:
        """Store (content hash, version, fingerprint) rows in one transaction; returns how many."""
        values = [(h, v, bytes(d)) for h, v, d in rows if h and d is not None]
        if not values:
            return 0
        with self.catalog.transaction():
            self.db.executemany("INSERT OR REPLACE INTO fingerprints (hash, version, data) VALUES (?, ?, ?)",
                                values)
        return len(values)

    def get_many(self, hashes: Iterable[str], version: str) -> dict[str, bytes]:
        """{hash: fingerprint} of `version` for those of `hashes` that have one."""
        if not self._ready():
            return {}
        hs = [h for h in set(hashes) if h]
        out: dict[str, bytes] = {}
        for s in range(0, len(hs), 900):
            chunk = hs[s:s + 900]
            q = ",".join("?" * len(chunk))
            out.update(self.db.execute(f"SELECT hash, data FROM fingerprints WHERE version=? AND hash IN ({q})",
                                       [version, *chunk]))
        return out

    def missing(self, version: str) -> list[tuple[str, str]]:
        """(hash, one path) of indexed content without a fingerprint of `version`."""
        if not self._ready():
            rows = self.db.execute("SELECT hash, MIN(path) FROM files WHERE status=? AND hash IS NOT NULL "
                                   "GROUP BY hash", (INDEXED,))
        else:
            rows = self.db.execute(
                "SELECT f.hash, MIN(f.path) FROM files f LEFT JOIN fingerprints p ON p.hash = f.hash "
                "WHERE f.status=? AND f.hash IS NOT NULL AND (p.hash IS NULL OR p.version <> ?) "
                "GROUP BY f.hash ORDER BY MIN(f.path)", (INDEXED, version))
        return [(h, decode_path(p)) for h, p in rows]

    def count(self) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM fingerprints").fetchone()[0]) if self._ready() else 0
