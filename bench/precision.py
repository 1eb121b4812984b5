"""Benchmark: float32 vs bfloat16 vs int8 (torch dynamic quantisation) for both CLAP towers.

One process, the same inputs, variants alternating over rounds (best round counts):
  audio  ms per window at the pipeline's batch size; cosine to float32 (worst, mean);
         recall@10 against float32 on a library of `--library` clips: for each of `--queries`
         clips, the 10 nearest library clips found with both query and library at the variant's
         precision, compared with the float32 answer (the adoption bar is >= 0.98);
  text   p50 latency of one short query (what a search pays), cosine to float32.
Variants a converted copy of the float32 model each (same weights), `precision.convert_tower`.

    python bench/precision.py --model full --library 1000     # the issue's bar
    python bench/precision.py --model full --library 200 --queries 50   # on a loaded machine

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

TEXTS = ["punchy kick drum", "dark ambient pad", "vinyl crackle", "snare with reverb", "808 bass",
         "bright hi hat loop", "female vocal chop", "metallic hit", "warm analog chord", "glitchy fx"]


def clips(n: int, rate: int, window: int, seed: int = 7) -> list[np.ndarray]:
    """`n` distinct short clips (hits, noise, chords, beats), 0.1-10 s."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        length = int(min(window, rate * float(np.exp(rng.uniform(np.log(0.1), np.log(10))))))
        t = np.arange(length) / rate
        f0 = 40 * 2 ** rng.uniform(0, 6)
        kind = i % 4
        if kind == 0:
            x = np.sin(2 * np.pi * f0 * t * np.exp(-t * rng.uniform(2, 12))) * np.exp(-t * rng.uniform(4, 30))
        elif kind == 1:
            x = rng.standard_normal(length) * (0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(0.1, 4) * t))
        elif kind == 2:
            x = sum(np.sin(2 * np.pi * f0 * r * t) for r in (1, rng.uniform(1.1, 1.6), rng.uniform(1.6, 2.2)))
        else:
            x = np.exp(-(t % rng.uniform(0.1, 0.6)) * 25) * rng.standard_normal(length)
        out.append((0.4 * x / max(float(np.abs(x).max()), 1e-6)).astype(np.float32))
    return out


def variant(model, name: str):
    """A copy of `model` with both towers at `name` (float32: the model itself)."""
    from soundfinder.model.precision import _swap, convert_tower

    if name == "float32":
        return model
    m = copy.copy(model)  # shallow: the towers are replaced below, the rest is shared
    m._modules = dict(model._modules)
    for kind in ("audio", "text"):
        _swap(m, convert_tower(model, kind, name))
    return m


def audio_vectors(m, feats, dtype, bs: int) -> tuple[np.ndarray, float]:
    import torch

    outs = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, feats.shape[0], bs):
            o = m.get_audio_features(input_features=feats[s:s + bs].to(dtype)).pooler_output
            outs.append(torch.nn.functional.normalize(o.float(), dim=-1))
    return torch.cat(outs).numpy(), time.perf_counter() - t0


def text_latency(m, tok, n: int) -> tuple[float, np.ndarray]:
    import torch

    times, vecs = [], []
    with torch.inference_mode():
        for i in range(n):
            inputs = tok([TEXTS[i % len(TEXTS)]], return_tensors="pt")
            t0 = time.perf_counter()
            v = m.get_text_features(**inputs).pooler_output
            times.append(time.perf_counter() - t0)
            if i < len(TEXTS):
                vecs.append(torch.nn.functional.normalize(v.float(), dim=-1)[0].numpy())
    return statistics.median(times), np.stack(vecs)


def recall_at_10(lib_ref, q_ref, lib_x, q_x) -> float:
    want = np.argsort(-(q_ref @ lib_ref.T), axis=1)[:, :10]
    got = np.argsort(-(q_x @ lib_x.T), axis=1)[:, :10]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got, strict=True)]))


def main(argv=None) -> int:
    from indexing import model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="full")
    ap.add_argument("--library", type=int, default=1000, help="library clips for recall@10")
    ap.add_argument("--queries", type=int, default=100, help="query clips (taken from the library)")
    ap.add_argument("--text-queries", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default="float32,bfloat16,int8")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    from soundfinder.model import ClapEmbedder

    emb = ClapEmbedder.load(str(model_dir(args.model)), device="cpu", precision="float32")
    names = args.variants.split(",")
    models = {n: variant(emb.model, n) for n in names}
    dtypes = {n: (torch.bfloat16 if n == "bfloat16" else torch.float32) for n in names}
    feats = emb.audio_inputs(clips(args.library, emb.sample_rate, emb.window_samples))
    tok = emb.processor.tokenizer
    for n in names:  # warm-up outside the timed rounds
        audio_vectors(models[n], feats[:emb.batch_size], dtypes[n], emb.batch_size)
        text_latency(models[n], tok, 2)
    secs = {n: [] for n in names}
    text_p50 = {n: [] for n in names}
    vecs, tvecs = {}, {}
    for r in range(args.rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            v, s = audio_vectors(models[n], feats, dtypes[n], emb.batch_size)
            vecs[n], _ = v, secs[n].append(s)
            p50, tv = text_latency(models[n], tok, args.text_queries)
            text_p50[n].append(p50)
            tvecs[n] = tv
            print(f"round {r + 1}: {n:9s} audio {1000 * s / feats.shape[0]:7.1f} ms/window, text p50 "
                  f"{1000 * p50:6.1f} ms", file=sys.stderr, flush=True)
    ref, tref = vecs["float32"], tvecs["float32"]
    q = np.linspace(0, args.library - 1, min(args.queries, args.library)).astype(int)
    result = {"model": args.model, "library": args.library, "queries": len(q), "rounds": args.rounds,
              "batch": emb.batch_size, "threads": torch.get_num_threads(), "cpus": os.cpu_count(),
              "load1": round(os.getloadavg()[0], 2)}
    for n in names:
        cos = (vecs[n] * ref).sum(1)
        result[f"{n}_audio_ms"] = round(1000 * min(secs[n]) / feats.shape[0], 1)
        result[f"{n}_audio_speedup"] = round(min(secs["float32"]) / min(secs[n]), 3)
        result[f"{n}_audio_cos_min"] = round(float(cos.min()), 6)
        result[f"{n}_audio_cos_mean"] = round(float(cos.mean()), 6)
        result[f"{n}_recall10"] = round(recall_at_10(ref, ref[q], vecs[n], vecs[n][q]), 4)
        result[f"{n}_text_p50_ms"] = round(1000 * min(text_p50[n]), 1)
        result[f"{n}_text_cos_min"] = round(float((tvecs[n] * tref).sum(1).min()), 6)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
