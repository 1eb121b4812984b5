"""Smart collections: a saved search evaluated against the library as it is now.

The definition (`library.collections.SmartDefinition`) is a text, an example file or both (their
normalised mean is the query vector), tags to require or avoid, BPM/key/kind filters, a result
limit and a score threshold. Evaluating it is one filtered search (the same code as the search
box), so a new sound that fits appears the next time the collection is shown, and a refresh at
100k files costs one knn query (the text's vector is cached).
"""

from __future__ import annotations

import numpy as np

from soundfinder.library.collections import SmartDefinition
from soundfinder.query.search import _TEXT_CACHE, Hit, embed_file, search_vector

# Extra candidates fetched when filters will drop some of them afterwards.
FILTER_OVERFETCH = 4


def query_vector(library, embedder, definition: SmartDefinition) -> np.ndarray | None:
    parts = []
    if definition.query and definition.query.strip():
        parts.append(_TEXT_CACHE.get(embedder, definition.query.strip()))
    if definition.like:
        parts.append(embed_file(library, embedder, definition.like))
    if not parts:
        return None
    q = np.mean([p / (np.linalg.norm(p) or 1.0) for p in parts], axis=0).astype(np.float32)
    return q / (np.linalg.norm(q) or 1.0)


def evaluate(library, embedder, definition: SmartDefinition, vector: np.ndarray | None = None) -> list[Hit]:
    """The collection's sounds now, best first (by path when it has tags only).

    `vector`: the query vector if the caller already has it (a live view refreshing on change)."""
    d = definition
    want = d.limit * (FILTER_OVERFETCH if d.filters else 1)
    q = vector if vector is not None else query_vector(library, embedder, d)
    if q is not None:
        hits = search_vector(library, q, k=want, tags=d.tags, not_tags=d.not_tags)
        if d.threshold is not None:
            hits = [h for h in hits if h.score >= d.threshold]
    else:
        allowed = library.files_with_tags(d.tags, d.not_tags)
        by_vector = library.files_for_vectors(set(allowed.values()))
        hidden = library.hidden_hashes()
        records = sorted((r for rs in by_vector.values() for r in rs if r.id in allowed and r.hash not in hidden),
                         key=lambda r: r.path)[:want]
        library.attach_tags(records)
        hits = [Hit(float("nan"), r) for r in records]
    return apply_filters(hits, d.filters)[:d.limit]


def apply_filters(hits: list[Hit], filters: dict) -> list[Hit]:
    """MERGE POINT (#11): apply `filters` (BPM range, key, kind) with
    `soundfinder.query.filters.SoundFilter` once that module lands (helper "analysis13").
    Until then the filters are stored with the definition and NOT applied; `filters_applied`
    tells the faces so they can say so."""
    return hits


def filters_applied(filters: dict) -> bool:
    return not filters
