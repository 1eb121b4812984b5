"""Moving a search in the model's space: "like this, but darker", "more like these", feedback.

All three work on unit vectors and return unit vectors, so the result searches like any
query vector:

* `steer(v, more, less, amount)`: v + amount * (text(more) - text(less)), renormalised. The
  text difference is a direction ("dark" minus "bright"); `amount` 0 is the file itself.
* `centroid(vs)`: several sounds as one query ("more like these").
* `rocchio(q, liked, disliked)`: the classic relevance-feedback update
  q' = a q + b mean(liked) - c mean(disliked), so thumbs up/down re-rank a search.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ROCCHIO_A, ROCCHIO_B, ROCCHIO_C = 1.0, 0.75, 0.25  # Rocchio's textbook weights (Manning et al., ch. 9)


def unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float32)
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def steer(vector: np.ndarray, more: np.ndarray | None = None, less: np.ndarray | None = None,
          amount: float = 0.5) -> np.ndarray:
    """`vector` moved by `amount` along text(more) - text(less) (either may be None)."""
    direction = np.zeros_like(np.asarray(vector, dtype=np.float32))
    if more is not None:
        direction = direction + unit(more)
    if less is not None:
        direction = direction - unit(less)
    return unit(unit(vector) + float(amount) * direction)


def centroid(vectors: Sequence[np.ndarray]) -> np.ndarray:
    """One query for several sounds: the normalised mean of their unit vectors."""
    if not len(vectors):
        raise ValueError("no sounds to search like")
    return unit(np.mean([unit(v) for v in vectors], axis=0))


def rocchio(query: np.ndarray, liked: Sequence[np.ndarray] = (), disliked: Sequence[np.ndarray] = (),
            a: float = ROCCHIO_A, b: float = ROCCHIO_B, c: float = ROCCHIO_C) -> np.ndarray:
    """The query moved toward the liked sounds and away from the disliked ones."""
    q = a * unit(query)
    if len(liked):
        q = q + b * np.mean([unit(v) for v in liked], axis=0)
    if len(disliked):
        q = q - c * np.mean([unit(v) for v in disliked], axis=0)
    return unit(q)
