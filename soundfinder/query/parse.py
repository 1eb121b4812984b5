"""What a musician types, taken apart: "128 bpm dark techno kick in F minor -reverb".

Measurements (tempo, key, length) mean nothing to a text tower that never heard a metronome,
so they are lifted out as filter values; negatives ("-reverb", "no reverb", "without vocals")
become a direction to push away from; quoted phrases must appear in a file's name. What is
left is the text the model and the name index see ("dark techno kick").

    >>> q = parse_query('128 bpm dark techno kick in F minor -reverb')
    >>> q.text, q.bpm, q.key, q.negatives
    ('dark techno kick', (126.0, 130.0), 'F minor', ('reverb',))

Every part keeps the words it came from (`parts`), so a chip in the GUI can be removed by
dropping those words from the query (`without`). Parsing never fails: anything it does not
recognise stays in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

MAX_QUERY_CHARS = 1000
BPM_TOLERANCE = 2.0  # "128 bpm" accepts 126-130: tempo estimates are rarely exact
SHORT_S = 1.0  # "short": up to a second (one-shots, hits)
LONG_S = 4.0  # "long": four seconds and more (loops, pads, textures)

_NOTE = r"(?P<note>[A-Ga-g])\s?(?P<acc>#|♯|b|♭|\s?sharp|\s?flat)?"
_MODE = r"(?P<mode>major|minor|maj|min|m)"
_KEY = re.compile(rf"(?:\b(?:in\s+)?(?:the\s+)?(?:key\s+of\s+)?){_NOTE}\s?{_MODE}\b"
                  rf"|\b(?:in|key\s+of)\s+(?P<bare>[A-G])(?P<bacc>#|b)?(?=\s|$)")
_BPM = re.compile(r"\b(?:at\s+)?(?P<lo>\d{2,3}(?:\.\d)?)(?:\s*(?:-|–|to)\s*(?P<hi>\d{2,3}(?:\.\d)?))?\s*bpm\b"
                  r"|\bbpm\s*(?P<after>\d{2,3})\b", re.IGNORECASE)
_SECONDS = re.compile(r"\b(?P<op>under|below|less\s+than|shorter\s+than|over|above|more\s+than|longer\s+than|<|>)"
                      r"\s*(?P<n>\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds?)\b", re.IGNORECASE)
_LENGTH_WORD = re.compile(r"\b(?P<w>short|long)\b", re.IGNORECASE)
_KIND = re.compile(r"\b(?P<w>loops?|one[\s-]?shots?)\b", re.IGNORECASE)
_PHRASE = re.compile(r'"([^"]*)"')
_NEGATIVE = re.compile(r"(?:(?<=\s)|^)-(?P<a>[^\s\-\"][^\s]*)"
                       r"|\b(?:no|without|not|minus)\s+(?P<b>[a-z][\w'-]*)", re.IGNORECASE)
_SHORT_UPPER = set("abcdefgABCDEFG")


@dataclass(frozen=True)
class Part:
    """One recognised piece of the query: what it is, how to show it, the words it came from."""

    kind: str  # "bpm", "key", "length", "kind", "negative", "phrase", "notice"
    label: str
    source: str


@dataclass(frozen=True)
class ParsedQuery:
    raw: str
    text: str
    negatives: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    bpm: tuple[float, float] | None = None
    key: str | None = None  # "F minor", "C# major", or a bare tonic "A" (either mode)
    kind: str | None = None  # "loop" or "one-shot"
    length: tuple[float, float | None] | None = None  # seconds (lo, hi); hi None = no upper bound
    notices: tuple[str, ...] = ()
    parts: tuple[Part, ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        return not self.text and not self.negatives and not self.phrases

    def chips(self) -> list[Part]:
        """The parts a person can remove (everything recognised but the plain text)."""
        return [p for p in self.parts if p.kind != "notice"]

    def without(self, part: Part) -> str:
        """The query text with one recognised part taken out (what removing its chip leaves)."""
        i = self.raw.find(part.source)
        if i < 0:
            return self.raw
        return _tidy(self.raw[:i] + " " + self.raw[i + len(part.source):])


def _tidy(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def _cut(raw: str) -> tuple[str, list[str]]:
    if len(raw) <= MAX_QUERY_CHARS:
        return raw, []
    return raw[:MAX_QUERY_CHARS], [f"the query was cut to its first {MAX_QUERY_CHARS} characters "
                                   f"(it had {len(raw)})"]


def _key_label(m: re.Match) -> str | None:
    if m.group("bare"):
        return m.group("bare") + (m.group("bacc") or "")
    note, acc, mode = m.group("note"), (m.group("acc") or "").strip(), m.group("mode")
    if mode == "m" and note not in "ABCDEFG":
        return None  # "am", "em": English words more often than keys
    if acc in ("♯", "sharp"):
        acc = "#"
    elif acc in ("♭", "flat"):
        acc = "b"
    if acc == "b" and note.lower() == "b" and not mode:
        return None
    full = {"maj": "major", "major": "major", "min": "minor", "minor": "minor", "m": "minor"}[mode.lower()]
    return f"{note.upper()}{acc} {full}"


def parse_query(raw: str) -> ParsedQuery:
    """Split query text into text, negatives, phrases and filter values (see the module doc)."""
    text, notices = _cut(raw or "")
    parts: list[Part] = [Part("notice", n, "") for n in notices]
    found: dict[str, object] = {}

    def take(pattern: re.Pattern, handle) -> None:
        nonlocal text
        out, last = [], 0
        for m in pattern.finditer(text):
            if handle(m):
                out.append(text[last:m.start()])
                last = m.end()
        text = "".join(out) + text[last:] if out else text

    phrases: list[str] = []

    def phrase(m):
        words = _tidy(m.group(1))
        if words:
            phrases.append(words)
            parts.append(Part("phrase", f'"{words}"', m.group(0)))
        return True

    take(_PHRASE, phrase)
    text = text.replace('"', " ")
    negatives: list[str] = []

    def negative(m):
        word = (m.group("a") or m.group("b") or "").strip("'-.,;:!?").lower()
        if not word:
            return False
        negatives.append(word)
        parts.append(Part("negative", f"not {word}", m.group(0).strip()))
        return True

    take(_NEGATIVE, negative)
    take(_BPM, lambda m: _bpm(m, found, parts))
    take(_KEY, lambda m: _key(m, found, parts))
    take(_SECONDS, lambda m: _seconds(m, found, parts))
    take(_LENGTH_WORD, lambda m: _length_word(m, found, parts))
    for m in _KIND.finditer(text):  # kept in the text too: producers name loops "loop", and it is audible
        if "kind" not in found:
            found["kind"] = "loop" if m.group("w").lower().startswith("loop") else "one-shot"
            parts.append(Part("kind", found["kind"], m.group(0)))
    phrase_words = " ".join(p for p in phrases if p.lower() not in _tidy(text).lower())
    return ParsedQuery(raw=raw or "", text=_tidy(f"{_tidy(text)} {phrase_words}"),
                       negatives=tuple(dict.fromkeys(negatives)), phrases=tuple(phrases),
                       bpm=found.get("bpm"), key=found.get("key"), kind=found.get("kind"),
                       length=found.get("length"), notices=tuple(notices), parts=tuple(parts))


def _bpm(m: re.Match, found: dict, parts: list[Part]) -> bool:
    lo = float(m.group("lo") or m.group("after"))
    hi = float(m.group("hi")) if m.group("hi") else None
    if "bpm" in found or not 20 <= lo <= 400 or (hi is not None and not lo < hi <= 400):
        return False
    found["bpm"] = (lo, hi) if hi is not None else (lo - BPM_TOLERANCE, lo + BPM_TOLERANCE)
    parts.append(Part("bpm", f"{m.group('lo') or m.group('after')}{'-' + m.group('hi') if hi else ''} bpm",
                      m.group(0).strip()))
    return True


def _key(m: re.Match, found: dict, parts: list[Part]) -> bool:
    label = _key_label(m)
    if label is None or "key" in found:
        return False
    found["key"] = label
    parts.append(Part("key", label, m.group(0).strip()))
    return True


def _seconds(m: re.Match, found: dict, parts: list[Part]) -> bool:
    if "length" in found:
        return False
    n = float(m.group("n"))
    below = m.group("op").lower() in ("under", "below", "less than", "shorter than", "<") or \
        m.group("op").lower().startswith(("less", "shorter"))
    found["length"] = (0.0, n) if below else (n, None)
    parts.append(Part("length", f"{'≤' if below else '≥'} {n:g} s", m.group(0).strip()))
    return True


def _length_word(m: re.Match, found: dict, parts: list[Part]) -> bool:
    if "length" in found:
        return False
    short = m.group("w").lower() == "short"
    found["length"] = (0.0, SHORT_S) if short else (LONG_S, None)
    parts.append(Part("length", f"{'short' if short else 'long'} ({'≤' if short else '≥'} "
                                f"{SHORT_S if short else LONG_S:g} s)", m.group(0)))
    return True


# ==== MERGE POINT (#11/#13 "analysis13"): parsed filter parts -> soundfinder.query.filters.SoundFilter ====
# The one place where the values above become the analysis filter. Until `filters.py` is merged
# this returns None and search applies only the length (durations are in the catalog already).
def to_sound_filter(q: ParsedQuery, base=None):
    """A `SoundFilter` for the parsed tempo/key/kind/length laid over `base` (the filter bar's or
    the command line's own filter: what they set explicitly wins), or None (nothing to filter)."""
    from dataclasses import replace

    from soundfinder.query.filters import SoundFilter

    base = base or SoundFilter()
    length = None if q.length is None else (q.length[0], q.length[1] if q.length[1] is not None else float("inf"))
    parsed = {"bpm": q.bpm, "key": q.key, "kind": q.kind, "length": length}
    merged = replace(base, **{k: v for k, v in parsed.items() if v is not None and getattr(base, k) is None})
    return merged if merged.active else None
