"""Contrastive fine-tuning ("teach it my library") and measured search quality.

Imported only when a tune or eval runs; nothing in the app imports it at start-up, and this
file itself imports nothing heavy (names resolve lazily)::

    from soundfinder.training import TrainConfig, tune, evaluate_cli
    out = tune("laion/clap-htsat-unfused", "~/models/mine", [Path("~/Samples")], None,
               TrainConfig(train="top", epochs=5))
    print(evaluate_cli(out, Path("labels.csv"), baseline="laion/clap-htsat-unfused")["table"])
"""

from __future__ import annotations

import importlib

_WHERE = {
    "TrainConfig": "trainer", "TooFewPairsError": "trainer", "TrainingCancelled": "trainer", "train": "trainer",
    "tune": "tune", "evaluate_cli": "tune", "load_model": "tune",
    "evaluate": "evaluate", "format_table": "evaluate",
    "Pair": "captions", "caption_from_path": "captions", "collect_pairs": "captions", "group_split": "split",
    "MelAugment": "augment", "CaptionSampler": "templates", "clip_loss": "loss",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"soundfinder.training.{_WHERE[name]}"), name)
    raise AttributeError(name)
