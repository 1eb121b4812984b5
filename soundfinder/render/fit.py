"""What it takes to fit a sample into a project: a stretch factor and a transposition.

Pure arithmetic on tempos and keys, so the rules a musician relies on are tested alone:
- a loop is stretched so that its beats land on the project's (source BPM / target BPM of
  its length); a one-shot keeps its length;
- tonal material is moved by the shortest interval to the project key (at most ±6 semitones);
  a major loop going into a minor project (or the reverse) aims at the relative key's root when
  that is the shorter move, since the two share their notes;
- drums (no key) are never transposed; a pitched one-shot moves to the key's root only when
  asked ("to key").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

NOTE_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_LETTER = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_KEY_RE = re.compile(r"^\s*([A-Ga-g])\s*([#♯b♭]?)\s*(major|minor|maj|min|m|M)?\s*$")
_NOTE_RE = re.compile(r"^\s*([A-Ga-g])([#♯b♭]?)(-?\d)\s*$")
EXTREME_LOW, EXTREME_HIGH = 0.5, 2.0  # tempo ratios beyond these play with a warning


class FitError(ValueError):
    """A tempo, key or note the user gave that cannot be understood or used."""


@dataclass(frozen=True)
class Key:
    tonic: int  # pitch class 0..11, C = 0
    minor: bool

    @property
    def name(self) -> str:
        return f"{NOTE_NAMES[self.tonic]} {'minor' if self.minor else 'major'}"

    def relative(self) -> Key:
        """The relative major/minor: same notes, other tonic (A minor <-> C major)."""
        return Key((self.tonic + 3) % 12, False) if self.minor else Key((self.tonic - 3) % 12, True)


def parse_key(text: str) -> Key:
    """'A minor', 'F# major', 'Am', 'Bbmin', 'C' (major) -> Key; anything else raises FitError."""
    m = _KEY_RE.match(text or "")
    if not m:
        raise FitError(f"not a key: {text!r} (expected e.g. 'A minor', 'F# major', 'Am')")
    letter, accidental, mode = m.groups()
    pc = _LETTER[letter.upper()] + (1 if accidental in ("#", "♯") else -1 if accidental in ("b", "♭") else 0)
    minor = mode == "m" or (mode is not None and mode.lower() in ("minor", "min"))
    return Key(pc % 12, minor)


def parse_note(text: str) -> int:
    """'C2', 'A4', 'F#3' -> MIDI note number (A4 = 69)."""
    m = _NOTE_RE.match(text or "")
    if not m:
        raise FitError(f"not a note: {text!r} (expected e.g. 'C2', 'A4')")
    letter, accidental, octave = m.groups()
    pc = _LETTER[letter.upper()] + (1 if accidental in ("#", "♯") else -1 if accidental in ("b", "♭") else 0)
    return 12 * (int(octave) + 1) + pc


def parse_bpm(value: str | float) -> float:
    try:
        bpm = float(value)
    except (TypeError, ValueError):
        raise FitError(f"not a tempo: {value!r} (expected beats per minute, e.g. 124)") from None
    if not 20.0 <= bpm <= 400.0:
        raise FitError(f"tempo {bpm:g} BPM is outside 20-400")
    return bpm


def shortest_interval(source_pc: int, target_pc: int) -> int:
    """Semitones from one pitch class to another, the short way round: -6..+6 (a tritone goes down)."""
    d = (target_pc - source_pc) % 12
    return d - 12 if d >= 6 else d


def key_shift(source: Key, target: Key) -> int:
    """Semitones that move `source` into `target`'s key by the shortest interval.

    Same mode: tonic to tonic. Different modes: aim either at the target tonic or at the
    target's relative key (which has the source's mode and the same notes as the target), and
    take the shorter move; ties go to the relative key, which keeps every note in the project key.
    """
    direct = shortest_interval(source.tonic, target.tonic)
    if source.minor == target.minor:
        return direct
    relative = shortest_interval(source.tonic, target.relative().tonic)
    return relative if abs(relative) <= abs(direct) else direct


@dataclass(frozen=True)
class FitPlan:
    stretch: float = 1.0  # playback speed factor: > 1 is faster/shorter (target BPM / source BPM)
    semitones: int = 0
    target_bpm: float | None = None
    target_key: str | None = None
    warnings: tuple[str, ...] = field(default=())

    @property
    def is_identity(self) -> bool:
        return abs(self.stretch - 1.0) < 1e-6 and self.semitones == 0

    def label(self) -> str:
        """The part of a rendered file's name that says what was done: '124 BPM, A minor'."""
        parts = []
        if self.target_bpm is not None and abs(self.stretch - 1.0) >= 1e-6:
            parts.append(f"{self.target_bpm:g} BPM")
        if self.target_key and self.semitones:
            parts.append(self.target_key)
        return ", ".join(parts)


def plan_fit(*, source_bpm: float | None, source_key: str | None, kind: str | None,
             target_bpm: float | None, target_key: str | None, pitch: str | None = None,
             to_key: bool = False) -> FitPlan:
    """The stretch and transposition that fit one sample into the project.

    Args:
        source_bpm, source_key: what is known of the sample (None when unknown).
        kind: "loop" or "one-shot" (None: treated as a loop when it has a tempo).
        target_bpm, target_key: the project's tempo and key (None: leave that aspect alone).
        pitch: a pitched one-shot's note ("C2"); with `to_key` it moves to the key's root.
    """
    warnings: list[str] = []
    stretch = 1.0
    is_loop = kind == "loop" or (kind is None and source_bpm is not None)
    if target_bpm is not None and is_loop:
        if source_bpm is None:
            warnings.append("tempo unknown — set it")
        else:
            stretch = float(target_bpm) / float(source_bpm)
            if not EXTREME_LOW <= stretch <= EXTREME_HIGH:
                warnings.append(f"extreme tempo change ({stretch:.2f}x): expect artefacts")
    semitones = 0
    if target_key is not None:
        target = parse_key(target_key)
        if source_key is not None and (is_loop or kind is None or to_key):
            semitones = key_shift(parse_key(source_key), target)
        elif to_key and pitch is not None:
            semitones = shortest_interval(parse_note(pitch) % 12, target.tonic)
    return FitPlan(stretch=stretch, semitones=semitones, target_bpm=target_bpm,
                   target_key=parse_key(target_key).name if target_key else None, warnings=tuple(warnings))
