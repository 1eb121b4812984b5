"""Benchmark: zero-shot tagging of a large library with every shipped vocabulary.

Synthetic unit vectors stand in for audio embeddings and random unit rows for the label
matrices (the text tower is not what is measured). Times calibration and classification, then
repeats the pass under tracemalloc for the peak of what tagging itself allocates (the vectors
excluded). Last line: `RESULT key=value ...`.

    python bench/tagging.py            # 100k x 512
    python bench/tagging.py --quick    # 10k, for CI
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundfinder.tagging import calibrate, classify, label_set_dirs, load_label_sets  # noqa: E402


def unit_rows(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    out = np.empty((n, d), dtype=np.float32)
    for start in range(0, n, 16384):  # in chunks so generating does not double the peak
        block = rng.standard_normal((min(16384, n - start), d), dtype=np.float32)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def tag_all(vectors, sets, matrices, neutrals, logit_scale: float) -> tuple[dict[str, float], int, float]:
    seconds: dict[str, float] = {"calibrate": 0.0, "classify": 0.0}
    n_tags = 0
    for ls in sets:
        t0 = time.perf_counter()
        calib = calibrate(vectors, ls, matrices[ls.name], neutrals[ls.name]) if ls.mode == "multi" else None
        t1 = time.perf_counter()
        tags = classify(vectors, ls, matrices[ls.name], logit_scale, calib)
        t2 = time.perf_counter()
        seconds["calibrate"] += t1 - t0
        seconds["classify"] += t2 - t1
        n_tags += sum(map(len, tags))
        del tags
    return seconds, n_tags, len(vectors) / max(seconds["calibrate"] + seconds["classify"], 1e-9)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="10k rows")
    ap.add_argument("--logit-scale", type=float, default=30.0)
    args = ap.parse_args()
    rows = 10_000 if args.quick else args.rows
    rng = np.random.default_rng(0)

    sets = load_label_sets(label_set_dirs())
    matrices = {ls.name: unit_rows(rng, len(ls.labels), args.dim) for ls in sets}
    neutrals = {ls.name: unit_rows(rng, 1, args.dim)[0] for ls in sets}
    vectors = unit_rows(rng, rows, args.dim)
    n_labels = sum(len(ls.labels) for ls in sets)
    print(f"{rows} vectors x {args.dim}d ({vectors.nbytes / 2**20:.0f} MiB), "
          f"{len(sets)} sets, {n_labels} labels")

    seconds, n_tags, rate = tag_all(vectors, sets, matrices, neutrals, args.logit_scale)
    total = seconds["calibrate"] + seconds["classify"]
    print(f"calibrate {seconds['calibrate']:.2f}s  classify {seconds['classify']:.2f}s  "
          f"total {total:.2f}s  ({rate:,.0f} files/s, {n_tags} tags)")

    tracemalloc.start()
    tag_all(vectors, sets, matrices, neutrals, args.logit_scale)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"peak allocated by tagging {peak / 2**20:.1f} MiB; process max RSS {rss_mib:.0f} MiB")
    print(f"RESULT rows={rows} dim={args.dim} sets={len(sets)} labels={n_labels} "
          f"calibrate_s={seconds['calibrate']:.3f} classify_s={seconds['classify']:.3f} total_s={total:.3f} "
          f"files_per_s={rate:.0f} tags={n_tags} peak_tagging_mib={peak / 2**20:.1f} max_rss_mib={rss_mib:.0f}")


if __name__ == "__main__":
    main()
