"""Tempo, key, root note and loop facts a file carries about itself, read without decoding.

Sample packs and DAWs write them in chunks libsndfile ignores:
    WAV   `acid` (tempo, beats, root note, one-shot flag: ACIDized loops), `smpl` (unity note,
          loop points: samplers), an `id3 ` chunk (TBPM, TKEY)
    AIFF  `INST` (base note), `basc` (Apple Loops: beats, key, scale, loop flag), `ID3 `
    FLAC  Vorbis comments (BPM, TEMPO, KEY, INITIALKEY)   MP3  ID3v2 (TBPM, TKEY)
    OGG   Vorbis (or Opus) comments in the first pages

The file is opened read-only and only its first chunks are read (at most a few hundred KB
are scanned). Anything malformed is ignored: metadata is evidence, never a reason to fail.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field

_MAX_CHUNKS = 128
_NOTES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_MAX_TEXT_CHUNK = 1 << 20  # tags bigger than this are cover art, not tempo


@dataclass
class FileMetadata:
    bpm: float | None = None
    beats: int | None = None  # length in beats (acid, Apple Loops): tempo = beats / duration
    key: str | None = None  # as written ("Am", "A minor"); normalised by the analysis
    root_note: int | None = None  # MIDI note (acid root, AIFF base note, smpl unity note)
    one_shot: bool | None = None  # True: one-shot, False: loop, None: not said
    sources: list[str] = field(default_factory=list)  # chunks that said something ("acid", ...)

    def __bool__(self) -> bool:
        return bool(self.sources)


def read_metadata(path: str | os.PathLike) -> FileMetadata:
    """What `path`'s own chunks and tags say; an empty FileMetadata when nothing (or on error)."""
    meta = FileMetadata()
    try:
        with open(path, "rb") as f:
            head = f.read(12)
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                _riff(f, meta)
            elif head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                _aiff(f, meta)
            elif head[:4] == b"fLaC":
                _flac(f, meta)
            elif head[:3] == b"ID3":
                f.seek(0)
                _id3(f.read(_id3_size(head) + 10), meta)
            elif head[:4] == b"OggS":
                f.seek(0)
                _ogg(f.read(1 << 16), meta)
    except (OSError, struct.error, ValueError, IndexError, UnicodeError):
        pass
    return meta


def _chunks(f, start: int, little: bool):
    """(id, offset of body, size) of each chunk from `start`; stops at the first broken one."""
    f.seek(0, os.SEEK_END)
    end = f.tell()
    pos = start
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            return
        cid = hdr[:4]
        size = struct.unpack("<I" if little else ">I", hdr[4:])[0]
        if pos + 8 + size > end + 1:
            size = end - pos - 8
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def _riff(f, meta: FileMetadata) -> None:
    for cid, body, size in _chunks(f, 12, little=True):
        if cid == b"acid" and size >= 24:
            f.seek(body)
            flags, root, _u1, _u2, beats, _den, _num, tempo = struct.unpack("<IHHfIHHf", f.read(24))
            meta.sources.append("acid")
            meta.one_shot = bool(flags & 0x01)
            if flags & 0x02 and 0 <= root <= 127:
                meta.root_note = root
            if not meta.one_shot:
                if 20.0 <= tempo <= 999.0:
                    meta.bpm = float(tempo)
                if 0 < beats < 100000:
                    meta.beats = int(beats)
        elif cid == b"smpl" and size >= 36:
            f.seek(body)
            values = struct.unpack("<9I", f.read(36))
            unity, loops = values[3], values[7]
            # 60 is every writer's default and says nothing; another note was set on purpose.
            if 0 <= unity <= 127 and unity != 60 and meta.root_note is None:
                meta.root_note = unity
                meta.sources.append("smpl")
            elif loops:
                meta.sources.append("smpl")
        elif cid in (b"id3 ", b"ID3 ") and size < _MAX_TEXT_CHUNK:
            f.seek(body)
            _id3(f.read(size), meta)


def _aiff(f, meta: FileMetadata) -> None:
    for cid, body, size in _chunks(f, 12, little=False):
        if cid == b"INST" and size >= 2:
            f.seek(body)
            base = f.read(1)[0]
            if 0 <= base <= 127 and base != 60 and meta.root_note is None:
                meta.root_note = base
                meta.sources.append("INST")
        elif cid == b"basc" and size >= 18:
            # Apple Loops: version, beats, root note, scale type (1 minor, 2 major, 3 neither,
            # 4 both), time signature, loop type (0 loop, 1 one-shot: libsndfile's aiff.c).
            f.seek(body)
            _version, beats, root, scale, _num, den, loop_type = struct.unpack(">IIHHHHH", f.read(18))
            meta.sources.append("basc")
            if den in (2, 8, 16) and beats * 4 % den == 0:
                beats = beats * 4 // den  # the tempo counts quarter notes
            if 0 < beats < 100000:
                meta.beats = int(beats)
            if loop_type in (0, 1):
                meta.one_shot = loop_type == 1
            if 0 <= root <= 127:
                meta.root_note = root
                if scale in (1, 2):
                    meta.key = f"{_NOTES[root % 12]} {'minor' if scale == 1 else 'major'}"
        elif cid == b"ID3 " and size < _MAX_TEXT_CHUNK:
            f.seek(body)
            _id3(f.read(size), meta)


def _syncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def _id3_size(head: bytes) -> int:
    return _syncsafe(head[6:10]) if len(head) >= 10 else 0


def _id3_text(data: bytes) -> str:
    enc, raw = data[0], data[1:]
    codec = {0: "latin-1", 1: "utf-16", 2: "utf-16-be", 3: "utf-8"}.get(enc, "latin-1")
    return raw.decode(codec, errors="replace").strip("\x00 \ufeff")


def _id3(data: bytes, meta: FileMetadata) -> None:
    if len(data) < 10 or data[:3] != b"ID3":
        return
    version = data[3]
    end = min(len(data), 10 + _syncsafe(data[6:10]))
    pos = 10
    while pos + 10 <= end:
        fid = data[pos:pos + 4]
        if not fid.strip(b"\x00"):
            break
        size = _syncsafe(data[pos + 4:pos + 8]) if version >= 4 else struct.unpack(">I", data[pos + 4:pos + 8])[0]
        body = data[pos + 10:pos + 10 + size]
        pos += 10 + size
        if fid == b"TBPM" and body:
            _set_tag(meta, "BPM", _id3_text(body), "id3")
        elif fid == b"TKEY" and body:
            _set_tag(meta, "KEY", _id3_text(body), "id3")


def _set_tag(meta: FileMetadata, name: str, value: str, source: str) -> None:
    name = name.upper()
    value = value.strip()
    if name in ("BPM", "TBPM", "TEMPO") and meta.bpm is None:
        try:
            bpm = float(value.replace(",", ".").split()[0])
        except (ValueError, IndexError):
            return
        if 20.0 <= bpm <= 999.0:
            meta.bpm = bpm
            meta.sources.append(source)
    elif name in ("KEY", "INITIALKEY", "TKEY") and meta.key is None and value:
        meta.key = value
        meta.sources.append(source)


def _vorbis_comments(data: bytes, pos: int, meta: FileMetadata, source: str) -> None:
    vlen = struct.unpack("<I", data[pos:pos + 4])[0]
    pos += 4 + vlen
    count = struct.unpack("<I", data[pos:pos + 4])[0]
    pos += 4
    for _ in range(min(count, 1000)):
        n = struct.unpack("<I", data[pos:pos + 4])[0]
        text = data[pos + 4:pos + 4 + n].decode("utf-8", errors="replace")
        pos += 4 + n
        if "=" in text:
            k, v = text.split("=", 1)
            _set_tag(meta, k, v, source)


def _flac(f, meta: FileMetadata) -> None:
    pos = 4
    for _ in range(_MAX_CHUNKS):
        f.seek(pos)
        hdr = f.read(4)
        if len(hdr) < 4:
            return
        last, btype, size = hdr[0] & 0x80, hdr[0] & 0x7F, int.from_bytes(hdr[1:4], "big")
        if btype == 4 and size < _MAX_TEXT_CHUNK:
            _vorbis_comments(f.read(size), 0, meta, "vorbis")
        pos += 4 + size
        if last:
            return


def _ogg(data: bytes, meta: FileMetadata) -> None:
    """The comment header (Vorbis, or Opus's OpusTags), reassembled from the first pages: it
    may span pages, whose headers sit in the middle of a naive byte search."""
    packets, packet, pos = [], b"", 0
    while pos + 27 <= len(data) and data[pos:pos + 4] == b"OggS" and len(packets) < 3:
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        pos += 27 + nseg
        for lace in lacing:
            packet += data[pos:pos + lace]
            pos += lace
            if lace < 255:
                packets.append(packet)
                packet = b""
    for p in packets + [packet]:
        if p.startswith(b"\x03vorbis"):
            return _vorbis_comments(p, 7, meta, "vorbis")
        if p.startswith(b"OpusTags"):
            return _vorbis_comments(p, 8, meta, "vorbis")
