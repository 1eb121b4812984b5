"""Names and sound, fused into one ranking: calibrated scores with a measured trust in sound.

Two kinds of evidence rank a file for "kick": its name ("Kick_808_03.wav", BM25 over the
names index) and its sound (cosine to the text vector). Neither is always right: a random or
weak model ranks at chance, and "sample_0001.wav" says nothing. So:

* The name score `n` is the share of the query's tokens found in the file's own name, each
  weighted by its rarity in the library (BM25's idf: "dusty" says more than "kick"), tokens
  found only in its folders counting `FOLDER_CREDIT`. Files whose names hold a negative term
  ("-reverb") sink below the rest (ranking.py).
* The sound score is calibrated per query: z = (cos - mean) / std over a fixed sample of the
  library's vectors, divided by the best z among the candidates (so the best sound is 1).
* Trust in sound `t` comes from agreement: if the files the names point at also sound right
  (their median z is high), the model knows this query; if their z is near the library's
  mean, the model is guessing and must not drown the names. No name matches: t = 1, sound
  is all there is. `t` rises linearly from `AGREE_LO` to `AGREE_HI`.
* fused = n + (FLOOR + (SOUND_WEIGHT - FLOOR) * t) * sound; the floor lets sound order files
  whose names tie.

The constants are reasoned, not yet fitted: bench/ranking.py's grid (sound weight 0.5-2,
agreement ramps 0.25-1 .. 1.5-3) scored every setting alike with the random and the 52-step
models, whose sound never agrees with the names (bench/README.md). Refit with a real CLAP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

FOLDER_CREDIT = 0.5
NEGATIVE_PENALTY = 1.0
SOUND_WEIGHT = 1.0
FLOOR = 0.05
AGREE_LO = 0.75
AGREE_HI = 2.0
AGREE_TOP = 50  # name matches whose sound is looked at for agreement (the best by name score)


@dataclass
class Candidate:
    """One file being ranked."""

    vector_id: int
    file_id: int
    name: float = 0.0
    name_tokens: tuple[str, ...] = ()
    cos: float = 0.0
    z: float = 0.0
    fused: float = 0.0
    penalty: float = 0.0  # negative names, thumbs down: added after fusion (<= 0)


@dataclass(frozen=True)
class Weights:
    folder_credit: float = FOLDER_CREDIT
    sound: float = SOUND_WEIGHT
    floor: float = FLOOR
    agree_lo: float = AGREE_LO
    agree_hi: float = AGREE_HI


DEFAULT = Weights()


def idf(doc_freq: int, n_docs: int) -> float:
    """BM25's inverse document frequency (kept positive): rare words weigh more than common ones."""
    return float(np.log1p((n_docs - doc_freq + 0.5) / (doc_freq + 0.5)))


def name_score(own: Iterable[str], folder_only: Iterable[str], weights_of: dict[str, float],
               weights: Weights = DEFAULT) -> float:
    """Share of the query's (rarity-weighted) tokens a file's name holds, in [0, 1]; tokens only
    in its folders count `folder_credit` each."""
    total = sum(weights_of.values())
    if total <= 0:
        return 0.0
    got = sum(weights_of.get(t, 0.0) for t in own) + weights.folder_credit * sum(weights_of.get(t, 0.0)
                                                                                  for t in folder_only)
    return min(1.0, got / total)


def calibrate(cos: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """z-scores of `cos` against the cosines of a fixed sample of the library (`reference`)."""
    if reference.size < 2:
        return np.zeros_like(cos)
    sd = float(reference.std()) or 1e-6
    return (cos - float(reference.mean())) / sd


def trust(candidates: Iterable[Candidate], weights: Weights = DEFAULT) -> float:
    """How far sound agrees with names for this query: 0 (guessing) .. 1 (agrees), 1 without names."""
    named = sorted((c for c in candidates if c.name > 0), key=lambda c: -c.name)[:AGREE_TOP]
    if not named:
        return 1.0
    agreement = float(np.median([c.z for c in named]))
    span = max(weights.agree_hi - weights.agree_lo, 1e-6)
    return float(np.clip((agreement - weights.agree_lo) / span, 0.0, 1.0))


def fuse(candidates: list[Candidate], mode: str = "fused", weights: Weights = DEFAULT) -> float:
    """Set `fused` on every candidate (higher is better); returns the trust in sound used.

    Modes: "fused", "names" (names, sound only as a tie-break), "sound" (sound alone).
    """
    if not candidates:
        return 0.0
    top_z = max((c.z for c in candidates), default=1.0)
    scale = top_z if top_z > 1e-6 else 1.0
    if mode == "sound":
        for c in candidates:
            c.fused = c.cos
        return 1.0
    t = trust(candidates, weights) if mode == "fused" else 0.0
    w = weights.floor + (weights.sound - weights.floor) * t if mode == "fused" else weights.floor * 0.1
    for c in candidates:
        c.fused = c.name + w * (c.z / scale)
    return t
