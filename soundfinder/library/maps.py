"""The stored map of the library: 2-D positions of its vectors, in `map.npz` in the library folder.

One file holds the last full layout and the sounds placed into it since (`placed`), keyed by
vector id (one dot per distinct content, like the vector log). It is written whole with
temp + fsync + rename, so a crash leaves the previous map or the new one, never half of one.
A map made in another embedding space (another model) is ignored, as if there were none.

Computing a map is `soundfinder.query.maplayout`'s job; this module only stores and reads it.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soundfinder.library.atomic import atomic_write_bytes
from soundfinder.library.errors import LibraryError

MAP_FILE = "map.npz"
FORMAT = 1


@dataclass
class StoredMap:
    """Positions of vectors: row i of `xy` is where vector `vector_ids[i]` sits.

    `placed[i]` is True for a vector placed into the layout after it was computed (nearest
    neighbours, no recompute); `info` says how the layout was made (method, seed, timings)."""

    vector_ids: np.ndarray  # int64 (n,), sorted ascending
    xy: np.ndarray  # float32 (n, 2)
    placed: np.ndarray  # bool (n,)
    space: str | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.vector_ids = np.asarray(self.vector_ids, dtype=np.int64).reshape(-1)
        self.xy = np.asarray(self.xy, dtype=np.float32).reshape(-1, 2)
        self.placed = np.asarray(self.placed, dtype=bool).reshape(-1)
        if not (len(self.vector_ids) == len(self.xy) == len(self.placed)):
            raise ValueError("a map needs one position and one placed flag per vector id")
        order = np.argsort(self.vector_ids, kind="stable")
        if np.any(order != np.arange(len(order))):
            self.vector_ids, self.xy, self.placed = self.vector_ids[order], self.xy[order], self.placed[order]

    def __len__(self) -> int:
        return len(self.vector_ids)

    def positions_of(self, vector_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(xy of the given ids, mask of those the map has); rows of unknown ids are NaN."""
        ids = np.asarray(vector_ids, dtype=np.int64)
        at = np.searchsorted(self.vector_ids, ids)
        at_c = np.minimum(at, max(len(self.vector_ids) - 1, 0))
        known = (at < len(self.vector_ids)) & (self.vector_ids[at_c] == ids) if len(self.vector_ids) else \
            np.zeros(len(ids), dtype=bool)
        xy = np.full((len(ids), 2), np.nan, dtype=np.float32)
        xy[known] = self.xy[at_c[known]]
        return xy, known


class MapStore:
    """Reads and writes `map.npz`; `Library.maps` hands one out."""

    def __init__(self, root: Path, space: str | None, readonly: bool):
        self.path = Path(root) / MAP_FILE
        self.space = space
        self.readonly = readonly

    def load(self) -> StoredMap | None:
        """The stored map, or None when there is none, it is unreadable or of another model."""
        try:
            with np.load(self.path, allow_pickle=False) as z:
                meta = json.loads(bytes(z["meta"]).decode("utf-8"))
                if meta.get("format") != FORMAT:
                    return None
                stored = StoredMap(z["vector_ids"], z["xy"], z["placed"], meta.get("space"), meta.get("info", {}))
        except (OSError, ValueError, KeyError, EOFError):  # missing or damaged: computed again
            return None
        if self.space is not None and stored.space is not None and stored.space != self.space:
            return None
        return stored

    def save(self, stored: StoredMap) -> None:
        """Replace the stored map atomically."""
        if self.readonly:
            raise LibraryError("the library is open read-only; the map cannot be saved")
        meta = {"format": FORMAT, "space": stored.space or self.space, "saved": time.time(), "info": stored.info}
        buf = io.BytesIO()
        np.savez(buf, vector_ids=stored.vector_ids, xy=stored.xy, placed=stored.placed,
                 meta=np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8))
        atomic_write_bytes(self.path, buf.getvalue())

    def clear(self) -> None:
        if not self.readonly:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
