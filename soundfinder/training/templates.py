"""Captions sampled per step: one file, many ways of saying what it is.

A file that always gets the same caption teaches the text tower ~300 caption strings, not
words: "the sound of a" never occurs, a class word that only appears inside longer captions
is never learnt on its own, and class prompts collapse onto each other. So each time a clip
is seen it gets a fresh caption: its class word or a synonym (kick = bass drum = BD), sometimes
with a finer word ("808 kick", "open hi-hat"), sometimes its whole name caption or one of
its user tags, inside one of a few templates ("a {x} one-shot", "the sound of a {x}").

The synonyms are the expansion rules of `captions.py` read backwards (its ABBREVIATIONS and
PHRASES map "bd" and "bass drum" to "kick"), so the two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from soundfinder.training.captions import ABBREVIATIONS, CATEGORY_WORDS, PHRASES

TEMPLATES = (
    "{}", "a {}", "the {}", "the sound of a {}", "a {} sound", "a {} one-shot", "a {} sample",
    "a recording of a {}", "{} sound", "this is a {}",
)
EVAL_PROMPT = "the sound of a {}"  # the single prompt zero-shot accuracy is reported with

# A finer word -> the coarse class it belongs to (a caption's class is its coarse word).
PARENT = {
    "open hi-hat": "hi-hat", "closed hi-hat": "hi-hat", "crash": "cymbal", "ride": "cymbal",
    "splash": "cymbal", "china": "cymbal", "violin": "strings", "cello": "strings", "viola": "strings",
    "trumpet": "brass", "trombone": "brass", "horn": "brass", "tuba": "brass", "sub bass": "bass",
    "high tom": "tom", "mid tom": "tom", "low tom": "tom", "floor tom": "tom", "voice": "speech",
}
# Words that name a class only when nothing more specific is in the caption.
GENERIC = frozenset({"percussion", "drum", "one-shot", "loop", "break", "hit", "stab", "chord"})
_CLASS_WORDS = CATEGORY_WORDS | set(PARENT)


def _synonyms() -> dict[str, list[str]]:
    """canonical word -> [itself, other spellings people use]: captions.py's rules reversed."""
    out: dict[str, list[str]] = {}
    for short, word in ABBREVIATIONS.items():
        if word in _CLASS_WORDS and len(short) >= 2:
            out.setdefault(word, [word]).append(short)
    for (a, b), word in PHRASES.items():
        if word in _CLASS_WORDS:
            out.setdefault(word, [word]).append(f"{a} {b}")
    return {w: list(dict.fromkeys(forms)) for w, forms in out.items()}


SYNONYMS = _synonyms()


def class_words(caption: str) -> list[str]:
    """The category words of a caption in order, two-word ones ("open hi-hat") first."""
    words = caption.split()
    found, i = [], 0
    while i < len(words):
        two = " ".join(words[i:i + 2])
        if i + 1 < len(words) and two in _CLASS_WORDS:
            found.append(two)
            i += 2
            continue
        if words[i] in _CLASS_WORDS:
            found.append(words[i])
        i += 1
    return found


def coarse_class(caption: str) -> str | None:
    """A caption's class: its first specific category word, mapped to its coarse parent."""
    found = class_words(caption)
    specific = [w for w in found if w not in GENERIC] or found
    return PARENT.get(specific[0], specific[0]) if specific else None


@dataclass(frozen=True)
class CaptionSampler:
    """Draws a caption for a file each time it is seen; `fixed=True` is the old design (the
    file's name caption, always the same), kept so the two can be measured side by side."""

    fixed: bool = False
    p_class: float = 0.5  # the class word or a synonym
    p_finer: float = 0.2  # a finer word with its class ("808 kick", "open hi-hat")
    p_tag: float = 0.1  # one word of the caption that is not a class word (a tag, "808", "deep")
    # the rest: the whole name caption

    def sample(self, caption: str, rng: np.random.Generator) -> tuple[str, str]:
        """(text, key): items of a batch with the same key count as positives of each other."""
        if self.fixed:
            return caption, caption
        cls = coarse_class(caption)
        u = rng.random()
        if cls is not None and u < self.p_class:
            text, key = _pick(rng, SYNONYMS.get(cls, [cls])), f"class:{cls}"
        elif cls is not None and u < self.p_class + self.p_finer:
            text, key = self._finer(caption, cls, rng)
        elif u < self.p_class + self.p_finer + self.p_tag and len(caption.split()) > 1:
            text = _pick(rng, caption.split())
            key = text
        else:
            text, key = caption, caption
        return _pick(rng, TEMPLATES).format(text), key

    @staticmethod
    def _finer(caption: str, cls: str, rng: np.random.Generator) -> tuple[str, str]:
        specific = [w for w in class_words(caption) if w != cls and PARENT.get(w) == cls]
        if specific:
            return _pick(rng, specific), f"finer:{specific[0]}"
        others = [w for w in caption.split() if w not in _CLASS_WORDS and w not in cls.split()]
        if not others:
            return _pick(rng, SYNONYMS.get(cls, [cls])), f"class:{cls}"
        word = _pick(rng, others)
        return f"{word} {_pick(rng, SYNONYMS.get(cls, [cls]))}", f"finer:{word} {cls}"


def _pick(rng: np.random.Generator, items) -> str:
    return items[int(rng.integers(len(items)))]


def class_prompts(label: str, templates=TEMPLATES) -> list[str]:
    """Every template filled with every synonym of a class: the zero-shot ensemble's prompts."""
    return [t.format(s) for s in SYNONYMS.get(label, [label]) for t in templates]
