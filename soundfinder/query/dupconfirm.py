"""The signal-level confirmation of duplicate candidates: decode, compare, in parallel.

Candidate pairs (from `duplicates.candidate_pairs`) form a graph whose connected components
are small when the embedding separates sounds: a recording and its copies, perhaps with a
drum's other velocity layers. Each component is confirmed on its own, on a thread pool:
libsndfile decoding, resampling and numpy's FFTs release the GIL, so two cores decode two
files at once. Within a component the most similar pairs go first, and a pair already joined
through others is not compared (copies of copies are one group). Decoded audio is kept per
component up to `CACHE_BYTES` per thread, so memory stays bounded when a weak embedding (a
random test model) puts a whole kit into one component.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed

import numpy as np

from soundfinder.query import samecheck

CACHE_BYTES = 128 * 1024 * 1024  # decoded audio kept per worker (6 s at 22.05 kHz is 0.5 MB)
MAX_WORKERS = 4


def components(pairs: np.ndarray) -> list[np.ndarray]:
    """Rows of `pairs` (a, b, cosine) split by connected component, biggest first, each in
    the order given (most similar first)."""
    if len(pairs) == 0:
        return []
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a, b = pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)
    nodes, inverse = np.unique(np.concatenate([a, b]), return_inverse=True)
    ia, ib = inverse[: len(a)], inverse[len(a):]
    graph = coo_matrix((np.ones(len(a)), (ia, ib)), shape=(len(nodes), len(nodes)))
    _, label = connected_components(graph, directed=False)
    comp = label[ia]
    order = np.argsort(comp, kind="stable")  # keeps the given order inside a component
    groups = np.split(pairs[order], np.flatnonzero(np.diff(comp[order])) + 1)
    return sorted(groups, key=len, reverse=True)


class _Decoded:
    """Decoded audio by vector id, least recently used dropped beyond CACHE_BYTES."""

    def __init__(self, paths: dict[int, str], loader: Callable[[str], np.ndarray]):
        self.paths, self.loader = paths, loader
        self.cache: OrderedDict[int, np.ndarray | None] = OrderedDict()
        self.bytes = 0

    def __call__(self, v: int) -> np.ndarray | None:
        if v in self.cache:
            self.cache.move_to_end(v)
            return self.cache[v]
        try:
            x = self.loader(self.paths[v])
        except Exception:  # noqa: BLE001 - unreadable now (offline drive): not confirmed
            x = None
        self.cache[v] = x
        self.bytes += 0 if x is None else x.nbytes
        while self.bytes > CACHE_BYTES and len(self.cache) > 2:
            _, old = self.cache.popitem(last=False)
            self.bytes -= 0 if old is None else old.nbytes
        return x


def _confirm_component(rows: np.ndarray, paths: dict[int, str], loader, cancel) -> list[tuple[int, int]]:
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    audio = _Decoded(paths, loader)
    joined = []
    for a, b in rows[:, :2].astype(np.int64).tolist():
        if cancel is not None and cancel.is_set():
            break
        if find(a) == find(b):
            continue
        xa = audio(a)
        xb = audio(b) if xa is not None else None
        if xa is None or xb is None or not samecheck.compare(xa, xb).same:
            continue
        parent[find(a)] = find(b)
        joined.append((a, b))
    return joined


def confirm_pairs(pairs: np.ndarray, paths: dict[int, str], loader: Callable[[str], np.ndarray],
                  workers: int | None = None, progress: Callable[[int, int], None] | None = None,
                  cancel: threading.Event | None = None) -> Iterator[tuple[int, int]]:
    """The candidate pairs the signal check confirms (enough of them to join every group)."""
    total = len(pairs)
    if progress:
        progress(0, total)
    comps = components(pairs)
    workers = workers or min(os.cpu_count() or 1, MAX_WORKERS)
    done = 0
    if workers <= 1 or len(comps) <= 1:
        for rows in comps:
            yield from _confirm_component(rows, paths, loader, cancel)
            done += len(rows)
            if progress:
                progress(done, total)
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dupconfirm") as pool:
        futures = {pool.submit(_confirm_component, rows, paths, loader, cancel): len(rows) for rows in comps}
        for fut in as_completed(futures):
            yield from fut.result()
            done += futures[fut]
            if progress:
                progress(done, total)
