"""Build a hostile sample library: every kind of junk real sample folders hold.

`build_hostile(root)` writes the tree and returns a manifest: one `Entry` per hostile kind,
naming the path that kind produced and the outcome indexing must give it:

    "indexed"              the file is in the catalog with a vector
    "failed: <a>|<b>"      the file is in the catalog as failed, its reason contains <a> or <b>
    "skipped"              the path is not in the catalog at all (folders, loops, non-audio)

`privileged` says whether the indexing process bypasses file permissions (root): then the
unreadable file and folder are read anyway and index like any other sound.

Run as a script to build a tree by hand: `python tests/hostile.py /tmp/hostile`.
"""

from __future__ import annotations

import os
import stat
import struct
import sys
import unicodedata
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 48000


@dataclass(frozen=True)
class Entry:
    kind: str
    path: str  # absolute; may hold surrogate escapes (non-UTF-8 names)
    expect: str  # "indexed", "failed: <reason substring>", "skipped"


def _tone(seconds: float, rate: int = RATE, freq: float = 440.0, seed: int = 0, channels: int = 1) -> np.ndarray:
    n = max(1, int(round(seconds * rate)))
    t = np.arange(n) / rate
    rng = np.random.default_rng(seed)
    x = 0.4 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.standard_normal(n)
    x = x.astype(np.float32)
    if channels > 1:
        x = np.stack([x * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
    return x


def wav_header(rate: int, channels: int, bits: int = 16, data_bytes: int = 0, fmt_tag: int = 1) -> bytes:
    """A canonical 44-byte RIFF/WAVE header, values taken as given (even impossible ones)."""
    block = channels * bits // 8
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block, block, bits)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
            + b"data" + struct.pack("<I", data_bytes))


def build_hostile(root: str | os.PathLike, privileged: bool | None = None) -> list[Entry]:
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if privileged is None:
        privileged = hasattr(os, "geteuid") and os.geteuid() == 0
    entries: list[Entry] = []
    seed = iter(range(1, 10_000))

    def add(kind: str, rel: str | bytes, expect: str) -> str:
        path = os.path.join(os.fsencode(root), rel) if isinstance(rel, bytes) else str(root / rel)
        path = os.fsdecode(path)
        entries.append(Entry(kind, path, expect))
        return path

    def audio(kind: str, rel: str | bytes, data: np.ndarray, rate: int = RATE, expect: str = "indexed",
              **kw) -> str:
        path = add(kind, rel, expect)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with sf.SoundFile(os.fsencode(path), "w", rate, 1 if data.ndim == 1 else data.shape[1], **kw) as f:
            f.write(data)
        return path

    def raw(kind: str, rel: str | bytes, data: bytes, expect: str) -> str:
        path = add(kind, rel, expect)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return path

    rng = np.random.default_rng(1234)

    # -- broken files ------------------------------------------------------------------------
    raw("zero-byte", "broken/zero.wav", b"", "failed: empty file")
    pcm = (_tone(0.1, seed=next(seed)) * 32767).astype("<i2").tobytes()
    raw("truncated WAV (header promises 2 s)", "broken/truncated.wav",
        wav_header(RATE, 1, 16, data_bytes=2 * RATE * 2) + pcm, "failed: truncated")
    raw("random bytes .wav", "broken/random.wav", rng.bytes(20000), "failed: not audio")
    raw("random bytes .flac", "broken/random.flac", rng.bytes(20000), "failed: not audio")
    raw("random bytes .mp3", "broken/random.mp3", rng.bytes(20000), "failed: not audio")
    raw("text named .wav", "broken/readme.wav", b"These are my favourite kicks, do not delete!\n" * 20,
        "failed: contains text")
    raw("header-only WAV (0 data bytes)", "broken/header_only.wav", wav_header(RATE, 1, 16, 0),
        "failed: 0 samples")
    raw("header-only WAV promising data", "broken/header_promises.wav", wav_header(RATE, 1, 16, 96000),
        "failed: truncated")
    raw("WAV with sample rate 0", "broken/rate0.wav", wav_header(0, 1, 16, len(pcm)) + pcm, "failed: sample rate 0")
    raw("WAV with 0 channels", "broken/chan0.wav", wav_header(RATE, 0, 16, len(pcm)) + pcm, "failed: 0 channels")
    flac = root / "broken" / "_tmp.flac"
    sf.write(str(flac), _tone(2.0, seed=next(seed)), RATE, subtype="PCM_16", format="FLAC")
    data = bytearray(flac.read_bytes())
    flac.unlink()
    cut = len(data) // 5
    data[cut:] = rng.bytes(len(data) - cut)  # frames after the first fifth are noise
    raw("corrupted FLAC frames", "broken/corrupt_frames.flac", bytes(data), "failed: corrupt")

    # -- every sample format -----------------------------------------------------------------
    for sub in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        audio(f"WAV {sub}", f"formats/{sub.lower()}.wav", _tone(0.5, seed=next(seed)), subtype=sub)
    audio("6-channel WAV", "formats/surround_5_1.wav", _tone(0.5, seed=next(seed), channels=6))
    audio("8 kHz", "formats/rate_8k.wav", _tone(0.5, 8000, 300, next(seed)), rate=8000)
    audio("192 kHz", "formats/rate_192k.wav", _tone(0.5, 192000, 3000, next(seed)), rate=192000,
          subtype="PCM_24")
    audio("1-frame file", "formats/one_frame.wav", np.array([0.5], dtype=np.float32))
    audio("10 ms file", "formats/ten_ms.wav", _tone(0.01, seed=next(seed)))
    # 10 minutes of 4 kHz 8-bit audio: 2.4 MB on disk, the whole decode limit
    audio("10-minute file", "formats/ten_minutes.wav",
          np.tile(_tone(1.0, 4000, 100, next(seed)) * 0.1, 600), rate=4000, subtype="PCM_U8")
    audio("all-silent", "formats/silence.wav", np.zeros(RATE // 2, dtype=np.float32))
    audio("DC full-scale", "formats/dc.wav", np.ones(RATE // 2, dtype=np.float32), subtype="FLOAT")
    bad = _tone(0.5, seed=next(seed))
    bad[100], bad[200], bad[300] = np.nan, np.inf, -np.inf
    audio("NaN/inf samples", "formats/nan_inf.wav", bad, subtype="FLOAT")  # repaired, with a warning
    audio("only NaN/inf samples", "formats/all_nan.wav", np.full(RATE // 10, np.nan, dtype=np.float32),
          subtype="FLOAT", expect="failed: NaN")
    audio("AIFF", "formats/kick.aiff", _tone(0.3, 44100, seed=next(seed)), rate=44100)
    audio("OGG Vorbis", "formats/pad.ogg", _tone(0.5, seed=next(seed)), format="OGG")
    audio("MP3", "formats/lead.mp3", _tone(0.5, seed=next(seed)), format="MP3")
    audio("FLAC content named .wav", "formats/really_flac.wav", _tone(0.5, seed=next(seed)), format="FLAC")
    audio("upper-case extension", "formats/LOUD_SNARE.WAV", _tone(0.3, seed=next(seed)))
    audio("upper-case .FLAC", "formats/HAT.FLAC", _tone(0.3, seed=next(seed)), format="FLAC")
    with wave.open(str(root / "formats" / "_stdlib.wav"), "wb") as w:  # a writer other than libsndfile
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(22050)
        w.writeframes((_tone(0.3, 22050, seed=next(seed), channels=2) * 32767).astype("<i2").tobytes())
    entries.append(Entry("WAV written by Python's wave module", str(root / "formats" / "_stdlib.wav"),
                         "indexed"))

    # -- names -------------------------------------------------------------------------------
    names = {
        "name with spaces": "names/my kick 01 (final).wav",
        "name with quotes": "names/it's a \"quoted\" `sound`.wav",
        "name with emoji": "names/\U0001f941 drum \U0001f525.wav",
        "name with newline": "names/new\nline.wav",
        "name with tab": "names/tab\there.wav",
        "leading dash": "names/-rf --help.wav",
        "shell metacharacters": "names/$(touch pwned); rm -rf ~ |&.wav",
    }
    for kind, rel in names.items():
        audio(kind, rel, _tone(0.2, seed=next(seed)))
    audio("non-UTF-8 name (latin-1 bytes)", b"names/caf\xe9 \xff\xfe.wav", _tone(0.2, seed=next(seed)))
    nfc = unicodedata.normalize("NFC", "names/Caf\u00e9 Kick.wav")
    nfd = unicodedata.normalize("NFD", nfc)
    assert nfc != nfd
    audio("NFC twin", nfc, _tone(0.2, seed=next(seed)))
    audio("NFD twin", nfd, _tone(0.2, seed=next(seed)))

    # -- file system oddities ------------------------------------------------------------------
    odd = root / "odd"
    odd.mkdir()
    os.symlink(".", odd / "loop")  # odd/loop/loop/loop/... : must be walked once
    entries.append(Entry("symlink loop (folder)", str(odd / "loop"), "skipped"))
    audio("file beside the folder loop", "odd/inside_loop.wav", _tone(0.2, seed=next(seed)))
    os.symlink("self_b.wav", odd / "self_a.wav")
    os.symlink("self_a.wav", odd / "self_b.wav")
    for name in ("self_a.wav", "self_b.wav"):
        entries.append(Entry(f"symlink loop (files): {name}", str(odd / name), "failed: link loop|dangling link"))
    os.symlink("does/not/exist.wav", odd / "dangling.wav")
    entries.append(Entry("dangling symlink", str(odd / "dangling.wav"), "failed: broken link|dangling link"))
    os.mkdir(odd / "folder.wav")
    entries.append(Entry("folder named like.wav", str(odd / "folder.wav"), "skipped"))
    audio("file inside folder named .wav", "odd/folder.wav/inner.wav", _tone(0.2, seed=next(seed)))
    if hasattr(os, "mkfifo"):
        os.mkfifo(odd / "pipe.wav")
        entries.append(Entry("FIFO named .wav", str(odd / "pipe.wav"), "failed: not a regular file"))
    raw("not audio by extension", "odd/notes.txt", b"hello", "skipped")
    locked = audio("unreadable file (mode 000)", "odd/locked.wav", _tone(0.2, seed=next(seed)),
                   expect="indexed" if privileged else "failed: permission denied|no permission")
    os.chmod(locked, 0)
    closed = audio("file in an unreadable folder (mode 000)", "odd/closed/inside.wav",
                   _tone(0.2, seed=next(seed)), expect="indexed" if privileged else "skipped")
    os.chmod(os.path.dirname(closed), 0)
    deep = "/".join(f"level{i:02d}" for i in range(30))
    audio("nested 30 levels deep", f"{deep}/deep.wav", _tone(0.2, seed=next(seed)))
    return entries


def make_writable(root: str | os.PathLike) -> None:
    """Undo the chmod 000 entries so the tree can be deleted."""
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            p = os.path.join(dirpath, d)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
    for dirpath, _, filenames in os.walk(root):
        for f in filenames:
            p = os.path.join(dirpath, f)
            if not os.path.islink(p) and os.path.isfile(p):
                os.chmod(p, 0o644)


if __name__ == "__main__":
    for e in build_hostile(sys.argv[1]):
        print(f"{e.expect:40} {e.kind}: {e.path!r}")
