"""Benchmark: the local pipeline against `index --cluster local` with 1 and 2 model actors.

Same synthesized files (bench/indexing.py's set: distinct, 0.05-`--max-seconds` s, several
formats), each method in its own fresh process (so driver RSS is that method's alone) into a
fresh library. Per method: files/s over the whole run and over the embedding phase alone,
Ray's start-up (ray.init) and shutdown, the pre-flight check, time to the first result, commit
ms per batch (median / max), the driver's peak RSS. Methods alternate over `--repeat` rounds;
the best round of each counts (the machine is shared).

    python bench/cluster.py --quick                  # tiny model, 24 files
    python bench/cluster.py --model full --files 60  # random weights of the real configuration

Last line: `RESULT key=value ...`.
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
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def one(method: str, model: str, folder: str, library: str) -> dict:
    """Run one method in this process; returns its measurements."""
    from soundfinder.indexing.plan import Progress
    from soundfinder.library import Library
    from soundfinder.model import ClapEmbedder

    marks: dict[str, float] = {}

    def progress(p: Progress) -> None:
        if p.phase == "embedding" and "embed_start" not in marks:
            marks["embed_start"] = time.perf_counter()

    out: dict = {"method": method}
    t0 = time.perf_counter()
    if method == "local":
        from soundfinder.indexing import index_paths

        embedder = ClapEmbedder.load(model, device="cpu")
        t_run = time.perf_counter()
        with Library.open(library, embedder.space) as lib:
            s = index_paths(lib, embedder, [folder], progress=progress)
    else:
        from soundfinder.indexing.cluster import (
            ClusterOptions,
            connect,
            disconnect,
            index_on_cluster,
            preflight,
        )

        actors = int(method.removeprefix("cluster"))
        opts = ClusterOptions(address="local", actors=(actors, actors))
        connect("local")
        out["startup_s"] = time.perf_counter() - t0
        embedder = ClapEmbedder.load(model, device="cpu")
        t_pre = time.perf_counter()
        preflight([folder], model, opts)
        out["preflight_s"] = time.perf_counter() - t_pre
        stats: dict = {}
        t_run = time.perf_counter()
        with Library.open(library, embedder.space) as lib:
            s = index_on_cluster(lib, embedder, [folder], opts, model=model, progress=progress, stats=stats)
        out["first_result_s"] = stats.get("first_result_s")
        ms = sorted(stats["commit_ms"])
        out["commits"] = len(ms)
        out["commit_ms_median"] = ms[len(ms) // 2] if ms else None
        out["commit_ms_max"] = ms[-1] if ms else None
        t_stop = time.perf_counter()
        disconnect()
        out["shutdown_s"] = time.perf_counter() - t_stop
    end = time.perf_counter()
    out["embedded"] = s.embedded
    out["total_s"] = end - t0
    out["run_s"] = end - t_run - out.get("shutdown_s", 0.0)
    embed_s = end - marks.get("embed_start", t_run) - out.get("shutdown_s", 0.0)
    out["files_per_s_total"] = s.embedded / out["total_s"]
    out["files_per_s_embedding"] = s.embedded / embed_s
    out["driver_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="tiny", help="tiny, full, or a checkpoint folder")
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--max-seconds", type=float, default=12.0)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--one", nargs=4, metavar=("METHOD", "MODEL", "FOLDER", "LIBRARY"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print("ONE " + json.dumps(one(*args.one)))
        return 0
    from indexing import model_dir, synthesize

    if args.quick:
        args.files = min(args.files, 24)
    model = str(model_dir(args.model))
    work = Path(tempfile.mkdtemp(prefix="sfbench-cluster-"))
    folder = work / "files"
    synthesize(folder, args.files, max_seconds=args.max_seconds)
    env = dict(os.environ, RAY_TMPDIR=str(work), HOME=str(work))  # Ray's session and token stay here
    best: dict[str, dict] = {}
    for r in range(args.repeat):
        for method in ("local", "cluster1", "cluster2"):
            lib = work / f"lib-{method}-{r}"
            p = subprocess.run([sys.executable, __file__, "--one", method, model, str(folder), str(lib)],
                               env=env, capture_output=True, text=True, timeout=3600)
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("ONE ")), None)
            if p.returncode or line is None:
                print(p.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{method} failed")
            m = json.loads(line[4:])
            print(json.dumps(m), file=sys.stderr)
            if method not in best or m["files_per_s_total"] > best[method]["files_per_s_total"]:
                best[method] = m
    base = best["local"]["files_per_s_total"]
    print(f"\n{'method':10} {'files/s':>8} {'embed f/s':>9} {'vs local':>8} {'start s':>7} {'1st res s':>9} "
          f"{'commit ms':>10} {'RSS MB':>7}")
    for name, m in best.items():
        cm = f"{m['commit_ms_median']:.1f}/{m['commit_ms_max']:.0f}" if m.get("commit_ms_median") is not None else "-"
        print(f"{name:10} {m['files_per_s_total']:8.2f} {m['files_per_s_embedding']:9.2f} "
              f"{m['files_per_s_total'] / base:8.2f} {m.get('startup_s', 0):7.1f} "
              f"{m.get('first_result_s') or 0:9.1f} {cm:>10} {m['driver_rss_mb']:7.0f}")
    load = os.getloadavg()[0]
    kv = " ".join(f"{k}_{f}={best[k][f]:.3g}" for k in best for f in ("files_per_s_total", "files_per_s_embedding",
                                                                      "driver_rss_mb") if best[k].get(f) is not None)
    extra = " ".join(f"{k}_{f}={best[k][f]:.3g}" for k in ("cluster1", "cluster2")
                     for f in ("startup_s", "first_result_s", "commit_ms_median", "shutdown_s")
                     if best[k].get(f) is not None)
    print(f"RESULT model={args.model} files={args.files} {kv} {extra} load1={load:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
