"""Benchmark: the library map (issue #17) — layout time and quality, placement, frame time, memory.

    python bench/map.py --quick                        # 10k vectors, all three methods
    python bench/map.py --n 100000 --methods umap,pca  # the issue's size
    python bench/map.py --n 20000 --methods tsne       # openTSNE (slow here: see README)
    python bench/map.py --library /tmp/map17/shotlib   # real vectors of an indexed library too

Vectors: clustered synthetic 512-d unit vectors like bench/query.py (200 topics x 25
sub-topics, topic + 0.6 sub-topic + 0.45 noise), plus the vectors of an indexed library with
--library. Per method: layout time (numba's one-off compilation excluded by a warm-up on 500
vectors, and reported), trustworthiness and neighbourhood preservation at k = 10 against the
512-d neighbours, on `--queries` sampled points (exact ranks over all n; sklearn's
`trustworthiness` needs the n x n distance matrix). Then: placing 1,000 new vectors into the
layout (time, and how many of their 10 nearest 2-D neighbours are among their 10 nearest
512-d ones), frame time while panning and zooming the 100k-dot map offscreen (wall and
process CPU time per frame, the map canvas's own paint path), and RSS added by the map view.

Last line: `RESULT key=value ...` (seconds, milliseconds, MB; load1 = load average when done).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synthetic(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    topics = rng.normal(size=(200, 512)).astype(np.float32)
    subs = rng.normal(size=(200 * 25, 512)).astype(np.float32)
    t = rng.integers(0, 200, n)
    s = t * 25 + rng.integers(0, 25, n)
    x = topics[t] + 0.6 * subs[s] + 0.45 * rng.normal(size=(n, 512)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def quality(x: np.ndarray, y: np.ndarray, k: int = 10, queries: int = 1000, seed: int = 1) -> tuple[float, float]:
    """(trustworthiness, neighbourhood preservation) at k over sampled query points.

    Trustworthiness (Venna & Kaski, as sklearn): 1 - 2/(m k (2n - 3k - 1)) * sum over the 2-D
    neighbours j of i of max(0, rank_512(i, j) - k). Preservation: |kNN_2d & kNN_512| / k."""
    n = len(x)
    qi = np.random.default_rng(seed).choice(n, min(queries, n), replace=False)
    penalty, kept = 0.0, 0.0
    for s in range(0, len(qi), 64):
        rows = qi[s:s + 64]
        dh = -(x[rows] @ x.T)  # unit vectors: rank by cosine
        dl = ((y[rows][:, None, :] - y[None, :, :]) ** 2).sum(-1)
        for r, i in enumerate(rows):
            dh[r, i] = dl[r, i] = -np.inf
            order = np.argsort(dh[r], kind="stable")
            rank = np.empty(n, np.int64)
            rank[order] = np.arange(n)
            nl = np.argpartition(dl[r], k + 1)[:k + 1]
            nl = nl[nl != i][:k]
            penalty += np.maximum(rank[nl] - k, 0).sum()
            kept += len(set(nl.tolist()) & set(order[1:k + 1].tolist())) / k
    trust = 1 - 2.0 / (len(qi) * k * (2 * n - 3 * k - 1)) * penalty
    return float(trust), float(kept / len(qi))


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def bench_layouts(x: np.ndarray, methods: list[str], queries: int, tag: str, out: dict) -> dict:
    from soundfinder.query import maplayout as ml

    layouts = {}
    for m in methods:
        if m == "umap" and "umap_compile_s" not in out:
            t = time.perf_counter()
            ml.compute_layout(x[:500], "umap")
            out["umap_compile_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        c = time.process_time()
        y = ml.compute_layout(x, m)
        wall, cpu = time.perf_counter() - t, time.process_time() - c
        trust, pres = quality(x, y, queries=queries)
        layouts[m] = y
        out[f"{m}_{tag}_s"] = round(wall, 1)
        out[f"{m}_{tag}_cpu_s"] = round(cpu, 1)
        out[f"{m}_{tag}_trust"] = round(trust, 4)
        out[f"{m}_{tag}_pres"] = round(pres, 4)
        print(f"{m:5s} {tag}: {wall:7.1f} s wall ({cpu:.1f} s CPU)  trustworthiness@10 {trust:.4f}  "
              f"preservation@10 {pres:.4f}", flush=True)
    return layouts


def bench_place(x: np.ndarray, y: np.ndarray, new: np.ndarray, out: dict) -> None:
    """Place `new` (vectors of the same topics, kept out of the layout) into layout `y` of `x`."""
    from soundfinder.query import maplayout as ml

    t, c = time.perf_counter(), time.process_time()
    xy = ml.place(new, x, y)
    out["place_1000_s"] = round(time.perf_counter() - t, 3)
    out["place_1000_cpu_s"] = round(time.process_time() - c, 3)
    sims = new @ x.T
    hits = 0.0
    for i in range(len(new)):
        hi = set(np.argpartition(-sims[i], 10)[:10].tolist())
        lo = set(np.argpartition(((y - xy[i]) ** 2).sum(1), 10)[:10].tolist())
        hits += len(hi & lo) / 10
    out["place_pres"] = round(hits / len(new), 4)
    print(f"place 1,000 new into {len(x):,}: {out['place_1000_s']:.3f} s, preservation@10 {out['place_pres']:.4f}")


def bench_place_library(path: str, out: dict) -> None:
    """1,000 placements into a 100k map through the library's own hnsw search (what
    `current_map` does above SEARCH_PLACE_ABOVE sounds), on a bench/query.py library."""
    from soundfinder.library import Library
    from soundfinder.query import maplayout as ml

    with Library.open(path, readonly=True) as lib:
        ids, matrix = ml.live_vectors(lib)
        rng = np.random.default_rng(3)
        xy = rng.normal(size=(len(ids), 2)).astype(np.float32)  # timing only: any layout
        new = np.asarray(matrix[ids[:1000]]) + 0.05 * rng.normal(size=(1000, matrix.shape[1])).astype(np.float32)
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        lib.knn(new[0], 10)  # loads the graph snapshot (done once, on open, in the app)
        t, c = time.perf_counter(), time.process_time()
        ml.place_by_search(lib.knn, new, ids, xy, matrix)
        out["place_search_1000_s"] = round(time.perf_counter() - t, 3)
        out["place_search_1000_cpu_s"] = round(time.process_time() - c, 3)
    print(f"place 1,000 into {len(ids):,} via the library's hnsw: {out['place_search_1000_s']} s wall, "
          f"{out['place_search_1000_cpu_s']} s CPU")


def bench_frames(y: np.ndarray, out: dict, frames: int = 200) -> None:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from soundfinder.gui.map_view import MapCanvas
    from soundfinder.query.mapcolors import MapLabel
    from soundfinder.query.mapdata import MapData

    app = QApplication.instance() or QApplication([])  # noqa: F841
    n = len(y)
    rng = np.random.default_rng(0)
    before = rss_mb()
    data = MapData(np.arange(n), y, rng.random(n) < 0.01, [f"/samples/s{i:06d}.wav" for i in range(n)],
                   rng.integers(0, 13, n), [f"tag{i}" for i in range(11)] + ["other", "untagged"],
                   labels=[MapLabel(f"cluster {i}", *rng.normal(size=2) * 0.3, 100, 0.5) for i in range(20)])
    canvas = MapCanvas()
    canvas.resize(1400, 900)
    canvas.set_data(data)
    canvas.fit()
    walls, cpus = [], []
    for i in range(frames):
        if i < frames // 2:
            canvas.camera.pan(12 * math.cos(i / 10), 12 * math.sin(i / 10))
        else:
            canvas.camera.zoom(1.03 if (i // 25) % 2 == 0 else 1 / 1.03, 700, 450, 1400, 900)
        if i == frames * 3 // 4:
            canvas.highlight(rng.choice(n, 500, replace=False))
        t, c = time.perf_counter(), time.process_time()
        canvas.grab()
        walls.append((time.perf_counter() - t) * 1000)
        cpus.append((time.process_time() - c) * 1000)
    out["frame_p50_ms"] = round(float(np.percentile(walls, 50)), 1)
    out["frame_p95_ms"] = round(float(np.percentile(walls, 95)), 1)
    out["frame_cpu_p50_ms"] = round(float(np.percentile(cpus, 50)), 1)
    out["frame_cpu_p95_ms"] = round(float(np.percentile(cpus, 95)), 1)
    out["view_rss_added_mb"] = round(rss_mb() - before, 1)
    print(f"frames ({n:,} dots, 1400x900): wall p50 {out['frame_p50_ms']} / p95 {out['frame_p95_ms']} ms; "
          f"CPU p50 {out['frame_cpu_p50_ms']} / p95 {out['frame_cpu_p95_ms']} ms; "
          f"RSS added by the view {out['view_rss_added_mb']} MB")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--methods", default="umap,pca")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--library", help="also lay out the vectors of this indexed library")
    ap.add_argument("--no-frames", action="store_true")
    ap.add_argument("--place-library", metavar="DIR",
                    help="time placement through this library's hnsw (e.g. /tmp/soundfinder-bench/lib-100000)")
    ap.add_argument("--only-place-library", action="store_true", help="just that measurement")
    ap.add_argument("--quick", action="store_true", help="10k vectors, umap,tsne,pca")
    a = ap.parse_args()
    if a.quick:
        a.n, a.methods = 10000, "umap,tsne,pca"
    out: dict = {"n": a.n}
    if a.place_library:
        bench_place_library(a.place_library, out)
        if a.only_place_library:
            print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))
            return 0
    both = synthetic(a.n + 1000)
    x, held_out = both[:a.n], both[a.n:]  # the last 1,000 arrive after the layout
    print(f"{a.n:,} synthetic clustered 512-d vectors; load average {os.getloadavg()[0]:.1f}", flush=True)
    layouts = bench_layouts(x, a.methods.split(","), a.queries, "synth", out)
    first = layouts[a.methods.split(",")[0]]
    bench_place(x, first, held_out, out)
    if a.library:
        from soundfinder.library import Library
        from soundfinder.query.maplayout import live_vectors

        with Library.open(a.library, readonly=True) as lib:
            ids, matrix = live_vectors(lib)
            real = np.asarray(matrix[ids], dtype=np.float32)
        print(f"{len(real):,} real vectors from {a.library}")
        out["real_n"] = len(real)
        bench_layouts(real, a.methods.split(","), min(a.queries, len(real)), "real", out)
    if not a.no_frames:
        bench_frames(first, out)
    out["load1"] = round(os.getloadavg()[0], 1)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in out.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
