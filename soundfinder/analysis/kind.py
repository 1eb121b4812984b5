"""Loop or one-shot, from what the audio does over time.

A one-shot is one event: it starts, then decays (a hit, a note, an impact, a riser ends on
its own). A loop is several events spread over its whole length that is still sounding at
its last sample, because the next repetition picks up where it stops. Short files are
one-shots whatever happens inside them: a loop is at least a bar of a fast tempo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.analysis.signal import RATE, Signal

MIN_LOOP_SECONDS = 1.0
TAIL_SECONDS = 0.05
FLICKER = 0.1  # flicker at or above this: noise or vibrato, not a sequence of notes
RISE_DB = 2.0  # an onset whose level rises this much is an attack
MIN_ATTACKS = 3
MIN_SPREAD = 0.4  # first to last attack, share of the length
MIN_TAIL_DB = -60.0  # a loop still sounds at its end…
MANY_ATTACKS = 7  # …unless it is a busy pattern whose last hit happens to be short
# A loop is as loud in its second half as in its first (every bar has its hits); a long hit
# decays. Rolls, cymbals and toms whose ringing wobbles in level have "attacks" all along
# their tail, but 15 dB or more below their start. Bench (seeds 0-1 and every Hydrogen hit):
# loops >= -1.8 dB, hits <= -6 dB, hits classed as loops without it <= -15 dB.
MIN_LATE_DB = -10.0


@dataclass(frozen=True)
class KindEvidence:
    kind: str  # "loop" / "one-shot"
    onsets: int  # attacks
    spread: float  # first to last onset, share of the length
    tail_db: float  # level of the last 50 ms against the loudest part
    late_db: float  # loudest point of the second half against the loudest of the first
    flicker: float  # median of the onset envelope against its peak: ~0 for drums, high for noise


def onset_times(sig: Signal, threshold: float = 0.1, contrast: float = 6.0, min_gap: float = 0.06) -> np.ndarray:
    """Seconds of the clear onsets: local peaks of the onset envelope above `threshold`·max
    and `contrast` times its median (a hi-hat counts; the flicker of noise or vibrato does not)."""
    env = sig.onset_envelope
    if len(env) < 3 or env.max() <= 0:
        return np.zeros(0)
    e = env / env.max()
    floor = max(threshold, contrast * float(np.median(e)))
    peaks = np.nonzero((e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > floor))[0] + 1
    out: list[int] = []
    gap = int(min_gap * sig.frame_rate)
    for p in peaks:
        if not out or p - out[-1] >= gap:
            out.append(int(p))
        elif e[p] > e[out[-1]]:
            out[-1] = int(p)
    return np.asarray(out) / sig.frame_rate


def attacks(sig: Signal, onsets: np.ndarray, rise_db: float = RISE_DB) -> np.ndarray:
    """The onsets where the level jumps up (a new hit or note), not the flicker of a decay."""
    rms = sig.rms
    keep = []
    for t in onsets:
        i = int(t * sig.frame_rate)
        before = rms[max(0, i - 3):max(1, i - 1)].mean() if i >= 2 else 0.0
        after = rms[i:i + 3].max() if i < len(rms) else 0.0
        if 20 * np.log10((after + 1e-9) / (before + 1e-9)) >= rise_db:
            keep.append(t)
    return np.asarray(keep)


def classify(sig: Signal) -> KindEvidence:
    """Loop when at least three attacks (onsets where the level jumps up) span the file, the
    sound does not flicker all the time (noise risers, whooshes, vibrato: a high median onset
    envelope), it has not died away by its end (or is a busy pattern) and its second half is
    about as loud as its first. Measured on bench/analysis.py's seeds 0-1."""
    duration = len(sig.x) / RATE
    rms = sig.rms
    loud = float(rms.max()) if len(rms) else 0.0
    tail_frames = max(1, int(TAIL_SECONDS * sig.frame_rate))
    tail = float(np.sqrt(np.mean(rms[-tail_frames:] ** 2))) if len(rms) else 0.0
    tail_db = 20 * np.log10(max(tail, 1e-9) / max(loud, 1e-9)) if loud > 0 else -120.0
    hits = attacks(sig, onset_times(sig))
    spread = float((hits[-1] - hits[0]) / duration) if len(hits) > 1 and duration > 0 else 0.0
    env = sig.onset_envelope
    flicker = float(np.median(env) / env.max()) if len(env) and env.max() > 0 else 1.0
    late_db = _late_db(rms)
    is_loop = (duration >= MIN_LOOP_SECONDS and len(hits) >= MIN_ATTACKS and spread >= MIN_SPREAD
               and flicker < FLICKER and (tail_db > MIN_TAIL_DB or len(hits) >= MANY_ATTACKS)
               and late_db >= MIN_LATE_DB)
    return KindEvidence("loop" if is_loop else "one-shot", len(hits), spread, float(tail_db), late_db, flicker)


def _late_db(rms: np.ndarray) -> float:
    """Loudest frame of the second half against the loudest of the first, in dB."""
    half = len(rms) // 2
    if half == 0:
        return 0.0
    first, second = float(rms[:half].max()), float(rms[half:].max())
    return float(20 * np.log10(max(second, 1e-9) / max(first, 1e-9)))
