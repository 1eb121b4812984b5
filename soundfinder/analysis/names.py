"""What a sample's file and folder names say about it, in the conventions real packs follow.

    tempo   "124bpm", "124 BPM", "bpm124", "Loop_124_Am" (a bare 60-200 number between
            separators, only in the file's own name and only for loops: "Kick_101" is a take)
    key     "Am", "A min", "F#min", "C# minor", "Bbmaj", "key of D"; "Cmaj7", "Am7", "Dsus4"
            are chords, not keys. A bare "C" counts only beside a tempo ("Bass 120 C").
    note    "808_C1", "Pluck A4": a letter with an octave number
    kind    "loop" / "one shot", "oneshot", "hit", "shot"

The file's own name wins over its folders ("Loops 128 BPM/Pad_90bpm.wav" is 90 BPM).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from soundfinder.analysis.notation import key_name, parse_note, pitch_class

_B = r"(?<![A-Za-z0-9#♯])"  # a token boundary that treats "_" and "-" as separators
_E = r"(?![A-Za-z0-9#♯])"
_NUM = r"(\d{2,3}(?:[.,]\d{1,2})?)"
_BPM_RE = re.compile(rf"(?<![\d.]){_NUM}\s*[-_ ]?\s*bpm|bpm\s*[-_ ]?\s*{_NUM}(?![\d])", re.IGNORECASE)
_BARE_NUM_RE = re.compile(r"(?:^|(?<=[\s_\-.(\[]))(\d{2,3})(?=$|[\s_\-.)\]])")
_KEY_RE = re.compile(
    _B + r"(?:key\s*(?:of\s*)?[-_ ]?\s*)?([A-G])(#|♯|b|♭|sharp|flat)?(?:\s*[-_ ]?\s*"
    r"(major|minor|maj|min|Maj|Min|MAJ|MIN|Major|Minor|MAJOR|MINOR|m))?" + _E)
_KEY_WORD_RE = re.compile(r"key\s*(?:of\s*)?[-_ ]?\s*[A-G]", re.IGNORECASE)
_NOTE_RE = re.compile(_B + r"([A-G](?:#|♯|b)?-?\d)" + _E)
_LOOP_RE = re.compile(_B.replace("A-Za-z0-9", "A-Za-z") + r"(loops?|looped)" + r"(?![A-Za-z])", re.IGNORECASE)
_ONESHOT_RE = re.compile(r"(?<![A-Za-z])(one[\s_\-]?shots?|oneshots?|hits?|shots?|stabs?)(?![A-Za-z])",
                         re.IGNORECASE)
_SKIP_NUMBER_BEFORE = re.compile(r"(vol|volume|part|pt|take|track|no|v|x)[\s_\-.]*$", re.IGNORECASE)
BPM_RANGE = (40.0, 300.0)
BARE_BPM_RANGE = (60, 200)


@dataclass(frozen=True)
class NameHints:
    bpm: float | None = None
    key: str | None = None
    note: int | None = None  # MIDI note
    kind: str | None = None  # "loop" / "one-shot"
    bpm_bare: bool = False  # the tempo came from a bare number: believe it only for a loop


def bpm_from_text(text: str, allow_bare: bool = False) -> float | None:
    """The tempo a name states. `allow_bare` also takes "_124_" (a file's own name, loops)."""
    for m in _BPM_RE.finditer(text):
        value = float((m.group(1) or m.group(2)).replace(",", "."))
        if BPM_RANGE[0] <= value <= BPM_RANGE[1]:
            return value
    if allow_bare:
        for m in _BARE_NUM_RE.finditer(text):
            value = int(m.group(1))
            if BARE_BPM_RANGE[0] <= value <= BARE_BPM_RANGE[1] and not _SKIP_NUMBER_BEFORE.search(
                    text[:m.start()]):
                return float(value)
    return None


def key_from_text(text: str, allow_bare: bool = False) -> str | None:
    """The key a name states ("A minor"), or None. A chord ("Cmaj7") is not a key."""
    has_key_word = bool(_KEY_WORD_RE.search(text))
    for m in _KEY_RE.finditer(text):
        letter, acc, mode = m.groups()
        if mode is None and not (allow_bare or has_key_word):
            continue
        if acc and acc.lower() == "b" and mode is None and not (allow_bare or has_key_word):
            continue
        minor = mode is not None and (mode == "m" or mode.lower().startswith("min"))
        return key_name(pitch_class(letter, acc), "minor" if minor else "major")
    return None


def note_from_text(text: str) -> int | None:
    for m in _NOTE_RE.finditer(text):
        midi = parse_note(m.group(1))
        if midi is not None and 12 <= midi <= 108:
            return midi
    return None


def kind_from_text(text: str) -> str | None:
    if _LOOP_RE.search(text):
        return "loop"
    if _ONESHOT_RE.search(text):
        return "one-shot"
    return None


def hints_from_path(path: str | os.PathLike, folders: int = 2) -> NameHints:
    """Read the file's stem, then up to `folders` parent folder names, first answer winning."""
    p = os.fspath(path)
    stem = os.path.splitext(os.path.basename(p))[0]
    parents = []
    head = os.path.dirname(p)
    for _ in range(folders):
        head, name = os.path.split(head)
        if not name:
            break
        parents.append(name)
    kind = kind_from_text(stem) or next((k for k in map(kind_from_text, parents) if k), None)
    bpm = bpm_from_text(stem) or next((b for b in map(bpm_from_text, parents) if b), None)
    bare = False
    if bpm is None and kind != "one-shot":
        bpm = bpm_from_text(stem, allow_bare=True)
        bare = bpm is not None
    key = key_from_text(stem, allow_bare=bpm is not None)
    if key is None:
        key = next((k for k in map(key_from_text, parents) if k), None)
    note = note_from_text(stem)
    return NameHints(bpm=bpm, key=key, note=note, kind=kind, bpm_bare=bare)
