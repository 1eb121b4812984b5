"""Class-balanced batch order: rare classes are seen more often, common ones less.

A library holds hundreds of kicks and a dozen cowbells; uniform sampling teaches mostly kicks.
Weights proportional to 1/sqrt(class count) (the reference recipe's choice) sit between
uniform (1) and fully balanced (1/count): every cowbell is seen several times per epoch
without the model memorising a dozen clips. A file's class is its caption's coarse word
(`templates.coarse_class`); a file without one is a class of its own caption.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from soundfinder.training.templates import coarse_class


def caption_classes(captions: list[str]) -> list[str]:
    """The class of each caption (its coarse word, else the caption itself)."""
    return [coarse_class(c) or c for c in captions]


def class_weights(classes: list[str], power: float = 0.5) -> np.ndarray:
    """Per-item sampling probability proportional to count(class) ** -power, summing to 1."""
    counts = Counter(classes)
    w = np.array([counts[c] ** -power for c in classes], dtype=np.float64)
    return w / w.sum()


def epoch_order(n: int, rng: np.random.Generator, weights: np.ndarray | None = None) -> np.ndarray:
    """An epoch's item order: a permutation (no weights) or n weighted draws with replacement."""
    if weights is None:
        return rng.permutation(n)
    return rng.choice(n, size=n, replace=True, p=weights)
