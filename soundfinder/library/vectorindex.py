"""Nearest-neighbour search over the vector log: exact for small libraries, hnsw above.

Below `exact_below` vectors a matrix product over the memory-mapped log is exact (about 2 ms
at 20k on 2 cores) and needs no graph. Above it an hnswlib graph answers in fractions of a
millisecond; the graph is saved as a snapshot now and then (saving a 1M-vector graph takes
seconds) and vectors added since the snapshot are replayed on open. Once the log reaches
`exact_below` the graph is built or loaded as vectors are added (during indexing), so the
first search after a big import does not pay for building it.

Filtered search (`candidates`, e.g. the files with some tags) is exact over the candidates
when they are few and a filtered hnsw search when they are many; neither walks the catalog in
Python. Vectors no file points to any more ("dead") stay in the log so that a moved or
restored file finds its vector again; search skips them.

Parameters (bench/query.py, clustered 512-d vectors, 2 cores): M=16 / ef_construction=200,
search ef=64 gives recall@10 >= 0.99 against brute force at 100k (see bench/README.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from soundfinder.library.atomic import fsync_dir
from soundfinder.library.vectorlog import VectorLog

HNSW_M = 16
HNSW_EF_CONSTRUCTION = 200
# Measured recall@10 against brute force on clustered 512-d vectors (bench/query.py): 1.000 at
# 10k and 100k for every ef from 16; at 1M 0.968 (ef 32), 0.988 (64), 0.993 (128). 128 costs
# 0.45 ms a query at 1M, nothing next to the text tower.
HNSW_EF_SEARCH = 128
# Candidate sets at most this large are searched exactly (a gather + matrix product: ~1 ms
# per 10k); larger ones by hnsw with a filter, which is cheap while candidates are common.
EXACT_CANDIDATES = 20000
NEIGHBOURS_EF = 16  # whole-library neighbour lists (duplicates): recall@10 1.000 at 100k from ef 16


class VectorIndex:
    def __init__(self, log: VectorLog, snapshot: str | os.PathLike, exact_below: int = 20000):
        self.log = log
        self.snapshot_path = Path(snapshot)
        self.exact_below = exact_below
        self.dead: set[int] = set()
        self._hnsw = None
        self._snapshot_count = 0
        self.ef = HNSW_EF_SEARCH

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
        """Called after rows [first, first+count) were appended to the log.

        Keeps a loaded graph current; once the log is big enough to be searched by hnsw, loads
        or builds the graph here, on the indexing thread, instead of in the first search."""
        if self._hnsw is not None:
            self._add_range(first, first + count)
        elif len(self.log) >= self.exact_below:
            self._ensure_graph()

    def warm(self) -> None:
        """Load (or build) the graph now if searches will use it; for a background thread after open."""
        if len(self.log) >= self.exact_below:
            self._ensure_graph()

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

    def _dead_array(self) -> np.ndarray:
        return np.fromiter(self.dead, dtype=np.int64, count=len(self.dead))

    def search(self, query: np.ndarray, k: int, candidates=None) -> list[tuple[int, float]]:
        """Best `k` live vectors by cosine similarity, optionally restricted to `candidates`
        (any iterable or array of vector ids; duplicates and dead ids are ignored)."""
        n = len(self.log)
        if n == 0 or k <= 0:
            return []
        q = np.asarray(query, dtype=np.float32).reshape(-1)
        if candidates is not None:
            if not isinstance(candidates, np.ndarray):
                candidates = np.fromiter(candidates, dtype=np.int64) if not isinstance(candidates, (list, tuple)) \
                    else np.asarray(candidates, dtype=np.int64)
            ids = np.unique(candidates.astype(np.int64, copy=False))
            ids = ids[(ids >= 0) & (ids < n)]
            if self.dead:
                ids = ids[~np.isin(ids, self._dead_array(), assume_unique=True)]
            if ids.size == 0:
                return []
            if ids.size <= EXACT_CANDIDATES or n < self.exact_below:
                return self._exact(q, k, ids)
            return self._approximate(q, k, ids)
        if n < self.exact_below:
            return self._exact(q, k, None)
        return self._approximate(q, k)

    def neighbours(self, ids: np.ndarray, k: int, block: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        """The `k` nearest live vectors of each vector in `ids` (itself excluded): (labels,
        similarities), both len(ids) x k, -1 / -inf where there are fewer. One batched call for
        whole-library jobs (duplicates): exact blocks of matrix products below `exact_below`,
        the hnsw graph above (all threads)."""
        ids = np.asarray(ids, dtype=np.int64)
        labels = np.full((len(ids), k), -1, dtype=np.int64)
        sims = np.full((len(ids), k), -np.inf, dtype=np.float32)
        n = len(self.log)
        if n == 0 or len(ids) == 0 or k <= 0:
            return labels, sims
        dead = self._dead_array() if self.dead else np.zeros(0, dtype=np.int64)
        mat = self.log.matrix()
        graph = self._ensure_graph() if n >= self.exact_below else None
        want = min(k + 1 + len(dead), n)
        for s in range(0, len(ids), block):
            rows = np.asarray(mat[ids[s:s + block]])
            if graph is not None:
                # Near-copies are each other's very nearest neighbours: a small ef finds them and
                # costs a fraction of the search ef (bench/duplicates.py, 100k clustered vectors).
                graph.set_ef(max(NEIGHBOURS_EF, want))
                lab, dist = graph.knn_query(rows, k=want, num_threads=-1)
                sim = 1.0 - dist
            else:
                scores = rows @ np.asarray(mat).T
                if dead.size:
                    scores[:, dead] = -np.inf
                lab = np.argpartition(-scores, want - 1, axis=1)[:, :want]
                sim = np.take_along_axis(scores, lab, axis=1)
            labels[s:s + len(rows)], sims[s:s + len(rows)] = _best_others(ids[s:s + block], lab, sim, dead, k)
        return labels, sims

    def _exact(self, q: np.ndarray, k: int, ids: np.ndarray | None) -> list[tuple[int, float]]:
        if ids is None:
            mat = self.log.matrix()
            scores = np.asarray(mat @ q)
            ids = np.arange(len(scores))
            if self.dead:
                keep = np.ones(len(scores), dtype=bool)
                keep[self._dead_array()] = False
                scores, ids = scores[keep], ids[keep]
        else:
            if ids.size == 0:
                return []
            if ids.size * 4 >= len(self.log):  # a sequential pass beats a gather of many rows
                scores = np.asarray(self.log.matrix() @ q)[ids]
            else:
                scores = self.log.take(ids) @ q
        k = min(k, len(scores))
        if k == 0:
            return []
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.lexsort((ids[top], -scores[top]))]
        return [(int(ids[i]), float(scores[i])) for i in top]

    def _approximate(self, q: np.ndarray, k: int, ids: np.ndarray | None = None) -> list[tuple[int, float]]:
        index = self._ensure_graph()
        if ids is not None:
            # hnswlib calls the filter for each node it visits; a bool mask keeps that a lookup.
            allowed = np.zeros(index.get_max_elements(), dtype=bool)
            allowed[ids] = True
            want = min(k, ids.size)
            index.set_ef(max(self.ef, want))
            try:
                labels, dist = index.knn_query(q, k=want, num_threads=1, filter=allowed.__getitem__)
            except RuntimeError:  # fewer than `want` reachable through the filter: be exact
                return self._exact(q, k, ids)
            hits = [(int(i), 1.0 - float(d)) for i, d in zip(labels[0], dist[0], strict=True)]
            hits.sort(key=lambda h: (-h[1], h[0]))
            return hits[:k]
        live = self.live_count()
        want = min(len(self.log), k + len(self.dead) if len(self.dead) < 4 * k else 2 * k + 16)
        while True:
            want = min(want, index.get_current_count())
            index.set_ef(max(self.ef, want))
            labels, dist = index.knn_query(q, k=want, num_threads=1)
            hits = [(int(i), 1.0 - float(d)) for i, d in zip(labels[0], dist[0], strict=True)
                    if int(i) not in self.dead]
            if len(hits) >= min(k, live) or want >= index.get_current_count():
                hits.sort(key=lambda h: (-h[1], h[0]))
                return hits[:k]
            want *= 2


def _best_others(ids: np.ndarray, lab: np.ndarray, sim: np.ndarray, dead: np.ndarray, k: int):
    """The best `k` of each row's hits without the row's own id, dead ids and padding, sorted
    by similarity (-1 / -inf fill the rest). Array work: a per-row Python loop cost 6 s at 100k."""
    lab = np.asarray(lab, dtype=np.int64)
    sim = np.asarray(sim, dtype=np.float32)
    bad = (lab == ids[:, None]) | (lab < 0) | ~np.isfinite(sim)
    if dead.size:
        bad |= np.isin(lab, dead)
    sim = np.where(bad, -np.inf, sim)
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    out_lab = np.take_along_axis(lab, order, axis=1)
    out_sim = np.take_along_axis(sim, order, axis=1)
    out_lab[~np.isfinite(out_sim)] = -1
    if out_lab.shape[1] < k:  # fewer hits than k (a tiny library): pad
        pad = k - out_lab.shape[1]
        out_lab = np.pad(out_lab, ((0, 0), (0, pad)), constant_values=-1)
        out_sim = np.pad(out_sim, ((0, 0), (0, pad)), constant_values=-np.inf)
    return out_lab, out_sim
