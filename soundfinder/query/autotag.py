"""Auto-tagging a library and describing one file: `tagging.py`'s math on the library's stored
vectors and the model's text tower.

    summary = tag_library(library, embedder, progress=print, cancel=event)
    desc = describe_file(library, embedder, "~/Samples/kick.wav")   # library may be None

Tagging reads the stored vectors (no audio is decoded), makes one matrix product per label set
in chunks of rows (memory stays flat whatever the library size) and writes each set's auto tags
in one transaction. Multi-label sets are calibrated on the library's own vectors (see
`tagging.calibrate`), so a file's tags depend a little on the library around it; `describe`
of a file with no library at hand therefore only speaks for the single-choice sets.
"""

from __future__ import annotations

import os
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from soundfinder import config
from soundfinder.library import Library, SpaceMismatchError
from soundfinder.library.tags import TagRecord
from soundfinder.query.vocabularies import LabelSet, LabelSetError, label_set_dirs, load_label_sets
from soundfinder.query.zeroshot import (
    DEFAULT_POLICY,
    Calibration,
    DescriptionPart,
    LabelMatrixCache,
    TagPolicy,
    calibrate,
    classify,
    describe,
    tagger_version,
)

CHUNK_ROWS = 8192  # vectors classified per step: 16 MB at 512-d, and one progress report


@dataclass
class TagProgress:
    """Where `tag_library` is: set `set_index` (0-based) of `sets`, `done` of `total` vectors."""

    label_set: str
    set_index: int
    sets: int
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """Of the whole job, 0..1."""
        if self.sets == 0:
            return 1.0
        within = self.done / self.total if self.total else 1.0
        return (self.set_index + within) / self.sets


@dataclass
class SetSummary:
    name: str
    mode: str
    tagger: str
    files: int  # indexed files looked at
    tagged_files: int  # files that got at least one tag from this set
    tags: int  # auto tags proposed (a user's tag or rejection of the same name blocks its store)
    labels: dict[str, int] = field(default_factory=dict)  # proposed tags per label, most first
    changed: int = 0  # catalog rows inserted, updated or deleted (0: nothing changed since last run)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"set": self.name, "mode": self.mode, "tagger": self.tagger, "files": self.files,
                "tagged_files": self.tagged_files, "tags": self.tags, "labels": dict(self.labels),
                "changed": self.changed,
                "seconds": round(self.seconds, 3)}


@dataclass
class TagSummary:
    sets: list[SetSummary] = field(default_factory=list)
    files: int = 0
    vectors: int = 0  # distinct vectors (files with identical audio share one)
    removed_sets: list[str] = field(default_factory=list)  # label sets gone, their auto tags dropped
    seconds: float = 0.0
    cancelled: bool = False

    def to_json(self) -> dict:
        return {"files": self.files, "vectors": self.vectors, "sets": [s.to_json() for s in self.sets],
                "removed_sets": self.removed_sets, "seconds": round(self.seconds, 3),
                "cancelled": self.cancelled}


ProgressFn = Callable[[TagProgress], None]

_matrix_cache: LabelMatrixCache | None = None
_calibrations: dict[tuple, Calibration] = {}
_lock = threading.Lock()


def matrix_cache() -> LabelMatrixCache:
    """The process-wide label matrix cache, persisted in `<cache dir>/labels` when that folder can
    be written (else kept in memory only: a cache must never stop tagging)."""
    global _matrix_cache
    with _lock:
        if _matrix_cache is None:
            folder = config.cache_dir() / "labels"
            try:
                folder.mkdir(parents=True, exist_ok=True)
                usable = os.access(folder, os.W_OK)
            except OSError:
                usable = False
            _matrix_cache = LabelMatrixCache(folder if usable else None)
        return _matrix_cache


def label_sets_for(library_dir: str | os.PathLike | None, names: Iterable[str] | None = None) -> list[LabelSet]:
    """The shipped sets plus the library's own, or only those named (case-insensitive).

    Raises:
        LabelSetError: a set file is invalid, or a name matches no set (the message lists them).
    """
    sets = load_label_sets(label_set_dirs(library_dir))
    if names is None:
        return sets
    by_name = {ls.name.casefold(): ls for ls in sets}
    chosen: list[LabelSet] = []
    for name in names:
        ls = by_name.get(name.strip().casefold())
        if ls is None:
            raise LabelSetError(f"no label set named {name!r}; known: {', '.join(s.name for s in sets)}")
        if ls not in chosen:
            chosen.append(ls)
    return chosen


class _Rows:
    """Rows `ids` of a (memory-mapped) matrix, read only when indexed: lets `calibrate` sample a
    large library without a copy of all its vectors."""

    ndim = 2

    def __init__(self, matrix: np.ndarray, ids: np.ndarray):
        self.matrix, self.ids = matrix, ids
        self.shape = (len(ids), matrix.shape[1])

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, key) -> np.ndarray:
        return np.asarray(self.matrix[self.ids[key]], dtype=np.float32)


def _check_space(library: Library, embedder) -> None:
    if library.space_id is not None and library.space_id != embedder.space.id:
        raise SpaceMismatchError(f"this library was indexed with {library.space_id}, not "
                                 f"{embedder.space.id}; tag it with the model it was indexed with")


def _calibration(library: Library, ls: LabelSet, matrix: np.ndarray, neutral: np.ndarray,
                 log: np.ndarray, vector_ids: np.ndarray) -> Calibration:
    """Per library, label set version and vector count: tagging fills it, describe reuses it."""
    key = (str(library.root), library.space_id, ls.content_hash, len(vector_ids), int(vector_ids[-1]))
    calib = _calibrations.get(key)
    if calib is None:
        calib = calibrate(_Rows(log, vector_ids), ls, matrix, neutral)
        with _lock:
            if len(_calibrations) > 64:
                _calibrations.clear()
            _calibrations[key] = calib
    return calib


def tag_library(library: Library, embedder, set_names: Iterable[str] | None = None,
                progress: ProgressFn | None = None, cancel: threading.Event | None = None, *,
                policy: TagPolicy = DEFAULT_POLICY, cache: LabelMatrixCache | None = None) -> TagSummary:
    """Auto-tag every indexed file with the named label sets (default: all of them).

    Each set is written in one transaction once it is fully computed, so a cancel keeps the sets
    finished before it and leaves the others as they were. User tags and rejections are never
    touched (see `soundfinder.library.tags`). With every set tagged, auto tags of label sets that
    no longer exist are dropped.

    Args:
        progress: called from this thread after each chunk of vectors with a `TagProgress`.
        cancel: set it to stop between chunks; `TagSummary.cancelled` tells.
    Raises:
        LabelSetError: an invalid label set file or an unknown set name.
        SpaceMismatchError: the library was indexed with another model.
    """
    started = time.monotonic()
    _check_space(library, embedder)
    sets = label_sets_for(library.root, set_names)
    cache = cache or matrix_cache()
    space = embedder.space.id
    file_ids, vector_ids, log = library.indexed_vectors()
    unique, position = np.unique(vector_ids, return_inverse=True)  # tag each distinct vector once
    # Usually every vector of the log is live: then chunks are plain slices of the memory map.
    contiguous = len(unique) > 0 and int(unique[-1]) - int(unique[0]) + 1 == len(unique)
    summary = TagSummary(files=len(file_ids), vectors=len(unique))
    for index, ls in enumerate(sets):
        t0 = time.monotonic()
        report = (lambda done, i=index, name=ls.name: progress(TagProgress(name, i, len(sets), done,
                                                                           len(unique)))) if progress else None
        if report:
            report(0)
        version = tagger_version(space, ls)
        matrix = cache.matrix(space, ls, embedder.encode_text)
        calib = None
        if ls.mode == "multi" and len(unique):
            neutral = cache.neutral(space, ls, embedder.encode_text)
            calib = _calibration(library, ls, matrix, neutral, log, unique)
        per_vector: list[list] = []
        for start in range(0, len(unique), CHUNK_ROWS):
            if cancel is not None and cancel.is_set():
                break
            if contiguous:
                first = int(unique[0]) + start
                block = log[first:first + min(CHUNK_ROWS, len(unique) - start)]
            else:
                block = np.asarray(log[unique[start:start + CHUNK_ROWS]], dtype=np.float32)
            per_vector.extend(classify(block, ls, matrix, embedder.logit_scale, calib, policy=policy))
            if report:
                report(len(per_vector))
        if cancel is not None and cancel.is_set():
            summary.cancelled = True
            break
        rows = [(fid, per_vector[p]) for fid, p in zip(file_ids.tolist(), position.tolist(), strict=True)]
        changed = library.replace_auto_tags(ls.name, version, rows)
        labels = Counter(t.label for _, tags in rows for t in tags)
        summary.sets.append(SetSummary(
            name=ls.name, mode=ls.mode, tagger=version, files=len(rows),
            tagged_files=sum(1 for _, tags in rows if tags), tags=sum(labels.values()),
            labels=dict(labels.most_common()), changed=changed, seconds=time.monotonic() - t0))
    if set_names is None and not summary.cancelled:
        known = {ls.name for ls in sets}
        summary.removed_sets = sorted(set(library.auto_tag_versions()) - known)
        if summary.removed_sets:
            library.remove_auto_tags(summary.removed_sets)
    summary.seconds = time.monotonic() - started
    return summary


@dataclass
class Description:
    path: str
    text: str  # e.g. "kick, one-shot, punchy"
    parts: list[DescriptionPart]
    in_library: bool
    calibrated: bool  # False: no library vectors to calibrate on, multi-label sets were skipped
    tags: list[TagRecord] = field(default_factory=list)  # stored tags, for a file in the library

    def to_json(self) -> dict:
        return {"path": self.path, "description": self.text, "in_library": self.in_library,
                "calibrated": self.calibrated,
                "parts": [{"set": p.label_set, "label": p.tag.label, "score": round(p.tag.score, 6),
                           "confidence": round(p.tag.confidence, 6)} for p in self.parts],
                "tags": [{k: v for k, v in t.to_json().items() if k != "path"} for t in self.tags]}


def describe_file(library: Library | None, embedder, path: str, *, policy: TagPolicy = DEFAULT_POLICY,
                  cache: LabelMatrixCache | None = None) -> Description:
    """Compose the best labels across label sets into a short description of `path`.

    The file may be outside the library (it is decoded and embedded; a file whose content the
    library holds reuses the stored vector). Multi-label sets need the library's vectors for
    their calibration; without a library (or an empty one) only single-choice sets speak.

    Raises:
        DecodeError: the file cannot be decoded. LabelSetError: an invalid label set file.
    """
    from soundfinder.query.search import embed_file

    if library is not None:
        _check_space(library, embedder)
    path = os.path.abspath(os.path.expanduser(path))
    vector = embed_file(library, embedder, path)
    sets = label_sets_for(library.root if library is not None else None)
    cache = cache or matrix_cache()
    space = embedder.space.id
    matrices = {ls.name: cache.matrix(space, ls, embedder.encode_text) for ls in sets}
    calibrations: dict[str, Calibration] = {}
    record = library.get(path) if library is not None else None
    if library is not None:
        _, vector_ids, log = library.indexed_vectors()
        unique = np.unique(vector_ids)
        if len(unique):
            for ls in sets:
                if ls.mode == "multi":
                    neutral = cache.neutral(space, ls, embedder.encode_text)
                    calibrations[ls.name] = _calibration(library, ls, matrices[ls.name], neutral, log, unique)
    text, parts = describe(vector, sets, matrices, embedder.logit_scale, calibrations, policy=policy)
    tags = library.tags_of(path) if record is not None else []
    return Description(path, text, parts, record is not None, bool(calibrations), tags)
