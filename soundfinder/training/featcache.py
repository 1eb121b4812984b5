"""Log-mel features per file, computed once and cached by content hash across runs.

Decoding and the STFT cost more than a small model's step; a second run over the same packs
(another time box, another recipe, another fine-tune) should not pay for them again. Features
are the deterministic first window (as indexing embeds it), stored as float16 .npy files named
by the file's content hash and the feature extractor's settings, in the user cache folder (not
the library folder: they are disposable). Augmentation happens on top, in augment.py.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from soundfinder.training.clips import fixed_window, load_clips

BATCH = 16  # clips per STFT batch on a miss


def default_cache_dir() -> Path:
    from soundfinder import config

    return config.cache_dir() / "training-features"


def settings_tag(extractor) -> str:
    """Identifies the feature settings: a change of extractor never reuses old features."""
    return hashlib.sha256(extractor.to_json_string().encode()).hexdigest()[:12]


def content_hash(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()[:32]


def _save(path: Path, array: np.ndarray) -> None:
    """temp + rename, so a crash never leaves half a feature file behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        np.save(f, array)
    os.replace(tmp, path)


def load_features(paths: list[Path], logmel, extractor, max_seconds: float, cache_dir: Path | None,
                  on_hit: Callable[[int], None] | None = None) -> tuple[list[torch.Tensor | None], dict]:
    """(features (1, frames, mels) float16 per path, None where decoding failed; {path: reason}).

    `cache_dir` None switches the disk cache off (features are still computed only once per run).
    """
    folder = cache_dir / settings_tag(extractor) if cache_dir is not None else None
    feats: list[torch.Tensor | None] = [None] * len(paths)
    keys: list[Path | None] = [None] * len(paths)
    misses = []
    for i, path in enumerate(paths):
        try:
            keys[i] = folder / f"{content_hash(Path(path))}.npy" if folder is not None else None
        except OSError:
            keys[i] = None
        if keys[i] is not None and keys[i].is_file():
            try:
                feats[i] = torch.from_numpy(np.load(keys[i]))
                continue
            except (OSError, ValueError):
                pass  # a damaged cache file is recomputed
        misses.append(i)
    if on_hit:
        on_hit(len(paths) - len(misses))
    failed: dict[str, str] = {}
    for start in range(0, len(misses), BATCH):
        chunk = misses[start:start + BATCH]
        clips, bad = load_clips([paths[i] for i in chunk], max_seconds)
        failed.update(bad)
        ok = [(i, c) for i, c in zip(chunk, clips, strict=True) if c.size]
        if not ok:
            continue
        with torch.no_grad():
            mel = logmel([fixed_window(c, logmel.max_length) for _, c in ok]).float().cpu()
        for (i, _), m in zip(ok, mel, strict=True):
            feats[i] = m.to(torch.float16)
            if keys[i] is not None:
                _save(keys[i], feats[i].numpy())
    return feats, failed
