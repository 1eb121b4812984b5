"""Latency of a fused text query at 100k files (part of bench/ranking.py, `--latency`).

A synthetic library (bench/query.py's clustered vectors) whose files carry realistic names
drawn from the same words as the queries ("Drums/Kick/kick_dusty_004211.wav": a common word
matches ~6% of the library, so the names index works as hard as in a real library). Times,
with the full-size text tower (random weights, 512-d), p50 over distinct queries:

  old      text vector (cache cold) + nearest vectors: what `search_text` did before #16
  fused    `search_text` as the app runs it: parse, names + sound, fusion, feedback (2 liked, 1 disliked)
  overhead fused minus old on a cached text vector: what parsing, names, fusion and feedback add
"""

from __future__ import annotations

import time

import numpy as np

from bench.query import QUERY_WORDS, WordTokenizer, build_library, parse_size, query_texts
from bench.indexing import MODEL_CACHE, model_dir


def _path(i: int) -> str:
    adjectives, kinds = QUERY_WORDS[0], QUERY_WORDS[1]
    kind = kinds[(i % 200) % len(kinds)].replace(" ", "_")
    return (f"/bench/packs/pack{i % 37:02d}/{kind.title()}/"
            f"{kind}_{adjectives[(i * 7919) % len(adjectives)]}_{i:06d}.wav")


def _p50(xs) -> float:
    return float(np.percentile(np.asarray(xs) * 1000.0, 50))


def latency(size: str, log) -> dict:
    from soundfinder.library import Library
    from soundfinder.model import ClapEmbedder
    from soundfinder.query import search as s
    from soundfinder.query.ranking import Feedback
    from soundfinder.query.search import TextCache, search_text, search_vector

    n = parse_size(size)
    root = build_library(n, root=MODEL_CACHE / f"lib-named-{n}", log=log, path_of=_path)
    embedder = ClapEmbedder.load(str(model_dir("full")), device="cpu")
    tok = embedder.processor.tokenizer
    if len(tok) < 1000:
        embedder.processor.tokenizer = WordTokenizer(tok, embedder.model.config.text_config.vocab_size)
    embedder.warm_up()
    texts = [f"{t} -reverb" if i % 3 == 0 else (f"128 bpm {t}" if i % 3 == 1 else t)
             for i, t in enumerate(query_texts(40))]
    res = {}
    with Library.open(root, None, readonly=True) as lib:
        lib.index.warm()
        feedback = Feedback(liked=(_path(11), _path(211)), disliked=(_path(411),))
        search_text(lib, embedder, "warm up", 20, feedback=feedback)
        old, fused, old_hot, fused_hot = [], [], [], []
        for text in texts:
            s._TEXT_CACHE = TextCache()
            t = time.perf_counter()
            search_vector(lib, s._TEXT_CACHE.get(embedder, text), 20)
            old.append(time.perf_counter() - t)
            s._TEXT_CACHE = TextCache()
            t = time.perf_counter()
            hits = search_text(lib, embedder, text, 20, feedback=feedback)
            fused.append(time.perf_counter() - t)
            t = time.perf_counter()
            search_vector(lib, s._TEXT_CACHE.get(embedder, text), 20)
            old_hot.append(time.perf_counter() - t)
            t = time.perf_counter()
            search_text(lib, embedder, text, 20, feedback=feedback)
            fused_hot.append(time.perf_counter() - t)
        assert hits
    tag = size.lower()
    res[f"latency_old_p50_ms_{tag}"] = round(_p50(old), 1)
    res[f"latency_fused_p50_ms_{tag}"] = round(_p50(fused), 1)
    res[f"latency_overhead_p50_ms_{tag}"] = round(_p50(fused_hot) - _p50(old_hot), 1)
    log(f"  latency {tag}: old {res[f'latency_old_p50_ms_{tag}']} ms, fused+parse+feedback "
        f"{res[f'latency_fused_p50_ms_{tag}']} ms, overhead on a cached text vector "
        f"{res[f'latency_overhead_p50_ms_{tag}']} ms")
    return res
