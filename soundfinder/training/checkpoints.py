"""Resumable checkpoints: weights + processor + optimizer state + a record, renamed into place."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import torch

STATE_FILE = "trainer_state.pt"  # optimizer moments: plain tensors, loaded with weights_only=True
RECORD_FILE = "training.json"


def save_checkpoint(folder: Path, model, processor, optimizer, record: dict) -> Path:
    """Write model + processor + optimizer state + record to a temp folder, then rename it into place."""
    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    processor.save_pretrained(str(tmp))
    if optimizer is not None:
        torch.save(optimizer.state_dict(), tmp / STATE_FILE)
    (tmp / RECORD_FILE).write_text(json.dumps(record, indent=1, default=str))
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(tmp, folder)
    return folder


def last_checkpoint(out_dir: Path) -> Path | None:
    ckpts = sorted((out_dir / "checkpoints").glob("step-*[0-9]")) if (out_dir / "checkpoints").is_dir() else []
    return ckpts[-1] if ckpts else None


def prune_checkpoints(out_dir: Path, keep: Path) -> None:
    for old in (out_dir / "checkpoints").glob("step-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)
