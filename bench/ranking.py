"""Benchmark: does ranking by names and sound together beat either alone? (issue #16)

Corpus, built on the fly (nothing committed): the held-out part of bench/train_recipe.py's set
(Hydrogen kits, Sonic Pi, LMMS, FluidR3 notes, sox tones/noise, espeak speech; split by kit /
instrument / voice, the recipe's default split), so a model trained by the recipe never saw these files. A file's
labels are the search tokens of its path caption; a query "{label}" wants every file holding
the label's tokens. Labels with at least 5 files, 25 of them (LABELS).

Each model's vectors are computed once; the same vectors go into three libraries that differ
only in names:
  well    every file keeps its path,
  mixed   30% of files renamed to /bench/unsorted/sample_NNNN.wav (seeded), as real libraries
          hold bounced and downloaded files,
  bad     every file renamed so (the "badly named" slice).
Per model and library: mean precision@10 and nDCG@10 for names-only (the names' ranking alone,
no model: what the app shows while the model loads), names-first ("names" mode: the sound only
breaks ties and fills the list after the name matches), sound-only and fused. `ceiling_p10` is
the best precision@10 any ranking can reach (labels with fewer than 10 files).
Fusion weights are chosen on the even-numbered labels (`--tune`) and reported on all.
"wording": mean rank change between 10 paraphrase pairs, one prompt vs the prompt ensemble.
"latency" (`--latency`): `search_text` end to end on a 100k synthetic library with realistic
names and the full-size text tower (random weights), fused + parsed + feedback vs sound only.

    python bench/ranking.py --model tiny --model /tmp/recipe/model [--tune] [--latency]

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

LABELS = ("kick", "snare", "hi-hat", "ride", "crash", "splash", "tom", "cowbell", "percussion", "rimshot", "bell",
          "bass", "guitar", "piano", "strings", "viola", "brass", "trumpet", "synth", "speech", "male speech",
          "female speech", "noise", "tone", "sweep")
PARAPHRASES = (("kick", "kick drum"), ("snare", "a snare drum hit"), ("hi-hat", "hihat cymbal"),
               ("piano", "piano note"), ("guitar", "guitar sound"), ("bass", "bass note"),
               ("strings", "string instrument"), ("brass", "brass instrument"), ("speech", "a voice speaking"),
               ("noise", "noise sample"))
MIXED_FRACTION = 0.3


def corpus(work: Path) -> list[tuple[Path, set[str]]]:
    """(path, label tokens) of the recipe's held-out files."""
    import train_recipe as recipe

    from soundfinder.query.tokens import query_tokens

    families = recipe.build_dataset(work)
    _, held = recipe.split(families, recipe.HOLDOUT, recipe.SEED)  # what the recipe's model never saw
    return [(p.path, set(query_tokens(p.caption))) for p in held]


def relevant(label: str, tokens: set[str]) -> bool:
    from soundfinder.query.tokens import query_tokens

    return set(query_tokens(label)) <= tokens


def embed(model: str, paths: list[Path], cache: Path) -> tuple[object, np.ndarray, np.ndarray]:
    """(embedder, vectors, durations in s; NaN where the file does not decode), cached per model."""
    from bench.indexing import model_dir
    from soundfinder.audio import DecodeError, decode
    from soundfinder.model import ClapEmbedder

    folder = str(model_dir(model)) if model in ("tiny", "full") else model
    embedder = ClapEmbedder.load(folder, device="cpu")
    key = hashlib.sha1((embedder.space.id + "".join(map(str, paths))).encode()).hexdigest()[:16]
    file = cache / f"vectors-{key}.npz"
    if file.exists():
        data = np.load(file)
        return embedder, data["vecs"], data["durations"]
    vecs = np.zeros((len(paths), embedder.dim), np.float32)
    durations = np.full(len(paths), np.nan)
    for s in range(0, len(paths), 16):
        clips, rows = [], []
        for i in range(s, min(len(paths), s + 16)):
            try:
                clip = decode(str(paths[i]), sample_rate=embedder.sample_rate).samples
            except DecodeError:
                continue
            clips.append(clip)
            rows.append(i)
            durations[i] = len(clip) / embedder.sample_rate
        if clips:
            vecs[rows] = embedder.encode_audio(clips)
    np.savez(file, vecs=vecs, durations=durations)
    return embedder, vecs, durations


def make_library(root: Path, paths: list[str], vecs: np.ndarray, durations: list[float], space):
    import shutil

    from soundfinder.library import Batch, FileInfo, Library

    shutil.rmtree(root, ignore_errors=True)
    lib = Library.open(root, space)
    lib.commit(Batch(embedded=[(FileInfo(p, 1, 1, f"{i:08x}", duration=d), v)
                               for i, (p, v, d) in enumerate(zip(paths, vecs, durations, strict=True))]))
    return lib


def names_for(files: list[Path], variant: str) -> list[str]:
    rng = np.random.default_rng(1)
    bad = np.ones(len(files), bool) if variant == "bad" else (
        rng.random(len(files)) < MIXED_FRACTION if variant == "mixed" else np.zeros(len(files), bool))
    order = rng.permutation(len(files))  # sample numbers say nothing about the sound
    return [f"/bench/unsorted/sample_{order[i]:04d}.wav" if bad[i] else str(p) for i, p in enumerate(files)]


def metrics(ranked: list[str], wanted: set[str]) -> tuple[float, float]:
    gains = [1.0 if p in wanted else 0.0 for p in ranked[:10]]
    dcg = sum(g / np.log2(i + 2) for i, g in enumerate(gains))
    ideal = sum(1 / np.log2(i + 2) for i in range(min(10, len(wanted))))
    return sum(gains) / 10, (dcg / ideal if ideal else 0.0)


def evaluate(lib, embedder, labels, truth: dict[str, set[str]], mode: str, weights=None, ensemble=False,
             cache=None) -> tuple[float, float]:
    from soundfinder.query import fusion
    from soundfinder.query.parse import parse_query
    from soundfinder.query.ranking import rank_text

    ps, ns = [], []
    for label in labels:
        if mode == "names":  # names alone: no model at all (what the app answers while it loads)
            hits = rank_text(lib, None, parse_query(label), 10, mode="names")
        else:  # "names+": names first, the sound only breaking ties and filling the list
            hits = rank_text(lib, embedder, parse_query(label), 10, mode="names" if mode == "names+" else mode,
                             ensemble=ensemble, cache=cache, weights=weights or fusion.DEFAULT)
        p, n = metrics([h.path for h in hits], truth[label])
        ps.append(p)
        ns.append(n)
    return float(np.mean(ps)), float(np.mean(ns))


def grid():
    from soundfinder.query.fusion import Weights

    for sound in (0.5, 1.0, 2.0):
        for lo, hi in ((0.25, 1.0), (0.75, 2.0), (1.5, 3.0)):
            yield Weights(sound=sound, agree_lo=lo, agree_hi=hi)


def rank_change(lib, embedder, a: str, b: str, ensemble: bool, cache) -> float:
    """Mean |rank under a - rank under b| over the top 10 of each (sound only, whole library)."""
    from soundfinder.query import prompts

    mat = lib.log.matrix()
    ra, rb = (np.argsort(np.argsort(-(mat @ prompts.text_vector(embedder, t, cache, ensemble)))) for t in (a, b))
    top = set(np.flatnonzero(ra < 10)) | set(np.flatnonzero(rb < 10))
    return float(np.mean([abs(int(ra[i]) - int(rb[i])) for i in top]))


def bench_model(model: str, files, labels_of, work: Path, tune: bool, log) -> dict:
    from soundfinder.query.fusion import DEFAULT
    from soundfinder.query.search import TextCache

    embedder, vecs, durations = embed(model, [p for p, _ in files], work)
    ok = ~np.isnan(durations)  # files that do not decode are left out
    files = [f for f, good in zip(files, ok, strict=True) if good]
    vecs, durations = vecs[ok], durations[ok].tolist()
    res: dict[str, float] = {}
    cache = TextCache(4096)
    tag = "tiny" if model == "tiny" else "trained"
    chosen = {}
    for variant in ("well", "mixed", "bad"):
        paths = names_for([p for p, _ in files], variant)
        truth = {lab: {paths[i] for i, (_, toks) in enumerate(files) if relevant(lab, toks)} for lab in LABELS}
        lib = make_library(work / f"lib-{tag}-{variant}", paths, vecs, durations, embedder.space)
        try:
            if tune and variant == "mixed":
                scores = [(evaluate(lib, embedder, LABELS[::2], truth, "fused", w, cache=cache)[1], w) for w in grid()]
                best = max(scores, key=lambda x: x[0])
                chosen = best[1]
                log(f"  [{tag}] tuning on even labels (nDCG@10, mixed): " + ", ".join(
                    f"s{w.sound}/{w.agree_lo}-{w.agree_hi}={v:.3f}" for v, w in scores))
            for mode in ("names", "names+", "sound", "fused"):
                p, n = evaluate(lib, embedder, LABELS, truth, mode, cache=cache)
                key = "namesfirst" if mode == "names+" else mode
                res[f"{tag}_{variant}_{key}_p10"], res[f"{tag}_{variant}_{key}_ndcg10"] = round(p, 3), round(n, 3)
                log(f"  [{tag}] {variant:5} {mode:6}: P@10 {p:.3f}  nDCG@10 {n:.3f}")
            if variant == "mixed":
                for ens in (False, True):
                    changes = [rank_change(lib, embedder, a, b, ens, cache) for a, b in PARAPHRASES]
                    p, n = evaluate(lib, embedder, LABELS, truth, "sound", ensemble=ens, cache=cache)
                    name = "ensemble" if ens else "single"
                    res[f"{tag}_wording_{name}_rank_change"] = round(float(np.mean(changes)), 2)
                    res[f"{tag}_wording_{name}_sound_ndcg10"] = round(n, 3)
                    log(f"  [{tag}] wording {name:8}: mean rank change {np.mean(changes):.1f}, sound nDCG@10 {n:.3f}")
        finally:
            lib.close()
    if chosen:
        res[f"{tag}_tuned"] = f"sound{chosen.sound}/agree{chosen.agree_lo}-{chosen.agree_hi}"
        res[f"{tag}_default"] = f"sound{DEFAULT.sound}/agree{DEFAULT.agree_lo}-{DEFAULT.agree_hi}"
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", action="append", default=None, help="tiny, full or a model folder (repeat)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/recipe"), help="the recipe's work folder (renders)")
    ap.add_argument("--tune", action="store_true", help="grid-search fusion weights on the even labels")
    ap.add_argument("--latency", action="store_true", help="also time a text query at 100k (full text tower)")
    ap.add_argument("--size", default="100k")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import torch

    torch.set_num_threads(2)
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    files = corpus(args.work)
    counts = {lab: sum(relevant(lab, t) for _, t in files) for lab in LABELS}
    log(f"corpus: {len(files)} held-out files, {len(LABELS)} labels: {counts}")
    # The best precision@10 any ranking can reach: a label with fewer than 10 relevant files
    # cannot fill its top 10. Relevance is read from the files' own path tokens, so a names
    # ranking that finds them all sits at this ceiling and fusion can only match it there.
    ceiling = float(np.mean([min(10, c) / 10 for c in counts.values()]))
    log(f"ceiling: precision@10 {ceiling:.3f}")
    result: dict[str, object] = {"files": len(files), "labels": len(LABELS), "ceiling_p10": round(ceiling, 3)}
    for model in args.model or ["tiny"]:
        t = time.monotonic()
        result.update(bench_model(model, files, counts, args.work, args.tune, log))
        log(f"  model {model}: {time.monotonic() - t:.0f} s")
    if args.latency:
        from bench.ranking_latency import latency

        result.update(latency(args.size, log))
    result["load1"] = round(os.getloadavg()[0], 2)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
