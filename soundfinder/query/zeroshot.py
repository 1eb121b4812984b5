"""Zero-shot maths: label sets turned into text-embedding matrices, then one matrix product
against the stored audio vectors (the open_clip shape: class names x templates -> weights).

Decision rules (see `TagPolicy`):
- single-choice sets: softmax over the labels of `logit_scale * cosine`; the top label is kept
  when its probability closes `single_gap` of the distance from chance (1/k) to certainty, so
  the bar adapts to the number of labels (k=3: 0.50, k=10: 0.33, k=20: 0.29 at the default).
- multi-label sets: raw CLAP cosines sit in a narrow band and each prompt has its own offset,
  so no global cut-off works. Each label's margin over a neutral prompt ("the sound of a
  sound", same templates) removes the per-file offset; a robust z-score of that margin against
  the label's distribution over the library (median, 1.4826*MAD) removes the per-label offset.
  The median/MAD describe the files *without* the label as long as it applies to fewer than
  half of them, so z measures distance above that background. A tag needs z >= `multi_z` and a
  margin >= `multi_margin`; at most `max_multi` tags per file and set, strongest first.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from soundfinder.library.atomic import atomic_write_bytes
from soundfinder.query.vocabularies import (
    NEUTRAL_WORDS,
    TAGGER_VERSION,
    EncodeText,
    Label,
    LabelSet,
    TaggerVersion,
)

# --- text side: label matrices ---------------------------------------------------------------

def _normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def label_matrix(label_set: LabelSet, encode_text: EncodeText) -> np.ndarray:
    """(n_labels, d) float32 unit rows: each label's prompts x templates encoded in ONE batched
    call, each prompt embedding normalised, averaged per label and renormalised (open_clip's
    zero-shot classifier construction)."""
    texts: list[str] = []
    owner: list[int] = []
    for i, label in enumerate(label_set.labels):
        for prompt in label.texts:
            for template in label_set.effective_templates:
                texts.append(template.format(prompt))
                owner.append(i)
    emb = np.asarray(encode_text(texts), dtype=np.float64)
    if emb.ndim != 2 or emb.shape[0] != len(texts):
        raise ValueError(f"encode_text returned shape {emb.shape} for {len(texts)} texts")
    sums = np.zeros((len(label_set.labels), emb.shape[1]))
    np.add.at(sums, np.asarray(owner), _normalize(emb))  # mean direction = normalised sum
    return _normalize(sums).astype(np.float32)


def neutral_set(label_set: LabelSet) -> LabelSet:
    """The 'any sound' reference for `label_set`, phrased through the same templates."""
    return LabelSet(name=f"{label_set.name} (neutral)", mode="multi",
                    labels=(Label("neutral", NEUTRAL_WORDS),), templates=label_set.effective_templates)


def neutral_vector(label_set: LabelSet, encode_text: EncodeText) -> np.ndarray:
    """(d,) unit vector of the neutral prompts in the set's templates."""
    return label_matrix(neutral_set(label_set), encode_text)[0]


def tagger_version(space_id: str, label_set: LabelSet) -> TaggerVersion:
    """Stored with each auto tag; a different value means the tag must be recomputed."""
    return TaggerVersion(f"t{TAGGER_VERSION}/{label_set.content_hash[:16]}/{space_id}")


class LabelMatrixCache:
    """Label matrices keyed by (embedding space, label set content), computed once.

    Kept in memory, and as `.npy` files in `cache_dir` when one is given (written atomically;
    an unreadable or mismatched file is simply recomputed).
    """

    def __init__(self, cache_dir: Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._memory: dict[tuple[str, str], np.ndarray] = {}

    def matrix(self, space_id: str, label_set: LabelSet, encode_text: EncodeText) -> np.ndarray:
        key = (space_id, label_set.content_hash)
        if key not in self._memory:
            self._memory[key] = self._load_or_compute(key, label_set, encode_text)
        return self._memory[key]

    def neutral(self, space_id: str, label_set: LabelSet, encode_text: EncodeText) -> np.ndarray:
        return self.matrix(space_id, neutral_set(label_set), encode_text)[0]

    def _file(self, key: tuple[str, str]) -> Path | None:
        if self.cache_dir is None:
            return None
        space = hashlib.sha256(key[0].encode()).hexdigest()[:16]
        return self.cache_dir / f"labels-{space}-{key[1][:32]}.npy"

    def _load_or_compute(self, key: tuple[str, str], label_set: LabelSet,
                         encode_text: EncodeText) -> np.ndarray:
        path = self._file(key)
        if path is not None and path.is_file():
            try:
                m = np.load(path, allow_pickle=False)
                if m.ndim == 2 and m.shape[0] == len(label_set.labels) and np.isfinite(m).all():
                    return m.astype(np.float32, copy=False)
            except (OSError, ValueError):
                pass  # a damaged cache entry is recomputed below
        m = label_matrix(label_set, encode_text)
        if path is not None:
            buf = io.BytesIO()
            np.save(buf, m, allow_pickle=False)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, buf.getvalue())
        return m


# --- audio side: calibration and classification ----------------------------------------------

class Tag(NamedTuple):
    label: str
    score: float  # raw cosine between the file and the label's text embedding
    confidence: float  # single: softmax probability; multi: sigmoid(z - multi_z), 0.5 at the bar


@dataclass(frozen=True)
class TagPolicy:
    """Decision thresholds; the defaults are the app's, tests and power users may change them."""

    single_gap: float = 0.25  # top prob must close this share of the way from 1/k to 1
    multi_z: float = 2.5  # robust z-score above the label's library background (~0.6% false hits)
    multi_margin: float = 0.0  # label cosine minus neutral cosine must be at least this
    max_multi: int = 3  # most tags one multi set gives one file

    def single_threshold(self, n_labels: int) -> float:
        chance = 1.0 / n_labels
        return chance + self.single_gap * (1.0 - chance)


DEFAULT_POLICY = TagPolicy()
_CHUNK_ROWS = 8192  # 8192 x 512 float32 = 16 MB per chunk, whatever the library size


@dataclass(frozen=True, eq=False)
class Calibration:
    """Background statistics of one multi-label set's margins over one library."""

    content_hash: str  # of the label set it was fitted for
    neutral: np.ndarray  # (d,) neutral prompt vector
    center: np.ndarray  # (n_labels,) median margin
    scale: np.ndarray  # (n_labels,) robust standard deviation of the margin
    n_rows: int  # library vectors it was fitted on


def _unit_rows(block: np.ndarray) -> np.ndarray:
    return _normalize(np.asarray(block, dtype=np.float32))


def calibrate(vectors: np.ndarray, label_set: LabelSet, matrix: np.ndarray, neutral: np.ndarray, *,
              max_rows: int = 50_000, min_rows: int = 64, seed: int = 0,
              chunk_rows: int = _CHUNK_ROWS) -> Calibration:
    """Fit per-label median and 1.4826*MAD of (label cosine - neutral cosine) over `vectors`.

    At most `max_rows` rows are used (a fixed-seed sample, so results are reproducible; 50k
    samples pin a median to well under 1% of a standard deviation). Below `min_rows` rows the
    per-label spread is too noisy and the spread pooled over all labels is used instead.
    """
    n = len(vectors)
    if n == 0:
        raise ValueError("cannot calibrate on an empty library")
    rows = np.arange(n)
    if n > max_rows:
        rows = np.sort(np.random.default_rng(seed).choice(n, size=max_rows, replace=False))
    weights = np.vstack([matrix, neutral[None, :]]).astype(np.float32)
    margins = np.empty((len(rows), len(matrix)), dtype=np.float32)
    for start in range(0, len(rows), chunk_rows):
        cos = _unit_rows(vectors[rows[start:start + chunk_rows]]) @ weights.T
        margins[start:start + chunk_rows] = cos[:, :-1] - cos[:, -1:]
    center = np.median(margins, axis=0)
    deviation = np.abs(margins - center)
    scale = 1.4826 * (np.median(deviation) if len(rows) < min_rows else np.median(deviation, axis=0))
    scale = np.maximum(np.broadcast_to(scale, center.shape), 1e-6).astype(np.float32)
    return Calibration(label_set.content_hash, np.asarray(neutral, dtype=np.float32), center, scale, n)


def classify(vectors: np.ndarray, label_set: LabelSet, matrix: np.ndarray, logit_scale: float,
             calibration: Calibration | None = None, *, policy: TagPolicy = DEFAULT_POLICY,
             chunk_rows: int = _CHUNK_ROWS) -> list[list[Tag]]:
    """Tags for each row of `vectors` (n, d): one `vectors @ matrix.T` per chunk of rows.

    Args:
        vectors: audio embeddings (any float dtype, memmaps fine); rows are L2-normalised here.
        label_set: the vocabulary; its mode picks the decision rule.
        matrix: `label_matrix(label_set, ...)`.
        logit_scale: the model's learned temperature (exp of `logit_scale_a`), single sets only.
        calibration: `calibrate(...)` on the library; required for multi-label sets.
    Returns:
        per row, the accepted tags strongest first: at most one for a single-choice set.
    """
    if vectors.ndim != 2 or vectors.shape[1] != matrix.shape[1] or len(matrix) != len(label_set.labels):
        raise ValueError(f"shape mismatch: vectors {vectors.shape}, matrix {matrix.shape}, "
                         f"{len(label_set.labels)} labels in {label_set.name!r}")
    weights = np.asarray(matrix, dtype=np.float32)
    if label_set.mode == "multi":
        if calibration is None:
            raise ValueError(f"multi-label set {label_set.name!r} needs a calibration")
        if calibration.content_hash != label_set.content_hash:
            raise ValueError(f"calibration was fitted for another version of {label_set.name!r}")
        weights = np.vstack([weights, calibration.neutral[None, :]])
    out: list[list[Tag]] = []
    for start in range(0, len(vectors), chunk_rows):
        cos = _unit_rows(vectors[start:start + chunk_rows]) @ weights.T
        if label_set.mode == "single":
            out.extend(_single_tags(cos, label_set.label_names, logit_scale, policy))
        else:
            out.extend(_multi_tags(cos, label_set.label_names, calibration, policy))
    return out


def _single_tags(cos: np.ndarray, names: list[str], logit_scale: float, policy: TagPolicy) -> list[list[Tag]]:
    logits = logit_scale * cos.astype(np.float64)
    logits -= logits.max(axis=1, keepdims=True)
    prob = np.exp(logits)
    prob /= prob.sum(axis=1, keepdims=True)
    top = prob.argmax(axis=1)
    rows = np.arange(len(cos))
    top_prob, top_cos = prob[rows, top], cos[rows, top]
    keep = top_prob >= policy.single_threshold(len(names))
    return [[Tag(names[t], float(c), float(p))] if k else []
            for t, c, p, k in zip(top.tolist(), top_cos.tolist(), top_prob.tolist(), keep.tolist(), strict=True)]


def _multi_tags(cos: np.ndarray, names: list[str], calib: Calibration, policy: TagPolicy) -> list[list[Tag]]:
    margin = cos[:, :-1] - cos[:, -1:]
    z = (margin - calib.center) / calib.scale
    ok = (z >= policy.multi_z) & (margin >= policy.multi_margin)
    out: list[list[Tag]] = [[] for _ in range(len(cos))]
    r, c = np.nonzero(ok)
    order = np.lexsort((-z[r, c], r))  # by row, strongest first within a row
    conf = 1.0 / (1.0 + np.exp(-(z[r, c] - policy.multi_z)))
    for k in order.tolist():
        row = out[r[k]]
        if len(row) < policy.max_multi:
            row.append(Tag(names[c[k]], float(cos[r[k], c[k]]), float(conf[k])))
    return out


# --- description -----------------------------------------------------------------------------

class DescriptionPart(NamedTuple):
    label_set: str
    tag: Tag


def describe(vector: np.ndarray, label_sets: Sequence[LabelSet], matrices: Mapping[str, np.ndarray],
             logit_scale: float, calibrations: Mapping[str, Calibration], *,
             policy: TagPolicy = DEFAULT_POLICY, per_set: int = 2) -> tuple[str, list[DescriptionPart]]:
    """A short description such as "kick, one-shot, punchy, dark" and the parts it is made of.

    Parts follow the sets' `order` (what it is, then form, then character and mood). Sets that
    share an `order` compete (drums vs instrument): only the one with the most confident tag
    speaks. `matrices` and `calibrations` are keyed by set name; multi sets without a
    calibration are skipped.
    """
    groups: dict[int, list[DescriptionPart]] = {}
    for ls in label_sets:
        calib = calibrations.get(ls.name)
        if ls.name not in matrices or (ls.mode == "multi" and calib is None):
            continue
        tags = classify(np.asarray(vector)[None, :], ls, matrices[ls.name], logit_scale, calib,
                        policy=policy)[0][:per_set]
        if not tags:
            continue
        best = groups.get(ls.order)
        if best is None or tags[0].confidence > best[0].tag.confidence:
            groups[ls.order] = [DescriptionPart(ls.name, t) for t in tags]
    parts = [p for order in sorted(groups) for p in groups[order]]
    return ", ".join(p.tag.label for p in parts), parts
