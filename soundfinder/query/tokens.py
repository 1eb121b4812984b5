"""Query words as name-search tokens, by the very rules that tokenised the file names.

The rules (camelCase, separators, pack abbreviations BD/SD/HH/OH/FX/Vox…, plural folding,
"hihat" = "hi-hat" = "hh") live in `soundfinder.library.nametokens`, which the catalog uses
when it indexes a name and `training/captions.py` uses for captions; this module adds only
what a query has and a file name has not: glue words ("a kick with a long tail").
"""

from __future__ import annotations

import re

from soundfinder.library.nametokens import name_tokens, search_tokens, stem, words_from_name

__all__ = ["QUERY_STOPWORDS", "name_tokens", "query_tokens", "search_tokens", "stem", "words_from_name"]

# Words of a sentence that name nothing a file is called after.
QUERY_STOPWORDS = frozenset({
    "a", "an", "with", "in", "for", "from", "like", "some", "that", "this", "to", "on", "at", "by", "my",
    "very", "really", "kind", "sort", "something", "recording", "sounding", "sounds", "type", "style", "ish",
    "but", "or", "into", "out", "its", "it", "is", "are", "be", "has", "have", "any", "please", "me", "i",
})


def query_tokens(text: str) -> list[str]:
    """Name-search tokens of free query text: "Dark HiHats with reverb" -> dark, hihat, reverb."""
    words = [w for w in re.split(r"\s+", text.strip()) if w and w.lower() not in QUERY_STOPWORDS]
    return [t for t in search_tokens(words_from_name(" ".join(words))) if t not in QUERY_STOPWORDS]
