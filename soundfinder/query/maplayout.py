"""The map's geometry: a 2-D layout of the library's vectors, placing new ones, and staleness.

    xy = compute_layout(vectors, progress=print, cancel=event)     # (n, 2), deterministic
    xy_new = place(new_vectors, vectors, xy)                       # no recompute
    stored = build_map(library, progress, cancel)                  # compute + save (map.npz)
    view = current_map(library)                                    # stored map + new sounds placed

How (bench/map.py has the numbers that chose it): the vectors are cut to 50 principal
components (exact, an eigendecomposition of the 512x512 covariance), their 15 nearest
neighbours are found with hnswlib on one thread (deterministic; exact kNN over 100k rows
would cost a 100k x 100k distance matrix) and UMAP lays that neighbour graph out, seeded and
initialised from the PCA. UMAP kept as many 10-nearest neighbourhoods as openTSNE at a third
of its time here, and the seed makes it repeatable (it then runs on one thread). Its epoch
loop reports progress and honours a cancel through a stand-in for its tqdm bar. openTSNE
(`method="tsne"`, optional package) reports through its own callbacks; `method="pca"` is
the cheap baseline. The same vectors always give the same map.

New sounds are placed at the similarity-weighted mean of their 10 nearest laid-out
neighbours in the full 512-d space (one matrix product on small maps, the library's hnsw
search on big ones), so adding files never moves the others. When more than `STALE_FRACTION` of the map is placed or gone, a full recompute is
suggested.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from soundfinder.library.maps import StoredMap

SEED = 0
PCA_DIMS = 50
NEIGHBOURS = 15  # per point in the layout graph (perplexity = NEIGHBOURS / 3)
PLACE_K = 10
SEARCH_PLACE_ABOVE = 20000  # maps this big place new sounds through the library's search index
STALE_FRACTION = 0.2  # placed + removed, against the map's size: then offer a recompute
MIN_SOUNDS = 3  # fewer cannot be laid out (and a map of two dots says nothing)
METHODS = ("umap", "tsne", "pca")
DEFAULT_METHOD = "umap"
UMAP_EPOCHS = 200
EARLY_ITERS, MAIN_ITERS = 250, 350  # openTSNE: early exaggeration, then the normal phase


class MapCancelled(Exception):
    """The layout job was cancelled; nothing was stored."""


class MapError(ValueError):
    """The library cannot be mapped (too few sounds, no vectors); the message says why."""


@dataclass
class MapProgress:
    phase: str  # "reading", "neighbours", "layout", "saving"
    done: int
    total: int


Progress = Callable[[MapProgress], None]


def _check(cancel) -> None:
    if cancel is not None and cancel.is_set():
        raise MapCancelled("the map computation was cancelled")


def pca(vectors: np.ndarray, dims: int = PCA_DIMS) -> np.ndarray:
    """Project onto the top principal components, with signs fixed so the result is repeatable."""
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0)
    vals, vecs = np.linalg.eigh(x.T @ x)
    comps = vecs[:, ::-1][:, :min(dims, x.shape[1])]
    comps *= np.where(comps[np.abs(comps).argmax(axis=0), range(comps.shape[1])] < 0, -1.0, 1.0)
    return (x @ comps).astype(np.float32)


def neighbours(points: np.ndarray, k: int, progress: Progress | None = None, cancel=None,
               chunk: int = 10000) -> tuple[np.ndarray, np.ndarray]:
    """(indices, euclidean distances) of each point's k nearest other points, nearest first."""
    import hnswlib

    n, dim = points.shape
    k = min(k, n - 1)
    index = hnswlib.Index(space="l2", dim=dim)
    index.init_index(max_elements=n, M=16, ef_construction=100, random_seed=SEED)
    index.set_num_threads(1)  # one thread: insertion order, hence the graph, is repeatable
    total = 2 * n
    for s in range(0, n, chunk):
        _check(cancel)
        index.add_items(points[s:s + chunk], np.arange(s, min(n, s + chunk)))
        if progress:
            progress(MapProgress("neighbours", min(n, s + chunk), total))
    index.set_ef(max(64, 2 * k))
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    for s in range(0, n, chunk):
        _check(cancel)
        labels, d2 = index.knn_query(points[s:s + chunk], k=k + 1)
        for row, (lab, dd) in enumerate(zip(labels, d2, strict=True)):
            keep = lab != s + row  # drop the point itself, wherever it came in the answer
            idx[s + row] = lab[keep][:k]
            dist[s + row] = np.sqrt(np.maximum(dd[keep][:k], 0))
        if progress:
            progress(MapProgress("neighbours", n + min(n, s + chunk), total))
    return idx, dist


def _normalise(xy: np.ndarray) -> np.ndarray:
    """Centre and scale into about [-1, 1] so views and placements share one scale."""
    xy = np.asarray(xy, dtype=np.float64)
    xy = xy - np.median(xy, axis=0)
    scale = np.percentile(np.abs(xy), 99.5) or 1.0
    return (xy / scale).astype(np.float32)


def compute_layout(vectors: np.ndarray, method: str = DEFAULT_METHOD, seed: int = SEED,
                   progress: Progress | None = None, cancel=None) -> np.ndarray:
    """A 2-D position per row of `vectors` (n >= MIN_SOUNDS), scaled to about [-1, 1]."""
    n = len(vectors)
    if n < MIN_SOUNDS:
        raise MapError(f"a map needs at least {MIN_SOUNDS} sounds; the library has {n}")
    if method not in METHODS:
        raise MapError(f"unknown map method {method!r}; choose one of {', '.join(METHODS)}")
    points = pca(vectors)
    if method == "pca" or n < 3 * NEIGHBOURS:
        return _normalise(points[:, :2])  # too few points for a neighbour graph to mean much
    idx, dist = neighbours(points, NEIGHBOURS, progress, cancel)
    _check(cancel)
    if method == "umap":
        return _normalise(_umap(points, idx, dist, seed, progress, cancel))
    return _normalise(_tsne(points, idx, dist, seed, progress, cancel))


def _tsne(points, idx, dist, seed, progress, cancel) -> np.ndarray:
    from openTSNE import TSNEEmbedding, affinity, initialization
    from openTSNE.nearest_neighbors import PrecomputedNeighbors

    total = EARLY_ITERS + MAIN_ITERS
    state = {"base": 0}

    def report(iteration, error, embedding):
        if progress:
            progress(MapProgress("layout", min(total, state["base"] + iteration), total))
        return cancel is not None and cancel.is_set()  # True stops openTSNE's optimisation

    aff = affinity.PerplexityBasedNN(knn_index=PrecomputedNeighbors(idx, dist), perplexity=idx.shape[1] / 3,
                                     n_jobs=1, random_state=seed)
    init = initialization.rescale(points[:, :2].astype(np.float64))
    emb = TSNEEmbedding(init, aff, n_jobs=2, random_state=seed, callbacks=report, callbacks_every_iters=10)
    emb = emb.optimize(EARLY_ITERS, exaggeration=12, momentum=0.5)
    _check(cancel)
    state["base"] = EARLY_ITERS
    emb = emb.optimize(MAIN_ITERS, momentum=0.8)
    _check(cancel)
    return np.asarray(emb)


def _umap(points, idx, dist, seed, progress, cancel) -> np.ndarray:
    import umap
    import umap.layouts

    n = len(points)
    # UMAP wants each point as its own first neighbour.
    knn_i = np.hstack([np.arange(n)[:, None], idx])
    knn_d = np.hstack([np.zeros((n, 1), np.float32), dist])

    def epochs(iterable, **_):
        """Stands in for the tqdm bar around UMAP's epoch loop: progress and cancel per epoch."""
        total = len(iterable)
        for i, item in enumerate(iterable):
            _check(cancel)
            if progress:
                progress(MapProgress("layout", i, total))
            yield item

    if progress:
        progress(MapProgress("layout", 0, UMAP_EPOCHS))
    real_tqdm, umap.layouts.tqdm = umap.layouts.tqdm, epochs
    try:
        with warnings.catch_warnings():  # "seed forces one thread", "no transform": both intended
            warnings.simplefilter("ignore", UserWarning)
            xy = umap.UMAP(n_neighbors=knn_i.shape[1], random_state=seed, init="pca", n_epochs=UMAP_EPOCHS,
                           n_jobs=1, precomputed_knn=(knn_i, knn_d, None)).fit_transform(points)
    finally:
        umap.layouts.tqdm = real_tqdm
    return xy


def place(new_vectors: np.ndarray, vectors: np.ndarray, xy: np.ndarray, k: int = PLACE_K,
          chunk: int = 1024) -> np.ndarray:
    """Positions for new vectors among laid-out ones (`vectors[i]` sits at `xy[i]`), by brute
    force: right for small maps (see `place_by_search` for big ones).

    Each new vector goes to the mean of its k most similar laid-out vectors (cosine on the
    full vectors), weighted towards the closest, so it lands inside the cluster it belongs to."""
    new = np.asarray(new_vectors, dtype=np.float32)
    out = np.empty((len(new), 2), dtype=np.float32)
    k = min(k, len(vectors))
    for s in range(0, len(new), chunk):
        sims = new[s:s + chunk] @ np.asarray(vectors, dtype=np.float32).T
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out[s:s + chunk] = _weighted(np.take_along_axis(sims, top, axis=1), xy[top])
    return out


def _weighted(sims: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """(m, k) similarities and (m, k, 2) positions -> (m, 2): sharper than a plain mean."""
    w = np.exp((sims - sims.max(axis=1, keepdims=True)) / 0.05)
    return (w[:, :, None] * xy).sum(axis=1) / w.sum(axis=1, keepdims=True)


def place_by_search(knn, new_vectors: np.ndarray, base_ids: np.ndarray, base_xy: np.ndarray,
                    vectors, k: int = PLACE_K) -> np.ndarray:
    """Like `place`, but asks the library's search index (`knn(vector, k) -> [(id, cosine)]`)
    for neighbours: ~0.3 ms a sound at 100k instead of a pass over every vector. Neighbours
    not on the map (other new sounds) are skipped; a sound with none falls back to `place`."""
    out = np.empty((len(new_vectors), 2), dtype=np.float32)
    for i, v in enumerate(np.asarray(new_vectors, dtype=np.float32)):
        hits = knn(v, 3 * k)
        ids = np.array([h[0] for h in hits], dtype=np.int64)
        at = np.minimum(np.searchsorted(base_ids, ids), len(base_ids) - 1)
        on_map = base_ids[at] == ids if len(ids) else np.zeros(0, bool)
        if not on_map.any():
            out[i] = place(v[None], vectors[base_ids], base_xy, k)[0]
            continue
        sims = np.array([h[1] for h in hits], dtype=np.float32)[on_map][:k]
        out[i] = _weighted(sims[None], base_xy[at[on_map][:k]][None])[0]
    return out


@dataclass
class Staleness:
    """How far the stored map is from the library: sounds placed since, sounds gone, and
    whether a full recompute is worth offering."""

    total: int
    placed: int
    missing: int  # vectors of the library not on the stored map (placed when shown)
    gone: int  # vectors on the map no file points to any more

    @property
    def fraction(self) -> float:
        return (self.placed + self.missing + self.gone) / max(1, self.total)

    @property
    def stale(self) -> bool:
        return self.fraction > STALE_FRACTION

    def to_json(self) -> dict:
        return {"total": self.total, "placed": self.placed, "missing": self.missing, "gone": self.gone,
                "fraction": round(self.fraction, 4), "stale": self.stale}


def staleness(stored: StoredMap, live_ids: np.ndarray) -> Staleness:
    live = np.unique(np.asarray(live_ids, dtype=np.int64))
    on_map = np.isin(stored.vector_ids, live)
    return Staleness(total=len(live), placed=int((stored.placed & on_map).sum()),
                     missing=int((~np.isin(live, stored.vector_ids)).sum()), gone=int((~on_map).sum()))


def live_vectors(library) -> tuple[np.ndarray, np.ndarray]:
    """(distinct vector ids of indexed files, ascending; the vector log as a memory map)."""
    _, vector_ids, matrix = library.indexed_vectors()
    return np.unique(vector_ids), matrix


def build_map(library, method: str = DEFAULT_METHOD, progress: Progress | None = None,
              cancel=None) -> StoredMap:
    """Lay out every indexed sound from scratch and store the map (the background job)."""
    if progress:
        progress(MapProgress("reading", 0, 1))
    ids, matrix = live_vectors(library)
    if len(ids) < MIN_SOUNDS:
        raise MapError(f"a map needs at least {MIN_SOUNDS} sounds; the library has {len(ids)}")
    vectors = np.asarray(matrix[ids], dtype=np.float32)
    _check(cancel)
    started = time.perf_counter()
    xy = compute_layout(vectors, method, SEED, progress, cancel)
    info = {"method": method, "seed": SEED, "seconds": round(time.perf_counter() - started, 2),
            "sounds": int(len(ids))}
    stored = StoredMap(ids, xy, np.zeros(len(ids), dtype=bool), library.space_id, info)
    _check(cancel)
    if progress:
        progress(MapProgress("saving", 0, 1))
    library.maps.save(stored)
    return stored


def current_map(library, save: bool = True) -> tuple[StoredMap | None, Staleness | None]:
    """The stored map brought up to date without a recompute: sounds no longer in the library
    dropped, new ones placed (and stored, when the library is writable and `save`).
    (None, None) when no map was computed yet."""
    stored = library.maps.load()
    if stored is None:
        return None, None
    ids, matrix = live_vectors(library)
    stale = staleness(stored, ids)
    keep = np.isin(stored.vector_ids, ids)
    new_ids = ids[~np.isin(ids, stored.vector_ids)]
    if not keep.all() or len(new_ids):
        base_ids, base_xy = stored.vector_ids[keep], stored.xy[keep]
        if not (len(new_ids) and len(base_ids)):
            new_xy = np.zeros((len(new_ids), 2), np.float32)
        elif len(base_ids) >= SEARCH_PLACE_ABOVE:  # the library's hnsw graph answers
            new_xy = place_by_search(library.knn, matrix[new_ids], base_ids, base_xy, matrix)
        else:
            new_xy = place(matrix[new_ids], matrix[base_ids], base_xy)
        stored = StoredMap(np.concatenate([base_ids, new_ids]), np.concatenate([base_xy, new_xy]),
                           np.concatenate([stored.placed[keep], np.ones(len(new_ids), bool)]),
                           stored.space, stored.info)
        if save and not library.readonly:
            library.maps.save(stored)
    return stored, stale
