"""Duplicates: groups of files holding the same recording, and which copy to keep.

Two kinds of group:
    identical   byte-identical files (one content hash, so one vector): free to find.
    near        the same recording re-encoded, resampled, gain-changed or trimmed: candidates
                are each vector's nearest neighbours in the embedding space (one batched knn
                over the library, `Library.neighbours`), confirmed by a signal-level check
                after decoding (`samecheck.compare`: aligned waveform and per-band
                correlation). The embedding alone would group velocity layers and
                round-robins of one drum; the signal check does not.

The copy to keep: lossless before lossy, then the higher sample rate, then the higher bit
depth, then the shorter path (usually the original folder).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from soundfinder.library import FileRecord
from soundfinder.query import samecheck

NEIGHBOURS = 8
MIN_COSINE = 0.80  # embedding candidates; the signal check decides
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


def candidate_pairs(library, k: int = NEIGHBOURS, min_cosine: float = MIN_COSINE) -> list[tuple[int, int, float]]:
    """(vector a, vector b, cosine) with a < b: each live vector's near neighbours."""
    _, vector_ids, _ = library.indexed_vectors()
    vids = np.unique(vector_ids)
    if vids.size < 2:
        return []
    labels, sims = library.neighbours(vids, k)
    rows, cols = np.nonzero(sims >= min_cosine)
    a, b = vids[rows], labels[rows, cols]
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    pairs: dict[tuple[int, int], float] = {}
    for x, y, s in zip(lo.tolist(), hi.tolist(), sims[rows, cols].tolist(), strict=True):
        if x != y and s > pairs.get((x, y), -2.0):
            pairs[(x, y)] = s
    return [(x, y, s) for (x, y), s in sorted(pairs.items(), key=lambda p: -p[1])]


def _plausible(a: FileRecord, b: FileRecord) -> bool:
    """Durations from the catalog: copies differ by trims and codec padding only."""
    if a.duration is None or b.duration is None:
        return True
    slack = samecheck.LENGTH_SLACK_S + 0.1 + samecheck.LENGTH_SLACK_FRACTION * max(a.duration, b.duration)
    return abs(a.duration - b.duration) <= slack


def find_duplicates(library, k: int = NEIGHBOURS, min_cosine: float = MIN_COSINE, confirm: bool = True,
                    progress: Callable[[int, int], None] | None = None,
                    cancel: threading.Event | None = None,
                    loader: Callable[[str], np.ndarray] = samecheck.load) -> list[DuplicateGroup]:
    """Every group of duplicates in the library, biggest first.

    `confirm=False` skips decoding (embedding candidates only: for timing, not for use)."""
    _, vector_ids, _ = library.indexed_vectors()
    by_vector = library.files_for_vectors(np.unique(vector_ids).tolist())
    hidden = library.hidden_hashes()
    by_vector = {v: [r for r in rs if r.hash not in hidden] for v, rs in by_vector.items()}
    by_vector = {v: rs for v, rs in by_vector.items() if rs}
    sets = _Sets()
    pairs = [p for p in candidate_pairs(library, k, min_cosine) if p[0] in by_vector and p[1] in by_vector]
    best: dict[int, FileRecord] = {}  # the copy that stands for each vector (decoded, compared)
    cache: dict[int, np.ndarray | None] = {}

    def rep(v: int) -> FileRecord:
        if v not in best:
            best[v] = by_vector[v][0] if len(by_vector[v]) == 1 else max(by_vector[v], key=keep_key)
        return best[v]

    def audio(v: int) -> np.ndarray | None:
        if v not in cache:
            try:
                cache[v] = loader(rep(v).path)
            except Exception:  # noqa: BLE001 - unreadable now (offline drive): not confirmed
                cache[v] = None
        return cache[v]

    for n, (a, b, _) in enumerate(pairs):
        if cancel is not None and cancel.is_set():
            break
        if progress and n % 50 == 0:
            progress(n, len(pairs))
        if sets.find(a) == sets.find(b):
            continue
        if not _plausible(rep(a), rep(b)):
            continue
        if confirm:
            xa, xb = audio(a), audio(b)
            if xa is None or xb is None or not samecheck.compare(xa, xb).same:
                continue
        sets.union(a, b)
    if progress:
        progress(len(pairs), len(pairs))
    return _groups(by_vector, sets)


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
