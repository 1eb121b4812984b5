"""Benchmark: zero-shot tagging of a large library with every shipped vocabulary.

Synthetic unit vectors stand in for audio embeddings and random unit rows for the label
matrices (the text tower is not what is measured). Times calibration and classification, then
repeats the pass under tracemalloc for the peak of what tagging itself allocates (the vectors
excluded). Last line: `RESULT key=value ...`.

    python bench/tagging.py            # 100k x 512
    python bench/tagging.py --quick    # 10k, for CI
    python bench/tagging.py --library  # the product path: a real Library, tag_library, SQLite writes

`--library` builds a real library of synthetic vectors through its public API (batches of
`Batch(embedded=...)`), then tags it in a fresh child process with `soundfinder.query.autotag.tag_library`:
reading the vector log, calibration, classification and writing every set's auto tags in SQLite.
The vectors are clustered around label directions so the sets fire (about two tags a file) and
the write path is exercised; the text tower is a stand-in (random unit rows per prompt).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundfinder.query.vocabularies import label_set_dirs, load_label_sets  # noqa: E402
from soundfinder.query.zeroshot import calibrate, classify  # noqa: E402


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


class StandInEmbedder:
    """The text side of an embedder without a model: a fixed random unit vector per prompt."""

    def __init__(self, dim: int, logit_scale: float):
        from soundfinder.model.clap import EmbeddingSpace

        self.space = EmbeddingSpace(model="bench-stand-in", weights="0", dim=dim)
        self.dim, self.logit_scale = dim, logit_scale

    def encode_text(self, texts: list[str]) -> np.ndarray:
        import zlib

        rows = [np.random.default_rng(zlib.crc32(t.encode())).standard_normal(self.dim) for t in texts]
        return np.asarray(rows, dtype=np.float32)


def build_library(folder: Path, rows: int, dim: int, logit_scale: float, batch: int = 5000) -> float:
    """A real Library of `rows` synthetic files; returns the seconds it took."""
    from soundfinder.library import Batch, FileInfo, Library
    from soundfinder.query.zeroshot import label_matrix

    embedder = StandInEmbedder(dim, logit_scale)
    sets = load_label_sets(label_set_dirs())
    matrices = [label_matrix(ls, embedder.encode_text) for ls in sets]
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    with Library.open(folder, space=embedder.space) as lib:
        for start in range(0, rows, batch):
            n = min(batch, rows - start)
            v = rng.standard_normal((n, dim), dtype=np.float32) / np.sqrt(dim)
            for m in matrices:  # each file leans towards one label of about half the sets
                pick = rng.integers(0, len(m), n)
                v += (rng.random(n) < 0.5)[:, None] * 0.6 * m[pick]
            v /= np.linalg.norm(v, axis=1, keepdims=True)
            lib.commit(Batch(embedded=[
                (FileInfo(f"/bench/samples/{start + i:07d}.wav", 1000, 1, hash=f"{start + i:016x}"), v[i])
                for i in range(n)]))
    return time.perf_counter() - t0


def tag_library_child(folder: Path, dim: int, logit_scale: float) -> None:
    """Runs in a fresh process so max RSS is the tagging's own; prints one JSON line."""
    from soundfinder.library import Library
    from soundfinder.query.autotag import tag_library

    embedder = StandInEmbedder(dim, logit_scale)
    with Library.open(folder, space=embedder.space) as lib:
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        summary = tag_library(lib, embedder)  # label matrices: first run fills the on-disk cache
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        summary = tag_library(lib, embedder)  # re-tagging: replaces every auto tag
        again = time.perf_counter() - t0
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        tracemalloc.start()
        tag_library(lib, embedder)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    print(json.dumps({"first_s": first, "again_s": again, "rss_before_mib": rss0, "max_rss_mib": rss,
                      "peak_traced_mib": peak / 2**20, "files": summary.files,
                      "tags": sum(s.tags for s in summary.sets),
                      "sets": {s.name: [round(s.seconds, 3), s.tags] for s in summary.sets}}))


def library_mode(args, rows: int) -> None:
    with tempfile.TemporaryDirectory(prefix="sf-bench-") as tmp:
        folder = Path(tmp) / "library"
        cache = Path(tmp) / "cache"
        build_s = build_library(folder, rows, args.dim, args.logit_scale)
        size_mib = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
        print(f"built a library of {rows} files x {args.dim}d in {build_s:.1f} s ({size_mib:.0f} MiB on disk)")
        env = dict(os.environ, XDG_CACHE_HOME=str(cache))
        out = subprocess.run([sys.executable, __file__, "--tag-library", str(folder), "--dim", str(args.dim),
                              "--logit-scale", str(args.logit_scale)], env=env, check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
    for name, (sec, n) in r["sets"].items():
        print(f"  {name:12} {sec:6.2f} s  {n:7} tags")
    print(f"tag_library: first run {r['first_s']:.2f} s (label matrices computed), re-tag {r['again_s']:.2f} s; "
          f"{r['tags']} auto tags on {r['files']} files")
    print(f"memory: max RSS {r['max_rss_mib']:.0f} MiB (process {r['rss_before_mib']:.0f} MiB before tagging), "
          f"peak allocated while tagging {r['peak_traced_mib']:.0f} MiB")
    print(f"RESULT mode=library rows={rows} dim={args.dim} build_s={build_s:.2f} first_s={r['first_s']:.3f} "
          f"again_s={r['again_s']:.3f} tags={r['tags']} max_rss_mib={r['max_rss_mib']:.0f} "
          f"rss_before_mib={r['rss_before_mib']:.0f} peak_tagging_mib={r['peak_traced_mib']:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--quick", action="store_true", help="10k rows")
    ap.add_argument("--logit-scale", type=float, default=30.0)
    ap.add_argument("--library", action="store_true", help="tag a real Library through tag_library")
    ap.add_argument("--tag-library", metavar="DIR", help=argparse.SUPPRESS)  # the child of --library
    args = ap.parse_args()
    rows = 10_000 if args.quick else args.rows
    if args.tag_library:
        tag_library_child(Path(args.tag_library), args.dim, args.logit_scale)
        return
    if args.library:
        library_mode(args, rows)
        return
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
