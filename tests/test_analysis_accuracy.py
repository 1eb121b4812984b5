"""Musical analysis, the cases the bench found wrong: half/double/3:4 tempo of drum grooves,
D# keys, long drum hits called loops, Ogg Vorbis tags and Apple Loops `basc` chunks."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from soundfinder.analysis import analyze
from soundfinder.analysis.key import chroma
from soundfinder.analysis.signal import Signal
from soundfinder.audio.metadata import read_metadata

RATE = 44100


# -- tempo -----------------------------------------------------------------------------------

def _drum(kind: str, seconds: float, rng) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    if kind == "kick":
        return np.sin(2 * np.pi * np.cumsum(55 + 90 * np.exp(-t / 0.03)) / RATE) * np.exp(-t / 0.12)
    if kind == "snare":
        return (0.6 * rng.standard_normal(len(t)) + np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.08)
    noise = rng.standard_normal(len(t))
    return 0.4 * np.diff(noise, prepend=0.0) * np.exp(-t / 0.03)  # hi-hat: bright, short


def groove(bpm: float, bars: int, kick, snare, hats, swing: bool = False, seed: int = 0) -> np.ndarray:
    """A drum loop on the 16-step grid (steps per bar), exact length, tails wrapped."""
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    n = int(round(bars * 4 * beat * RATE))
    out = np.zeros(n)
    for inst, steps, vel in (("kick", kick, 1.0), ("snare", snare, 0.9), ("hat", hats, 0.5)):
        s = _drum(inst, 0.4, rng) * vel
        for bar in range(bars):
            for step in steps:
                pos = step / 4 + (1 / 6 if swing and step % 4 == 2 else 0.0)
                start = int(round((bar * 4 + pos) * beat * RATE))
                idx = (start + np.arange(len(s))) % n
                np.add.at(out, idx, s)
    return (0.8 * out / np.abs(out).max()).astype(np.float32)


EIGHTHS = list(range(0, 16, 2))


@pytest.mark.parametrize("bpm, bars, kick, snare, hats, swing", [
    (140.0, 2, [0, 11], [8], EIGHTHS, False),  # half-time, the snare on 3: was read at half
    (160.0, 2, [0, 11], [8], EIGHTHS, False),
    (80.0, 2, [0, 8], [4, 12], EIGHTHS, False),  # slow rock: not at double
    (150.0, 4, [0, 10], [4, 12], EIGHTHS, True),  # swung eighths: not at 3/4 (112.5)
    (76.0, 1, [0, 4, 8, 12], [4, 12], [2, 6, 10, 14], False),  # four on the floor, slow
])
def test_tempo_of_grooves_that_fooled_the_old_scoring(bpm, bars, kick, snare, hats, swing):
    d = analyze(groove(bpm, bars, kick, snare, hats, swing), RATE, "/s/untitled.wav")
    assert d.kind == "loop" and d.bpm_source == "audio"
    assert abs(d.bpm - bpm) <= 0.02 * bpm, d.bpm


# -- key -------------------------------------------------------------------------------------

def _note(midi: int, seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    f = 440.0 * 2 ** ((midi - 69) / 12)
    return sum(np.sin(2 * np.pi * k * f * t) / k for k in range(1, 6)) * np.exp(-t / 1.5)


def test_a_low_d_sharp_lands_on_d_sharp():
    # D#2 is 77.8 Hz; the spectrum's bins are 10.8 Hz apart: the bin itself says D or E.
    c, bass = chroma(Signal.from_samples(_note(39, 1.0).astype(np.float32), RATE))
    assert int(np.argmax(c)) == 3 and int(np.argmax(bass)) == 3


@pytest.mark.parametrize("tonic, minor, name", [(3, False, "D# major"), (3, True, "D# minor")])
def test_d_sharp_keys(tonic, minor, name):
    third = 3 if minor else 4
    chords = [(0, third, 7), (5, 5 + (3 if minor else 4), 12), (7, 7 + 3 + (not minor), 14), (0, third, 7)]
    parts = []
    for root, mid, top in chords:
        x = _note(36 + tonic + root, 1.0) + sum(_note(60 + tonic + iv, 1.0) * 0.6 for iv in (root, mid, top))
        parts.append(x)
    d = analyze(np.concatenate(parts).astype(np.float32) * 0.1, RATE, "/s/untitled.wav")
    assert d.key == name


# -- loop or one-shot ------------------------------------------------------------------------

def test_a_ringing_cymbal_with_restrikes_is_a_one_shot():
    """A bell or ride that rings for seconds with re-strikes (or beating) 18 dB down has
    "attacks" all along: still one hit."""
    t = np.arange(3 * RATE) / RATE
    partials = sum(np.sin(2 * np.pi * f * t) for f in (523.0, 1187.0, 1951.0, 2843.0))
    env = np.exp(-t / 0.3)
    for s in (0.7, 1.4, 2.1, 2.8):
        env = env + 0.125 * np.exp(-np.clip(t - s, 0, None) / 0.3) * (t >= s)
    x = (0.2 * partials * env).astype(np.float32)
    assert analyze(x, RATE, "/s/untitled.wav").kind == "one-shot"
    loop = groove(120.0, 2, [0, 8], [4, 12], EIGHTHS)
    assert analyze(loop, RATE, "/s/untitled.wav").kind == "loop"


# -- metadata: Ogg Vorbis comments -----------------------------------------------------------

def _crc32_ogg(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_pages(data: bytes):
    pos = 0
    while pos < len(data):
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        body = data[pos + 27 + nseg:pos + 27 + nseg + sum(lacing)]
        yield data[pos:pos + 27], lacing, body
        pos += 27 + nseg + sum(lacing)


def _page(header: bytes, seq: int, lacing: bytes, body: bytes, continued: bool = False) -> bytes:
    flags = (header[5] & ~1) | (1 if continued else 0)
    h = header[:5] + bytes([flags]) + header[6:18] + struct.pack("<I", seq) + b"\0\0\0\0" + bytes([len(lacing)])
    page = h + lacing + body
    return page[:22] + struct.pack("<I", _crc32_ogg(page)) + page[26:]


def with_vorbis_comments(path, comments: list[bytes], segments_per_page: int = 3) -> None:
    """Replace an Ogg Vorbis file's comment header; the new one is paged a few segments at a
    time so that it spans pages, as a long tag list does."""
    pages = list(_ogg_pages(path.read_bytes()))
    packets, packet, used = [], b"", 0
    for _h, lacing, body in pages:  # the three header packets
        used += 1
        off = 0
        for lace in lacing:
            packet += body[off:off + lace]
            off += lace
            if lace < 255:
                packets.append(packet)
                packet = b""
        if len(packets) >= 3:
            break
    vendor = b"test"
    comment = b"\x03vorbis" + struct.pack("<I", len(vendor)) + vendor + struct.pack("<I", len(comments))
    comment += b"".join(struct.pack("<I", len(c)) + c for c in comments) + b"\x01"
    header = pages[0][0]
    out = [_page(header, 0, bytes([len(packets[0])]), packets[0])]
    # comment + setup packets, laced, then cut into pages of a few segments
    laced = []
    for p in (comment, packets[2]):
        lens = [255] * (len(p) // 255) + [len(p) % 255]
        chunks, off = [], 0
        for n in lens:
            chunks.append((n, p[off:off + n]))
            off += n
        laced.extend(chunks)
    mid = header[:5] + b"\0" + b"\0" * 8 + header[14:]  # granule 0, not BOS
    seq = 1
    for i in range(0, len(laced), segments_per_page):
        part = laced[i:i + segments_per_page]
        continued = i > 0 and laced[i - 1][0] == 255
        out.append(_page(mid, seq, bytes(n for n, _ in part), b"".join(c for _, c in part), continued))
        seq += 1
    for h, lacing, body in pages[used:]:
        out.append(_page(h, seq, lacing, body, bool(h[5] & 1)))
        seq += 1
    path.write_bytes(b"".join(out))


def test_ogg_vorbis_bpm_and_key_comments(tmp_path):
    x = (0.3 * np.sin(2 * np.pi * 220 * np.arange(RATE) / RATE)).astype(np.float32)
    path = tmp_path / "untitled.ogg"
    sf.write(str(path), x, RATE, format="OGG", subtype="VORBIS")
    assert not read_metadata(path).bpm  # soundfile writes no tempo of its own
    long_tag = b"DESCRIPTION=" + b"x" * 900  # pushes the tempo past the first page
    with_vorbis_comments(path, [b"TITLE=t", long_tag, b"BPM=93", b"KEY=Ebm"])
    y, sr = sf.read(str(path), dtype="float32")  # still a valid Ogg Vorbis file
    assert sr == RATE and len(y) == len(x)
    meta = read_metadata(path)
    assert meta.bpm == 93.0 and meta.key == "Ebm" and "vorbis" in meta.sources
    d = analyze(y, sr, path, meta)
    assert (d.bpm, d.bpm_source, d.key, d.key_source) == (93.0, "metadata", "D# minor", "metadata")


# -- metadata: Apple Loops basc in AIFF ------------------------------------------------------

def with_basc(path, beats: int, root: int, scale: int, loop_type: int, den: int = 4) -> None:
    """Append an Apple Loops `basc` chunk (84 bytes, big-endian, as libsndfile reads it)."""
    body = struct.pack(">IIHHHHH", 1, beats, root, scale, 4, den, loop_type).ljust(84, b"\0")
    data = bytearray(path.read_bytes())
    data += b"basc" + struct.pack(">I", len(body)) + body
    data[4:8] = struct.pack(">I", len(data) - 8)
    path.write_bytes(bytes(data))


def test_aiff_apple_loops_basc_chunk(tmp_path):
    loop = groove(120.0, 2, [0, 8], [4, 12], EIGHTHS)  # 4 s, 8 beats at 120
    path = tmp_path / "untitled.aif"
    sf.write(str(path), loop, RATE, format="AIFF", subtype="PCM_16")
    with_basc(path, beats=16, root=57, scale=1, loop_type=0)  # says 16 beats: 240 BPM, A minor
    meta = read_metadata(path)
    assert (meta.beats, meta.key, meta.one_shot) == (16, "A minor", False) and "basc" in meta.sources
    x, sr = sf.read(str(path), dtype="float32")
    d = analyze(x, sr, path, meta)
    assert (d.bpm, d.bpm_source, d.key, d.kind, d.kind_source) == (240.0, "metadata", "A minor", "loop", "metadata")

    hit = tmp_path / "hit.aif"
    sf.write(str(hit), loop, RATE, format="AIFF", subtype="PCM_16")
    with_basc(hit, beats=0, root=48, scale=3, loop_type=1)  # a one-shot, no key
    meta = read_metadata(hit)
    assert meta.one_shot is True and meta.key is None
    assert analyze(*sf.read(str(hit), dtype="float32"), hit, meta).kind == "one-shot"

    eighths = tmp_path / "six-eight.aif"
    sf.write(str(eighths), loop, RATE, format="AIFF", subtype="PCM_16")
    with_basc(eighths, beats=12, root=60, scale=2, loop_type=0, den=8)  # 12 eighths = 6 quarters
    assert read_metadata(eighths).beats == 6
