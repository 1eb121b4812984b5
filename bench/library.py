"""Benchmark: library costs at 10k, 100k (and 1M) files, without any model loaded.

Uses the cached synthetic libraries of bench/query.py (built through the public API). Per size:
  * open (writable, as the app opens it), median of 3; and loading the search graph (warm),
  * commit one added file (one vector + one catalog row), median over 40 commits, both
    before the search graph is loaded (a pure indexing session) and with it loaded (the
    app after a search), with bytes written per commit from /proc/self/io `write_bytes`
    and from the growth of the library's files,
  * remove one file, median over 40,
  * the graph snapshot every SNAPSHOT_EVERY added vectors: its time and size, amortised per
    single-file commit,
  * RSS of the process with the library open and its graph loaded, beyond the baseline of
    the interpreter with numpy/hnswlib imported (no model is loaded here at all).
The added files are removed again afterwards (their vectors stay in the log as dead rows).

    python bench/library.py --quick            # 10k (< 1 minute once built)
    python bench/library.py --sizes 10k,100k
    python bench/library.py --sizes 1m         # needs the 1M library of bench/query.py

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.query import DIM, build_library, parse_size  # noqa: E402


def write_bytes() -> int:
    with open("/proc/self/io") as f:
        for line in f:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def rss_mb(field: str = "VmRSS") -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return 0.0


def folder_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.iterdir() if p.is_file())


def commit_series(lib, root: Path, count: int, tag: str, rng) -> dict:
    from soundfinder.library import Batch, FileInfo

    times, io, grow, paths = [], [], [], []
    for i in range(count):
        v = rng.standard_normal(DIM).astype(np.float32)
        v /= np.linalg.norm(v)
        path = f"/bench/commit/{tag}/{time.time_ns()}_{i}.wav"
        info = FileInfo(path=path, size=1234 + i, mtime_ns=time.time_ns(), hash=f"c{time.time_ns():031x}{i}",
                        duration=1.0, sample_rate=44100, channels=1, format="WAV", subtype="PCM_16")
        b0, s0 = write_bytes(), folder_bytes(root)
        t = time.perf_counter()
        lib.commit(Batch(embedded=[(info, v)]))
        times.append(time.perf_counter() - t)
        io.append(write_bytes() - b0)
        grow.append(folder_bytes(root) - s0)
        paths.append(path)
    rm = []
    for p in paths:
        t = time.perf_counter()
        lib.commit(Batch(removed=[p]))
        rm.append(time.perf_counter() - t)
    return {"commit_ms": statistics.median(times) * 1000, "commit_p95_ms": float(np.percentile(times, 95)) * 1000,
            "commit_write_kb": statistics.median(io) / 1024, "commit_growth_kb": statistics.median(grow) / 1024,
            "remove_ms": statistics.median(rm) * 1000}


def bench_size(n: int, commits: int, log=print, graph: bool = True) -> dict:
    import hnswlib  # noqa: F401

    from soundfinder.library import Library
    from soundfinder.library.library import SNAPSHOT_EVERY

    root = build_library(n, log=log)
    res: dict[str, float] = {}
    base = rss_mb()
    opens = []
    for _ in range(3):
        t = time.perf_counter()
        lib = Library.open(root)
        opens.append(time.perf_counter() - t)
        lib.close()
    res["open_ms"] = statistics.median(opens) * 1000
    rng = np.random.default_rng(11)
    lib = Library.open(root)
    try:
        res["rss_open_mb"] = rss_mb() - base
        # Catalog + log only: keep the graph unloaded (as below exact_below, or an indexing
        # session that never searched and whose library has no snapshot yet).
        exact_below, lib.index.exact_below = lib.index.exact_below, 10**12
        for k, v in commit_series(lib, root, commits, "cold", rng).items():
            res[f"{k}_nograph"] = v
        lib.index.exact_below = exact_below
        if not graph:
            return res
        t = time.perf_counter()
        lib.index.warm()
        res["graph_load_ms"] = (time.perf_counter() - t) * 1000
        for k, v in commit_series(lib, root, commits, "warm", rng).items():
            res[k] = v
        res["rss_mb"] = rss_mb() - base
        res["peak_rss_mb"] = rss_mb("VmHWM") - base
        if lib.index._hnsw is not None:  # what every SNAPSHOT_EVERY-th vector costs
            b0 = write_bytes()
            t = time.perf_counter()
            lib.snapshot()
            res["snapshot_ms"] = (time.perf_counter() - t) * 1000
            res["snapshot_mb"] = (write_bytes() - b0) / 2**20
            res["snapshot_amortised_ms"] = res["snapshot_ms"] / SNAPSHOT_EVERY
            res["snapshot_amortised_kb"] = res["snapshot_mb"] * 1024 / SNAPSHOT_EVERY
    finally:
        lib.close()
    res["files_mb"] = folder_bytes(root) / 2**20
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k only")
    ap.add_argument("--sizes", default=None, help="comma list, e.g. 10k,100k,1m (default 10k,100k)")
    ap.add_argument("--commits", type=int, default=40)
    ap.add_argument("--no-graph", action="store_true",
                    help="skip everything that loads the search graph (a library whose graph was never built)")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in (args.sizes or ("10k" if args.quick else "10k,100k")).split(",")]
    result = {"cpus": os.cpu_count()}
    for n in sizes:
        tag = f"{n // 1_000_000}m" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"
        print(f"size {tag}:", file=sys.stderr, flush=True)
        res = bench_size(n, args.commits, log=lambda m: print(m, file=sys.stderr, flush=True),
                         graph=not args.no_graph)
        for k, v in res.items():
            print(f"  {k} = {v:.3f}", file=sys.stderr)
            result[f"{k}_{tag}"] = round(v, 3)
    tags = [k.rsplit("_", 1)[1] for k in result if k.startswith("commit_ms_nograph_")]
    if len(tags) >= 2:
        result[f"commit_ratio_{tags[-1]}_vs_{tags[0]}"] = round(result[f"commit_ms_nograph_{tags[-1]}"]
                                                              / result[f"commit_ms_nograph_{tags[0]}"], 3)
    result["load1"] = round(os.getloadavg()[0], 2)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
