"""Benchmark: the text tower alone, the cost of every typed query that is not cached yet.

One process, the full laion/clap-htsat-unfused configuration (random weights, `--model full`),
typical 1-6 word queries, each timed from the raw string to the normalised vector (tokenizer
padded to the query's own length, `torch.inference_mode`), single query per call as a search
bar sends them. Variants are converted copies of the same float32 text tower
(`precision.convert_tower`): float32, bfloat16 (native on AVX512-BF16/AMX CPUs), int8 (torch
dynamic quantisation of the Linear layers); each at every `--threads` count. Rounds alternate
the variant order; p50/p90 pool all rounds. Ratios are against float32 at the same thread
count, measured in the same run (a loaded machine moves absolute times, not ratios). Cosine:
the worst query's cosine to float32 (the adoption bars are in `model/precision.py`).
`onnx` / `onnx-int8`: the same tower exported to ONNX (`model/onnx_export.py`, float32, and ONNX
Runtime's dynamic int8 quantisation of it) run by ONNX Runtime with the `tokenizers` fast
tokenizer, exactly as the app's `onnx_text.OnnxTextTower` (one session per thread count).
`app` is the path a search really takes: `ClapEmbedder.load(precision="auto")` then
`encode_text([q])` (its thread policy, its self-checked precision, the cached ONNX tower where
`text_backend.attach` adopts it), without the query cache; `app_text_backend` says which ran.
`onnx_session_s`: creating each ONNX session (part of the start-up's second launch).
With `--library N`, recall@10 of each variant's query vectors against float32's over N clips
embedded by the float32 audio tower (the int8 adoption bar is 0.98, `model/precision.py`).

    python bench/text_tower.py --model full                 # the issue's bar: p50 <= 25 ms
    python bench/text_tower.py --model full --variants float32,bfloat16,onnx,onnx-int8 --library 1000
    python bench/text_tower.py --model full --rounds 2 --threads 1

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
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

# What people type into a sample browser: 1-6 words.
QUERIES = ["kick", "808 bass", "vinyl crackle", "punchy kick drum", "dark ambient pad", "snare with reverb",
           "bright hi hat loop", "female vocal chop", "metallic hit", "warm analog chord", "glitchy fx",
           "deep sub bass drop", "lofi dusty piano chords", "tight funky snare roll", "riser",
           "white noise sweep up", "crash cymbal", "short plucky synth lead in c minor",
           "cinematic boom", "clap", "ethnic flute melody", "distorted guitar riff", "shaker", "tom fill"]


def _variant(model, name: str):
    """A copy of `model` whose text tower runs at `name` (float32: the model itself)."""
    import copy

    from soundfinder.model.precision import _swap, convert_tower

    if name == "float32":
        return model
    m = copy.copy(model)  # shallow: only the text tower is replaced
    m._modules = dict(model._modules)
    _swap(m, convert_tower(model, "text", name))
    return m


def _encode(model, tok, text: str):
    import torch

    inputs = tok([text], padding=True, truncation=True, max_length=77, return_tensors="pt")
    out = model.get_text_features(**inputs).pooler_output
    return torch.nn.functional.normalize(out.float(), dim=-1)[0].numpy()


def time_queries(fn, queries: list[str]) -> tuple[list[float], list[np.ndarray]]:
    times, vecs = [], []
    for q in queries:
        t0 = time.perf_counter()
        vecs.append(fn(q))
        times.append(time.perf_counter() - t0)
    return times, vecs


def _pct(xs: list[float], p: float) -> float:
    return 1000 * float(np.percentile(xs, p))


def main(argv=None) -> int:
    from indexing import model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="full")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variants", default="float32,bfloat16,int8,onnx,onnx-int8")
    ap.add_argument("--threads", default=None, help="comma list, default 1 and all cores")
    ap.add_argument("--no-app", action="store_true", help="skip the ClapEmbedder.load(auto) path")
    ap.add_argument("--library", type=int, default=0, help="clips for recall@10 (0: skip)")
    args = ap.parse_args(argv)

    import torch

    from soundfinder.model import ClapEmbedder

    cores = os.cpu_count() or 1
    threads = [int(t) for t in args.threads.split(",")] if args.threads else sorted({1, cores})
    model = str(model_dir(args.model))
    emb = ClapEmbedder.load(model, device="cpu", precision="float32")
    tok = emb.processor.tokenizer
    names = args.variants.split(",")
    onnx = export_onnx(model, emb, threads, [n for n in names if n.startswith("onnx")])
    models = {n: (onnx[n] if n.startswith("onnx") else _variant(emb.model, n)) for n in names}
    app = None if args.no_app else ClapEmbedder.load(model, device="cpu", precision="auto")
    runs = {(n, t): [] for n in names for t in threads}
    if app is not None:
        runs.update({("app", t): [] for t in threads})
    vecs = {}
    lengths = [len(tok(q)["input_ids"]) for q in QUERIES]
    print(f"{len(QUERIES)} queries, {min(lengths)}-{max(lengths)} tokens (median {statistics.median(lengths)})",
          file=sys.stderr)
    with torch.inference_mode():
        for key in runs:  # warm-up outside the timed rounds (kernel selection, allocations)
            torch.set_num_threads(key[1])
            _run(key, models, app, tok, QUERIES[:3])
        for r in range(args.rounds):
            for key in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                torch.set_num_threads(key[1])
                times, v = _run(key, models, app, tok, QUERIES)
                runs[key].extend(times)
                vecs[key[0]] = np.stack(v)
                print(f"round {r + 1}: {key[0]:9s} threads {key[1]}: p50 {_pct(times, 50):6.1f} ms",
                      file=sys.stderr, flush=True)
    ref = vecs["float32"]
    result = {"model": args.model, "queries": len(QUERIES), "rounds": args.rounds, "cpus": cores,
              "load1": round(os.getloadavg()[0], 2),
              "app_text_precision": app.runtime.text.precision if app is not None else None,
              "app_text_backend": app.runtime.text.backend if app is not None else None,
              **{f"{n}_session_s": onnx[n]["session_s"] for n in onnx}}
    for (n, t), xs in runs.items():
        base = runs[("float32", t)]
        result[f"{n}_t{t}_p50_ms"] = round(_pct(xs, 50), 1)
        result[f"{n}_t{t}_p90_ms"] = round(_pct(xs, 90), 1)
        result[f"{n}_t{t}_speedup_p50"] = round(_pct(base, 50) / _pct(xs, 50), 2)
    lib = library_vectors(emb, args.library) if args.library else None
    for n in vecs:
        result[f"{n}_cos_min"] = round(float((vecs[n] * ref).sum(1).min()), 6)
        if lib is not None:
            result[f"{n}_recall10"] = round(recall_at_10(lib, ref, vecs[n]), 4)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


def library_vectors(emb, n: int) -> np.ndarray:
    """`n` synthesized clips (hits, noise, chords, beats) through the float32 audio tower."""
    from precision import clips

    return emb.encode_audio(clips(n, emb.sample_rate, emb.window_samples))


def recall_at_10(lib: np.ndarray, q_ref: np.ndarray, q_x: np.ndarray) -> float:
    want = np.argsort(-(q_ref @ lib.T), axis=1)[:, :10]
    got = np.argsort(-(q_x @ lib.T), axis=1)[:, :10]
    return float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(want, got, strict=True)]))


def export_onnx(model: str, emb, threads: list[int], names: list[str]) -> dict:
    """{variant: {threads: OnnxTextTower, "session_s": s}} for the asked ONNX variants, exported
    into the user cache as the app would (so the `app` variant finds it there too)."""
    if not names:
        return {}
    from soundfinder.model import onnx_text
    from soundfinder.model.onnx_export import export_text_tower

    folder = onnx_text.cache_folder(emb.space.id)
    if not folder.is_dir():
        t0 = time.perf_counter()
        done = export_text_tower(model, emb.space)
        print(f"exported in {time.perf_counter() - t0:.1f} s: {done}", file=sys.stderr, flush=True)
    meta = onnx_text.read_meta(folder, emb.space.id)
    out = {}
    for n in names:
        graph = folder / "model.onnx"
        if n == "onnx" and meta["precision"] != "float32":  # the cache keeps the adopted graph only
            graph = folder.parent / "bench-float32" / "model.onnx"
            if not graph.exists():
                _float32_copy(model, emb, folder, graph.parent)
        elif n == "onnx-int8" and meta["precision"] != "int8":
            raise SystemExit("the int8 graph was not adopted (probe below 0.995): no onnx-int8 variant")
        out[n] = {}
        for t in threads:
            t0 = time.perf_counter()
            out[n][t] = onnx_text.OnnxTextTower(graph.parent, dict(meta, precision=n[5:] or "float32"), threads=t)
            out[n]["session_s"] = round(time.perf_counter() - t0, 3)
    return out


def _float32_copy(model: str, emb, folder: Path, dst: Path) -> None:
    """The float32 graph beside the cached (int8) one, for the `onnx` variant."""
    import shutil

    from soundfinder.model.onnx_export import _load_float32, _write_graph

    dst.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / "tokenizer.json", dst / "tokenizer.json")
    m, proc = _load_float32(model)
    _write_graph(m, proc.tokenizer, dst / "model.onnx")


def _run(key, models, app, tok, queries):
    name, threads = key
    if name.startswith("onnx"):
        tower = models[name][threads]
        return time_queries(lambda q: tower.encode_text([q])[0], queries)
    if name == "app":
        # encode_text sets its own thread count for short queries (1 on a busy machine); pin it.
        app.text_threads = threads
        return time_queries(lambda q: app.encode_text([q])[0], queries)
    return time_queries(lambda q: _encode(models[name], tok, q), queries)


if __name__ == "__main__":
    sys.exit(main())
