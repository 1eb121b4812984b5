"""Text, example and tag-filtered search over a library.

A text query is parsed (`parse.py`: filters, negatives, phrases), ranked by names and sound
together (`ranking.py`, `fusion.py`) and explained (`Hit.why`). Similar-search scores are
cosine similarities in the model's space (higher is better). Several files with byte-identical
audio share one vector and so one sound score.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from soundfinder.audio import decode
from soundfinder.library import FileRecord, Library


@dataclass
class Hit:
    score: float
    record: FileRecord
    why: dict | None = None  # {"name": [tokens], "sound": cosine} for fused text searches

    @property
    def path(self) -> str:
        return self.record.path

    def to_json(self) -> dict:
        d = self.record.to_json()
        d["score"] = round(self.score, 6)
        if self.why is not None:
            d["why"] = self.why
        return d


class TextCache:
    """Recent query embeddings: typing "kick", deleting, retyping costs the text tower once."""

    def __init__(self, size: int = 256):
        self.size = size
        self._items: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()

    def get(self, embedder, text: str) -> np.ndarray:
        key = (embedder.space.id, text)
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        vec = embedder.encode_text([text])[0]
        self._put(key, vec)
        return vec

    def get_many(self, embedder, texts: list[str]) -> np.ndarray:
        """Vectors of several texts; the uncached ones go through the text tower in one batch."""
        keys = [(embedder.space.id, t) for t in texts]
        missing = [t for t, key in zip(texts, keys, strict=True) if key not in self._items]
        if missing:
            for t, vec in zip(missing, embedder.encode_text(missing), strict=True):
                self._put((embedder.space.id, t), vec)
        return np.stack([self._items[key] for key in keys])

    def _put(self, key, vec) -> None:
        self._items[key] = vec
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


_TEXT_CACHE = TextCache()


def allowed_files(library: Library, tags: Iterable[str] = (), not_tags: Iterable[str] = (), filters=None,
                  within: str | None = None) -> dict[int, int] | None:
    """{file id: vector id} of the files a search may return, or None for every file: those with
    every tag of `tags` and none of `not_tags`, matching `filters` (a `query.filters.SoundFilter`)
    and, with `within`, under that folder."""
    tags, not_tags = list(tags or ()), list(not_tags or ())
    allowed = library.files_with_tags(tags, not_tags) if (tags or not_tags) else None
    if filters is not None and filters.active:
        from soundfinder.query.filters import allowed_files as matching_filter

        matching = matching_filter(library, filters)
        allowed = matching if allowed is None else {f: v for f, v in allowed.items() if f in matching}
    if within:
        under = {r.id: r.vector_id for r in library.files_under(within) if r.vector_id is not None}
        allowed = under if allowed is None else {f: v for f, v in allowed.items() if f in under}
    return allowed


def search_vector(library: Library, query: np.ndarray, k: int = 20,
                  exclude_paths: set[str] | None = None, tags: Iterable[str] = (),
                  not_tags: Iterable[str] = (), filters=None, within: str | None = None) -> list[Hit]:
    """The `k` files nearest to `query`; with tag filters, among the files carrying every tag of
    `tags` and none of `not_tags` (found in SQL, then searched exactly, same order as unfiltered),
    matching `filters` (a `query.filters.SoundFilter`: tempo, key, kind, length) and, with
    `within`, under that folder. Sounds the user hid are never listed."""
    exclude_paths = exclude_paths or set()
    allowed = allowed_files(library, tags, not_tags, filters, within)
    candidates = None if allowed is None else set(allowed.values())
    hidden = library.hidden_hashes()
    want = k + len(exclude_paths)
    hits: list[Hit] = []
    while True:
        neighbours = library.knn(query, want, candidates)
        by_vector = library.files_for_vectors(v for v, _ in neighbours)
        hits = [Hit(score, rec) for vid, score in neighbours for rec in by_vector.get(vid, [])
                if rec.path not in exclude_paths and (allowed is None or rec.id in allowed)
                and rec.hash not in hidden]
        if len(hits) >= k or len(neighbours) < want:
            break
        want *= 2
    hits = hits[:k]
    library.attach_tags([h.record for h in hits])
    return hits


def search_text(library: Library, embedder, text: str, k: int = 20, tags: Iterable[str] = (),
                not_tags: Iterable[str] = (), filters=None, within: str | None = None, mode: str = "fused",
                ensemble: bool | None = None, feedback=None) -> list[Hit]:
    """Files matching a typed query, by names and sound (`mode` "fused", "names" or "sound").

    The text is parsed first ("128 bpm kick -reverb"); `feedback` (a `ranking.Feedback`) moves
    the query toward liked results and away from disliked ones. An empty query finds nothing.
    `embedder` None ranks by names alone (what the app answers while the model loads).
    """
    from soundfinder.query.parse import parse_query
    from soundfinder.query.ranking import rank_text

    parsed = parse_query(text)
    if parsed.empty:
        return []
    return rank_text(library, embedder, parsed, k, tags=tags, not_tags=not_tags, filters=filters,
                     within=within, mode=mode, ensemble=ensemble, feedback=feedback, cache=_TEXT_CACHE)


def embed_file(library: Library | None, embedder, path: str) -> np.ndarray:
    """The vector of a file: stored if the library has it (same content), else computed."""
    from soundfinder.indexing.scan import content_hash

    path = os.path.abspath(os.path.expanduser(path))
    if library is not None:
        try:
            vid = library.vector_for_hash(content_hash(path))
        except OSError:
            vid = None
        if vid is not None:
            return library.vector(vid)
    audio = decode(path, sample_rate=embedder.sample_rate)
    return embedder.encode_audio([audio.samples])[0]


def search_similar(library: Library, embedder, path: str, k: int = 20, tags: Iterable[str] = (),
                   not_tags: Iterable[str] = (), filters=None, within: str | None = None) -> list[Hit]:
    """Files that sound like `path` (which may be outside the library); raises DecodeError."""
    return search_vector(library, embed_file(library, embedder, path), k, tags=tags, not_tags=not_tags,
                         filters=filters, within=within)
