"""One parsed text query, ranked over a library by names and sound (the steps in order).

1. Text vectors: the query (prompt ensemble where it measured better), each negative term.
   The sound query is q - NEGATIVE_PUSH * mean(negatives), moved by feedback (Rocchio); a
   query of negatives only searches away from them.
2. Candidates: the nearest vectors (hnsw/exact) and the files named after the query (FTS5;
   the best-sounding NAME_CANDIDATES of them when more match), as files.
3. Scores: cosines for every candidate, calibrated against a fixed sample of the library;
   name scores (rarity-weighted share of the query's words); files named after a negative
   term, or disliked, are pushed down.
4. Fusion (`fusion.py`), filters on what the catalog knows (length), the k best, with `why`.
   A hit's score is the fused score scaled into [-1, 1] (the best possible is 1), like a cosine.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from soundfinder.library import FileRecord, Library
from soundfinder.query import fusion, prompts, steer
from soundfinder.query.parse import ParsedQuery
from soundfinder.query.tokens import query_tokens

NEGATIVE_PUSH = 0.5  # how far a negative term moves the sound query away from itself
DISLIKED_PENALTY = 2.0  # a thumbs-down sinks a file below every other candidate
SOUND_CANDIDATES = 200  # nearest vectors considered (at least 4 k)
NAME_CANDIDATES = 300  # name matches considered (the best-sounding, when more match)
PARTIAL_LIMIT = 1500  # files holding only some of the query's words: the first this many (latency)
EXACT_NAME_MATCHES = 20000  # up to this many name matches are scored exactly; beyond, hnsw picks
REFERENCE_SIZE = 512  # library vectors sampled to calibrate cosines

_REFERENCE: dict[tuple[str, int], np.ndarray] = {}


@dataclass(frozen=True)
class Feedback:
    """Thumbs on the results of one search (paths), remembered for the session by its face."""

    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.liked or self.disliked)


def reference_vectors(library: Library) -> np.ndarray:
    """A fixed random sample of the library's vectors (cached until the library grows)."""
    n = len(library.log) if library.log is not None else 0
    key = (str(library.root), n)
    if key not in _REFERENCE:
        if n == 0:
            return np.zeros((0, 0), dtype=np.float32)
        rng = np.random.default_rng(0)
        ids = np.sort(rng.choice(n, size=min(REFERENCE_SIZE, n), replace=False))
        _REFERENCE.clear()
        _REFERENCE[key] = np.asarray(library.log.take(ids), dtype=np.float32)
    return _REFERENCE[key]


def _vectors_of(library: Library, paths: Iterable[str]) -> list[np.ndarray]:
    out = []
    for p in paths:
        rec = library.get(p)
        if rec is not None and rec.vector_id is not None:
            out.append(library.vector(rec.vector_id))
    return out


def query_vector(library: Library, embedder, q: ParsedQuery, cache, ensemble: bool | None = None,
                 feedback: Feedback | None = None) -> np.ndarray:
    """Step 1: the sound query for a parsed text (unit vector)."""
    texts = ([q.text] if q.text else []) + list(q.negatives)
    vecs = prompts.text_vectors(embedder, texts, cache, ensemble)  # one text-tower batch
    negs = list(vecs[1:] if q.text else vecs)
    if q.text:
        vec = vecs[0]
        if negs:
            vec = steer.unit(vec - NEGATIVE_PUSH * np.mean(negs, axis=0))
    else:
        vec = steer.unit(-np.mean(negs, axis=0))  # "-reverb" alone: what sounds least like reverb
    if feedback:
        vec = steer.rocchio(vec, _vectors_of(library, feedback.liked), _vectors_of(library, feedback.disliked))
    return vec


def rank_text(library: Library, embedder, q: ParsedQuery, k: int = 20, tags: Iterable[str] = (),
              not_tags: Iterable[str] = (), filters=None, within: str | None = None, mode: str = "fused",
              ensemble: bool | None = None, feedback: Feedback | None = None, cache=None,
              vector: np.ndarray | None = None, weights: fusion.Weights = fusion.DEFAULT) -> list:
    """The k best files for `q` (see the module doc); `vector` overrides step 1 (benchmarks).

    Without an `embedder` (the app's first seconds, before the text tower has loaded) names
    alone rank: no sound candidates, every cosine 0, `why` without a sound score.
    """
    from soundfinder.query.parse import to_sound_filter
    from soundfinder.query.search import _TEXT_CACHE, Hit, allowed_files

    if library.index is None:
        return []
    names_only = vector is None and embedder is None
    if names_only:
        mode, vec = "names", np.zeros(library.log.dim, dtype=np.float32)
    else:
        vec = vector if vector is not None else query_vector(library, embedder, q, cache or _TEXT_CACHE,
                                                             ensemble, feedback)
    # The query's own words ("128 bpm", "in F minor", "loop") filter like the filter bar's choices.
    allowed = allowed_files(library, tags, not_tags, to_sound_filter(q, filters), within)
    tokens = [] if mode == "sound" else query_tokens(q.text)
    phrases = [t for t in (query_tokens(p) for p in q.phrases) if t]
    # 2. candidates, {file id: vector id}: the best-sounding name matches and the nearest vectors
    pairs = _name_candidates(library, vec, tokens, phrases, allowed)
    if not phrases and not names_only:  # a quoted phrase must be in the name: only name matches qualify
        sound = library.knn(vec, max(SOUND_CANDIDATES, 4 * k), None if allowed is None else set(allowed.values()))
        near = library.names.files_of(v for v, _ in sound)
        pairs.update((f, v) for f, v in near.items() if allowed is None or f in allowed)
    if not pairs:
        return []
    # 3. scores
    cands = _candidates(library, vec, pairs, tokens + [t for p in phrases for t in p], weights)
    records = _records(library, cands) if q.length is not None else None
    if records is not None:
        cands = [c for c in cands if c.file_id in records and _length_ok(records[c.file_id], q.length)]
    _push_down(library, cands, set(query_tokens(" ".join(q.negatives))), feedback)
    # 4. fusion; penalties sink a file below every file without one, whatever their scores
    fusion.fuse(cands, mode, weights)
    cands.sort(key=lambda c: (-c.penalty, -c.fused, c.file_id))
    top = cands[:k]
    records = records or _records(library, top)
    scale = 1.0 if mode == "sound" else 1.0 + weights.sound  # the best a file can get
    hidden = library.hidden_hashes()
    hits = [Hit(float(np.clip((c.fused + c.penalty) / scale, -1.0, 1.0)), records[c.file_id],
                {"name": list(c.name_tokens)} if names_only else
                {"name": list(c.name_tokens), "sound": round(c.cos, 3)}) for c in top
            if c.file_id in records and records[c.file_id].hash not in hidden]
    library.attach_tags([h.record for h in hits])
    return hits


def _dot(rows: np.ndarray, vec: np.ndarray) -> np.ndarray:
    # einsum, not `@`: BLAS gemv goes multi-threaded above ~256k elements and then costs 30-40 ms
    # on a busy machine against 0.1 ms here.
    return np.einsum("ij,j->i", np.asarray(rows, dtype=np.float32), vec.astype(np.float32), dtype=np.float64)


def _name_candidates(library: Library, vec: np.ndarray, tokens: list[str], phrases: list[list[str]],
                     allowed: dict[int, int] | None) -> dict[int, int]:
    """Files named after the query, at most NAME_CANDIDATES: those holding all its words first,
    then those holding some; the best-sounding of each group when more match ("kick" may name
    6% of a library)."""
    if not tokens and not phrases:
        return {}
    names = library.names

    def usable(pairs: dict[int, int]) -> dict[int, int]:
        return pairs if allowed is None else {f: v for f, v in pairs.items() if f in allowed}

    full = usable(names.matching(tokens, phrases, require_all=True))
    chosen = _best_sounding(library, vec, full, NAME_CANDIDATES)
    if len(chosen) < NAME_CANDIDATES and len(tokens) > 1:
        some = usable({f: v for f, v in names.matching(tokens, phrases, limit=PARTIAL_LIMIT).items()
                       if f not in full})
        chosen.update(_best_sounding(library, vec, some, NAME_CANDIDATES - len(chosen)))
    return chosen


def _best_sounding(library: Library, vec: np.ndarray, pairs: dict[int, int], n: int) -> dict[int, int]:
    if len(pairs) <= n:
        return dict(pairs)
    vids = np.fromiter(pairs.values(), dtype=np.int64, count=len(pairs))
    if len(vids) <= EXACT_NAME_MATCHES:
        cos = _dot(library.log.take(vids), vec)
        best = set(vids[np.argpartition(-cos, n - 1)[:n]].tolist())
    else:  # hnsw restricted to these vectors
        best = {v for v, _ in library.knn(vec, n, vids)}
    return {f: v for f, v in pairs.items() if v in best}


def _candidates(library: Library, vec: np.ndarray, pairs: dict[int, int], tokens: list[str],
                weights: fusion.Weights) -> list[fusion.Candidate]:
    fids = list(pairs)
    vids = np.fromiter((pairs[f] for f in fids), dtype=np.int64, count=len(fids))
    cos = _dot(library.log.take(vids), vec)
    ref = reference_vectors(library)
    z = fusion.calibrate(cos, _dot(ref, vec) if ref.size else np.zeros(0))
    names = library.names.tokens_of(fids) if tokens else {}
    n_docs = max(len(library.log), 1)
    rarity = {t: fusion.idf(df, n_docs) for t, df in library.names.doc_freq(tokens).items()} if tokens else {}
    out = []
    for i, fid in enumerate(fids):
        c = fusion.Candidate(vector_id=int(vids[i]), file_id=fid, cos=float(cos[i]), z=float(z[i]))
        own, around = names.get(fid, (set(), set()))
        mine = [t for t in rarity if t in own]
        theirs = [t for t in rarity if t in around and t not in own]
        if mine or theirs:
            c.name = fusion.name_score(mine, theirs, rarity, weights)
            c.name_tokens = tuple(mine + theirs)
        out.append(c)
    return out


def _records(library: Library, cands) -> dict[int, FileRecord]:
    wanted = {c.file_id for c in cands}
    return {r.id: r for rs in library.files_for_vectors({c.vector_id for c in cands}).values() for r in rs
            if r.id in wanted}


def _length_ok(rec: FileRecord, length: tuple[float, float | None] | None) -> bool:
    if length is None:
        return True
    if rec.duration is None:
        return False
    lo, hi = length
    return rec.duration >= lo and (hi is None or rec.duration <= hi)


def _push_down(library: Library, cands, negative_tokens: set[str], feedback: Feedback | None) -> None:
    """Penalties (sorted on before the fused score) for names holding a negative term and for
    disliked files."""
    if negative_tokens:
        names = library.names.tokens_of(c.file_id for c in cands)
        for c in cands:
            own, around = names.get(c.file_id, (set(), set()))
            if negative_tokens & (own | around):
                c.penalty -= fusion.NEGATIVE_PENALTY
    if feedback and feedback.disliked:
        disliked = {rec.id for rec in map(library.get, feedback.disliked) if rec is not None}
        for c in cands:
            if c.file_id in disliked:
                c.penalty -= DISLIKED_PENALTY
