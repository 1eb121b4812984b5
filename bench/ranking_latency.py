"""Latency of a fused text query at 100k files (part of bench/ranking.py, `--latency`).

A synthetic library (bench/query.py's clustered vectors) whose files carry realistic names
drawn from the same words as the queries ("Drums/Kick/kick_dusty_004211.wav": a common word
matches ~6% of the library, so the names index works as hard as in a real library). Times,
with the full-size text tower (random weights, 512-d), p50 over distinct queries:

  tower    the text tower, cache cold (unchanged by #16; it dominates)
  old      what `search_text` did after the tower before #16: nearest vectors, records, tags
  fused    `search_text` as the app runs it now, text vector cached: parse, names + sound,
           calibration, fusion, feedback (2 liked, 1 disliked), records, tags
e2e = tower + old / tower + fused. Several rounds, interleaved, so load drift hits both alike.
"""

from __future__ import annotations

import time

import numpy as np

from bench.indexing import MODEL_CACHE, model_dir
from bench.query import QUERY_WORDS, WordTokenizer, build_library, parse_size, query_texts


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
        tower, old, fused, e2e, old_cpu, fused_cpu = [], [], [], [], [], []
        for text in texts:  # interleaved, several rounds: the machine's load drifts
            s._TEXT_CACHE = TextCache()
            t = time.perf_counter()
            hits = search_text(lib, embedder, text, 20, feedback=feedback)  # cold: the tower runs inside
            e2e.append(time.perf_counter() - t)
            s._TEXT_CACHE = TextCache()
            t = time.perf_counter()
            vec = s._TEXT_CACHE.get(embedder, text)  # text tower, cache cold, as before #16
            tower.append(time.perf_counter() - t)
            for _ in range(3):
                t, c = time.perf_counter(), time.process_time()
                search_vector(lib, vec, 20)  # before #16: nearest vectors, records, tags
                old.append(time.perf_counter() - t)
                old_cpu.append(time.process_time() - c)
                t, c = time.perf_counter(), time.process_time()
                hits = search_text(lib, embedder, text, 20, feedback=feedback)  # text vectors cached
                fused.append(time.perf_counter() - t)
                fused_cpu.append(time.process_time() - c)
        assert hits
    tag = size.lower()
    res[f"latency_text_tower_p50_ms_{tag}"] = round(_p50(tower), 1)
    res[f"latency_old_rest_p50_ms_{tag}"] = round(_p50(old), 1)
    res[f"latency_fused_rest_p50_ms_{tag}"] = round(_p50(fused), 1)
    res[f"latency_old_rest_cpu_p50_ms_{tag}"] = round(_p50(old_cpu), 1)  # CPU time: what a quiet machine would wait
    res[f"latency_fused_rest_cpu_p50_ms_{tag}"] = round(_p50(fused_cpu), 1)
    res[f"latency_e2e_old_p50_ms_{tag}"] = round(_p50(tower) + _p50(old), 1)
    res[f"latency_e2e_fused_p50_ms_{tag}"] = round(_p50(e2e), 1)
    log(f"  latency {tag}: text tower {_p50(tower):.1f} ms; after the tower: old {_p50(old):.1f} ms "
        f"(CPU {_p50(old_cpu):.1f}), fused+parse+feedback {_p50(fused):.1f} ms (CPU {_p50(fused_cpu):.1f})")
    return res
