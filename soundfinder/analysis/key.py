"""Key of tonal material: a pitch-class profile matched against major and minor key profiles.

The chroma is built from spectral peaks only (not every bin), so a note's energy lands on its
own pitch class instead of smearing over its neighbours, and each frame is log-compressed so a
sustained pad does not drown the bass line.

The pitch content of a whole loop often fits two keys equally well (A minor's i-VII-VI-VII
holds as much G as A; i-VI-III-VII has exactly C major's notes). Loops nearly always start
on their home chord, so the opening eighth of the loop is matched too, and its lowest pitch
class gets a bonus as the tonic (bench/analysis.py: 71 % -> 88 % exact on two seeds).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.analysis.notation import key_name
from soundfinder.analysis.signal import Signal

# Temperley's (Kostka-Payne) profiles: fewer relative-key confusions than Krumhansl-Kessler
# on pop and electronic progressions (see bench/analysis.py).
MAJOR = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
MINOR = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])
KRUMHANSL_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KRUMHANSL_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
MIN_CLARITY = 0.2  # below this correlation the pitch classes fit no key at all
# Drums and noise have pitch classes too (a tuned kick, a ringing snare): what sets tonal
# material apart is a spectrum of peaks, not of bands. Energy-weighted spectral flatness,
# 100-5000 Hz, on the bench: tonal loops <= 0.003, drum loops >= 0.004 (5th percentile 0.008).
MAX_FLATNESS = 0.006
START_SHARE = 0.125  # the opening eighth of a loop: its home chord, most of the time
START_WEIGHT = 1.0  # weight of the opening's profile match beside the whole loop's
BASS_WEIGHT = 0.5  # bonus for the opening's lowest pitch class as the tonic


@dataclass(frozen=True)
class Key:
    name: str  # "A minor"
    score: float  # correlation of the best key profile, -1..1


def chroma(sig: Signal, fmin: float = 60.0, fmax: float = 2500.0, frames: slice = slice(None)
           ) -> tuple[np.ndarray, np.ndarray]:
    """(chroma, bass chroma) of the spectrum's `frames`, each 12 values summing to 1 (zeros
    when there is no pitch)."""
    spec = sig.spectrum[frames]
    f = sig.freqs
    band = (f >= fmin) & (f <= fmax)
    s = spec[:, band]
    if s.size == 0 or s.shape[1] < 3:
        return np.zeros(12), np.zeros(12)
    peaks = np.zeros_like(s, dtype=bool)
    peaks[:, 1:-1] = (s[:, 1:-1] > s[:, :-2]) & (s[:, 1:-1] >= s[:, 2:])
    frame_max = s.max(axis=1, keepdims=True) + 1e-9
    peaks &= s > 0.05 * frame_max  # drop the floor between partials
    rows, cols = np.nonzero(peaks)
    weight = np.log1p(100.0 * s[rows, cols] / frame_max[rows, 0])
    # A bin is 10.8 Hz wide: a semitone below ~190 Hz. The bin's own frequency put D#2
    # (77.8 Hz) on D or E, so D# keys were missed with their bass. The peak's true frequency
    # comes from a parabola through the log magnitudes of the bin and its neighbours.
    a, b, c = (np.log(s[rows, cols + k] + 1e-9) for k in (-1, 0, 1))
    den = a - 2 * b + c
    shift = np.where(den < 0, 0.5 * (a - c) / np.where(den < 0, den, -1.0), 0.0)
    freq = (np.flatnonzero(band)[cols] + np.clip(shift, -0.5, 0.5)) * (f[1] - f[0])
    pcs = np.mod(np.rint(69 + 12 * np.log2(np.maximum(freq, 1.0) / 440.0)).astype(int), 12)
    out = np.bincount(pcs, weights=weight, minlength=12)
    bass = np.bincount(pcs, weights=weight * (freq < 200.0), minlength=12)
    return _norm(out), _norm(bass)


def flatness(sig: Signal) -> float:
    """Energy-weighted spectral flatness (0: pure partials, 1: white noise), 100-5000 Hz."""
    band = (sig.freqs > 100) & (sig.freqs < 5000)
    p = sig.spectrum[:, band].astype(np.float64) ** 2 + 1e-12
    if p.size == 0:
        return 1.0
    flat = np.exp(np.log(p).mean(axis=1)) / p.mean(axis=1)
    w = p.sum(axis=1)
    return float(np.average(flat, weights=w)) if w.sum() > 0 else 1.0


def _norm(v: np.ndarray) -> np.ndarray:
    s = v.sum()
    return v / s if s > 0 else v


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    d = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / d) if d > 0 else 0.0


def estimate_key(sig: Signal, profiles: tuple[np.ndarray, np.ndarray] = (MAJOR, MINOR),
                 min_clarity: float = MIN_CLARITY) -> Key | None:
    """The best of the 24 keys, or None when the material is not clearly tonal."""
    if flatness(sig) > MAX_FLATNESS:
        return None
    c, _ = chroma(sig)
    if c.sum() == 0:
        return None
    start, bass = chroma(sig, frames=slice(0, max(2, int(len(sig.spectrum) * START_SHARE))))
    best = (-2.0, 0, "major", -2.0)
    for mode, profile in zip(("major", "minor"), profiles, strict=True):
        for tonic in range(12):
            p = np.roll(profile, tonic)
            r = _corr(c, p)
            score = r + START_WEIGHT * _corr(start, p)
            if bass.sum():
                score += BASS_WEIGHT * (bass[tonic] - bass.mean()) * 4.0
            if score > best[0]:
                best = (score, tonic, mode, r)
    _score, tonic, mode, r = best
    if r < min_clarity:
        return None
    return Key(key_name(tonic, mode), r)
