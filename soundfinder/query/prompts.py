"""Text vectors for a query, from one prompt or a small ensemble of prompts.

CLAP ranks a library differently for "kick" and "a kick sample"; averaging the text vectors
of a few templates (as open_clip's zero-shot classifier does for class names) can make the
ranking depend less on wording. It costs one batched text-tower call for all templates, and
it is used only where bench/ranking.py measured it better (`ENSEMBLE_DEFAULT`).
"""

from __future__ import annotations

import numpy as np

TEMPLATES = ("{q}", "the sound of {q}", "{q} sample", "a recording of {q}")

# bench/ranking.py "wording" section decides; see bench/README.md for the numbers.
ENSEMBLE_DEFAULT = False


def text_vector(embedder, text: str, cache, ensemble: bool | None = None,
                templates: tuple[str, ...] = TEMPLATES) -> np.ndarray:
    """The unit text vector for `text`: one prompt, or the normalised mean over `templates`.

    `cache` is a `search.TextCache`; every prompt is cached on its own, and the misses go
    through the text tower in one batch.
    """
    if not (ENSEMBLE_DEFAULT if ensemble is None else ensemble):
        return cache.get(embedder, text)
    prompts = [t.format(q=text) for t in templates]
    vecs = cache.get_many(embedder, prompts)
    v = np.mean(vecs, axis=0)
    n = float(np.linalg.norm(v))
    return (v / n).astype(np.float32) if n > 0 else vecs[0]


def text_vectors(embedder, texts: list[str], cache, ensemble: bool | None = None,
                 templates: tuple[str, ...] = TEMPLATES) -> np.ndarray:
    """`text_vector` for several texts, all prompts through the text tower in one batch."""
    if not (ENSEMBLE_DEFAULT if ensemble is None else ensemble):
        return cache.get_many(embedder, list(texts))
    cache.get_many(embedder, [t.format(q=x) for x in texts for t in templates])  # fill the cache at once
    return np.stack([text_vector(embedder, x, cache, True, templates) for x in texts])
