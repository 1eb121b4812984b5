"""Read a sample file into mono float32 at the model's sample rate.

libsndfile (through soundfile) reads every format musicians keep samples in; soxr resamples
with a high-quality, deterministic filter. Everything that can go wrong with a user's file
becomes a `DecodeError` that names the file and says why in words a musician understands.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import sys
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
    warning: str | None = None  # something was repaired (e.g. NaN samples replaced by silence)
    # The file's own channels at `source_rate`, (frames, channels) float32, when asked for
    # (`keep_channels`): loudness and true peak are defined on them, not on the mono mix.
    channel_data: np.ndarray | None = None


def is_audio_path(path: str | os.PathLike) -> bool:
    return os.path.splitext(os.fspath(path))[1].lower() in AUDIO_EXTENSIONS


def _open_regular_file(path: str) -> tuple[int, int]:
    """Open `path` for reading without ever blocking; returns (fd, size).

    Opening with O_NONBLOCK and checking the *opened* file (fstat) refuses FIFOs, devices
    and folders without hanging on them, and without a window in which the path could be
    swapped for one after a check.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise DecodeError(path, "broken link: the file it points to does not exist") from None
        raise DecodeError(path, "file not found") from None
    except PermissionError:
        raise DecodeError(path, "unreadable: permission denied") from None
    except IsADirectoryError:
        raise DecodeError(path, "is a folder, not an audio file") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise DecodeError(path, "unreadable: symbolic link loop") from None
        if e.errno == errno.ENXIO:  # a socket, or a FIFO without a writer on some systems
            raise DecodeError(path, "not a regular file (pipe, socket or device)") from None
        raise DecodeError(path, f"unreadable: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise DecodeError(path, "is a folder, not an audio file")
        if not stat.S_ISREG(st.st_mode):
            raise DecodeError(path, "not a regular file (pipe, socket or device)")
        if st.st_size == 0:
            raise DecodeError(path, "empty file (0 bytes)")
    except BaseException:
        os.close(fd)
        raise
    return fd, st.st_size


def _pread(fd: int, n: int, offset: int) -> bytes:
    try:
        if hasattr(os, "pread"):
            return os.pread(fd, n, offset)
        os.lseek(fd, offset, os.SEEK_SET)
        return os.read(fd, n)
    except OSError:
        return b""


def _check_wav_header(path: str, fd: int, size: int) -> None:
    """What libsndfile papers over in a RIFF/WAVE header: it silently reads a truncated file
    as a shorter one and reports a zero rate or channel count as an internal error."""
    head = _pread(fd, 12, 0)
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return
    pos, fmt = 12, None
    for _ in range(64):  # a handful of chunks precede the audio in any real file
        chunk = _pread(fd, 8, pos)
        if len(chunk) < 8:
            return
        cid, csize = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if cid == b"fmt ":
            body = _pread(fd, 16, pos + 8)
            if len(body) < 16:
                raise DecodeError(path, "truncated: the header ends inside its format description")
            _tag, channels, rate, _bps, block, bits = struct.unpack("<HHIIHH", body)
            if rate == 0:
                raise DecodeError(path, "invalid header: sample rate 0")
            if channels == 0:
                raise DecodeError(path, "invalid header: 0 channels")
            fmt = (channels, rate, block)
        elif cid == b"data":
            available = size - (pos + 8)
            if fmt is None or csize in (0, 0xFFFFFFFF) or csize <= available:
                return  # streaming writers leave the size 0 or -1; libsndfile reads to the end
            _channels, rate, block = fmt
            if block > 0 and available < csize // 2:
                promised = csize / block / rate
                holds = max(available, 0) / block / rate
                raise DecodeError(path, f"truncated: the header promises {promised:.2f} s of audio, "
                                        f"the file holds {holds:.2f} s")
            return
        pos += 8 + csize + (csize & 1)


def _explain(err: Exception, head: bytes) -> str:
    text = str(getattr(err, "error_string", "") or err).strip().rstrip(".")
    low = text.lower()
    if "unsupported" in low or "not supported" in low or "codec" in low:
        return f"unsupported encoding ({text})"
    if head[:4] in (b"RIFF", b"FORM", b"fLaC", b"OggS", b"RF64") or head[:3] == b"ID3":
        return f"corrupt or truncated audio data ({text})"
    if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head):
        return "not audio: the file contains text"
    return "not audio: format not recognised"


def _to_mono(x: np.ndarray) -> np.ndarray:
    if x.ndim == 1:
        return x
    if x.shape[1] == 1:
        return x[:, 0]
    if x.shape[1] == 2:  # 10x faster than mean(axis=1) on long stereo files
        return (x[:, 0] + x[:, 1]) * np.float32(0.5)
    return x.mean(axis=1, dtype=np.float32)


def decode(path: str | os.PathLike, sample_rate: int = 48000,
           max_seconds: float | None = MAX_DECODE_SECONDS, keep_channels: bool = False) -> Decoded:
    """Decode `path` to mono float32 at `sample_rate`.

    Raises:
        DecodeError: the file is missing, empty, unreadable, not audio, truncated, of an
            unsupported encoding, has no samples, or only NaN/inf samples (a few among valid
            audio are replaced by silence and named in `Decoded.warning`).
    """
    p = os.fspath(path)
    fd, size = _open_regular_file(p)
    try:
        _check_wav_header(p, fd, size)
        # An open descriptor, not the path: the file checked is the file read, and names that
        # are not valid UTF-8 (which soundfile cannot encode) open like any other.
        source = p if sys.platform == "win32" else fd
        try:
            with sf.SoundFile(source, closefd=False) as f:
                rate, channels, frames = f.samplerate, f.channels, f.frames
                fmt, subtype = f.format, f.subtype
                if rate <= 0:
                    raise DecodeError(p, f"invalid header: sample rate {rate}")
                if channels <= 0:
                    raise DecodeError(p, "invalid header: 0 channels")
                limit = frames if max_seconds is None else min(frames, int(max_seconds * rate))
                data = f.read(frames=limit, dtype="float32", always_2d=True)
        except DecodeError:
            raise
        except (sf.LibsndfileError, RuntimeError, ValueError, TypeError) as e:
            raise DecodeError(p, _explain(e, _pread(fd, 16, 0))) from None
        except MemoryError:
            raise DecodeError(p, "too large to decode") from None
        except OSError as e:
            raise DecodeError(p, f"unreadable: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if data.shape[0] == 0:
        if frames > 0:
            raise DecodeError(p, "truncated: the header promises audio but the data is missing")
        raise DecodeError(p, "no audio: the file holds 0 samples")
    if frames > 0 and data.shape[0] < min(frames, limit) // 2:
        raise DecodeError(p, f"truncated: {data.shape[0]} of {frames} frames readable")
    data, warning = _repair_invalid_samples(p, data)
    mono = np.ascontiguousarray(_to_mono(data), dtype=np.float32)
    if rate != sample_rate:
        mono = soxr.resample(mono, rate, sample_rate, quality="HQ").astype(np.float32, copy=False)
    return Decoded(samples=mono, sample_rate=sample_rate, duration=frames / rate, channels=channels,
                   source_rate=rate, format=fmt, subtype=subtype, warning=warning,
                   channel_data=data if keep_channels else None)


def _repair_invalid_samples(path: str, data: np.ndarray) -> tuple[np.ndarray, str | None]:
    """A few NaN/inf samples (a glitch of some float writer) become silence, with a warning;
    a file with no valid sample at all is not audio."""
    if np.isfinite(data.sum()):  # NaN and inf propagate through a sum: one cheap pass
        return data, None
    finite = np.isfinite(data)
    if finite.all():  # the sum overflowed on huge but finite samples
        return data, None
    valid = int(np.count_nonzero(finite))
    if valid == 0:
        raise DecodeError(path, "invalid samples: every sample is NaN or infinite")
    bad = data.size - valid
    return (np.nan_to_num(data, nan=0.0, posinf=0.0, neginf=0.0),
            f"{bad} NaN/infinite sample{'s' if bad != 1 else ''} of {data.size} replaced by silence")


def file_format(path: str | os.PathLike) -> str:
    """The container name as a musician reads it ("WAV", "FLAC"), from the extension."""
    return Path(path).suffix.lstrip(".").upper()
