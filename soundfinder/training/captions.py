"""Captions for training, from the names producers already gave their samples.

"Drums/Kicks/Kick_808_Deep_03.wav" is a caption waiting to be used: "kick 808 deep". This
module turns paths into what a person would write (split camelCase and separators, expand
abbreviations, drop take numbers and velocity layers), adds user tags, lets an explicit
`path,caption` CSV override everything, and names each file's group (pack or folder) so the
held-out split (split.py) never puts near-duplicate files of one pack on both sides.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from soundfinder.audio import is_audio_path

# Abbreviations as they appear in sample names -> words people search with.
ABBREVIATIONS: dict[str, str] = {
    "bd": "kick", "kik": "kick", "kck": "kick", "bassdrum": "kick",
    "sd": "snare", "snr": "snare", "sn": "snare",
    "hh": "hi-hat", "hat": "hi-hat", "hihat": "hi-hat", "hhat": "hi-hat", "hht": "hi-hat",
    "oh": "open hi-hat", "ohh": "open hi-hat", "ch": "closed hi-hat", "chh": "closed hi-hat",
    "cym": "cymbal", "crsh": "crash", "rd": "ride",
    "ht": "high tom", "mt": "mid tom", "lt": "low tom", "ft": "floor tom",
    "fx": "effect", "sfx": "effect", "vox": "vocal", "vocals": "vocal", "perc": "percussion",
    "clp": "clap", "shk": "shaker", "rim": "rimshot", "rs": "rimshot", "cb": "cowbell",
    "gtr": "guitar", "pno": "piano", "syn": "synth", "amb": "ambience", "atmo": "atmosphere",
    "brk": "break", "dist": "distorted", "verb": "reverb", "elec": "electronic",
    "lofi": "lo-fi", "oneshot": "one-shot", "dnb": "drum and bass", "hiphop": "hip hop", "hi": "high", "lo": "low", "med": "medium",
    "ac": "acoustic", "acc": "acoustic", "pp": "very soft", "mp": "soft", "mf": "loud", "ff": "very loud",
}

# Two-word spellings that mean one thing; joined before abbreviations are expanded.
PHRASES: dict[tuple[str, str], str] = {
    ("hi", "hat"): "hi-hat", ("high", "hat"): "hi-hat", ("open", "hat"): "open hi-hat",
    ("closed", "hat"): "closed hi-hat", ("bass", "drum"): "kick", ("kick", "drum"): "kick",
    ("snare", "drum"): "snare", ("one", "shot"): "one-shot", ("lo", "fi"): "lo-fi",
    ("hi", "fi"): "hi-fi", ("sub", "bass"): "sub bass",
}

# Words that say nothing about the sound.
STOPWORDS = frozenset({
    "sample", "samples", "untitled", "audio", "sound", "sounds", "wav", "aif", "aiff", "flac",
    "copy", "final", "new", "bounce", "bounced", "render", "rendered", "export", "take", "tk",
    "file", "track", "stereo", "mono", "st", "version", "ver", "edit", "processed", "proc",
    "the", "and", "of", "layer", "vel", "velocity", "rr", "roundrobin", "var", "alt",
    "pack", "vol", "volume", "demo", "preview", "free", "bonus", "collection", "library",
})

# Words naming what a sound is; folder names contribute these even when the file name has
# its own words ("Strings/Violin/violin_C4.wav" -> "violin c4 strings").
CATEGORY_WORDS = frozenset({
    "kick", "snare", "hi-hat", "open hi-hat", "closed hi-hat", "cymbal", "crash", "ride", "splash",
    "china", "tom", "clap", "snap", "rimshot", "cowbell", "shaker", "tambourine", "conga", "bongo",
    "percussion", "drum", "bass", "guitar", "piano", "keys", "organ", "synth", "pad", "lead",
    "pluck", "strings", "violin", "cello", "brass", "trumpet", "horn", "trombone", "sax", "flute",
    "woodwind", "vocal", "choir", "speech", "voice", "effect", "riser", "impact", "whoosh", "noise",
    "foley", "ambience", "atmosphere", "loop", "break", "one-shot", "chord", "arp", "stab", "bell",
    "mallet", "marimba", "vibraphone", "glockenspiel", "tone", "sweep", "texture", "drone",
})
# Specific drum words that make a generic "drum" redundant.
_DRUM_TYPES = frozenset({"kick", "snare", "hi-hat", "open hi-hat", "closed hi-hat", "cymbal", "crash",
                         "ride", "tom", "clap", "rimshot", "conga", "bongo"})
# Short tokens kept although they are one or two letters.
_SHORT_KEEP = frozenset(ABBREVIATIONS) | {"up", "dj", "mc"}
# Numbers with a meaning of their own (drum machines); other bare numbers are takes.
_MEANINGFUL_NUMBERS = frozenset({"101", "303", "505", "606", "626", "707", "727", "808", "909"})
_UNITS = frozenset({"bpm", "hz", "khz", "ms", "db", "bit", "bar", "bars"})
_NOTE = re.compile(r"^[a-g](#|b|s)?-?\d$")  # c3, a#2, eb4, fs3 (sharp spelt with s)
_VELOCITY = re.compile(r"^(v|vel|vl|velocity|layer|l|rr|take|tk)\d+$")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+|#")
_FREESOUND = re.compile(r"^\d+__[^_]+(?:_[^_]+)*?__(.+)$")  # "15590__user__name" (freesound.org)
_SINGULAR_OK = CATEGORY_WORDS | {"loop", "hit"}


@dataclass(frozen=True)
class Pair:
    """One training example: an audio file, what it sounds like, and its pack/folder group."""

    path: Path
    caption: str
    group: str


def _split_words(text: str) -> list[str]:
    """Split a name on separators, camelCase and letter/digit boundaries, keeping note names."""
    words: list[str] = []
    for chunk in re.split(r"[\s_\-.,()\[\]{}+&'!]+", text):
        if not chunk:
            continue
        if _NOTE.match(chunk.lower()) or chunk.lower() in ABBREVIATIONS:  # "C#3", "DnB", "HiHat"
            words.append(chunk.lower())
            continue
        words.extend(w.lower() for w in _CAMEL.findall(chunk))
    return words


def _singular(word: str) -> str:
    if word.endswith("s") and word[:-1] in _SINGULAR_OK:
        return word[:-1]
    if word == "hats" or word == "hihats":
        return "hat"
    return word


def words_from_name(name: str) -> list[str]:
    """Caption words for one file or folder name, in order, without duplicates."""
    m = _FREESOUND.match(name)
    if m:  # freesound.org downloads: "<id>__<user>__<name>"; the user name is not a sound
        name = m.group(1)
    raw = [_singular(w) for w in _split_words(name)]
    out: list[str] = []
    i = 0
    while i < len(raw):
        w = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if (w, nxt) in PHRASES:
            out.append(PHRASES[(w, nxt)])
            i += 2
            continue
        i += 1
        if w.isdigit():
            if w in _MEANINGFUL_NUMBERS:
                out.append(w)
            elif nxt in _UNITS:
                out.append(f"{w}-bit" if nxt == "bit" else w)
                if nxt == "bit":
                    i += 1
            continue
        if _NOTE.match(w) or w in _UNITS:
            out.append(w)
            continue
        if w in STOPWORDS or _VELOCITY.match(w):
            continue
        if w in ABBREVIATIONS:
            out.append(ABBREVIATIONS[w])
            continue
        if len(w) <= 2 and w not in _SHORT_KEEP:
            continue  # pack prefixes ("EE_", "VP "), single letters, stray dynamics
        out.append(w)
    return _dedupe(out)


def _dedupe(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


def _tidy(words: list[str]) -> list[str]:
    """Drop a generic "drum" next to a specific drum word; "open hi-hat" already says "hi-hat"."""
    if "drum" in words and _DRUM_TYPES.intersection(words):
        words = [w for w in words if w != "drum"]
    if "hi-hat" in words and ("open hi-hat" in words or "closed hi-hat" in words):
        words = [w for w in words if w != "hi-hat"]
    return words


def caption_from_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """What a person would write for this file, from its name and the folders under `root`.

    The file name leads; folder names add the category words the name lacks; when the name
    says nothing ("01.wav"), every folder word is used, deepest folder first ("Pads/Warm" ->
    "warm pad"). Returns "" when nothing meaningful is left.
    """
    p = Path(path)
    folders = list(p.relative_to(root).parent.parts) if root is not None else list(p.parent.parts[-2:])
    file_words = words_from_name(p.stem)
    folder_words = [w for part in reversed(folders) for w in words_from_name(part)]
    if file_words:
        words = file_words + [w for w in folder_words if w in CATEGORY_WORDS]
    else:
        words = folder_words
    return " ".join(_tidy(_dedupe(words)))


def group_of(path: Path, root: Path, group_by: str = "top") -> str:
    """The pack a file belongs to: its top folder under `root` ("top") or its own folder ("parent")."""
    rel = path.relative_to(root)
    if group_by == "parent" or len(rel.parts) == 1:
        return str(root / rel.parent)
    return str(root / rel.parts[0])


def read_captions_csv(csv_path: str | os.PathLike) -> dict[Path, str]:
    """`path,caption` rows (header optional); relative paths are relative to the CSV's folder."""
    base = Path(csv_path).parent
    out: dict[Path, str] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "path":
                continue
            p = Path(row[0].strip()).expanduser()
            out[(p if p.is_absolute() else base / p).resolve()] = row[1].strip()
    return out


def collect_pairs(folders: Iterable[str | os.PathLike], captions_csv: str | os.PathLike | None = None,
                  tags: Mapping[str | os.PathLike, Iterable[str]] | None = None,
                  group_by: str = "top") -> list[Pair]:
    """Every audio file under `folders` with a caption; files with no usable caption are skipped.

    An explicit caption from `captions_csv` wins over the path; user `tags` are appended.
    CSV rows for files outside `folders` are included too (grouped by their own folder).
    """
    explicit = read_captions_csv(captions_csv) if captions_csv else {}
    user_tags = {Path(k).resolve(): list(v) for k, v in (tags or {}).items()}
    pairs: dict[Path, Pair] = {}  # by resolved path: CSV rows, tags and walked files all compare resolved
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        for path in _walk_audio(root):
            key = path.resolve()
            if key not in pairs:
                caption = explicit.get(key) or caption_from_path(path, root)
                pairs[key] = Pair(path, caption, group_of(path, root, group_by))
    for path, caption in explicit.items():
        if path not in pairs and path.is_file():
            pairs[path] = Pair(path, caption, str(path.parent))
    out = []
    for key, pair in pairs.items():
        extra = [t.strip().lower() for t in user_tags.get(key, []) if t.strip()]
        caption = " ".join(_dedupe(pair.caption.split() + extra)) if extra else pair.caption
        if caption:
            out.append(Pair(pair.path, caption, pair.group))
    return out


def _walk_audio(root: Path):
    """Audio files under `root` in a stable order, following symlinked folders as indexing does
    (each real folder once, so a link loop cannot recurse forever)."""
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = Path(dirpath).resolve()
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            if not name.startswith(".") and is_audio_path(name):
                yield Path(dirpath) / name
