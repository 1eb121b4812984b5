"""Integrated loudness (ITU-R BS.1770 via pyloudnorm) and true peak (4x oversampling).

Both are read from the file's own channels at its own rate when the caller has them: a
stereo mix to mono would understate uncorrelated stereo by up to 3 dB.
"""

from __future__ import annotations

import math

import numpy as np

BLOCK = 0.4  # BS.1770 gating block (s): integrated loudness of anything shorter is undefined
FLOOR_DB = -120.0
MAX_SECONDS = 120.0


def _channels(audio: np.ndarray) -> np.ndarray:
    x = audio if audio.ndim == 2 else audio[:, None]
    if x.shape[1] == 6:  # 5.1: BS.1770 leaves the LFE channel out
        x = np.delete(x, 3, axis=1)
    return x[:, :5]


def integrated_lufs(audio: np.ndarray, rate: int) -> float | None:
    """LUFS, or None for silence. A file shorter than one gating block is tiled to one block:
    its loudness then is that of the sound itself, not of the sound plus invented silence."""
    import pyloudnorm

    x = _channels(audio)[: int(MAX_SECONDS * rate)].astype(np.float64)
    if len(x) == 0 or not np.any(x):
        return None
    block = int(math.ceil(BLOCK * rate)) + 1
    if len(x) < block:
        x = np.tile(x, (int(math.ceil(block / len(x))), 1))
    value = pyloudnorm.Meter(rate).integrated_loudness(x)
    return float(value) if np.isfinite(value) else None


def true_peak_db(audio: np.ndarray, rate: int) -> float | None:
    """dBTP: the peak of the signal oversampled to at least 4x 48 kHz-class rates."""
    from scipy.signal import resample_poly

    x = _channels(audio)[: int(MAX_SECONDS * rate)]
    if len(x) == 0:
        return None
    factor = 4 if rate < 96000 else 2 if rate < 176400 else 1
    if factor > 1 and len(x) > 16:
        x = resample_poly(x, factor, 1, axis=0)
    peak = float(np.max(np.abs(x)))
    return round(20 * math.log10(peak), 2) if peak > 0 else None
