"""A small signal fingerprint per recording: tells another take from a copy without decoding.

`duplicates` finds candidates with the embedding, which puts a drum's velocity layers and
round-robins as close together as copies (cosine >= 0.95). Only the waveform tells them apart:
once aligned, a copy matches sample by sample, another hit does not. Decoding both files to
compare them costs ~8 ms each, so the indexing pipeline keeps a piece of the waveform per
distinct content, taken from the audio it decoded anyway:

* the 0.16 s around the attack (from 20 ms before the first sample within 30 dB of the peak,
  so leading silence, padding, a trim of the silence and the gain do not move it), resampled
  to 4 kHz (0-2 kHz: what every codec and resampler keeps), mu-law coded in one byte a sample
  (640 bytes);
* compared by the best normalised correlation over lags up to 80 ms (trims into the attack,
  encoder delay) with at least half of the shorter one overlapping: gain does not count.

On bench/duplicates.py's real set (Hydrogen kits; FLAC/OGG/MP3/AIFF re-encodes, 44.1 <-> 48 kHz,
+-3 dB, 20 ms trims) every copy scored >= 0.985, while 90 % of the pairs of one drum's layers
scored below SAME_MIN. A pair below SAME_MIN is not the same recording; one above is only
*possibly* the same, and `query/samecheck.py` decides on the decoded audio.
"""

from __future__ import annotations

import numpy as np

VERSION = "1"  # stored with each fingerprint: another version is recomputed, never compared
RATE = 4000
SECONDS = 0.16
PRE_SECONDS = 0.02
ANCHOR_DB = -30.0
SCAN_SECONDS = 6.0  # the peak is looked for where samecheck looks (its MAX_SECONDS)
MAX_LAG_SECONDS = 0.08
MIN_OVERLAP = 0.5
MIN_SAMPLES = 16  # shorter (a click of < 4 ms): too little to judge, decode instead
SAME_MIN = 0.9
_MU = 255.0


def compute(samples: np.ndarray, rate: int) -> bytes:
    """The fingerprint of mono audio `samples` at `rate` (the pipeline's decoded audio).
    b"" for silence: no copy of silence is worth finding (samecheck says "silent" too)."""
    import soxr

    x = np.asarray(samples[: int(SCAN_SECONDS * rate)], dtype=np.float32)
    if x.ndim > 1:
        x = x.mean(axis=1)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if not np.isfinite(peak) or peak <= 0.0:
        return b""
    anchor = int(np.argmax(np.abs(x) > peak * 10 ** (ANCHOR_DB / 20)))
    start = max(anchor - int(PRE_SECONDS * rate), 0)
    seg = np.ascontiguousarray(x[start: start + int((SECONDS + 0.01) * rate) + 1])
    y = seg if rate == RATE else soxr.resample(seg, rate, RATE, quality="HQ")
    y = np.asarray(y[: int(SECONDS * RATE)], dtype=np.float64)
    top = float(np.max(np.abs(y))) if y.size else 0.0
    if top <= 0.0:
        return b""
    y = y / top
    coded = np.sign(y) * np.log1p(_MU * np.abs(y)) / np.log1p(_MU)
    return np.round(coded * 127).astype(np.int8).tobytes()


def decode_print(data: bytes) -> np.ndarray:
    """The stored bytes back to a waveform (mu-law expanded)."""
    c = np.frombuffer(data, dtype=np.int8).astype(np.float64) / 127
    return np.sign(c) * ((1 + _MU) ** np.abs(c) - 1) / _MU


def similarity(a: bytes, b: bytes) -> float:
    """The best normalised correlation of two fingerprints over the allowed lags (1.0: the same
    waveform at any gain). Both must hold at least MIN_SAMPLES samples."""
    x, y = decode_print(a), decode_print(b)
    n = len(x) + len(y) - 1
    size = 1 << (n - 1).bit_length()
    c = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(y, size)), size)
    lags = np.arange(-(len(y) - 1), len(x))
    c = np.concatenate([c[size - (len(y) - 1):], c[: len(x)]]) if len(y) > 1 else c[: len(x)]
    cx = np.concatenate([[0.0], np.cumsum(x ** 2)])
    cy = np.concatenate([[0.0], np.cumsum(y ** 2)])
    x0, y0 = np.maximum(lags, 0), np.maximum(-lags, 0)
    m = np.minimum(len(x) - x0, len(y) - y0)
    energy = np.sqrt((cx[x0 + m] - cx[x0]) * (cy[y0 + m] - cy[y0])) + 1e-12
    allowed = (np.abs(lags) <= MAX_LAG_SECONDS * RATE) & (m >= MIN_OVERLAP * min(len(x), len(y)))
    score = np.where(allowed, c / energy, -np.inf)
    return float(np.max(score)) if allowed.any() else 0.0


def rules_out(a: bytes | None, b: bytes | None) -> bool:
    """True when two fingerprints prove two different recordings; False when they cannot (one is
    missing, too short) or the pair may be one recording (then decode and compare)."""
    if a is None or b is None:
        return False
    if not a or not b:
        return True  # silence: never a duplicate (samecheck.compare says the same)
    if len(a) < MIN_SAMPLES or len(b) < MIN_SAMPLES:
        return False
    return similarity(a, b) < SAME_MIN
