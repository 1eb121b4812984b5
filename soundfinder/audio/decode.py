"""Read a sample file into mono float32 at the model's sample rate.

libsndfile (through soundfile) reads every format musicians keep samples in; soxr resamples
with a high-quality, deterministic filter. Everything that can go wrong with a user's file
becomes a `DecodeError` that names the file and says why in words a musician understands.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

AUDIO_EXTENSIONS = frozenset({
    ".wav", ".wave", ".aif", ".aiff", ".aifc", ".flac", ".ogg", ".oga", ".mp3", ".au", ".snd",
    ".caf", ".w64", ".rf64",
})

# The longest stretch we decode: enough for the embedding windows of a long file while
# keeping a 2-hour field recording from costing gigabytes.
MAX_DECODE_SECONDS = 600.0


class DecodeError(Exception):
    """A file that cannot become audio; `reason` is a short phrase stored in the catalog."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass(frozen=True)
class Decoded:
    samples: np.ndarray  # mono float32 at `sample_rate`
    sample_rate: int
    duration: float  # seconds of the whole file, even when only a part was decoded
    channels: int
    source_rate: int
    format: str  # e.g. "WAV", "FLAC"
    subtype: str  # e.g. "PCM_24", "FLOAT"


def is_audio_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in AUDIO_EXTENSIONS


def _check_regular_file(path: str) -> int:
    """Refuse what would hang or mislead libsndfile (FIFOs, devices, folders) before opening."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "unreadable: permission denied") from None
    except OSError as e:
        raise DecodeError(path, f"unreadable: {e.strerror or e}") from None
    if stat.S_ISDIR(st.st_mode):
        raise DecodeError(path, "is a folder, not an audio file")
    if not stat.S_ISREG(st.st_mode):
        raise DecodeError(path, "not a regular file (pipe, socket or device)")
    if st.st_size == 0:
        raise DecodeError(path, "empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise DecodeError(path, "unreadable: permission denied")
    return st.st_size


def _explain(path: str, err: Exception) -> str:
    text = str(err).lower()
    head = b""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        pass
    if "unsupported" in text or "not supported" in text or "codec" in text:
        return f"unsupported encoding ({err})"
    if head[:4] in (b"RIFF", b"FORM", b"fLaC", b"OggS", b"RF64") or head[:3] == b"ID3":
        return f"corrupt or truncated audio data ({err})"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "not audio: the file contains text"
    return f"not audio: format not recognised ({err})"


def _to_mono(x: np.ndarray) -> np.ndarray:
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] == 2:  # 10x faster than mean(axis=1) on long stereo files
        return (x[:, 0] + x[:, 1]) * np.float32(0.5)
    return x.mean(axis=1, dtype=np.float32)


def decode(path: str | os.PathLike, sample_rate: int = 48000,
           max_seconds: float | None = MAX_DECODE_SECONDS) -> Decoded:
    """Decode `path` to mono float32 at `sample_rate`.

    Raises:
        DecodeError: the file is missing, empty, unreadable, not audio, truncated, of an
            unsupported encoding, has no samples, or contains NaN/inf samples.
    """
    p = os.fspath(path)
    _check_regular_file(p)
    try:
        with sf.SoundFile(p) as f:
            rate, channels, frames = f.samplerate, f.channels, f.frames
            fmt, subtype = f.format, f.subtype
            if rate <= 0:
                raise DecodeError(p, f"invalid sample rate {rate}")
            if channels <= 0:
                raise DecodeError(p, "invalid header: 0 channels")
            limit = frames if max_seconds is None else min(frames, int(max_seconds * rate))
            data = f.read(frames=limit, dtype="float32", always_2d=True)
    except DecodeError:
        raise
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
        raise DecodeError(p, _explain(p, e)) from None
    except MemoryError:
        raise DecodeError(p, "too large to decode") from None
    except OSError as e:
        raise DecodeError(p, f"unreadable: {e.strerror or e}") from None
    if data.shape[0] == 0:
        if frames > 0:
            raise DecodeError(p, "truncated: the header promises audio but the data is missing")
        raise DecodeError(p, "no audio: the file holds 0 samples")
    if frames > 0 and data.shape[0] < min(frames, limit) // 2:
        raise DecodeError(p, f"truncated: {data.shape[0]} of {frames} frames readable")
    if not np.isfinite(data).all():
        raise DecodeError(p, "invalid samples: the file contains NaN or infinite values")
    mono = np.ascontiguousarray(_to_mono(data), dtype=np.float32)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
    return Decoded(samples=mono, sample_rate=sample_rate, duration=frames / rate, channels=channels,
                   source_rate=rate, format=fmt, subtype=subtype)


def file_format(path: str | os.PathLike) -> str:
    """The container name as a musician reads it ("WAV", "FLAC"), from the extension."""
    return Path(path).suffix.lstrip(".").upper()
