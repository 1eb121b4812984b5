"""How sample names are read: the one set of rules shared by captions and name search.

"Drums/Kicks/Kick_808_Deep_03.wav" says "kick 808 deep". These rules split camelCase,
separators and letter/digit boundaries, expand pack abbreviations (BD, SD, HH, OH, FX, Vox…),
drop take numbers and velocity layers, and keep note names and drum-machine numbers.
`training/captions.py` turns the words into training captions; `library/names.py` turns them
into full-text search tokens (`search_tokens`), and `query/tokens.py` reads a query with the
same rules, so "hihat", "hi-hat", "HH" and "Hi Hat" are one token on both sides.

Pure standard library: every layer may import it (it lives here, in the lowest layer that
needs it, because the catalog tokenises names inside its own write transaction).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

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
DRUM_TYPES = frozenset({"kick", "snare", "hi-hat", "open hi-hat", "closed hi-hat", "cymbal", "crash",
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


def split_words(text: str) -> list[str]:
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


def singular(word: str) -> str:
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
    raw = [singular(w) for w in split_words(name)]
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
    return dedupe(out)


def dedupe(words: Iterable[str]) -> list[str]:
    seen: set[str] = set()
    out = []
    for w in words:
        if w not in seen:
            seen.add(w)
            out.append(w)
    return out


# -- search tokens ------------------------------------------------------------------------------
# Full-text search wants one token per idea: "hi-hat" -> "hihat", "open hi-hat" -> "open hihat",
# plurals folded ("pads" -> "pad"), and no glue words left over from expansions ("drum and bass").
_KEEP_S = ("ss", "us", "is", "os")
_FOLDER_LEVELS = 3  # parent folders that describe a file ("Drums/Kicks/Acoustic"); deeper ones are disk layout


def stem(word: str) -> str:
    """Light plural folding: "pads" -> "pad", "hats" -> "hat", "bass" and "chorus" stay."""
    if len(word) > 3 and not word.isdigit():
        if word.endswith("ies") and len(word) > 4:
            return word[:-3] + "y"
        if word.endswith("s") and not word.endswith(_KEEP_S):
            return word[:-1]
    return word


def search_tokens(words: Iterable[str]) -> list[str]:
    """Search tokens (ASCII letters and digits only, in order, no duplicates) for caption words."""
    out = []
    for word in words:
        for piece in word.split():
            token = stem(re.sub(r"[^0-9a-z#]", "", piece.lower()).replace("#", "s"))
            if token and token not in STOPWORDS:
                out.append(token)
    return dedupe(out)


def name_tokens(name: str) -> list[str]:
    """Search tokens of one file or folder name ("Kick_808_Deep_03" -> kick, 808, deep)."""
    return search_tokens(words_from_name(name))


def path_tokens(path: str) -> tuple[list[str], list[str]]:
    """(tokens of the file name, tokens of its nearest folders) for a file's full path."""
    import os.path

    head, name = os.path.split(path)
    stem_name = os.path.splitext(name)[0]
    folders = []
    for _ in range(_FOLDER_LEVELS):
        head, part = os.path.split(head)
        if not part:
            break
        folders.append(part)
    file_tokens = name_tokens(stem_name)
    folder_tokens = dedupe(t for part in folders for t in name_tokens(part))
    return file_tokens, folder_tokens
