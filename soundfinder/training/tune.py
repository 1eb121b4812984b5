"""The two entry points the command line (and later the GUI) call: tune a model, evaluate models.

`tune` is the whole job: captions from the library, a held-out split by pack, held-out
recall before training, the training loop, held-out recall after, and a self-describing
output folder (`save_pretrained` weights + processor + training.json) that loads like any
other model. A tuned model is a new embedding space: libraries must re-embed to use it.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path

import torch

from soundfinder.training.captions import Pair, collect_pairs
from soundfinder.training.evaluate import decode_all, evaluate, format_table, read_labels_csv
from soundfinder.training.split import group_split
from soundfinder.training.trainer import (
    RECORD_FILE,
    Progress,
    TrainConfig,
    check_enough,
    train,
)


def load_model(model_path_or_id: str | Path):
    """ClapModel + ClapProcessor from a local folder or a hub id already in the local cache."""
    from transformers import ClapModel, ClapProcessor

    src = str(model_path_or_id)
    return ClapModel.from_pretrained(src), ClapProcessor.from_pretrained(src)


def reinitialise(model, seed: int):
    """Same architecture, fresh random weights: training from scratch."""
    from transformers import ClapModel

    torch.manual_seed(seed)
    return ClapModel(model.config)


def tune(model_path_or_id: str | Path, out_dir: str | Path, folders: list[Path], captions_csv: Path | None,
         config: TrainConfig, progress: Progress | None = None, cancel: threading.Event | None = None,
         tags: dict | None = None, pairs: list[Pair] | None = None) -> Path:
    """Fine-tune (or train from scratch) on the captioned sounds under `folders`; returns `out_dir`.

    `pairs` may be given instead of folders (the recipe builds its own). Raises
    TooFewPairsError for a caption set that is too small, TrainingCancelled when cancelled
    (resume by calling again with the same arguments).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    # 1. Captions and a held-out split by group.
    pairs = pairs if pairs is not None else collect_pairs(folders, captions_csv, tags, config.group_by)
    check_enough(pairs)
    groups = {p.group for p in pairs}
    holdout = config.holdout_fraction if len(groups) >= 2 else 0.0
    train_pairs, held = group_split(pairs, holdout, config.seed)
    # 2. Model, and held-out quality before training.
    model, processor = load_model(model_path_or_id)
    if config.from_scratch:
        model = reinitialise(model, config.seed)
    clips = decode_all([p.path for p in held], config.max_seconds) if held else {}
    before = evaluate(model, processor, held, clips=clips) if held else {}
    import transformers

    from soundfinder import __version__

    record = {"base_model": str(model_path_or_id), "folders": [str(f) for f in folders],
              "versions": {"soundfinder": __version__, "torch": torch.__version__,
                           "transformers": transformers.__version__},
              "captions_csv": str(captions_csv) if captions_csv else None,
              "heldout_groups": sorted({p.group for p in held}), "n_heldout": len(held),
              "heldout_pairs": [[str(p.path), p.caption] for p in held], "evaluation": {"before": before}}
    # 3. Train (resumes from out/checkpoints when possible).
    started = time.monotonic()
    last = train(model, processor, train_pairs, config, out, progress, cancel, record)
    # 4. Held-out quality after; the final model goes into `out` itself.
    after = evaluate(model, processor, held, clips=clips) if held else {}
    rec = json.loads((last / RECORD_FILE).read_text())
    rec["evaluation"] = {"before": before, "after": after}
    rec["train_seconds_this_run"] = round(time.monotonic() - started, 1)
    rec["config"] = asdict(config) | {"peak_lr": config.peak_lr}
    model.save_pretrained(str(out), safe_serialization=True)
    processor.save_pretrained(str(out))
    (out / RECORD_FILE).write_text(json.dumps(rec, indent=1, default=str))
    return out


def heldout_table(out_dir: str | Path) -> str:
    """The before/after table stored by `tune` in training.json ("" when nothing was held out)."""
    ev = json.loads((Path(out_dir) / RECORD_FILE).read_text()).get("evaluation", {})
    return format_table(ev) if ev.get("after") else ""


def evaluate_cli(model_path: str | Path, labels_csv: Path | None = None, pairs: list[Pair] | None = None,
                 baseline: str | Path | None = None, templates=("the sound of a {}",)) -> dict:
    """Evaluate a model (and optionally a baseline side by side) on labels and/or caption pairs.

    Returns {"results": {name: metrics}, "table": str}. With no `pairs`, the held-out pairs
    recorded in the model's training.json are used when present.
    """
    if pairs is None:
        record = Path(model_path) / RECORD_FILE
        held = json.loads(record.read_text()).get("heldout_pairs", []) if record.is_file() else []
        pairs = [Pair(Path(p), c, "") for p, c in held] or None
    labelled = read_labels_csv(labels_csv) if labels_csv else None
    if not pairs and not labelled:
        raise ValueError("nothing to evaluate: give a labels CSV (path,label) or caption pairs")
    clips = decode_all([p.path for p in pairs or []] + [p for p, _ in labelled or []])
    results = {}
    for name, src in ([("baseline", baseline)] if baseline else []) + [("model", model_path)]:
        model, processor = load_model(src)
        results[name] = evaluate(model, processor, pairs, labelled, clips, templates)
    return {"results": results, "table": format_table(results)}


def clear_checkpoints(out_dir: str | Path) -> None:
    """Remove resumable state (the final model stays); for users who want the disk space back."""
    shutil.rmtree(Path(out_dir) / "checkpoints", ignore_errors=True)
