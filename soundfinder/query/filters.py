"""Filters and sort orders on musical descriptors: "a 124 BPM loop in A minor, under 2 s".

A `SoundFilter` is a plain frozen value: the CLI builds it from flags, the GUI's filter bar
from its widgets, and the query parser from text ("128 bpm … in F minor"). `matches` decides
one file from its record and its descriptors; `allowed_files` applies a filter to a library
(the candidate set a search then ranks). Files without a value never match a filter on it.

    SoundFilter(bpm=(118, 122))                 118-122 BPM
    SoundFilter(bpm=(118, 122), bpm_octave=True) also 59-61 and 236-244 (half/double time)
    SoundFilter(key="A minor", key_compatible=True)  A minor, C major, D minor, E minor
    SoundFilter(kind="loop", length=(0, 2))     loops of at most 2 s
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from soundfinder.analysis.notation import camelot, compatible_keys, normalize_key

BPM_TOLERANCE = 0.02  # "--bpm 120" means 117.6-122.4
KINDS = ("loop", "one-shot")
SORT_KEYS = ("score", "name", "bpm", "key", "length", "loudness")


class FilterError(ValueError):
    """A filter value that means nothing ("--bpm fast", "--key H major"); the message says why."""


@dataclass(frozen=True)
class SoundFilter:
    bpm: tuple[float, float] | None = None  # inclusive BPM range
    bpm_octave: bool = False  # also match half and double the range (half-time, double-time)
    key: str | None = None  # stored spelling, "A minor"
    key_compatible: bool = False  # also the relative key and Camelot neighbours
    kind: str | None = None  # "loop" / "one-shot"
    length: tuple[float, float] | None = None  # seconds, inclusive

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.bpm, self.key, self.kind, self.length))

    def keys(self) -> set[str]:
        if self.key is None:
            return set()
        return set(compatible_keys(self.key)) if self.key_compatible else {self.key}

    def bpm_ranges(self) -> list[tuple[float, float]]:
        if self.bpm is None:
            return []
        lo, hi = self.bpm
        return [(lo, hi), (lo / 2, hi / 2), (lo * 2, hi * 2)] if self.bpm_octave else [(lo, hi)]

    def matches(self, duration: float | None, desc) -> bool:
        """`desc`: a descriptor row (attributes bpm, key, kind) or None."""
        if self.length is not None and (duration is None or not self.length[0] <= duration <= self.length[1]):
            return False
        if self.bpm is not None:
            bpm = getattr(desc, "bpm", None)
            if bpm is None or not any(lo <= bpm <= hi for lo, hi in self.bpm_ranges()):
                return False
        if self.key is not None and getattr(desc, "key", None) not in self.keys():
            return False
        return not (self.kind is not None and getattr(desc, "kind", None) != self.kind)


# -- parsing what people type -------------------------------------------------------------

_NUM = r"\d+(?:\.\d+)?"


def parse_bpm(text: str) -> tuple[float, float]:
    """"118-122" -> (118, 122); "120" -> (117.6, 122.4) (±2 %)."""
    t = (text or "").strip().lower().removesuffix("bpm").strip()
    m = re.fullmatch(rf"({_NUM})\s*(?:-|–|\.\.|to)\s*({_NUM})", t)
    if m:
        lo, hi = sorted((float(m.group(1)), float(m.group(2))))
    elif re.fullmatch(_NUM, t):
        v = float(t)
        lo, hi = v * (1 - BPM_TOLERANCE), v * (1 + BPM_TOLERANCE)
    else:
        raise FilterError(f"--bpm {text!r} is not a tempo: give a number (120) or a range (118-122)")
    if hi <= 0 or hi > 1000:
        raise FilterError(f"--bpm {text!r} is out of range (1-1000 BPM)")
    return round(lo, 3), round(hi, 3)


def parse_key(text: str) -> str:
    """"Am", "a minor", "F#min", "8A" -> "A minor"."""
    key = normalize_key(text or "")
    if key is None:
        raise FilterError(f"--key {text!r} is not a key: try \"A minor\", \"F# major\", \"Am\" or \"8A\"")
    return key


def parse_length(text: str) -> tuple[float, float]:
    """"0-2" -> (0, 2) seconds; "2" -> (0, 2); "1.5-" -> (1.5, inf)."""
    t = (text or "").strip().lower().removesuffix("s").strip()
    m = re.fullmatch(rf"({_NUM})?\s*-\s*({_NUM})?", t)
    if m and (m.group(1) or m.group(2)):
        lo = float(m.group(1) or 0.0)
        hi = float(m.group(2)) if m.group(2) else float("inf")
    elif re.fullmatch(_NUM, t):
        lo, hi = 0.0, float(t)
    else:
        raise FilterError(f"--length {text!r} is not a length: give seconds (2) or a range (0.5-4)")
    if lo > hi:
        raise FilterError(f"--length {text!r}: the range is empty")
    return lo, hi


def parse_sort(text: str) -> str:
    t = (text or "").strip().lower()
    if t not in SORT_KEYS:
        raise FilterError(f"--sort {text!r}: choose one of {', '.join(SORT_KEYS)}")
    return t


# -- applying ------------------------------------------------------------------------------

def filter_records(records: Iterable, descriptors: Mapping[str, object], flt: SoundFilter) -> list:
    """The records (attributes `hash`, `duration`) whose descriptors match `flt`."""
    if not flt.active:
        return list(records)
    return [r for r in records if flt.matches(r.duration, descriptors.get(r.hash))]


def allowed_files(library, flt: SoundFilter) -> dict[int, int]:
    """{file id: vector id} of the indexed files that match `flt` (a search's candidates)."""
    return library.descriptors.allowed_vectors(length=flt.length, bpm_ranges=flt.bpm_ranges(),
                                               keys=flt.keys() if flt.key is not None else None, kind=flt.kind)


def sort_value(by: str, record, desc, score: float | None = None):
    """A sort key that puts files without the value last."""
    if by == "score":
        return (0, -(score or 0.0))
    if by == "name":
        import os

        return (0, os.path.basename(record.path).lower())
    if by == "length":
        return (record.duration is None, record.duration or 0.0)
    value = {"bpm": getattr(desc, "bpm", None), "loudness": getattr(desc, "lufs", None)}.get(by)
    if by == "key":
        code = camelot(getattr(desc, "key", None) or "")
        value = (int(code[:-1]), code[-1]) if code else None
    if by == "loudness" and value is not None:
        value = -value  # loudest first
    return (value is None, value if value is not None else 0)
