"""Conversion of one sound for export: WAV 16/24-bit, 44.1/48 kHz, peak or LUFS normalisation.

The whole file is decoded with its channels (a stereo loop stays stereo), resampled with soxr
(the same resampler as indexing), scaled, and written as PCM WAV. Loudness is ITU-R BS.1770
measured by the same meter as the library's LUFS column (`analysis.loudness`, pyloudnorm's
filters), over the whole file, so "-14LUFS" lands where the column says it will. A gain that would clip is reduced so the peak stays at
-1 dBFS, and the manifest says so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

FORMATS = {"wav16": "PCM_16", "wav24": "PCM_24"}
RATES = (44100, 48000)
PEAK_CEILING_DB = -1.0  # "peak" normalises to this, and LUFS gains never push the peak past it


class ConvertError(ValueError):
    pass


@dataclass
class ConvertOptions:
    format: str | None = None  # "wav16" | "wav24"; None with a rate/normalisation: wav24
    rate: int | None = None  # 44100 | 48000; None keeps the source rate
    normalize: str | None = None  # "peak" | "-14LUFS" (any target in LUFS)

    @property
    def active(self) -> bool:
        return bool(self.format or self.rate or self.normalize)

    def check(self) -> ConvertOptions:
        if self.format is not None and self.format not in FORMATS:
            raise ConvertError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")
        if self.rate is not None and self.rate not in RATES:
            raise ConvertError(f"rate must be 44100 or 48000, not {self.rate!r}")
        if self.normalize is not None:
            parse_normalize(self.normalize)
        return self


def parse_normalize(text: str) -> tuple[str, float]:
    """("peak", -1.0) or ("lufs", -14.0) from "peak" / "-14LUFS" / "-14 lufs"."""
    t = text.strip().lower()
    if t == "peak":
        return "peak", PEAK_CEILING_DB
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*lufs", t)
    if not m or not -70 <= float(m.group(1)) <= 0:
        raise ConvertError(f"normalize must be 'peak' or a loudness like '-14LUFS' (-70..0), not {text!r}")
    return "lufs", float(m.group(1))


def loudness(x: np.ndarray, rate: int) -> float:
    """Integrated LUFS of the whole sound; -inf when silent."""
    from soundfinder.analysis.loudness import integrated_lufs

    level = integrated_lufs(x, rate, max_seconds=None)
    return float("-inf") if level is None else level


def convert(source: str, options: ConvertOptions) -> tuple[np.ndarray, int, str, dict]:
    """(samples frames×channels float32, rate, soundfile subtype, notes for the manifest)."""
    import soundfile as sf
    import soxr

    x, rate = sf.read(source, dtype="float32", always_2d=True)
    notes: dict = {}
    if options.rate and options.rate != rate:
        x = soxr.resample(x, rate, options.rate, quality="VHQ").astype(np.float32)
        rate = options.rate
    if options.normalize:
        x, notes = _normalize(x, rate, options.normalize)
    subtype = FORMATS[options.format or "wav24"]
    return np.clip(x, -1.0, 1.0), rate, subtype, notes


def _normalize(x: np.ndarray, rate: int, how: str) -> tuple[np.ndarray, dict]:
    mode, target = parse_normalize(how)
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 1e-9:
        return x, {"gain_db": 0.0, "note": "silent"}
    peak_db = 20 * np.log10(peak)
    if mode == "peak":
        gain = target - peak_db
        note = ""
    else:
        level = loudness(x, rate)
        if not np.isfinite(level):
            return x, {"gain_db": 0.0, "note": "too quiet to measure"}
        gain = target - level
        note = ""
        if peak_db + gain > PEAK_CEILING_DB:
            gain = PEAK_CEILING_DB - peak_db
            note = f"peak-limited (reached {level + gain:.1f} LUFS)"
    return (x * np.float32(10 ** (gain / 20))).astype(np.float32), {"gain_db": round(float(gain), 2), "note": note}
