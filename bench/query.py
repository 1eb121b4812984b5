"""Benchmark: search latency and recall on libraries of 10k, 100k (and 1M) synthetic vectors.

Libraries are real library folders (created by `Library.open`, filled by writing its vector
log and catalog tables directly for speed, see `build_library`), of clustered synthetic 512-d
unit vectors:
200 topics x 25 sub-topics, each file = topic + 0.6 sub-topic + 0.45 noise (normalised),
which gives within-topic cosines of 0.5-0.8 like real embeddings of one kind of sound (on
uniformly random vectors hnsw recall is meaningless). The search graph is built once at the
end and snapshotted, as a library that grew by indexing would have it. Built libraries are cached in
$SOUNDFINDER_BENCH_MODELS (default /tmp/soundfinder-bench) and reused.

Per size it measures:
  * hnsw knn (k=10) vs numpy brute force over the memory-mapped log: latency p50/p95, and
    recall@10 of hnsw against brute force for several ef (the chosen ef is the smallest with
    recall >= 0.99),
  * `search_text` end to end with the full text tower (random weights of the real
    configuration): text tower + knn + catalog lookup of the hits + tags, p50/p95 over distinct
    queries (cache misses) and for a repeated query (cache hits),
  * filtered knn (candidates = 50% and 2% of vectors, as a tag filter hands them over).

    python bench/query.py --quick                  # 10k only, full text tower (< 1 minute)
    python bench/query.py --sizes 10k,100k --model full
    python bench/query.py --sizes 1m --model full  # builds a 1M graph once: ~10+ min on 2 cores

Last line: `RESULT key=value ...` (milliseconds; keys suffixed by size).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from bench.indexing import MODEL_CACHE, model_dir  # noqa: E402

DIM = 512
GENERATOR = 1  # bump when make_vectors changes: cached libraries are rebuilt


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1], 1)
    return int(float(text[:-1] if text[-1] in "km" else text) * mult)


class Clustered:
    """Deterministic clustered unit vectors; rows are generated in chunks (never all in float64)."""

    def __init__(self, seed: int = 0, topics: int = 200, subs: int = 25):
        rng = np.random.default_rng(seed)
        self.topics = rng.standard_normal((topics, DIM)).astype(np.float32) / np.sqrt(DIM)
        self.subs = rng.standard_normal((topics, subs, DIM)).astype(np.float32) / np.sqrt(DIM)
        self.seed = seed

    def rows(self, start: int, stop: int, salt: int = 0) -> np.ndarray:
        rng = np.random.default_rng([self.seed, salt, start])
        n = stop - start
        t = rng.integers(0, self.topics.shape[0], n)
        s = rng.integers(0, self.subs.shape[1], n)
        x = self.topics[t] + 0.6 * self.subs[t, s] + 0.45 * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return x.astype(np.float32, copy=False)

    def queries(self, n: int) -> np.ndarray:
        return self.rows(0, n, salt=1)


def _default_path(i: int) -> str:
    return f"/bench/samples/topic{i % 200:03d}/sound_{i:07d}.wav"


def build_library(n: int, root: Path | None = None, chunk: int = 50_000, log=print, path_of=_default_path) -> Path:
    """A library folder of `n` indexed files with clustered vectors (cached).

    Created through `Library.open` (schema, embedding space), then filled by writing the vector
    log through `VectorLog.append` and the catalog rows with one `executemany` per chunk into
    the catalog's own tables, which is what `Library.commit` of `Batch(embedded=...)` writes,
    without its per-file statements (those take ~1 ms per file on this shared machine, so 1M
    files would take most of an hour). The result is checked by reopening it with `Library.open`.
    Then the search graph is built once and snapshotted, as a library grown by indexing has it.
    """
    import sqlite3

    from soundfinder.library import Library
    from soundfinder.library.vectorlog import VectorLog
    from soundfinder.model.clap import EmbeddingSpace

    root = root or MODEL_CACHE / f"lib-{n}"
    marker = root / "bench-built.json"
    if marker.exists() and json.loads(marker.read_text()).get("generator") == GENERATOR:
        return root
    if root.exists():
        import shutil

        shutil.rmtree(root)
    gen = Clustered()
    space = EmbeddingSpace(model="bench/synthetic-clustered", weights=f"g{GENERATOR}", dim=DIM)
    t0 = time.perf_counter()
    Library.open(root, space).close()
    vlog = VectorLog(root / "vectors.f32", DIM)
    db = sqlite3.connect(str(root / "catalog.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    now = time.time()
    for s in range(0, n, chunk):
        vecs = gen.rows(s, min(n, s + chunk))
        first = vlog.append(vecs)
        ids = range(first, first + len(vecs))
        db.execute("BEGIN")
        db.executemany("INSERT INTO vectors (id, hash) VALUES (?, ?)", ((i, f"{i:032x}") for i in ids))
        db.executemany(
            "INSERT INTO files (path, size, mtime_ns, hash, duration, sample_rate, channels, format, subtype, "
            "status, error, vector_id, added, updated) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            ((os.fsencode(path_of(i)), 100_000 + i,
              1_700_000_000_000_000_000 + i, f"{i:032x}", 1.0 + i % 30, 44100, 2, "WAV", "PCM_16",
              "indexed", None, i, now, now) for i in ids))
        db.execute("COMMIT")
        log(f"  filled {s + len(vecs)}/{n} ({time.perf_counter() - t0:.0f} s)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    fill = time.perf_counter() - t0
    t1 = time.perf_counter()
    with Library.open(root, space) as lib:
        stats = lib.stats()
        if stats["indexed"] != n or stats["vectors"] != n:
            raise SystemExit(f"the library does not read back as {n} files: {stats}")
        if n >= 20_000:  # what the app would search with hnsw: build the graph and snapshot it
            lib.index.warm()
            lib.snapshot()
    graph = time.perf_counter() - t1
    marker.write_text(json.dumps({"n": n, "generator": GENERATOR, "fill_s": round(fill, 1),
                                  "graph_build_s": round(graph, 1)}))
    log(f"  built lib-{n}: fill {fill:.1f} s, graph {graph:.1f} s")
    return root


def pct(values, q) -> float:
    return float(np.percentile(np.asarray(values) * 1000.0, q))


QUERY_WORDS = (["dusty", "warm", "bright", "dark", "punchy", "soft", "distorted", "airy", "metallic", "lo-fi",
                "deep", "short", "long", "wet", "dry", "vintage", "crunchy", "clean"],
               ["kick", "snare", "hi-hat", "clap", "tom", "cymbal", "shaker", "808", "pad", "pluck", "bass",
                "lead", "riser", "impact", "whoosh", "vinyl crackle", "vocal chop", "piano chord"],
               ["", "with a short tail", "in a big room", "for techno", "from a drum machine", "loop",
                "one-shot", "with reverb"])


def query_texts(n: int, seed: int = 3) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    seen = set()
    while len(out) < n:
        a, b, c = (w[rng.integers(len(w))] for w in QUERY_WORDS)
        text = " ".join(x for x in (a, b, c) if x)
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


class ProjectedText:
    """A model whose space is not 512-d (the tiny one) behind a fixed random projection to 512,
    so its text tower can drive the synthetic 512-d libraries (latency plumbing only)."""

    def __init__(self, embedder):
        self.inner = embedder
        self.space = embedder.space
        self.processor = embedder.processor
        rng = np.random.default_rng(0)
        self.proj = rng.standard_normal((embedder.dim, DIM)).astype(np.float32)

    def encode_text(self, texts):
        x = self.inner.encode_text(texts) @ self.proj
        return x / np.linalg.norm(x, axis=1, keepdims=True)


class WordTokenizer:
    """Stands in for a degenerate local tokenizer (the locally built BPE may hold only its 5
    special tokens, which turns every query into 2 tokens and makes the text tower look
    cheap): one id per word or punctuation mark, about what RoBERTa's BPE gives for short
    English queries ("dusty kick with a short tail" -> 8 tokens with <s> and </s>)."""

    def __init__(self, inner, vocab_size: int):
        self.inner = inner
        self.vocab_size = vocab_size
        self.bos, self.eos = inner.bos_token_id or 0, inner.eos_token_id or 2
        self.pad = inner.pad_token_id if inner.pad_token_id is not None else 1

    def __call__(self, texts, padding=True, truncation=True, max_length=77, return_tensors="pt"):
        import re
        import zlib

        import torch
        from transformers import BatchEncoding

        texts = [texts] if isinstance(texts, str) else list(texts)
        seqs = []
        for t in texts:
            words = re.findall(r"\w+|[^\w\s]", t)[: max_length - 2]
            seqs.append([self.bos] + [5 + zlib.crc32(w.encode()) % (self.vocab_size - 5) for w in words] + [self.eos])
        width = max(len(x) for x in seqs)
        ids = torch.full((len(seqs), width), self.pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for i, x in enumerate(seqs):
            ids[i, : len(x)] = torch.tensor(x)
            mask[i, : len(x)] = 1
        if return_tensors != "pt":
            return {"input_ids": [x for x in seqs], "attention_mask": [[1] * len(x) for x in seqs]}
        return BatchEncoding({"input_ids": ids, "attention_mask": mask})


def timed(fn, *args, **kw):
    t = time.perf_counter()
    out = fn(*args, **kw)
    return time.perf_counter() - t, out


def bench_size(n: int, embedder, n_queries: int, efs: list[int], log=print, graph: bool = True) -> dict:
    import hnswlib  # noqa: F401  (import cost outside the timings)

    from soundfinder.library import Library
    from soundfinder.library.vectorindex import VectorIndex
    from soundfinder.query.search import TextCache, search_text, search_vector

    root = build_library(n, log=log)
    res: dict[str, float] = {}
    open_s, lib = timed(Library.open, root, None, True)  # read-only: the query side of the app
    res["open_ms"] = open_s * 1000
    try:
        gen = Clustered()
        queries = gen.queries(n_queries)
        mat = lib.log.matrix()
        # brute force: the exact path of VectorIndex (numpy over the memory-mapped log)
        exact = VectorIndex(lib.log, root / "vectors.hnsw", exact_below=10**12)
        exact.dead = lib.index.dead
        np.asarray(mat @ queries[0])  # page the log in once
        lat_exact, truth = [], []
        for q in queries:
            dt, hits = timed(exact.search, q, 10)
            lat_exact.append(dt)
            truth.append({i for i, _ in hits})
        res["brute_p50_ms"], res["brute_p95_ms"] = pct(lat_exact, 50), pct(lat_exact, 95)
        log(f"  brute force p50 {res['brute_p50_ms']:.2f} ms")
        if not graph:  # brute force end to end (a library whose graph was never built)
            lib.index.exact_below = 10**12
        # hnsw: the graph as the library has it (snapshot, or built here for small libraries)
        approx = VectorIndex(lib.log, root / "vectors.hnsw", exact_below=0)
        approx.dead = lib.index.dead
        if graph:
            dt, _ = timed(approx.warm)
            res["graph_load_ms"] = dt * 1000
        chosen = None
        for ef in efs if graph else []:
            approx.ef = ef
            lat, rec = [], []
            for q, want in zip(queries, truth, strict=True):
                dt, hits = timed(approx.search, q, 10)
                lat.append(dt)
                rec.append(len(want & {i for i, _ in hits}) / 10)
            res[f"hnsw_ef{ef}_p50_ms"], res[f"hnsw_ef{ef}_p95_ms"] = pct(lat, 50), pct(lat, 95)
            res[f"recall10_ef{ef}"] = float(np.mean(rec))
            log(f"  hnsw ef={ef}: p50 {pct(lat, 50):.3f} ms, recall@10 {np.mean(rec):.4f}")
            if chosen is None and np.mean(rec) >= 0.99:
                chosen = ef
        res["chosen_ef"] = chosen or efs[-1]
        approx.ef = res["chosen_ef"]
        if not graph:
            approx = exact
        # filtered knn, as a tag filter hands candidates to Library.knn
        rng = np.random.default_rng(5)
        for frac in (0.5, 0.02):
            cand = np.flatnonzero(rng.random(n) < frac)
            idx = approx if n >= lib.index.exact_below else exact
            lat = [timed(idx.search, q, 10, cand)[0] for q in queries[:30]]
            res[f"filtered{int(frac * 100)}_p50_ms"] = pct(lat, 50)
            log(f"  filtered {frac:.0%}: p50 {pct(lat, 50):.2f} ms")
        # end to end through the library the app would search (its own index and threshold)
        lib.index.ef = res["chosen_ef"]
        lib.index.warm()
        if embedder is not None:
            texts = query_texts(max(10, n_queries // 3))
            search_text(lib, embedder, "warm up query", k=20)
            cache = TextCache(size=10 * n_queries)
            lat_text, lat_e2e, lat_knn = [], [], []
            for text in texts:
                dt_text, vec = timed(cache.get, embedder, text)
                dt_knn, _ = timed(search_vector, lib, vec, 20)
                lat_text.append(dt_text)
                lat_knn.append(dt_knn)
            for text in texts[:10]:  # through the public function, cache cold
                import soundfinder.query.search as s

                s._TEXT_CACHE = TextCache()
                lat_e2e.append(timed(search_text, lib, embedder, text, 20)[0])
            hot = [timed(search_text, lib, embedder, texts[0], 20)[0] for _ in range(10)]
            res["text_tower_p50_ms"] = pct(lat_text, 50)
            res["search_vector_p50_ms"], res["search_vector_p95_ms"] = pct(lat_knn, 50), pct(lat_knn, 95)
            res["e2e_p50_ms"], res["e2e_p95_ms"] = pct(lat_e2e, 50), pct(lat_e2e, 95)
            res["e2e_cached_p50_ms"] = pct(hot, 50)
            log(f"  text tower p50 {res['text_tower_p50_ms']:.1f} ms, e2e p50 {res['e2e_p50_ms']:.1f} ms")
            toks = [len(embedder.processor.tokenizer([t], return_tensors=None)["input_ids"][0]) for t in texts]
            res["query_tokens_mean"] = float(np.mean(toks))
    finally:
        lib.close()
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10k only, fewer queries")
    ap.add_argument("--sizes", default=None, help="comma list, e.g. 10k,100k,1m (default 10k,100k)")
    ap.add_argument("--model", default=None, help="tiny, full or a folder (default full)")
    ap.add_argument("--no-text", action="store_true", help="skip the text tower (knn only)")
    ap.add_argument("--queries", type=int, default=None)
    ap.add_argument("--efs", default="16,32,64,128")
    ap.add_argument("--no-graph", action="store_true", help="brute force only (a library without a graph)")
    ap.add_argument("--text-threads", type=int, default=None,
                    help="intra-op threads for the text tower (default: the embedder's choice)")
    args = ap.parse_args(argv)
    sizes = [parse_size(s) for s in (args.sizes or ("10k" if args.quick else "10k,100k")).split(",")]
    n_queries = args.queries or (50 if args.quick else 200)
    efs = [int(e) for e in args.efs.split(",")]

    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    embedder = None
    model = args.model or "full"
    if not args.no_text:
        from soundfinder.model import ClapEmbedder

        embedder = ClapEmbedder.load(str(model_dir(model)), device="cpu")
        tok = embedder.processor.tokenizer
        if len(tok) < 1000:
            print(f"note: the model's tokenizer has {len(tok)} tokens; queries are tokenised one id per "
                  "word instead (realistic lengths)", file=sys.stderr)
            embedder.processor.tokenizer = WordTokenizer(tok, embedder.model.config.text_config.vocab_size)
        if args.text_threads:
            embedder.text_threads = args.text_threads
        embedder.warm_up()
        if embedder.dim != DIM:
            embedder = ProjectedText(embedder)
    result = {"model": model if not args.no_text else "none", "queries": n_queries, "cpus": os.cpu_count(),
              "text_threads": getattr(getattr(embedder, "inner", embedder), "text_threads", None)}
    for n in sizes:
        tag = f"{n // 1_000_000}m" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"
        print(f"size {tag}:", file=sys.stderr, flush=True)
        res = bench_size(n, embedder, n_queries, efs, log=lambda m: print(m, file=sys.stderr, flush=True),
                         graph=not args.no_graph)
        for k, v in res.items():
            print(f"  {k} = {v:.3f}" if isinstance(v, float) else f"  {k} = {v}", file=sys.stderr)
            result[f"{k}_{tag}"] = round(v, 3) if isinstance(v, float) else v
    result["load1"] = round(os.getloadavg()[0], 2)
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
