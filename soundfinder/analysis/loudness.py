"""Integrated loudness (ITU-R BS.1770-4) and true peak (4x oversampling).

pyloudnorm's K-weighting filters and gating measure loudness. True peak oversamples only the
64 loudest 64-frame blocks, where an inter-sample peak can be: within 0.02 dB of oversampling
the whole file on 272 real and synthetic samples (clipped drums included) at a fraction of the
cost; a test holds the two to 0.1 dB on clipped and decaying material.

Both are read from the file's own channels at its own rate when the caller has them: a
stereo mix to mono would understate uncorrelated stereo by up to 3 dB.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np

BLOCK = 0.4  # BS.1770 gating block (s): integrated loudness of anything shorter is undefined
MAX_SECONDS = 60.0  # a longer file's loudness is that of its first minute
PEAK_CANDIDATES = 64  # loudest 64-frame blocks that are oversampled
PEAK_RADIUS = 24  # frames each side of a block: beyond the interpolation filter's reach (10)


def _channels(audio: np.ndarray, rate: int, max_seconds: float | None = MAX_SECONDS) -> np.ndarray:
    x = audio if audio.ndim == 2 else audio[:, None]
    if x.shape[1] == 6:  # 5.1: BS.1770 leaves the LFE channel out
        x = np.delete(x, 3, axis=1)
    return x[: None if max_seconds is None else int(max_seconds * rate), :5]


@lru_cache(maxsize=8)
def _k_weighting(rate: int) -> np.ndarray:
    """pyloudnorm's K-weighting (high shelf, then high pass) for `rate` as second-order
    sections: its own filter design, made once per rate instead of once per file, run by one
    `sosfilt` call (twice as fast as pyloudnorm's two `lfilter` passes per channel)."""
    import pyloudnorm

    stages = pyloudnorm.Meter(rate)._filters.values()
    return np.array([np.r_[f.passband_gain * np.asarray(f.b, float) / f.a[0],
                           np.asarray(f.a, float) / f.a[0]] for f in stages])


def integrated_lufs(audio: np.ndarray, rate: int, max_seconds: float | None = MAX_SECONDS) -> float | None:
    """LUFS, or None for silence. A file shorter than one gating block is tiled to one block:
    its loudness then is that of the sound itself, not of the sound plus invented silence.
    `max_seconds` None measures the whole file (export normalisation; the column reads the
    first minute).

    The arithmetic of pyloudnorm's `integrated_loudness` (same filters, same block bounds,
    same gates; a test holds the two within 0.01 LU), vectorised: one float32 filter call for
    all stages and channels, energies summed per 100 ms hop in float64, a block being four
    hops. pyloudnorm's per-block Python loop and float64 copies cost more than the filtering
    and made loudness half of the analysis's time; this is 5x faster.
    """
    from scipy.signal import sosfilt

    x = np.array(_channels(audio, rate, max_seconds).T, dtype=np.float32, order="C")  # (channels, n), a copy
    if x.shape[1] == 0 or not np.any(x):
        return None
    block = int(math.ceil(BLOCK * rate)) + 1
    if x.shape[1] < block:
        x = np.tile(x, (1, int(math.ceil(block / x.shape[1]))))
    # A -300 dB alternating floor keeps the IIR filters out of denormal numbers, which made a
    # sound decaying into digital silence cost a second per file; the gate ignores it.
    x[:, ::2] += 1e-15
    x[:, 1::2] -= 1e-15
    y = sosfilt(_k_weighting(rate).astype(np.float32), x, axis=1)
    gains = np.array([1.0, 1.0, 1.0, 1.41, 1.41], np.float32)[: len(y)]
    power = np.einsum("cn,cn->n", y, y) if len(y) <= 3 else np.einsum("c,cn,cn->n", gains, y, y)
    z = _block_energies(power, rate) / (BLOCK * rate)  # channel-weighted mean square per block
    with np.errstate(divide="ignore"):
        loud = -0.691 + 10.0 * np.log10(z)
    gated = z[loud >= -70.0]
    if len(gated) == 0:
        return None
    relative = -0.691 + 10.0 * math.log10(gated.mean()) - 10.0
    kept = z[(loud > relative) & (loud > -70.0)]
    if len(kept) == 0 or kept.mean() <= 0:
        return None
    value = -0.691 + 10.0 * math.log10(kept.mean())
    return float(value) if math.isfinite(value) else None


def _block_energies(power: np.ndarray, rate: int) -> np.ndarray:
    """Sum of `power` over each 400 ms gating block, blocks every 100 ms (75 % overlap), as
    many as pyloudnorm makes (the last may run past the end and is then partial)."""
    n = len(power)
    n_blocks = int(np.round((n / rate - BLOCK) / (BLOCK * 0.25))) + 1
    hop = BLOCK * 0.25 * rate
    if hop == int(hop):  # every usual rate: float64 sums per hop, then four hops a block
        hop = int(hop)
        whole = n // hop
        hops = power[: whole * hop].reshape(whole, hop).sum(axis=1, dtype=np.float64)
        if whole * hop < n:
            hops = np.append(hops, power[whole * hop:].sum(dtype=np.float64))
        c = np.concatenate(([0.0], np.cumsum(hops)))
        j = np.arange(n_blocks)
        return c[np.minimum(j + 4, len(hops))] - c[np.minimum(j, len(hops))]
    c = np.concatenate(([0.0], np.cumsum(power, dtype=np.float64)))
    j = np.arange(n_blocks)
    lo = np.minimum((BLOCK * (j * 0.25) * rate).astype(np.int64), n)
    hi = np.minimum((BLOCK * (j * 0.25 + 1) * rate).astype(np.int64), n)
    return c[hi] - c[lo]


@lru_cache(maxsize=4)
def _fir(factor: int) -> np.ndarray:
    """resample_poly's own interpolation filter, designed once instead of on every call."""
    from scipy.signal import firwin

    return firwin(2 * 10 * factor + 1, 1.0 / factor, window=("kaiser", 5.0))


def _interpolated_block_peaks(x: np.ndarray, n: int) -> np.ndarray:
    """Per 64-frame block, the peak of the samples and of the cubic midpoints between them,
    where the overshoot of a clipped run's edges shows."""
    e = np.abs(x)
    mid = np.abs(0.5625 * (x[1:-2] + x[2:-1]) - 0.0625 * (x[:-3] + x[3:]))  # between frames i+1, i+2
    np.maximum(e[1:-2], mid, out=e[1:-2])
    return e[:n].reshape(len(e[:n]) // 64, -1).max(axis=1)


def true_peak_db(audio: np.ndarray, rate: int, exhaustive: bool = False) -> float | None:
    """dBTP: the peak of the signal oversampled 4x (2x from 96 kHz, none from 176.4 kHz)."""
    from scipy.signal import resample_poly

    x = np.ascontiguousarray(_channels(audio, rate), dtype=np.float32)
    if len(x) == 0:
        return None
    n = len(x) // 64 * 64
    # One pass over the samples: the loudest of each 64-frame block, all channels at once
    # (a max over the short channel axis is numpy's slow case; the flat view avoids it).
    loudest = np.abs(x[:n]).reshape(n // 64, -1).max(axis=1)
    if n < len(x):  # the last, partial block
        loudest = np.append(loudest, np.abs(x[n:]).max())
    sample_peak = float(loudest.max())
    if sample_peak == 0:
        return None
    factor = 4 if rate < 96000 else 2 if rate < 176400 else 1
    peak = sample_peak
    if factor > 1 and len(x) > 2 * PEAK_RADIUS:
        if exhaustive or len(x) <= 64 * PEAK_CANDIDATES // 4:  # short: the whole is cheap
            peak = max(peak, float(np.max(np.abs(resample_poly(x, factor, 1, axis=0, window=_fir(factor))))))
        else:
            if np.count_nonzero(loudest >= sample_peak * 0.98) > PEAK_CANDIDATES // 2:
                # Many blocks as loud as the peak (clipped or steady material): rank them by
                # a cubic estimate of the values between samples, where the overshoot shows.
                loudest = np.concatenate([_interpolated_block_peaks(x, n), loudest[n // 64:]])
            # An inter-sample peak rises at most a few dB above its neighbouring samples, so
            # blocks 6 dB below the sample peak cannot hold the true peak.
            near = np.flatnonzero(loudest >= sample_peak * 0.5)
            k = min(PEAK_CANDIDATES, len(near))
            top = near[np.argpartition(loudest[near], -k)[-k:]]
            # The loudest blocks whole, with PEAK_RADIUS frames either side for the filter,
            # zeros beyond the ends (as the whole signal's oversampling sees them).
            idx = top[:, None] * 64 + np.arange(-PEAK_RADIUS, 64 + PEAK_RADIUS)
            seg = x[np.clip(idx, 0, len(x) - 1)] * ((idx >= 0) & (idx < len(x)))[..., None]
            up = resample_poly(seg, factor, 1, axis=1, window=_fir(factor))
            mid = up[:, factor * PEAK_RADIUS: factor * (PEAK_RADIUS + 64)]
            peak = max(peak, float(np.max(np.abs(mid))))
    return round(20 * math.log10(peak), 2)
