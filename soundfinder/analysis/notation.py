"""Note and key names as musicians write them, and the Camelot wheel DJs mix by.

One spelling everywhere: keys are stored as "A minor" / "F# major" (sharps, never flats), notes
as "C2" / "A#4" with C4 = MIDI 60. Parsing accepts what people type ("Am", "Bbmin", "c# minor",
"8A") so a filter and a file name mean the same thing.
"""

from __future__ import annotations

import re

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
MODES = ("major", "minor")

# Camelot number of each major key's tonic pitch class (C major = 8B); the relative minor
# shares the number with an "A" (A minor = 8A).
_CAMELOT_MAJOR = {0: 8, 7: 9, 2: 10, 9: 11, 4: 12, 11: 1, 6: 2, 1: 3, 8: 4, 3: 5, 10: 6, 5: 7}

_KEY_RE = re.compile(
    r"^\s*([A-Ga-g])\s*(#|♯|b|♭|-?sharp|-?flat)?\s*"
    r"(major|minor|maj|min|m|M|dur|moll)?\s*$")
_CAMELOT_RE = re.compile(r"^\s*(1[0-2]|[1-9])\s*([ABab])\s*$")
_NOTE_RE = re.compile(r"^\s*([A-Ga-g])\s*(#|♯|b|♭)?\s*(-?\d)\s*$")


def pitch_class(letter: str, accidental: str | None) -> int:
    pc = _LETTER[letter.upper()]
    acc = (accidental or "").lower().lstrip("-")
    if acc in ("#", "♯", "sharp"):
        pc += 1
    elif acc in ("b", "♭", "flat"):
        pc -= 1
    return pc % 12


def key_name(tonic: int, mode: str) -> str:
    """(pitch class, "major"/"minor") -> "A minor"."""
    return f"{NOTE_NAMES[tonic % 12]} {mode}"


def parse_key(text: str) -> tuple[int, str] | None:
    """"A minor", "Am", "F#min", "Bb", "8A" -> (tonic pitch class, mode); None if not a key.

    A bare letter means major ("C" = C major), as in every pack's naming.
    """
    if not isinstance(text, str):
        return None
    m = _CAMELOT_RE.match(text)
    if m:
        return from_camelot(int(m.group(1)), m.group(2).upper())
    m = _KEY_RE.match(text)
    if not m:
        return None
    letter, acc, mode = m.groups()
    if letter.islower() and not mode:  # "a" alone is a word, not a key
        return None
    if mode in ("M", "maj", "major", "dur") or mode is None:
        kind = "major"
    elif mode.lower() in ("m", "min", "minor", "moll"):
        kind = "minor"
    else:
        kind = "major"
    return pitch_class(letter, acc), kind


def normalize_key(text: str) -> str | None:
    """Any accepted spelling -> the stored one ("Bbm" -> "A# minor"); None if not a key."""
    parsed = parse_key(text)
    return key_name(*parsed) if parsed else None


def camelot(key: str) -> str | None:
    """"A minor" -> "8A"; None for anything that is not a key."""
    parsed = parse_key(key)
    if parsed is None:
        return None
    tonic, mode = parsed
    major_tonic = tonic if mode == "major" else (tonic + 3) % 12
    return f"{_CAMELOT_MAJOR[major_tonic]}{'B' if mode == 'major' else 'A'}"


def from_camelot(number: int, letter: str) -> tuple[int, str]:
    major_tonic = next(pc for pc, n in _CAMELOT_MAJOR.items() if n == number)
    if letter == "B":
        return major_tonic, "major"
    return (major_tonic - 3) % 12, "minor"


def compatible_keys(key: str) -> list[str]:
    """The key, its relative, and its Camelot neighbours (±1 on the wheel, same letter):
    what mixes without a clash. "A minor" -> A minor, C major, D minor, E minor."""
    parsed = parse_key(key)
    if parsed is None:
        return []
    code = camelot(key)
    number, letter = int(code[:-1]), code[-1]
    out = [key_name(*parsed)]
    for n, lt in ((number, "B" if letter == "A" else "A"), ((number % 12) + 1, letter),
                  ((number - 2) % 12 + 1, letter)):
        name = key_name(*from_camelot(n, lt))
        if name not in out:
            out.append(name)
    return out


def note_name(midi: int) -> str:
    """MIDI note -> "C2" (C4 = 60)."""
    return f"{NOTE_NAMES[midi % 12]}{midi // 12 - 1}"


def parse_note(text: str) -> int | None:
    """"C2", "A#4", "Bb-1" -> MIDI note number; None if not a note."""
    m = _NOTE_RE.match(text or "")
    if not m:
        return None
    letter, acc, octave = m.groups()
    base = _LETTER[letter.upper()] + (1 if acc in ("#", "♯") else -1 if acc in ("b", "♭") else 0)
    midi = (int(octave) + 1) * 12 + base
    return midi if 0 <= midi <= 127 else None


def hz_to_midi(hz: float) -> float:
    import math

    return 69.0 + 12.0 * math.log2(hz / 440.0)
