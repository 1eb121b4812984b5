"""A synthetic library of ~110k files for timing `duplicates`, shaped like a real one.

What makes `duplicates` slow is not the library's size but how many files the candidate stage
hands to the decoder. So the library has what a real one has (the numbers are chosen here,
up front, not tuned to a result):

* 100k sounds of bench/query.py's clustered vectors (200 topics x 25 sub-topics: within a
  sub-topic cosines ~0.87, "the same kind of sound"), none of them a copy;
* 1,000 multi-sampled instruments of 4-12 velocity layers / round-robins each (~8k files):
  pairwise cosines 0.88-0.97 (one level per instrument), lengths within +-3 % of each other
  and, for 30 % of the instruments, all cut to one length: *not* duplicates, but as hard for
  the candidate stage as a real kit;
* 2,000 sounds with one constructed copy (500 of them two): cosine to the original
  0.96-0.999 and a length changed by -20..+30 ms (a trim, codec padding);
* lengths of everything drawn from the real samples on this machine (Hydrogen, Sonic Pi,
  LMMS: median ~0.7 s, 95 % under 8 s), jittered.

Files do not exist; `real_loader` decodes a real sample for each: an instrument's layers are
a real Hydrogen drum's layers, a copy is its original's sample at -3 dB, any other file the
real sample of the nearest length. So every candidate costs the decode and comparison it
would, and a layer pair is as hard to tell apart as in a real kit.
Built once into $SOUNDFINDER_BENCH_MODELS (copying lib-100000's vectors and search graph).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
from pathlib import Path

import numpy as np

from bench.indexing import MODEL_CACHE
from bench.query import DIM, build_library

GENERATOR = 2  # bump when the library changes: a cached one is rebuilt
REAL_FOLDERS = ("/usr/share/hydrogen/data/drumkits", "/usr/share/sonic-pi/samples", "/usr/share/lmms/samples")
AUDIO = (".wav", ".flac", ".ogg", ".aif", ".aiff")


def real_samples() -> list[tuple[float, str]]:
    """(duration, path) of the sample files on this machine, by duration."""
    import soundfile as sf

    out = []
    for folder in REAL_FOLDERS:
        for f in sorted(Path(folder).rglob("*")) if Path(folder).is_dir() else []:
            if f.suffix.lower() in AUDIO:
                try:
                    out.append((sf.info(str(f)).duration, str(f)))
                except Exception:  # noqa: BLE001 - a file libsndfile cannot read is just not used
                    pass
    return sorted(out)


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _near(base: np.ndarray, cos: np.ndarray, rng) -> np.ndarray:
    """Unit vectors at cosine ~`cos` from the unit rows of `base` (random directions)."""
    u = _unit(rng.standard_normal(base.shape).astype(np.float32))
    u = _unit(u - (u * base).sum(1, keepdims=True) * base)  # orthogonal to base
    c = cos[:, None].astype(np.float32)
    return _unit(c * base + np.sqrt(1 - c ** 2) * u)


def _durations(n: int, real: np.ndarray, rng) -> np.ndarray:
    pool = real if real.size else np.exp(rng.normal(np.log(0.7), 1.1, 4096))
    return np.clip(rng.choice(pool, n) * np.exp(rng.normal(0, 0.15, n)), 0.02, 60.0)


def _extras(base_vecs, base_dur, rng) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int]], list[int]]:
    """(vectors, durations) appended after the base, the (original, copy) pairs among all ids,
    and the instrument of each appended layer."""
    n = len(base_vecs)
    vecs, durs, family = [], [], []
    for f in range(1000):  # multi-sampled instruments
        size = int(rng.integers(4, 13))
        centre = base_vecs[int(rng.integers(n))][None, :]
        level = float(rng.uniform(0.88, 0.97))  # pairwise cosine of its layers
        vecs.append(_near(np.repeat(centre, size, 0), np.full(size, np.sqrt(level)), rng))
        family += [f] * size
        length = float(base_dur[int(rng.integers(n))])
        durs.append(np.full(size, length) if rng.random() < 0.3 else length * (1 + rng.normal(0, 0.03, size)))
    layers = np.concatenate(vecs)
    ldur = np.concatenate(durs)
    originals = rng.choice(n, 2000, replace=False)
    twice = originals[:500]
    src = np.concatenate([originals, twice])
    copies = _near(base_vecs[src], rng.uniform(0.96, 0.999, len(src)), rng)
    cdur = np.maximum(base_dur[src] + rng.uniform(-0.02, 0.03, len(src)), 0.01)
    first_copy = n + len(layers)
    pairs = [(int(o), first_copy + i) for i, o in enumerate(src.tolist())]
    return np.concatenate([layers, copies]), np.concatenate([ldur, cdur]), pairs, family


def _extra_path(vid: int, row: int, family: list[int]) -> str:
    """Layers are named by instrument and layer (the loader decodes a real kit's layers for
    them); copies by vector id."""
    if row < len(family):
        return f"/bench/more/layer_{family[row]:04d}_{vid:07d}.wav"
    return f"/bench/more/take_{vid:07d}.wav"


def build(log=print) -> tuple[Path, list[tuple[int, int]]]:
    """The library folder and its constructed (original, copy) vector pairs (cached)."""
    from soundfinder.library import Library
    from soundfinder.library.vectorlog import VectorLog

    root = MODEL_CACHE / "lib-dups-100000"
    marker = root / "bench-dups.json"
    if marker.exists() and json.loads(marker.read_text()).get("generator") == GENERATOR:
        return root, [tuple(p) for p in json.loads(marker.read_text())["pairs"]]
    base_root = build_library(100_000, log=log)
    if root.exists():
        shutil.rmtree(root)
    t0 = time.perf_counter()
    root.mkdir(parents=True)
    for name in ("catalog.sqlite", "vectors.f32", "vectors.hnsw", "documents.json"):
        if (base_root / name).exists():
            shutil.copyfile(base_root / name, root / name)
    rng = np.random.default_rng(15)
    vlog = VectorLog(root / "vectors.f32", DIM)
    n = len(vlog)
    base_vecs = np.asarray(vlog.read(0, n))
    real = np.array([d for d, _ in real_samples()])
    base_dur = _durations(n, real, rng)
    extra, extra_dur, pairs, family = _extras(base_vecs, base_dur, rng)
    n_layers = len(family)
    first = vlog.append(extra)
    db = sqlite3.connect(str(root / "catalog.sqlite"), isolation_level=None)
    db.execute("BEGIN")
    db.executemany("UPDATE files SET duration=? WHERE vector_id=?", zip(base_dur.tolist(), range(n), strict=True))
    ids = range(first, first + len(extra))
    db.executemany("INSERT INTO vectors (id, hash) VALUES (?, ?)", ((i, f"{i:032x}") for i in ids))
    now = time.time()
    db.executemany(
        "INSERT INTO files (path, size, mtime_ns, hash, duration, sample_rate, channels, format, subtype, "
        "status, error, vector_id, added, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        ((_extra_path(i, i - first, family).encode(), 100_000 + i,
          1_700_000_000_000_000_000 + i, f"{i:032x}", float(extra_dur[i - first]), 44100, 2, "WAV", "PCM_16",
          "indexed", None, i, now, now) for i in ids))
    db.execute("COMMIT")
    db.close()
    with Library.open(root) as lib:  # the graph gets the appended vectors; snapshot it
        lib.index.warm()
        lib.snapshot()
    marker.write_text(json.dumps({"generator": GENERATOR, "files": n + len(extra), "pairs": pairs}))
    log(f"  built {root.name}: {n + len(extra)} files ({n_layers} layers, {len(pairs)} copies) "
        f"in {time.perf_counter() - t0:.0f} s")
    return root, pairs


def _sources(lib, pairs: list[tuple[int, int]]):
    """path -> (the real sample it holds, gain): an instrument's layers are the layers of one
    real multi-sampled drum (Hydrogen kits), a copy is its original's sample at -3 dB, any
    other file the real sample of the nearest length."""
    import re

    from bench.duplicates import layered_samples

    samples = real_samples()
    lengths = np.array([d for d, _ in samples])
    kits = layered_samples()
    records = {r.path: r for r in lib.files()}
    by_vector = {r.vector_id: r.path for r in records.values()}
    original = {by_vector[c]: by_vector[o] for o, c in pairs}

    def source(path: str) -> tuple[str, float]:
        if path in original:
            return source(original[path])[0], 10 ** (-3 / 20)
        layer = re.match(r".*/layer_(\d+)_(\d+)\.wav$", path)
        if layer and kits:
            kit = kits[int(layer.group(1)) % len(kits)]
            return str(kit[int(layer.group(2)) % len(kit)]), 1.0
        i = min(int(np.searchsorted(lengths, records[path].duration or 0.0)), len(samples) - 1)
        return samples[i][1], 1.0

    return source, records


def real_loader(lib, pairs: list[tuple[int, int]], stats: dict):
    """A loader for `find_duplicates` that decodes a real sample for each synthetic path
    (`_sources`), as hard as the library is meant to be. Counts decodes and their time in `stats`."""
    from soundfinder.query import samecheck

    source, _ = _sources(lib, pairs)
    stats.update(decodes=0, decode_s=0.0)
    lock = threading.Lock()

    def load(path: str) -> np.ndarray:
        real, gain = source(path)
        t = time.perf_counter()
        try:
            return samecheck.load(real) * np.float32(gain)
        finally:
            with lock:
                stats["decodes"] += 1
                stats["decode_s"] += time.perf_counter() - t

    return load


def add_fingerprints(root: Path, pairs: list[tuple[int, int]], log=print) -> None:
    """Give every file the fingerprint real indexing would store for it: the audio its path
    stands for (`_sources`: the same real sample and gain the loader decodes), decoded as the
    pipeline decodes (48 kHz mono, CLAP's rate), through the pipeline's own function
    (`indexing.describe.fingerprint`). Done once per cached library (marker key)."""
    import dataclasses

    from soundfinder.analysis import fingerprint as fp
    from soundfinder.audio import decode
    from soundfinder.indexing.describe import fingerprint
    from soundfinder.library import Library

    marker = root / "bench-dups.json"
    meta = json.loads(marker.read_text())
    if meta.get("fingerprints") == fp.VERSION:
        return
    t0 = time.perf_counter()
    with Library.open(root) as lib:
        source, records = _sources(lib, pairs)
        made: dict[tuple[str, float], tuple[str, bytes] | None] = {}
        rows = []
        for rec in records.values():
            key = source(rec.path)
            if key not in made:
                audio = decode(key[0], sample_rate=48000)
                made[key] = fingerprint(dataclasses.replace(audio, samples=audio.samples * np.float32(key[1])))
            if made[key] is not None and rec.hash:
                rows.append((rec.hash, *made[key]))
        lib.fingerprints.put_many(rows)
    meta["fingerprints"] = fp.VERSION
    marker.write_text(json.dumps(meta))
    log(f"  fingerprinted {len(rows)} files ({len(made)} distinct sounds decoded) in {time.perf_counter() - t0:.0f} s")
