"""Benchmark: duplicate groups on real drum samples, and the manager's queries at 100k files.

1. Real set: every sample of the Hydrogen kits' multi-sample instruments (velocity layers and
   round-robins: *different recordings* of one drum), plus constructed copies of >= 100 of them
   (FLAC/OGG/MP3/AIFF re-encodes, 44.1 <-> 48 kHz resampling, +-3 dB, 20 ms trims, and a few
   byte-identical copies). Every file gets a random name in a random folder, so nothing in a
   path gives the answer away. Indexed with a local CLAP checkpoint (tiny random by default);
   `duplicates` is run with and without the signal check, and pairwise precision/recall of the
   groups against the construction is printed (targets: precision >= 0.95, recall >= 0.9).
2. At 100k: `find_duplicates` end to end on bench/dupsynth.py's ~110k-file library (clustered
   vectors, 1000 multi-sampled instruments, 2500 constructed copies, real-sample durations;
   every file fingerprinted as indexing would from the real sample it stands for; every
   candidate the fingerprints do not rule out decoded from that sample and compared: target
   <= 60 s), with the candidate stage's time, how many constructed copies it holds and how
   many pairs the fingerprints leave; then, on
   bench/query.py's 100k library, favourites/collection queries with 1000 starred and a
   1000-sound collection, after a change to the catalog and repeated (target <= 5 ms), and a
   smart collection refresh (target <= 100 ms).

    python bench/duplicates.py               # both parts
    python bench/duplicates.py --skip-100k   # real set only (~2 min)
    python bench/duplicates.py --skip-real   # 100k only (builds its libraries once: ~25 min)

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

KITS = Path("/usr/share/hydrogen/data/drumkits")
KINDS = ("flac", "ogg", "mp3", "resample", "gain", "trim", "aiff", "identical")


def instrument(path: Path) -> str:
    stem = re.sub(r"[-_ ]*(\d+|[a-z]|soft|hard|med|medium|hardest|pd)$", "", path.stem.lower())
    return f"{path.parent.name}/{stem}"


def layered_samples() -> list[list[Path]]:
    groups: dict[str, list[Path]] = {}
    for f in sorted(KITS.glob("*/*")):
        if f.suffix.lower() in (".wav", ".flac", ".aif", ".aiff"):
            groups.setdefault(instrument(f), []).append(f)
    return [g for g in groups.values() if len(g) > 1]


def make_copy(src: Path, kind: str, dest: Path, rng) -> Path:
    import soundfile as sf
    import soxr

    if kind == "identical":
        out = dest.with_suffix(src.suffix)
        shutil.copyfile(src, out)
        return out
    x, rate = sf.read(str(src), dtype="float32", always_2d=True)
    if kind == "flac":
        out = dest.with_suffix(".flac"); sf.write(str(out), x, rate, subtype="PCM_16")  # noqa: E702
    elif kind == "ogg":
        out = dest.with_suffix(".ogg"); sf.write(str(out), x, rate, format="OGG", subtype="VORBIS")  # noqa: E702
    elif kind == "mp3":
        out = dest.with_suffix(".mp3")
        sf.write(str(out), x, rate if rate in (32000, 44100, 48000) else 44100, format="MP3")
    elif kind == "aiff":
        out = dest.with_suffix(".aiff"); sf.write(str(out), x, rate, subtype="PCM_24")  # noqa: E702
    elif kind == "resample":
        new = 48000 if rate != 48000 else 44100
        out = dest.with_suffix(".wav"); sf.write(str(out), soxr.resample(x, rate, new), new)  # noqa: E702
    elif kind == "gain":
        db = 3.0 if np.max(np.abs(x)) * 10 ** (3 / 20) < 1.0 and rng.random() < 0.5 else -3.0
        out = dest.with_suffix(".wav"); sf.write(str(out), x * np.float32(10 ** (db / 20)), rate, subtype="FLOAT")  # noqa: E702
    elif kind == "trim":
        cut = int(0.02 * rate)
        x = x[cut:] if rng.random() < 0.5 else x[:-cut]
        out = dest.with_suffix(".wav"); sf.write(str(out), x, rate, subtype="PCM_24")  # noqa: E702
    else:
        raise ValueError(kind)
    return out


def build_set(root: Path, n_copies: int, seed: int = 0) -> dict[str, int]:
    """Files under `root` with their ground-truth recording id."""
    rng = np.random.default_rng(seed)
    groups = layered_samples()
    rng.shuffle(groups)
    truth: dict[str, int] = {}
    originals: list[tuple[Path, int]] = []
    for g in groups:
        for f in g:
            originals.append((f, len(originals)))
    chosen = rng.choice(len(originals), size=min(n_copies, len(originals)), replace=False)

    def place(ext: str = "") -> Path:
        d = root / f"{rng.integers(16 ** 6):06x}"
        d.mkdir(parents=True, exist_ok=True)
        return d / f"{rng.integers(16 ** 8):08x}{ext}"

    merged = merge_scaled_layers(groups, originals)
    originals = [(f, merged.get(rid, rid)) for f, rid in originals]
    for f, rid in originals:
        out = place(f.suffix)
        shutil.copyfile(f, out)
        truth[str(out)] = rid
    for n, i in enumerate(chosen):
        f, rid = originals[i]
        kinds = [KINDS[n % len(KINDS)]] + ([KINDS[(n + 3) % len(KINDS)]] if n % 4 == 0 else [])
        for kind in kinds:
            truth[str(make_copy(f, kind, place(), rng))] = rid
            SCALED["copies"] = SCALED.get("copies", 0) + 1
    return truth


SCALED = {"pairs": 0}


def merge_scaled_layers(groups: list[list[Path]], originals: list[tuple[Path, int]]) -> dict[int, int]:
    """Some kits' "velocity layers" are one recording at several gains (aligned waveform
    correlation >= 0.999, one gain over time and bands): no signal can tell them from a +-3 dB
    copy, so the ground truth counts them as one recording. Returns {recording id: merged id}."""
    from soundfinder.query import samecheck

    rid = {f: r for f, r in originals}
    merged: dict[int, int] = {}
    for g in groups:
        audio = {f: samecheck.load(str(f)) for f in g}
        for a, b in itertools.combinations(g, 2):
            x, y = audio[a], audio[b]
            if x.size == 0 or y.size == 0 or abs(len(x) - len(y)) > 0.05 * max(len(x), len(y)):
                continue
            xo, yo = samecheck._overlap(x, y, samecheck._align(x, y))
            if samecheck._corr(xo, yo) >= 0.999 and samecheck._gain_spread(xo, yo) <= samecheck.GAIN_SPREAD_DB:
                SCALED["pairs"] += 1
                ra, rb = merged.get(rid[a], rid[a]), merged.get(rid[b], rid[b])
                for k, v in list(merged.items()):
                    if v == rb:
                        merged[k] = ra
                merged[rb] = ra
    return merged


def pair_scores(groups, truth: dict[str, int], hashes: dict[str, str]) -> tuple[float, float, int, int]:
    """Pairwise precision and recall; two files of one content hash count as one recording."""
    def same(a, b):
        return truth[a] == truth[b] or hashes[a] == hashes[b]

    predicted = {tuple(sorted(p)) for g in groups for p in itertools.combinations([f.path for f in g.files], 2)}
    files = sorted(truth)
    by_rid: dict[int, list[str]] = {}
    for f in files:
        by_rid.setdefault(truth[f], []).append(f)
    by_hash: dict[str, list[str]] = {}
    for f in files:
        by_hash.setdefault(hashes[f], []).append(f)
    actual = {tuple(sorted(p)) for fs in (*by_rid.values(), *by_hash.values()) for p in itertools.combinations(fs, 2)}
    tp = sum(1 for p in predicted if same(*p))
    precision = tp / len(predicted) if predicted else 1.0
    recall = len(predicted & actual) / len(actual) if actual else 1.0
    return precision, recall, len(predicted), len(actual)


def real_set(args, log) -> dict:
    from bench.indexing import model_dir
    from soundfinder.indexing import index_paths
    from soundfinder.indexing.scan import content_hash
    from soundfinder.library import Library
    from soundfinder.model import ClapEmbedder
    from soundfinder.query import duplicates, samecheck

    work = Path(tempfile.mkdtemp(prefix="sf-dups-"))
    try:
        truth = build_set(work / "samples", args.copies)
        copies = SCALED["copies"]
        originals = len(truth) - copies
        log(f"real set: {len(truth)} files, {originals} kit samples, {copies} constructed copies; "
            f"{SCALED['pairs']} pairs of kit 'layers' are one recording at two gains (counted as duplicates)")
        embedder = ClapEmbedder.load(str(model_dir(args.model)), device="cpu")
        with Library.open(work / "lib", embedder.space) as lib:
            index_paths(lib, embedder, [str(work / "samples")])
            hashes = {f: content_hash(f) for f in truth}
            out = {}
            for confirm in (False, True):
                calls = {"n": 0, "s": 0.0}

                def loader(path, calls=calls):
                    t = time.perf_counter()
                    try:
                        return samecheck.load(path)
                    finally:
                        calls["n"] += 1
                        calls["s"] += time.perf_counter() - t

                t = time.perf_counter()
                groups = duplicates.find_duplicates(lib, confirm=confirm, loader=loader)
                seconds = time.perf_counter() - t
                p, r, npred, nact = pair_scores(groups, truth, hashes)
                tag = "signal" if confirm else "embedding_only"
                log(f"  {tag:15} precision {p:.3f}  recall {r:.3f}  ({npred} predicted pairs, {nact} true; "
                    f"{len(groups)} groups; {seconds:.1f} s, {calls['n']} decodes)")
                out[f"precision_{tag}"], out[f"recall_{tag}"] = round(p, 3), round(r, 3)
                out[f"seconds_{tag}"] = round(seconds, 2)
                if confirm:
                    out["decode_ms"] = round(1000 * calls["s"] / max(calls["n"], 1), 1)
            out["files"], out["copies"], out["scaled_layer_pairs"] = len(truth), copies, SCALED["pairs"]
        return out
    finally:
        shutil.rmtree(work, ignore_errors=True)


def duplicates_at_100k(log) -> dict:
    """`find_duplicates` end to end on bench/dupsynth.py's library, every candidate the
    fingerprints leave decoded (the real sample its file stands for) and compared."""
    from bench import dupsynth
    from soundfinder.library import Library
    from soundfinder.query import duplicates

    root, injected = dupsynth.build(log=log)
    dupsynth.add_fingerprints(root, injected, log=log)
    out = {}
    with Library.open(root, readonly=True) as lib:
        stats: dict = {}
        loader = dupsynth.real_loader(lib, injected, stats)
        n = lib.stats()["indexed"]
        t, c = time.perf_counter(), time.process_time()
        reps = duplicates.representatives(duplicates._live_records(lib))
        pairs = duplicates.candidate_pairs(lib, reps=reps)
        out["candidates_100k_s"] = round(time.perf_counter() - t, 1)
        out["candidates_100k_cpu_s"] = round(time.process_time() - c, 1)
        found = {(int(a), int(b)) for a, b, _ in pairs.tolist()}
        hit = sum(1 for a, b in injected if (min(a, b), max(a, b)) in found)
        out["candidate_recall_100k"] = round(hit / len(injected), 3)
        t = time.process_time()
        left = duplicates.fingerprinted(lib, pairs, reps)
        out["fingerprint_cpu_s"] = round(time.process_time() - t, 2)
        kept = {(int(a), int(b)) for a, b, _ in left.tolist()}
        out["after_fingerprints_100k"] = len(left)
        out["fingerprint_recall_100k"] = round(
            sum(1 for a, b in injected if (min(a, b), max(a, b)) in kept) / len(injected), 3)
        log(f"  fingerprints leave {len(left)} of {len(pairs)} candidate pairs to decode "
            f"({out['fingerprint_cpu_s']} s CPU), holding {out['fingerprint_recall_100k']:.3f} of the constructed copies")
        t, c = time.perf_counter(), time.process_time()
        groups = duplicates.find_duplicates(lib, loader=loader)
        out["duplicates_100k_s"] = round(time.perf_counter() - t, 1)
        out["duplicates_100k_cpu_s"] = round(time.process_time() - c, 1)  # all threads
        out["decodes_100k"], out["candidate_pairs_100k"] = stats["decodes"], len(pairs)
        log(f"  duplicates over {n} files: {out['duplicates_100k_s']} s end to end, "
            f"{out['duplicates_100k_cpu_s']} s CPU over all threads (candidate stage "
            f"{out['candidates_100k_s']} s, CPU {out['candidates_100k_cpu_s']} s: {len(pairs)} pairs, "
            f"holding {hit}/{len(injected)} constructed copies; {stats['decodes']} decodes, {stats['decode_s']:.1f} s of decoding over the threads; {len(groups)} groups)")
    return out


def _time(fn, before=None, n: int = 20) -> tuple[float, float]:
    """Median wall and CPU milliseconds of `fn()`, each call after `before()` (untimed). CPU
    time is what the query costs when other work shares the machine."""
    fn()
    wall, cpu = [], []
    for _ in range(n):
        if before is not None:
            before()
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
    return round(float(np.median(wall)), 2), round(float(np.median(cpu)), 2)


def at_100k(log, queries_only: bool = False) -> dict:
    from bench.query import build_library
    from soundfinder.library import Library
    from soundfinder.library.collections import SmartDefinition
    from soundfinder.query.smart import evaluate

    root = build_library(100_000, log=log)
    out = {} if queries_only else duplicates_at_100k(log)
    with Library.open(root) as lib:
        paths = [r.path for r in itertools.islice(lib.files(), 0, 100_000, 100)]
        ud, cols = lib.userdata, lib.collections
        ud.set_favourite(paths)
        if "Bench" not in {c.name for c in cols.list()}:
            cols.create("Bench")
        cols.add("Bench", paths)
        other = next(itertools.islice(lib.files(), 1, None)).path  # not marked: its rating is the change
        ratings = itertools.cycle([3, None])
        for name, fn in (("favourites", ud.favourites), ("favourite_records", ud.favourite_records),
                         ("favourite_hashes", ud.favourite_hashes),
                         ("collection_members", lambda: cols.members("Bench")),
                         ("collection_records", lambda: cols.member_records("Bench")),
                         ("collections_list", cols.list), ("hidden_hashes", ud.hidden_hashes)):
            cold, cold_cpu = _time(fn, before=lambda: ud.set_rating(other, next(ratings)))
            warm, _ = _time(fn)
            out[f"{name}_ms"], out[f"{name}_cpu_ms"], out[f"{name}_repeat_ms"] = cold, cold_cpu, warm
            log(f"  {name:20} {cold:6.2f} ms after a change to the catalog (CPU {cold_cpu:.2f} ms), "
                f"{warm:.2f} ms repeated (median of 20, {len(paths)} marked)")
        # A change to what the list shows (one more member or favourite, then one less): the
        # full query runs (the change above, a rating elsewhere, leaves these lists cached).
        for name, fn, change in (
                ("favourite_records", ud.favourite_records,
                 lambda flip=itertools.cycle([True, False]): ud.set_favourite(other, next(flip))),
                ("collection_records", lambda: cols.member_records("Bench"),
                 lambda flip=itertools.cycle([True, False]): (cols.add if next(flip) else cols.remove)("Bench", other))):
            cold, cold_cpu = _time(fn, before=change)
            out[f"{name}_own_change_ms"], out[f"{name}_own_change_cpu_ms"] = cold, cold_cpu
            log(f"  {name:20} {cold:6.2f} ms after a change to the list itself (CPU {cold_cpu:.2f} ms)")
        q = lib.vector(12345)
        d = SmartDefinition(like="/bench/example.wav", limit=50)
        evaluate(lib, None, d, vector=q)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            evaluate(lib, None, d, vector=q)
            times.append((time.perf_counter() - t) * 1000)
        out["smart_refresh_ms"] = round(float(np.median(times)), 1)
        log(f"  smart collection refresh {out['smart_refresh_ms']} ms (median of 20)")
        ud.set_favourite([*paths, other], False)
        ud.set_rating(other, None)
        cols.delete("Bench")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--copies", type=int, default=120, help="originals that get constructed copies")
    ap.add_argument("--model", default="tiny", help="tiny, full or a checkpoint folder")
    ap.add_argument("--skip-100k", action="store_true")
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--queries-only", action="store_true", help="at 100k, only the favourites/collection queries")
    args = ap.parse_args(argv)
    if not KITS.is_dir() and not args.skip_real:
        raise SystemExit(f"no Hydrogen kits at {KITS} (apt install hydrogen-drumkits), or --skip-real")

    def log(msg):
        print(msg, flush=True)

    result = {}
    if not args.skip_real:
        result.update(real_set(args, log))
    if not args.skip_100k:
        result.update(at_100k(log, args.queries_only))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
