"""Tempo of a loop, from the fact that a loop is a whole number of beats long.

A plain beat tracker guesses a period from the onsets and often lands on half or double the
tempo. A loop gives more: its length D holds an integer number of beats n, so the only
candidate tempos are 60·n/D. Each candidate is checked against the onsets — how strongly the
beat grid (which starts at the loop's first sample) lands on onsets, how much of the loop's
onset energy the grid and its eighths explain — and weighted by how common the bar count and
the tempo are. The best candidate wins; its margin over the runner-up is the confidence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.analysis.signal import RATE, Signal

BPM_RANGE = (58.0, 205.0)
_PRIOR_CENTRE = 110.0  # beats per minute where loops cluster (log-normal prior)
_PRIOR_OCTAVES = 0.9
LOW_HIT = 0.05  # a low-band onset this strong (share of the loudest) marks a beat
LOW_WEIGHT = 0.3


@dataclass(frozen=True)
class Tempo:
    bpm: float
    beats: int
    confidence: float  # 0..1


def _meter_weight(n: int) -> float:
    """Loops come in whole bars of 4/4, most often 1, 2, 4 or 8 of them."""
    if n % 16 == 0 or n in (4, 8):
        return 1.0
    if n % 4 == 0:
        return 0.92
    if n % 2 == 0:
        return 0.75
    if n % 3 == 0:
        return 0.6
    return 0.45


def _grid_values(env: np.ndarray, positions: np.ndarray, radius: int = 1) -> np.ndarray:
    idx = np.rint(positions).astype(int)
    out = np.zeros(len(idx), dtype=np.float32)
    for r in range(-radius, radius + 1):
        out = np.maximum(out, env[np.clip(idx + r, 0, len(env) - 1)])
    return out


def candidates(duration: float, bpm_range=BPM_RANGE) -> list[tuple[int, float]]:
    """(beats, bpm) for every whole number of beats that gives a tempo in range."""
    lo, hi = bpm_range
    n_lo = max(1, int(np.ceil(lo * duration / 60.0)))
    n_hi = int(np.floor(hi * duration / 60.0))
    return [(n, 60.0 * n / duration) for n in range(n_lo, min(n_hi, 512) + 1)]


def loop_tempo(sig: Signal) -> Tempo | None:
    """The tempo of `sig` taken as a loop; None if no whole-beat candidate fits its onsets."""
    env = sig.onset_envelope.astype(np.float64)
    duration = len(sig.x) / RATE
    cands = candidates(duration)
    if not cands or env.max() <= 0:
        return None
    env = env / env.max()
    low = sig.low_onset_envelope.astype(np.float64)
    low = low / low.max() if low.max() > 0 else low
    total = env.sum() + 1e-9
    mean = env.mean() + 1e-9
    fr = sig.frame_rate
    scores = []
    for n, bpm in cands:
        beat = duration / n * fr  # frames per beat
        on = _grid_values(env, np.arange(n) * beat)
        eighth = _grid_values(env, (np.arange(n) + 0.5) * beat)
        sixteenth = _grid_values(env, np.concatenate([(np.arange(n) + 0.25) * beat, (np.arange(n) + 0.75) * beat]))
        salience = on.mean() / mean
        hit = float((on > 0.2).mean())
        explained = (on.sum() + eighth.sum() + sixteenth.sum()) / total
        # Kicks, snares and bass notes land on beats; hi-hats fill the subdivisions. The share
        # of beats that carry a low onset tells the beat from its doubles.
        low_hit = float((_grid_values(low, np.arange(n) * beat) > LOW_HIT).mean())
        prior = np.exp(-0.5 * (np.log2(bpm / _PRIOR_CENTRE) / _PRIOR_OCTAVES) ** 2)
        score = (salience * (0.3 + hit) * min(explained, 1.0) * (LOW_WEIGHT + low_hit)
                 * _meter_weight(n) * prior)
        scores.append(score)
    scores = np.asarray(scores)
    best = int(np.argmax(scores))
    n, bpm = cands[best]
    ranked = np.sort(scores)[::-1]
    conf = float(1.0 - ranked[1] / ranked[0]) if len(ranked) > 1 and ranked[0] > 0 else 1.0
    return Tempo(bpm=round(bpm, 2), beats=n, confidence=conf)
