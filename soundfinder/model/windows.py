"""Deterministic 10 s windows for files longer than CLAP's input.

transformers' `rand_trunc` crops long inputs at a random offset with an unseeded RNG, so the
same file gives a different vector each time. Instead a long file is cut into up to
`MAX_WINDOWS` exact windows spread evenly from its start to its end (first window at 0,
last ending at the last sample); the file's vector is the normalised mean of the windows'
embeddings. Short files go through whole and CLAP's own repeat-padding fills the window.
"""

from __future__ import annotations

import numpy as np

WINDOW_SECONDS = 10.0
MAX_WINDOWS = 4
# Bump when the audio → model-input recipe changes: vectors of two recipes never mix.
PREPROCESS_VERSION = 1


def split_windows(samples: np.ndarray, window: int, max_windows: int = MAX_WINDOWS) -> list[np.ndarray]:
    n = samples.shape[0]
    if n <= window:
        return [samples]
    count = min(max_windows, int(np.ceil(n / window)))
    starts = np.linspace(0, n - window, count).round().astype(int)
    return [samples[s:s + window] for s in starts]
