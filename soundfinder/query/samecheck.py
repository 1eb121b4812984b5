"""Is this the same recording? A signal-level check after decoding both files.

Embeddings say "sounds alike", which velocity layers and round-robins of one drum do. A copy of
the same recording (re-encoded, resampled, louder, trimmed by a few ms) differs from another
hit of the same drum in its *waveform*: once aligned, a copy matches sample by sample up to
codec noise, while two hits differ in phase and in the fine grain of their noise.

The check, on mono audio at 22.05 kHz (codec losses above ~10 kHz play no part):
1. lengths: copies differ by trims and codec padding, so lengths within 60 ms + 3 %;
2. alignment: the lag of the cross-correlation peak (FFT), so trims and encoder delay cancel;
3. similarity: the normalised correlation of the aligned overlap (gain-independent), and of
   the two short-time magnitude spectra (tolerant to the sub-sample shifts of resampling).
Both must pass. Thresholds were chosen on bench/duplicates.py (Hydrogen kits' layers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 22050
MAX_SECONDS = 6.0
WAVE_MIN = 0.90
LENGTH_SLACK_S = 0.06
LENGTH_SLACK_FRACTION = 0.03


@dataclass
class Verdict:
    same: bool
    wave: float
    spec: float
    reason: str = ""


def load(path: str) -> np.ndarray:
    """Mono float32 at RATE, silence at the ends trimmed (so padding and trims do not count)."""
    from soundfinder.audio import decode

    x = decode(path, sample_rate=RATE, max_seconds=MAX_SECONDS).samples[: int(MAX_SECONDS * RATE)]
    return trim_silence(np.asarray(x, dtype=np.float32))


def trim_silence(x: np.ndarray, floor_db: float = -60.0) -> np.ndarray:
    if x.size == 0:
        return x
    peak = float(np.max(np.abs(x)))
    if peak <= 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (floor_db / 20))
    return x[loud[0]: loud[-1] + 1]


def _fft_size(n: int) -> int:
    """The smallest fast FFT length >= n (5-smooth): often half the next power of two."""
    from scipy.fft import next_fast_len

    return next_fast_len(n, real=True)


def _rfft(x: np.ndarray, size: int) -> np.ndarray:
    """Single precision when the input is (the decoded audio is float32): twice the speed of
    numpy's double-precision FFT, and the verdicts' thresholds are far above its rounding."""
    from scipy.fft import rfft

    return rfft(x, size, workers=1)


def _irfft(x: np.ndarray, size: int) -> np.ndarray:
    from scipy.fft import irfft

    return irfft(x, size, workers=1)


def _align(a: np.ndarray, b: np.ndarray) -> int:
    """The lag L maximising the *normalised* correlation of a[t + L] and b[t] over their
    overlap, among lags that keep 80 % of the shorter sound overlapping. (The raw peak leans
    towards lags where a part only one file has, such as a trimmed attack, adds energy.)"""
    n = len(a) + len(b) - 1
    size = _fft_size(n)
    c = _irfft(_rfft(a, size) * np.conj(_rfft(b, size)), size)
    need = int(np.ceil(0.8 * min(len(a), len(b))))  # overlap m(L) >= need: L in [need - len(b), len(a) - need]
    lags = np.arange(need - len(b), len(a) - need + 1)
    c = c[lags % size]  # circular index of a (linear, zero-padded) correlation
    ca = np.concatenate([[0.0], np.cumsum(a.astype(np.float64) ** 2)])
    cb = np.concatenate([[0.0], np.cumsum(b.astype(np.float64) ** 2)])
    a0, b0 = np.maximum(lags, 0), np.maximum(-lags, 0)
    m = np.minimum(len(a) - a0, len(b) - b0)
    energy = np.sqrt((ca[a0 + m] - ca[a0]) * (cb[b0 + m] - cb[b0])) + 1e-12
    return int(lags[int(np.argmax(c / energy))])


def _overlap(a: np.ndarray, b: np.ndarray, lag: int) -> tuple[np.ndarray, np.ndarray]:
    start_a, start_b = max(lag, 0), max(-lag, 0)
    n = min(len(a) - start_a, len(b) - start_b)
    return a[start_a:start_a + max(n, 0)], b[start_b:start_b + max(n, 0)]


def _taper(x: np.ndarray, seconds: float = 0.005) -> np.ndarray:
    n = min(int(seconds * RATE), len(x) // 4)
    if n < 2:
        return x
    ramp = np.sin(np.linspace(0, np.pi / 2, n, dtype=np.float32)) ** 2
    x = x.copy()
    x[:n] *= ramp
    x[-n:] *= ramp[::-1]
    return x


def _corr(x: np.ndarray, y: np.ndarray) -> float:
    d = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    return float(np.dot(x, y) / d) if d > 0 else 0.0


BANDS_HZ = ((0, 150), (150, 400), (400, 1000), (1000, 2500), (2500, 9000))
BAND_MIN = 0.935
BAND_ENERGY = 1e-3  # bands with less of the energy than this are not judged (codec lowpass)
# One gain: a gain spread over time above GAIN_SPREAD_DB, or across bands above 1.1 dB, means
# another take or a processed layer.
GAIN_SPREAD_DB = 0.6
BAND_SPREAD_WEIGHT = 1.1 / 0.6


def _spectra(x: np.ndarray, y: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(FFT size, X, Y) of two aligned, tapered signals, shared by the band and the gain checks
    (computing them twice was a quarter of a comparison). No zero padding: the tapered ends
    make the circular shift of the sub-sample alignment harmless, and the three lags that
    alignment needs are dot products (`band_correlations`)."""
    size = _fft_size(len(x))
    return size, _rfft(x, size), _rfft(y, size)


def band_correlations(x: np.ndarray, y: np.ndarray, spectra=None) -> list[tuple[float, float]]:
    """[(correlation, share of x's energy)] per band of two aligned signals, after a sub-sample
    alignment (parabolic peak of the cross-correlation, applied as a phase shift)."""
    size, X, Y = spectra or _spectra(x, y)
    # The cross-correlation c[k] = sum x[t + k] y[t] at k = -1, 0, 1: its parabolic peak.
    c_prev, c0, c_next = float(np.dot(x[:-1], y[1:])), float(np.dot(x, y)), float(np.dot(x[1:], y[:-1]))
    den = c_prev - 2 * c0 + c_next
    frac = 0.5 * (c_prev - c_next) / den if den < 0 else 0.0
    edges = _band_edges(size)
    px = np.abs(X) ** 2
    total = float(px.sum()) or 1.0
    top = edges[-1]  # bins above the last band play no part: not shifted
    X = X[:top]
    Y = Y[:top] * np.exp(2j * np.pi * np.fft.rfftfreq(size, 1 / RATE)[:top] * frac / RATE).astype(X.dtype)
    py = np.abs(Y) ** 2
    out = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        ex, ey = float(px[lo:hi].sum()), float(py[lo:hi].sum())
        e = float(np.sqrt(ex * ey))
        out.append((float(np.real(np.vdot(Y[lo:hi], X[lo:hi]))) / e if e > 0 else 0.0, ex / total))
    return out


def _band_edges(size: int) -> list[int]:
    """Bin index where each band of BANDS_HZ starts, then where the last one ends (bands are
    contiguous), for an rfft of `size` at RATE."""
    step = RATE / size
    return [int(np.ceil(lo / step)) for lo, _ in BANDS_HZ] + [int(np.ceil(BANDS_HZ[-1][1] / step))]


def compare(a: np.ndarray, b: np.ndarray) -> Verdict:
    """Decide whether two decoded sounds (from `load`) are one recording."""
    if a.size == 0 or b.size == 0:
        return Verdict(False, 0.0, 0.0, "silent")
    la, lb = len(a) / RATE, len(b) / RATE
    if abs(la - lb) > LENGTH_SLACK_S + LENGTH_SLACK_FRACTION * max(la, lb):
        return Verdict(False, 0.0, 0.0, f"lengths differ ({la:.3f} s vs {lb:.3f} s)")
    x, y = _overlap(a, b, _align(a, b))
    if len(x) < min(len(a), len(b)) * 0.8:
        return Verdict(False, 0.0, 0.0, "too little overlap")
    wave = _corr(x, y)
    if wave < WAVE_MIN:  # most candidates (another take) end here, before the spectra
        return Verdict(False, wave, 0.0, "waveforms differ")
    x, y = _taper(x), _taper(y)  # a trimmed copy starts abruptly: its click is not the sound
    spectra = _spectra(x, y)
    bands = band_correlations(x, y, spectra)
    judged = [c for c, share in bands if share >= BAND_ENERGY]
    worst = min(judged) if judged else 0.0
    if worst < BAND_MIN:
        return Verdict(False, wave, worst)
    spread = _gain_spread(x, y, spectra=spectra)
    if spread > GAIN_SPREAD_DB:
        return Verdict(False, wave, worst, f"not one gain: spread {spread:.2f} dB (another take or processed)")
    return Verdict(True, wave, worst)


def _gain_spread(x: np.ndarray, y: np.ndarray, frame: int = 512, spectra=None) -> float:
    """How far y is from `x` times ONE gain, in dB: the spread of the gain across bands and
    over time. A copy only has the codec's noise (measured <= 0.64 dB across bands, <= 0.35 dB
    over time on bench/duplicates.py); a velocity layer made from the same hit by EQ or
    compression has 0.7-4.7 dB across bands or 0.9-5.4 dB over time."""
    size, X, Y = spectra or _spectra(x, y)
    edges = _band_edges(size)
    px, py = np.abs(X) ** 2, np.abs(Y[: edges[-1]]) ** 2
    total = float(px.sum()) or 1.0
    gains = []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        ex, ey = float(px[lo:hi].sum()), float(py[lo:hi].sum())
        if ex / total >= 1e-2:
            gains.append(10 * np.log10((ey + 1e-20) / (ex + 1e-20)))
    band = (max(gains) - min(gains)) / BAND_SPREAD_WEIGHT if gains else 0.0
    n = len(x) // frame
    if n < 3:
        return band
    ex = (x[: n * frame].reshape(n, frame) ** 2).sum(1)
    ey = (y[: n * frame].reshape(n, frame) ** 2).sum(1)
    loud = ex > ex.max() * 1e-3
    r = 10 * np.log10((ey[loud] + 1e-20) / (ex[loud] + 1e-20))
    return max(band, float(np.percentile(r, 90) - np.percentile(r, 10)))
