"""Duplicates: groups of files holding the same recording, and which copy to keep.

Two kinds of group:
    identical   byte-identical files (one content hash, so one vector): free to find.
    near        the same recording re-encoded, resampled, gain-changed or trimmed, in two stages:
                1. candidates (`candidate_pairs`, array work only): each vector's nearest
                   neighbours (one batched knn over the library, `Library.neighbours`) at
                   cosine >= MIN_COSINE whose catalog durations copies could have (`slack_s`);
                2. fingerprints (`fingerprinted`, no decoding): the signal fingerprints stored at
                   indexing (analysis/fingerprint.py) rule out most pairs of one instrument's
                   takes; a pair without fingerprints (an older library) stays a candidate;
                3. confirmation (`dupconfirm`): both files decoded and compared at signal
                   level (`samecheck.compare`: aligned waveform, per-band correlation, one
                   gain), per connected component of the candidate graph, on threads.
                The embedding alone would group velocity layers and round-robins of one drum;
                the signal checks do not. At 100k files the knn and the decoding of what the
                fingerprints leave are the cost (bench/duplicates.py).

The copy to keep: lossless before lossy, then the higher sample rate, then the higher bit
depth, then the shorter path (usually the original folder).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from soundfinder.analysis import fingerprint
from soundfinder.library import FileRecord
from soundfinder.query import samecheck

NEIGHBOURS = 8
MIN_COSINE = 0.95  # embedding candidates (copies: >= 0.983 on bench/duplicates.py); the signal check decides
LOSSY = {"MP3", "OGG", "OPUS", "VORBIS", "MPEG_LAYER_I", "MPEG_LAYER_II", "MPEG_LAYER_III"}
DEPTH = {"PCM_S8": 8, "PCM_U8": 8, "PCM_16": 16, "PCM_24": 24, "PCM_32": 32, "FLOAT": 32, "DOUBLE": 64,
         "ALAC_16": 16, "ALAC_24": 24}


@dataclass
class DuplicateGroup:
    files: list[FileRecord]
    keep: str
    kind: str  # "identical" | "near"

    def to_json(self) -> dict:
        return {"kind": self.kind, "keep": self.keep,
                "files": [{"path": r.path, "format": r.format, "subtype": r.subtype,
                           "sample_rate": r.sample_rate, "size": r.size, "duration": r.duration}
                          for r in self.files]}


def lossless(rec: FileRecord) -> bool:
    return (rec.format or "").upper() not in LOSSY and (rec.subtype or "").upper() not in LOSSY


def keep_key(rec: FileRecord) -> tuple:
    """Bigger is better: lossless, sample rate, bit depth, then a shorter path."""
    return (lossless(rec), rec.sample_rate or 0, DEPTH.get((rec.subtype or "").upper(), 0), -len(rec.path))


def choose_keep(records: list[FileRecord]) -> str:
    """The best copy; among equals the first by path (max keeps the first of equal keys)."""
    return max(sorted(records, key=lambda r: r.path), key=keep_key).path


class _Sets:
    """Union-find over vector ids."""

    def __init__(self):
        self.parent: dict[int, int] = {}

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a: int, b: int) -> None:
        self.parent[self.find(a)] = self.find(b)


def _live_records(library) -> dict[int, list[FileRecord]]:
    """{vector id: its files} without hidden content."""
    _, vector_ids, _ = library.indexed_vectors()
    by_vector = library.files_for_vectors(np.unique(vector_ids).tolist())
    hidden = library.hidden_hashes()
    if hidden:
        by_vector = {v: [r for r in rs if r.hash not in hidden] for v, rs in by_vector.items()}
    return {v: rs for v, rs in by_vector.items() if rs}


def representatives(by_vector: dict[int, list[FileRecord]]) -> dict[int, FileRecord]:
    """The copy that stands for each vector (decoded and compared): the one we would keep."""
    return {v: rs[0] if len(rs) == 1 else max(rs, key=keep_key) for v, rs in by_vector.items()}


def slack_s(longer: np.ndarray | float) -> np.ndarray | float:
    """How far the catalog durations of two copies may differ: trims and codec padding
    (samecheck's own slack) plus 0.1 s of silence at the ends, which samecheck trims away."""
    return samecheck.LENGTH_SLACK_S + 0.1 + samecheck.LENGTH_SLACK_FRACTION * longer


def candidate_pairs(library, k: int = NEIGHBOURS, min_cosine: float = MIN_COSINE,
                    reps: dict[int, FileRecord] | None = None) -> np.ndarray:
    """Pairs worth decoding, as rows (vector a, vector b, cosine) with a < b, most similar first.

    A pair is each other's near neighbour in the embedding (one batched knn over the library:
    the graph above 20k vectors, exact blocks below), at least `min_cosine` alike, and of
    durations that copies can have (`slack_s`). Everything is array work: at 100k vectors the
    knn is the whole cost. Pass `reps` (from `representatives`) to skip reading the catalog."""
    if reps is None:
        reps = representatives(_live_records(library))
    vids = np.fromiter(sorted(reps), dtype=np.int64, count=len(reps))
    if vids.size < 2:
        return np.zeros((0, 3))
    labels, sims = library.neighbours(vids, k)
    rows, cols = np.nonzero(sims >= min_cosine)
    a, b, cos = vids[rows], labels[rows, cols], sims[rows, cols].astype(np.float64)
    keep = np.isin(b, vids)  # not hidden, not dead
    a, b, cos = a[keep], b[keep], cos[keep]
    dur = np.array([np.nan if reps[v].duration is None else reps[v].duration for v in vids.tolist()])
    da, db = dur[np.searchsorted(vids, a)], dur[np.searchsorted(vids, b)]
    plausible = np.isnan(da) | np.isnan(db) | (np.abs(da - db) <= slack_s(np.fmax(da, db)))
    a, b, cos = a[plausible], b[plausible], cos[plausible]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    order = np.lexsort((-cos, hi, lo))
    lo, hi, cos = lo[order], hi[order], cos[order]
    first = np.ones(lo.size, dtype=bool)
    first[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])  # each pair once, at its best cosine
    out = np.stack([lo[first], hi[first], cos[first]], axis=1) if first.any() else np.zeros((0, 3))
    return out[np.argsort(-out[:, 2], kind="stable")]


def find_duplicates(library, k: int = NEIGHBOURS, min_cosine: float = MIN_COSINE, confirm: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    cancel: threading.Event | None = None,
                    loader: Callable[[str], np.ndarray] = samecheck.load,
                    workers: int | None = None) -> list[DuplicateGroup]:
    """Every group of duplicates in the library, biggest first.

    `confirm=False` skips decoding (embedding candidates only: for timing, not for use).
    Candidates are confirmed component by component of the candidate graph (a few files each
    when the embedding separates sounds), on `workers` threads (default: the CPU count, at most
    4): decoding and FFTs release the GIL."""
    by_vector = _live_records(library)
    reps = representatives(by_vector)
    pairs = candidate_pairs(library, k, min_cosine, reps)
    if confirm:
        pairs = fingerprinted(library, pairs, reps)
    sets = _Sets()
    if not confirm:
        for a, b, _ in pairs.tolist():
            sets.union(int(a), int(b))
    else:
        from soundfinder.query.dupconfirm import confirm_pairs

        for a, b in confirm_pairs(pairs, {v: r.path for v, r in reps.items()}, loader, workers, progress, cancel):
            sets.union(a, b)
    return _groups(by_vector, sets)


def fingerprinted(library, pairs: np.ndarray, reps: dict[int, FileRecord]) -> np.ndarray:
    """The candidate pairs (rows a, b, cosine) that the stored fingerprints do not rule out,
    in the order given. A file without a fingerprint (indexed before they existed, or by the
    cluster driver) cannot be ruled out: its pairs are decoded and compared."""
    if len(pairs) == 0:
        return pairs
    ids = np.unique(pairs[:, :2].astype(np.int64)).tolist()
    prints = library.fingerprints.get_many((reps[v].hash for v in ids), fingerprint.VERSION)
    by_vector = {v: prints.get(reps[v].hash) for v in ids}
    keep = [not fingerprint.rules_out(by_vector[int(a)], by_vector[int(b)]) for a, b, _ in pairs.tolist()]
    return pairs[np.asarray(keep, dtype=bool)]


def _groups(by_vector: dict[int, list[FileRecord]], sets: _Sets) -> list[DuplicateGroup]:
    members: dict[int, list[int]] = {}
    for v in by_vector:
        members.setdefault(sets.find(v), []).append(v)
    groups = []
    for vids in members.values():
        records = sorted((r for v in vids for r in by_vector[v]), key=lambda r: r.path)
        if len(records) < 2:
            continue
        groups.append(DuplicateGroup(records, choose_keep(records), "near" if len(vids) > 1 else "identical"))
    groups.sort(key=lambda g: (-len(g.files), g.keep))
    return groups
