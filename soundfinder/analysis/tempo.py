"""Tempo of a loop, from the fact that a loop is a whole number of beats long.

A plain beat tracker guesses a period from the onsets and often lands on half or double the
tempo. A loop gives more: its length D holds an integer number of beats n, so the only
candidate tempos are 60·n/D, and the beat grid starts at the loop's first sample. Each
candidate is scored by what a groove looks like at its true tempo:

- `offbeat`: most beats have something on their offbeat — the straight eighth (1/2) or the
  swung one (2/3). At double the tempo the "offbeats" are the true sixteenths, often empty.
- `gain`: the onsets sit on the candidate's sixteenth (or swung) grid about as well as on the
  grid of twice the tempo. At half the tempo the true sixteenths are thirty-seconds: the
  finer grid explains much more.
- `low_cover`: most beats carry a low onset (kick, snare, bass: below 1 kHz). At double the
  tempo every other beat is a hi-hat alone.
- the number of beats: loops are 1, 2, 4 or 8 bars of 4/4; 3 or 6 beats per bar (a swung
  groove read at three quarters of its tempo) only on strong evidence.
- a log-normal prior around the tempos loops are made at, which settles true ties (a
  half-time groove at 170 BPM and a backbeat at 85 BPM are the same audio).

Weights (`WEIGHTS`): chosen on bench/analysis.py seeds 0 and 1, reported on others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.analysis.signal import RATE, Signal

BPM_RANGE = (58.0, 205.0)
PRIOR_CENTRE = 120.0  # beats per minute where loops cluster (log-normal prior)
PRIOR_OCTAVES = 0.57
PEAK = 0.06  # an onset envelope peak this strong (share of the loudest) is an onset
LOW_PEAK = 0.1
# How far an onset may sit from a grid point: the spectrogram's 93 ms frames are centred, so
# flux peaks ~15 ms before a drum hit, and soft attacks (pads, strings) peak up to 40 ms late.
EARLY_S, LATE_S = 0.035, 0.04
MAX_TOLERANCE = 0.08  # …and at most this share of a beat
# Grid points in a beat: the beat, sixteenths and the eighth; the swung (triplet) eighths.
GRID = np.array([0.0, 0.25, 0.5, 0.75, 1 / 3, 2 / 3])
STRAIGHT, SWUNG = [0, 1, 2, 3], [0, 4, 5]
# Weights of the log-evidence (offbeat, low_cover, prior, meter, grid gain) and the prior's
# width: the simplest of the best of a grid search on bench seeds 0-1, confirmed on seeds
# 10-15 (extra development sets); seeds 2-9 were only measured (README).
WEIGHTS = (0.5, 0.5, 1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Tempo:
    bpm: float
    beats: int
    confidence: float  # 0..1


def _meter_weight(n: int) -> float:
    """How common a loop of `n` beats is: whole bars of 4/4, mostly 1, 2, 4 or 8 of them."""
    if n in (4, 8, 16, 32):
        return 1.0
    if n in (2, 64):
        return 0.6
    if n % 4 == 0:
        return 0.35  # 3, 5, 6, 7 bars
    if n in (3, 6):
        return 0.2  # a bar or two of 3/4 (or a swung groove read at 3/4 of its tempo)
    return 0.05


def candidates(duration: float, bpm_range=BPM_RANGE) -> list[tuple[int, float]]:
    """(beats, bpm) for every whole number of beats that gives a tempo in range."""
    lo, hi = bpm_range
    n_lo = max(1, int(np.ceil(lo * duration / 60.0)))
    n_hi = int(np.floor(hi * duration / 60.0))
    return [(n, 60.0 * n / duration) for n in range(n_lo, min(n_hi, 512) + 1)]


def peaks(env: np.ndarray, floor: float) -> tuple[np.ndarray, np.ndarray]:
    """(frame, strength) of the local maxima of `env` above `floor` times its maximum."""
    if len(env) < 3 or env.max() <= 0:
        return np.zeros(0), np.zeros(0)
    e = env / env.max()
    # the loop wraps: a hit at its first sample rises from the tail of its last
    prev = np.concatenate([e[-1:], e[:-1]])
    nxt = np.concatenate([e[1:], e[:1]])
    idx = np.nonzero((e > prev) & (e >= nxt) & (e > floor))[0]
    return idx.astype(np.float64), e[idx].astype(np.float64)


def _near(beats: np.ndarray, grid: np.ndarray, early: float, late: float) -> np.ndarray:
    """(onsets, grid points): whether each onset (in beats) is within [-early, +late] beats
    of each grid point of its beat."""
    d = np.mod(beats[:, None] - grid[None, :] + 0.5, 1.0) - 0.5
    return (d >= -early) & (d <= late)


def _on_grid(t_on: np.ndarray, w_on: np.ndarray, beat: float) -> tuple[float, np.ndarray]:
    """Share of the onset strength on the straight or the swung grid of `beat` seconds (a
    groove is one or the other: the better of the two), and the onsets x GRID matrix."""
    early, late = min(EARLY_S / beat, MAX_TOLERANCE), min(LATE_S / beat, MAX_TOLERANCE)
    near = _near(t_on / beat, GRID, early, late)
    share = max(float(w_on[near[:, g].any(axis=1)].sum() / w_on.sum()) for g in (STRAIGHT, SWUNG))
    return share, near


def features(sig: Signal) -> tuple[list[tuple[int, float]], np.ndarray]:
    """Candidates and their evidence, (len(candidates), 5): offbeat, low_cover, log prior,
    log meter weight, grid gain (on-grid share at twice the tempo minus at this one: a finer
    grid always explains a little more; much more means this tempo is too slow)."""
    duration = len(sig.x) / RATE
    cands = candidates(duration)
    fr = sig.frame_rate
    t_on, w_on = peaks(sig.onset_envelope.astype(np.float64), PEAK)
    t_low, _ = peaks(sig.low_onset_envelope.astype(np.float64), LOW_PEAK)
    out = np.zeros((len(cands), 5))
    if not cands or len(t_on) == 0:
        return cands, out
    t_on, t_low = t_on / fr, t_low / fr
    for i, (n, bpm) in enumerate(cands):
        beat = duration / n
        early, late = min(EARLY_S / beat, MAX_TOLERANCE), min(LATE_S / beat, MAX_TOLERANCE)
        on_grid, near = _on_grid(t_on, w_on, beat)
        gain = _on_grid(t_on, w_on, beat / 2)[0] - on_grid
        # beats whose straight or swung offbeat carries an onset
        which = np.floor(t_on / beat).astype(int) % n
        offbeat = len(np.unique(which[near[:, 2] | near[:, 5]])) / n
        low_cover = 0.0
        if len(t_low):  # beats that carry a low onset
            ld = _near(t_low / beat, GRID[:1], early, late)[:, 0]
            low_cover = len(np.unique(np.rint(t_low[ld] / beat).astype(int) % n)) / n
        prior = -0.5 * (np.log2(bpm / PRIOR_CENTRE) / PRIOR_OCTAVES) ** 2
        out[i] = (offbeat, low_cover, prior, np.log(_meter_weight(n)), gain)
    return cands, out


def log_scores(f: np.ndarray, w=WEIGHTS) -> np.ndarray:
    """Log-score of every candidate from its evidence (rows of `features`)."""
    return (w[0] * np.log(0.1 + f[:, 0]) + w[1] * np.log(0.2 + f[:, 1]) + w[2] * f[:, 2] + w[3] * f[:, 3]
            + w[4] * np.log(1.05 - np.clip(f[:, 4], 0.0, 1.0)))


def loop_tempo(sig: Signal) -> Tempo | None:
    """The tempo of `sig` taken as a loop; None if no whole-beat candidate fits its onsets."""
    cands, f = features(sig)
    if not cands or not np.any(f):  # no onsets
        return None
    s = log_scores(f)
    best = int(np.argmax(s))
    n, bpm = cands[best]
    ranked = np.sort(s)[::-1]
    conf = float(1.0 - np.exp(ranked[1] - ranked[0])) if len(ranked) > 1 else 1.0
    return Tempo(bpm=round(bpm, 2), beats=n, confidence=conf)
