"""Musical descriptors (tempo, key, pitch, loop/one-shot, loudness) per distinct content.

Keyed by content hash, like vectors: byte-identical copies share one row, a move or rename
keeps it, and a changed file gets a new one. Each row records the analyzer version that made
it, so a newer analyzer re-analyses lazily (`missing`), and `error` says why fields are empty.
The library stores what the analysis layer computed; it never computes anything itself.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields

from soundfinder.library.hashstore import VersionedHashStore
from soundfinder.library.records import INDEXED

SCHEMA = """
CREATE TABLE IF NOT EXISTS descriptors (
    hash TEXT PRIMARY KEY,
    version TEXT NOT NULL,         -- analyzer version that produced the row
    bpm REAL, bpm_source TEXT,     -- sources: 'metadata', 'name' or 'audio'
    key TEXT, key_source TEXT,     -- "A minor"
    pitch TEXT, pitch_source TEXT, -- "C2"
    kind TEXT, kind_source TEXT,   -- 'loop' or 'one-shot'
    lufs REAL, peak_db REAL, beats INTEGER,
    error TEXT,                    -- why fields are empty
    updated REAL NOT NULL
)
"""


@dataclass(frozen=True)
class DescriptorRow:
    bpm: float | None = None
    bpm_source: str | None = None
    key: str | None = None
    key_source: str | None = None
    pitch: str | None = None
    pitch_source: str | None = None
    kind: str | None = None
    kind_source: str | None = None
    lufs: float | None = None
    peak_db: float | None = None
    beats: int | None = None
    version: str | None = None
    error: str | None = None

    def to_json(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


FIELDS = tuple(f.name for f in fields(DescriptorRow))
_COLUMNS = ", ".join(FIELDS)


class DescriptorStore(VersionedHashStore):
    """SQL for the `descriptors` table; created with the catalog's connection (cheap)."""

    TABLE, SCHEMA = "descriptors", SCHEMA

    def put_many(self, rows: Iterable[tuple[str, Mapping]]) -> int:
        """Store (content hash, descriptor mapping) pairs in one transaction; returns how many."""
        now = time.time()
        values = [(h, *(d.get(f) for f in FIELDS), now) for h, d in rows if h]
        if not values:
            return 0
        marks = ",".join("?" * (len(FIELDS) + 2))
        with self.catalog.transaction():
            self.db.executemany(f"INSERT OR REPLACE INTO descriptors (hash, {_COLUMNS}, updated) "
                                f"VALUES ({marks})", values)
        return len(values)

    def get_many(self, hashes: Iterable[str]) -> dict[str, DescriptorRow]:
        return {row[0]: DescriptorRow(*row[1:]) for row in self._select(_COLUMNS, hashes)}

    def get(self, content_hash: str | None) -> DescriptorRow | None:
        return self.get_many([content_hash]).get(content_hash) if content_hash else None

    def allowed_vectors(self, length: tuple[float, float] | None = None, bpm_ranges=(), keys=None,
                        kind: str | None = None) -> dict[int, int]:
        """{file id: vector id} of indexed files whose duration lies in `length`, tempo in any of
        `bpm_ranges`, key in `keys` and kind is `kind` (each None/empty: no condition).

        Answered by SQLite in one JOIN: building a record per file in Python cost 1.5 s per
        filtered query at 100k files ("128 bpm kick")."""
        on_desc = bool(bpm_ranges) or keys is not None or kind is not None
        if on_desc and not self._ready():
            return {}  # nothing analysed yet: nothing has a tempo, key or kind
        where, params = ["f.status=?", "f.vector_id IS NOT NULL"], [INDEXED]
        if length is not None:
            where.append("f.duration BETWEEN ? AND ?")
            params += [float(length[0]), min(float(length[1]), 1e300)]
        if bpm_ranges:
            where.append("(" + " OR ".join("d.bpm BETWEEN ? AND ?" for _ in bpm_ranges) + ")")
            params += [float(v) for rng in bpm_ranges for v in rng]
        if keys is not None:
            keys = sorted(keys)
            where.append(f"d.key IN ({','.join('?' * len(keys))})" if keys else "0")
            params += keys
        if kind is not None:
            where.append("d.kind = ?")
            params.append(kind)
        join = "LEFT JOIN descriptors d ON d.hash = f.hash " if on_desc else ""
        return dict(self.db.execute(f"SELECT f.id, f.vector_id FROM files f {join}WHERE {' AND '.join(where)}", params))
