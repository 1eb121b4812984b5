"""Decoding clips for training and evaluation (once per file), and the evaluation window.

Augmentation happens later, on log-mel features (augment.py): small on purpose, a kick must
still sound like a kick after it, never pitch or tempo changes that would make its caption wrong.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from soundfinder.audio import DecodeError, decode

SAMPLE_RATE = 48000


def load_clips(paths: list, max_seconds: float = 30.0,
               on_progress: Callable[[int, int], None] | None = None) -> tuple[list[np.ndarray], dict[str, str]]:
    """Decode every file once; returns (clips in input order, {path: reason} for files that failed).

    A failed file gets an empty clip so indices stay aligned; callers drop those pairs.
    `max_seconds` bounds RAM (a 30 s clip is 5.8 MB as float32).
    """
    clips: list[np.ndarray] = []
    failed: dict[str, str] = {}
    limit = int(max_seconds * SAMPLE_RATE)
    for i, path in enumerate(paths):
        try:
            samples = decode(path, sample_rate=SAMPLE_RATE).samples[:limit]
            if samples.size == 0:
                raise DecodeError(path, "no audio in file")
            clips.append(np.ascontiguousarray(samples, dtype=np.float32))
        except DecodeError as e:
            failed[str(path)] = e.reason
            clips.append(np.zeros(0, np.float32))
        if on_progress:
            on_progress(i + 1, len(paths))
    return clips, failed


def fixed_window(wave: np.ndarray, window: int) -> np.ndarray:
    """The deterministic window used for evaluation and indexing: the start of the file."""
    return wave[:window]

