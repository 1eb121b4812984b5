"""Decoded clips held in RAM, and the augmentations that suit one-shot samples.

Everything is decoded once up front so training is bound by the model, not by libsndfile.
Augmentation stays small on purpose: a kick must still sound like a kick after it (a little
gain, a few milliseconds of delay, a different 10 s window of a long file), never pitch or
tempo changes that would make its caption wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from soundfinder.audio import DecodeError, decode

SAMPLE_RATE = 48000


@dataclass(frozen=True)
class Augment:
    """How much to vary a clip each time it is seen (zeros switch a kind off)."""

    gain_db: float = 6.0  # random gain in +-gain_db decibels
    max_shift_ms: float = 20.0  # random delay (silence in front), up to this many milliseconds
    random_crop: bool = True  # files longer than the window: a random window, not the first

    @property
    def off(self) -> bool:
        return self.gain_db == 0 and self.max_shift_ms == 0 and not self.random_crop


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


def augmented_window(wave: np.ndarray, window: int, aug: Augment, rng: np.random.Generator) -> np.ndarray:
    """One random view of a clip, at most `window` samples long."""
    if aug.random_crop and len(wave) > window:
        start = int(rng.integers(0, len(wave) - window + 1))
        wave = wave[start:start + window]
    else:
        wave = wave[:window]
    if aug.max_shift_ms > 0:
        shift = int(rng.integers(0, int(aug.max_shift_ms * SAMPLE_RATE / 1000) + 1))
        if shift:
            wave = np.concatenate([np.zeros(shift, np.float32), wave])[:window]
    if aug.gain_db > 0:
        gain = 10.0 ** (rng.uniform(-aug.gain_db, aug.gain_db) / 20.0)
        wave = np.clip(wave * np.float32(gain), -1.0, 1.0)
    return wave
