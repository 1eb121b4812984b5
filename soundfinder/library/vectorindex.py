"""Nearest-neighbour search over the vector log: exact for small libraries, hnsw above.

Below `exact_below` vectors a matrix product over the memory-mapped log is exact and takes
well under a millisecond per thousand vectors. Above it an hnswlib graph answers in
fractions of a millisecond; the graph is saved as a snapshot now and then (saving a
1M-vector graph takes seconds) and vectors added since the snapshot are replayed on open.
Vectors no file points to any more ("dead") stay in the log so that a moved or restored
file finds its vector again; search skips them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from soundfinder.library.atomic import fsync_dir
from soundfinder.library.vectorlog import VectorLog

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128


class VectorIndex:
    def __init__(self, log: VectorLog, snapshot: str | os.PathLike, exact_below: int = 20000):
        self.log = log
        self.snapshot_path = Path(snapshot)
        self.exact_below = exact_below
        self.dead: set[int] = set()
        self._hnsw = None
        self._snapshot_count = 0

    # -- graph lifecycle -----------------------------------------------------------------

    def _ensure_graph(self):
        if self._hnsw is not None:
            return self._hnsw
        import hnswlib

        n = len(self.log)
        index = hnswlib.Index(space="cosine", dim=self.log.dim)
        loaded = False
        if self.snapshot_path.exists():
            try:
                index.load_index(str(self.snapshot_path), max_elements=max(n, 1) + 1024)
                loaded = index.get_current_count() <= n
            except Exception:  # a damaged snapshot is rebuilt from the log, never trusted
                loaded = False
        if not loaded:
            index = hnswlib.Index(space="cosine", dim=self.log.dim)
            index.init_index(max_elements=max(n, 1) + 1024, M=HNSW_M,
                             ef_construction=HNSW_EF_CONSTRUCTION)
        self._snapshot_count = index.get_current_count() if loaded else 0
        self._hnsw = index
        self._add_range(self._snapshot_count, n)
        return index

    def _add_range(self, start: int, stop: int, chunk: int = 20000) -> None:
        for s in range(start, stop, chunk):
            rows = self.log.read(s, min(stop, s + chunk))
            self._grow(s + rows.shape[0])
            self._hnsw.add_items(rows, np.arange(s, s + rows.shape[0]))

    def _grow(self, needed: int) -> None:
        cap = self._hnsw.get_max_elements()
        if needed > cap:
            self._hnsw.resize_index(max(needed, int(cap * 1.5)))

    def added(self, first: int, count: int) -> None:
        """Called after rows [first, first+count) were appended to the log."""
        if self._hnsw is not None:
            self._add_range(first, first + count)

    def truncated(self) -> None:
        """Rows were cut off the log; a graph holding them is dropped and rebuilt lazily."""
        if self._hnsw is not None and self._hnsw.get_current_count() > len(self.log):
            self._hnsw = None

    @property
    def unsnapshotted(self) -> int:
        return len(self.log) - self._snapshot_count if self._hnsw is not None else 0

    def save_snapshot(self) -> None:
        if self._hnsw is None:
            return
        tmp = self.snapshot_path.with_name(self.snapshot_path.name + ".tmp")
        self._hnsw.save_index(str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.snapshot_path)
        fsync_dir(self.snapshot_path.parent)
        self._snapshot_count = self._hnsw.get_current_count()

    # -- queries -------------------------------------------------------------------------

    def live_count(self) -> int:
        return len(self.log) - len(self.dead)

    def search(self, query: np.ndarray, k: int, candidates: np.ndarray | None = None) -> list[tuple[int, float]]:
        """Best `k` live vectors by cosine similarity, optionally restricted to `candidates`."""
        n = len(self.log)
        if n == 0 or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if candidates is not None:
            ids = np.asarray(sorted(set(int(i) for i in candidates) - self.dead), dtype=np.int64)
            return self._exact(q, k, ids)
        if n < self.exact_below:
            return self._exact(q, k, None)
        return self._approximate(q, k)

    def _exact(self, q: np.ndarray, k: int, ids: np.ndarray | None) -> list[tuple[int, float]]:
        if ids is None:
            mat = self.log.matrix()
            scores = np.asarray(mat @ q)
            ids = np.arange(len(scores))
            if self.dead:
                keep = np.ones(len(scores), dtype=bool)
                keep[list(self.dead)] = False
                scores, ids = scores[keep], ids[keep]
        else:
            if ids.size == 0:
                return []
            scores = self.log.take(ids) @ q
        k = min(k, len(scores))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((ids[top], -scores[top]))]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _approximate(self, q: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self._ensure_graph()
        live = self.live_count()
        want = min(len(self.log), k + len(self.dead) if len(self.dead) < 4 * k else 2 * k + 16)
        while True:
            want = min(want, index.get_current_count())
            index.set_ef(max(HNSW_EF_SEARCH, want))
            labels, dist = index.knn_query(q, k=want)
            hits = [(int(i), 1.0 - float(d)) for i, d in zip(labels[0], dist[0], strict=True)
                    if int(i) not in self.dead]
            if len(hits) >= min(k, live) or want >= index.get_current_count():
                hits.sort(key=lambda h: (-h[1], h[0]))
                return hits[:k]
            want *= 2
