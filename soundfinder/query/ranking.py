"""One parsed text query, ranked over a library by names and sound (the steps in order).

1. Text vectors: the query (prompt ensemble where it measured better), each negative term.
   The sound query is q - NEGATIVE_PUSH * mean(negatives), moved by feedback (Rocchio); a
   query of negatives only searches away from them.
2. Candidates: the nearest vectors (hnsw/exact) and the best name matches (FTS5), as files.
3. Scores: cosines for every candidate, calibrated against a fixed sample of the library;
   name scores; files named after a negative term, or disliked, are pushed down.
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
NAME_CANDIDATES = 300
REFERENCE_SIZE = 1024  # library vectors sampled to calibrate cosines

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
        _REFERENCE[key] = np.asarray(library.log.matrix()[ids], dtype=np.float32)
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
    negs = [prompts.text_vector(embedder, n, cache, ensemble) for n in q.negatives]
    if q.text:
        vec = prompts.text_vector(embedder, q.text, cache, ensemble)
        if negs:
            vec = steer.unit(vec - NEGATIVE_PUSH * np.mean(negs, axis=0))
    else:
        vec = steer.unit(-np.mean(negs, axis=0))  # "-reverb" alone: what sounds least like reverb
    if feedback:
        vec = steer.rocchio(vec, _vectors_of(library, feedback.liked), _vectors_of(library, feedback.disliked))
    return vec


def rank_text(library: Library, embedder, q: ParsedQuery, k: int = 20, tags: Iterable[str] = (),
              not_tags: Iterable[str] = (), mode: str = "fused", ensemble: bool | None = None,
              feedback: Feedback | None = None, cache=None, vector: np.ndarray | None = None,
              weights: fusion.Weights = fusion.DEFAULT) -> list:
    """The k best files for `q` (see the module doc); `vector` overrides step 1 (benchmarks)."""
    from soundfinder.query.search import _TEXT_CACHE, Hit

    if library.index is None:
        return []
    vec = vector if vector is not None else query_vector(library, embedder, q, cache or _TEXT_CACHE,
                                                         ensemble, feedback)
    allowed = library.files_with_tags(tags or (), not_tags or ()) if (tags or not_tags) else None
    tokens = [] if mode == "sound" else query_tokens(q.text)
    phrases = [query_tokens(p) for p in q.phrases]
    negative_tokens = set(query_tokens(" ".join(q.negatives)))
    # 2. candidates
    matches = library.names.search(tokens, phrases, NAME_CANDIDATES, None if allowed is None else set(allowed))
    if phrases:  # a quoted phrase must be in the name: only name matches qualify
        sound = []
    else:
        want = max(SOUND_CANDIDATES, 4 * k)
        sound = library.knn(vec, want, None if allowed is None else set(allowed.values()))
    vids = {v for v, _ in sound} | {m.vector_id for m in matches if m.vector_id is not None}
    records = {r.id: r for rs in library.files_for_vectors(vids).values() for r in rs
               if allowed is None or r.id in allowed}
    if phrases:
        records = {fid: r for fid, r in records.items() if fid in {m.file_id for m in matches}}
    records = {fid: r for fid, r in records.items() if _length_ok(r, q.length)}
    if not records:
        return []
    # 3. scores
    cands = _candidates(library, vec, records, matches, len(tokens), weights)
    _push_down(library, cands, records, negative_tokens, feedback)
    # 4. fusion
    fusion.fuse(cands, mode, weights)
    # penalties sink a file below every file without one, whatever their scores
    cands.sort(key=lambda c: (-c.penalty, -c.fused, records[c.file_id].path))
    top = 1.0 if mode == "sound" else 1.0 + fusion.BM25_TIEBREAK + weights.sound  # the best a file can get
    hits = [Hit(float(np.clip((c.fused + c.penalty) / top, -1.0, 1.0)), records[c.file_id],
                {"name": list(c.name_tokens), "sound": round(c.cos, 3)}) for c in cands[:k]]
    library.attach_tags([h.record for h in hits])
    return hits


def _length_ok(rec: FileRecord, length: tuple[float, float | None] | None) -> bool:
    if length is None:
        return True
    if rec.duration is None:
        return False
    lo, hi = length
    return rec.duration >= lo and (hi is None or rec.duration <= hi)


def _candidates(library: Library, vec: np.ndarray, records: dict[int, FileRecord], matches, n_tokens: int,
                weights: fusion.Weights):
    by_file = {m.file_id: m for m in matches}
    best = max((m.score for m in matches), default=0.0)
    vids = np.fromiter((r.vector_id for r in records.values()), dtype=np.int64, count=len(records))
    cos = np.asarray(library.log.matrix()[vids] @ vec, dtype=np.float64)
    ref = reference_vectors(library)
    z = fusion.calibrate(cos, ref @ vec if ref.size else np.zeros(0))
    out = []
    for i, (fid, rec) in enumerate(records.items()):
        m = by_file.get(fid)
        c = fusion.Candidate(vector_id=rec.vector_id, file_id=fid, cos=float(cos[i]), z=float(z[i]))
        if m is not None:
            c.name = fusion.name_score(m.tokens, m.folder_tokens, n_tokens, m.score, best, weights)
            c.name_tokens = tuple(dict.fromkeys(m.tokens + m.folder_tokens))
        out.append(c)
    return out


def _push_down(library: Library, cands, records: dict[int, FileRecord], negative_tokens: set[str],
               feedback: Feedback | None) -> None:
    """Penalties (added after fusion) for names holding a negative term and for disliked files."""
    if negative_tokens:
        names = library.names.tokens_of(c.file_id for c in cands)
        for c in cands:
            own, around = names.get(c.file_id, (set(), set()))
            if negative_tokens & (own | around):
                c.penalty -= fusion.NEGATIVE_PENALTY
    if feedback and feedback.disliked:
        disliked = set(feedback.disliked)
        for c in cands:
            if records[c.file_id].path in disliked:
                c.penalty -= DISLIKED_PENALTY
