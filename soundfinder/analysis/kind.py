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


@dataclass(frozen=True)
class KindEvidence:
    kind: str  # "loop" / "one-shot"
    onsets: int
    spread: float  # first to last onset, share of the length
    tail_db: float  # level of the last 50 ms against the loudest part


def onset_times(sig: Signal, threshold: float = 0.3, min_gap: float = 0.06) -> np.ndarray:
    """Seconds of the clear onsets: local peaks of the onset envelope above `threshold`·max."""
    env = sig.onset_envelope
    if len(env) < 3 or env.max() <= 0:
        return np.zeros(0)
    e = env / env.max()
    peaks = np.nonzero((e[1:-1] > e[:-2]) & (e[1:-1] >= e[2:]) & (e[1:-1] > threshold))[0] + 1
    out: list[int] = []
    gap = int(min_gap * sig.frame_rate)
    for p in peaks:
        if not out or p - out[-1] >= gap:
            out.append(int(p))
        elif e[p] > e[out[-1]]:
            out[-1] = int(p)
    return np.asarray(out) / sig.frame_rate


def classify(sig: Signal) -> KindEvidence:
    duration = len(sig.x) / RATE
    rms = sig.rms
    loud = float(rms.max()) if len(rms) else 0.0
    tail_frames = max(1, int(TAIL_SECONDS * sig.frame_rate))
    tail = float(np.sqrt(np.mean(rms[-tail_frames:] ** 2))) if len(rms) else 0.0
    tail_db = 20 * np.log10(max(tail, 1e-9) / max(loud, 1e-9)) if loud > 0 else -120.0
    onsets = onset_times(sig)
    spread = float((onsets[-1] - onsets[0]) / duration) if len(onsets) > 1 and duration > 0 else 0.0
    is_loop = (duration >= MIN_LOOP_SECONDS and len(onsets) >= 3 and spread >= 0.5
               and (tail_db > -40.0 or len(onsets) >= 6))
    return KindEvidence("loop" if is_loop else "one-shot", len(onsets), spread, float(tail_db))
