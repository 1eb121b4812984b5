"""The note of a pitched one-shot (an 808, a bass hit, a pluck), by YIN on its body.

The attack of a hit is noise and an 808's first 30 ms glide down, so frames start just after
the loudest moment; the note is the median over the frames YIN is sure of, and nothing is
reported when too few frames agree (a snare, a noise sweep).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.analysis.notation import hz_to_midi
from soundfinder.analysis.signal import RATE, Signal

FMIN, FMAX = 27.0, 2100.0  # A0 (a sub drop) to C7 (a bell)
THRESHOLD = 0.15
WINDOW = 1024
MAX_LAG = int(RATE / FMIN)
MIN_LAG = int(RATE / FMAX)


@dataclass(frozen=True)
class Pitch:
    midi: int
    hz: float
    confidence: float  # share of analysed frames that agree with the note


def _cmnd(seg: np.ndarray) -> np.ndarray:
    """YIN's cumulative mean normalised difference for lags 0..MAX_LAG of one frame."""
    n = WINDOW + MAX_LAG
    size = 1 << int(np.ceil(np.log2(2 * n)))
    a = np.fft.rfft(seg[:n], size)
    b = np.fft.rfft(seg[:WINDOW], size)
    r = np.fft.irfft(a * np.conj(b), size)[: MAX_LAG + 1]
    cs = np.concatenate([[0.0], np.cumsum(seg[:n].astype(np.float64) ** 2)])
    e0 = cs[WINDOW]
    tau = np.arange(MAX_LAG + 1)
    d = e0 + (cs[tau + WINDOW] - cs[tau]) - 2.0 * r
    d[0] = 0.0
    d = np.maximum(d, 0.0)
    cum = np.cumsum(d[1:])
    out = np.ones_like(d)
    out[1:] = d[1:] * tau[1:] / np.maximum(cum, 1e-12)
    return out


def _period(cmnd: np.ndarray) -> tuple[float, float] | None:
    """(lag, aperiodicity) of the first dip below THRESHOLD, parabola-refined."""
    c = cmnd[MIN_LAG:]
    below = np.nonzero(c < THRESHOLD)[0]
    if len(below) == 0:
        return None
    i = below[0]
    while i + 1 < len(c) and c[i + 1] < c[i]:
        i += 1
    t = i + MIN_LAG
    if 1 <= t < len(cmnd) - 1:
        a, b, g = cmnd[t - 1], cmnd[t], cmnd[t + 1]
        den = a - 2 * b + g
        shift = 0.5 * (a - g) / den if den > 0 else 0.0
        return t + float(np.clip(shift, -1, 1)), float(b)
    return float(t), float(cmnd[t])


def estimate_pitch(sig: Signal, max_frames: int = 12) -> Pitch | None:
    x = sig.x
    need = WINDOW + MAX_LAG
    if len(x) < need:
        return None
    rms = sig.rms
    peak_frame = int(np.argmax(rms))
    start = min(peak_frame * 512 + int(0.03 * RATE), len(x) - need)
    loud = rms.max()
    hop = 512
    lags = []
    tried = 0
    for s in range(max(start, 0), len(x) - need + 1, hop):
        if tried >= max_frames:
            break
        frame_rms = float(np.sqrt(np.mean(x[s:s + WINDOW] ** 2)))
        if frame_rms < 0.05 * loud:  # the tail: too quiet to trust
            break
        tried += 1
        found = _period(_cmnd(x[s:s + need]))
        if found:
            lags.append(found[0])
    if tried == 0 or len(lags) < max(2, tried // 3):
        return None
    midis = np.array([hz_to_midi(RATE / lag) for lag in lags])
    note = int(np.rint(np.median(midis)))
    agree = float(np.mean(np.abs(midis - note) < 0.5)) * len(lags) / tried
    if agree < 0.35:
        return None
    hz = float(440.0 * 2 ** ((np.median(midis) - 69) / 12))
    return Pitch(midi=note, hz=hz, confidence=agree)
