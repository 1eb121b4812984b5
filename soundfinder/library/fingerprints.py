"""Signal fingerprints (analysis/fingerprint.py) per distinct content, for `duplicates`.

Keyed by content hash like vectors and descriptors: byte-identical copies share one row, a move
or rename keeps it, a changed file gets a new one. Each row records the fingerprint version
that made it; a row of another version is as good as none (`get_many` leaves it out), so old
libraries and old rows only make `duplicates` decode more, never decide wrongly.
The library stores what the indexing pipeline computed; it never computes anything itself.
"""

from __future__ import annotations

from collections.abc import Iterable

from soundfinder.library.hashstore import VersionedHashStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS fingerprints (
    hash TEXT PRIMARY KEY,
    version TEXT NOT NULL,  -- analysis.fingerprint.VERSION that made it
    data BLOB NOT NULL      -- empty: the sound is silent
)
"""


class FingerprintStore(VersionedHashStore):
    """SQL for the `fingerprints` table; created with the catalog's connection (cheap)."""

    TABLE, SCHEMA = "fingerprints", SCHEMA

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
        return dict(self._select("data", hashes, "version=?", (version,)))
