"""Shared signal front end: one resample, one spectrogram, envelopes every analyser reads.

Analysis runs at 22.05 kHz on at most `MAX_SECONDS` of audio: tempo, key and pitch need
nothing above 11 kHz, and the cost stays bounded on a 10-minute file (bench/indexing.py's
30 s files cost 116 ms each with 120 s).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

RATE = 22050
N_FFT = 2048
HOP = 512
MAX_SECONDS = 30.0  # loops are shorter; a long file's key and type show in its first 30 s


def _window() -> np.ndarray:
    global _HANN
    if _HANN is None:
        _HANN = np.hanning(N_FFT).astype(np.float32)
    return _HANN


_HANN: np.ndarray | None = None


def resample(samples: np.ndarray, rate: int, target: int = RATE) -> np.ndarray:
    if rate == target:
        return np.ascontiguousarray(samples, dtype=np.float32)
    import soxr

    return soxr.resample(np.ascontiguousarray(samples, dtype=np.float32), rate, target,
                         quality="LQ").astype(np.float32, copy=False)


def frames(x: np.ndarray, n: int, hop: int) -> np.ndarray:
    """(count, n) views of `x` every `hop` samples, zero-padded so the tail gets a frame."""
    if len(x) < n:
        x = np.pad(x, (0, n - len(x)))
    count = 1 + (len(x) - n + hop - 1) // hop
    need = (count - 1) * hop + n
    if need > len(x):
        x = np.pad(x, (0, need - len(x)))
    return np.lib.stride_tricks.sliding_window_view(x, n)[::hop]


@dataclass
class Signal:
    """Mono audio at RATE plus lazily computed views shared by the analysers."""

    x: np.ndarray
    duration: float  # seconds of the whole file (the audio may be cut at MAX_SECONDS)

    @classmethod
    def from_samples(cls, samples: np.ndarray, rate: int, duration: float | None = None) -> Signal:
        samples = samples[: int(MAX_SECONDS * rate)]
        x = resample(samples, rate)
        x = x - np.float32(x.mean()) if len(x) else x  # DC offset would read as energy everywhere
        return cls(x, duration if duration is not None else len(samples) / rate)

    @cached_property
    def spectrum(self) -> np.ndarray:
        """Magnitude STFT, (frames, N_FFT // 2 + 1), Hann window, centred frames."""
        from scipy.fft import rfft  # float32 in, complex64 out: half numpy's work

        pad = np.pad(self.x, (N_FFT // 2, N_FFT // 2))
        fr = frames(pad, N_FFT, HOP)
        return np.abs(rfft(fr * _window(), axis=1)).astype(np.float32, copy=False)

    @cached_property
    def freqs(self) -> np.ndarray:
        return np.fft.rfftfreq(N_FFT, 1.0 / RATE)

    @cached_property
    def rms(self) -> np.ndarray:
        """RMS per hop (512 samples), no centring: frame i covers [i*HOP, i*HOP + HOP)."""
        n = len(self.x) // HOP
        if n == 0:
            return np.sqrt(np.mean(self.x ** 2, keepdims=True)) if len(self.x) else np.zeros(1)
        return np.sqrt(np.mean(self.x[: n * HOP].reshape(n, HOP) ** 2, axis=1))

    @cached_property
    def onset_envelope(self) -> np.ndarray:
        """Spectral flux of the log spectrum on a coarse band split, half-wave rectified.

        Log compression makes a quiet hi-hat count next to a loud kick, which is what a beat
        tracker needs; the band split keeps a kick from hiding a hat at the same instant.
        """
        return self.band_flux.sum(axis=1)

    @cached_property
    def low_onset_envelope(self) -> np.ndarray:
        """The same below 1 kHz: kicks, snares and bass notes, which carry the beat, without
        the hi-hats that carry its subdivisions."""
        return self.band_flux[:, :3].sum(axis=1)

    @cached_property
    def band_flux(self) -> np.ndarray:
        """(frames, 6) rectified log-spectral flux in bands split at 150, 400, 1000, 2500, 6000 Hz."""
        spec = self.spectrum
        if spec.shape[0] < 2:
            return np.zeros((max(spec.shape[0], 1), 6), dtype=np.float32)
        edges = np.searchsorted(self.freqs, [0, 150, 400, 1000, 2500, 6000, 11026])
        bands = np.add.reduceat(spec[:, : edges[-1]], edges[:-1], axis=1)  # (frames, 6) band sums
        logs = np.log1p(1000.0 * bands / (bands.max() + 1e-9))
        return np.maximum(np.diff(logs, axis=0, prepend=logs[:1]), 0.0).astype(np.float32)

    @property
    def frame_rate(self) -> float:
        return RATE / HOP
