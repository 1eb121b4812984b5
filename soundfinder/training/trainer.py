"""Contrastive fine-tuning (or from-scratch training) of a CLAP model on (audio, caption) pairs.

Read top to bottom like nanoGPT's train.py: a config dataclass, then one loop. The learning
rate is a pure function of the step (warm-up + cosine) and every random draw is seeded from
(seed, epoch, step), so a run resumed from a checkpoint sees exactly the batches and
augmentations it would have seen; only the optimizer state needs saving.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from soundfinder.model.features import MelFrontEnd
from soundfinder.training.captions import Pair
from soundfinder.training.clips import Augment, augmented_window, load_clips
from soundfinder.training.loss import clip_loss, positive_targets

MIN_TRAIN_PAIRS = 16  # fewer pairs than this cannot form useful contrastive batches
MIN_DISTINCT_CAPTIONS = 2
STATE_FILE = "trainer_state.pt"  # optimizer moments: plain tensors, loaded with weights_only=True
RECORD_FILE = "training.json"

Progress = Callable[[int, int, float, float], None]  # (step, total_steps, loss, eta_seconds)


class TooFewPairsError(ValueError):
    """The caption set is too small to train on."""


class TrainingCancelled(Exception):
    """Raised after a cancelled run saved its checkpoint; `checkpoint` is where to resume from."""

    def __init__(self, checkpoint: Path):
        self.checkpoint = checkpoint
        super().__init__(f"training cancelled; checkpoint saved at {checkpoint}")


@dataclass
class TrainConfig:
    train: str = "all"  # what to update: "projection" (projections + temperatures), "top" (+ last layers), "all"
    from_scratch: bool = False  # re-initialise the weights (same architecture, tokenizer, preprocessing) first
    epochs: int = 5  # passes over the training pairs
    batch_size: int = 16  # pairs per forward pass; each pair is contrasted with the other batch_size - 1
    grad_accum: int = 1  # forward passes per optimizer step (larger effective batch, same negatives)
    lr: float = 1e-4  # peak learning rate (use ~1e-5 for "all" on a pretrained model, ~1e-3 from scratch)
    weight_decay: float = 0.1  # AdamW decay, not applied to biases, norms and temperatures
    warmup_steps: int = 50  # optimizer steps of linear warm-up (at most 10% of the run)
    min_lr_ratio: float = 0.1  # the cosine decays to lr * min_lr_ratio
    seed: int = 0  # seeds initialisation, shuffling, augmentation and dropout
    mixed_precision: bool = True  # autocast (bf16, else fp16) on CUDA; the CPU always trains in float32
    augment: Augment = field(default_factory=Augment)  # gain, time shift, random crop within a file
    max_seconds: float = 30.0  # audio kept in RAM per file (random crops come from this span)
    holdout_fraction: float = 0.1  # fraction of files (whole groups) held out for evaluation
    group_by: str = "top"  # held-out groups: "top" folder under each library folder, or "parent" folder
    save_every_steps: int = 0  # checkpoint every N optimizer steps as well as at each epoch's end (0: epochs only)
    max_minutes: float = 0.0  # time box: the run's length is re-planned to fit from the measured pace; 0: none
    resume: bool = True  # continue from the output folder's last checkpoint when it used the same data
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    num_threads: int = 0  # torch CPU threads (0: torch's default)

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        d = dict(d)
        d["augment"] = Augment(**d.get("augment", {}))
        return TrainConfig(**d)


# --- what to train -------------------------------------------------------------------------------

def _top_prefixes(model) -> list[str]:
    last_audio = len(model.config.audio_config.depths) - 1
    last_text = model.config.text_config.num_hidden_layers - 1
    return [f"audio_model.audio_encoder.layers.{last_audio}.", "audio_model.audio_encoder.norm.",
            f"text_model.encoder.layer.{last_text}.", "text_model.pooler."]


def select_trainable(model, what: str) -> list[torch.nn.Parameter]:
    """Freeze all but the chosen part; frozen towers go to eval mode so batch-norm stats stay put."""
    heads = ["audio_projection.", "text_projection.", "logit_scale"]
    prefixes = {"projection": heads, "top": heads + _top_prefixes(model), "all": [""]}.get(what)
    if prefixes is None:
        raise ValueError(f"unknown train target {what!r}; choose projection, top or all")
    params = []
    for name, p in model.named_parameters():
        p.requires_grad = any(name.startswith(pre) for pre in prefixes)
        if p.requires_grad:
            params.append(p)
    model.train()
    if what != "all":
        model.audio_model.eval()
        model.text_model.eval()
        for name, module in model.named_modules():
            if any(pre and (name + ".").startswith(pre) for pre in prefixes if pre.endswith(".")):
                module.train()
    return params


def make_optimizer(params: list[torch.nn.Parameter], cfg: TrainConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (biases, norms and temperatures are not shrunk)."""
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to lr * min_lr_ratio (nanoGPT's get_lr)."""
    warmup = min(cfg.warmup_steps, max(1, total // 10))
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# --- data ------------------------------------------------------------------------------------------

def check_enough(pairs: list[Pair]) -> None:
    """Refuse caption sets that cannot train anything, saying what the minimum is."""
    if len(pairs) < MIN_TRAIN_PAIRS:
        raise TooFewPairsError(f"only {len(pairs)} captioned sound(s) to train on; training needs at least "
                               f"{MIN_TRAIN_PAIRS}. Add folders of named samples or a captions CSV.")
    distinct = len({p.caption for p in pairs})
    if distinct < MIN_DISTINCT_CAPTIONS:
        raise TooFewPairsError(f"all {len(pairs)} sounds have the same caption; contrastive training needs at "
                               f"least {MIN_DISTINCT_CAPTIONS} different captions.")


def fingerprint(pairs: list[Pair]) -> str:
    """Identifies the training data, so a resume never silently continues on other files."""
    h = hashlib.sha256()
    for p in pairs:
        h.update(f"{p.path}\t{p.caption}\n".encode())
    return h.hexdigest()[:16]


def pick_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(cfg.device)


# --- checkpoints -----------------------------------------------------------------------------------

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


def _prune_checkpoints(out_dir: Path, keep: Path) -> None:
    for old in (out_dir / "checkpoints").glob("step-*"):
        if old != keep:
            shutil.rmtree(old, ignore_errors=True)


# --- the loop --------------------------------------------------------------------------------------

def train(model, processor, pairs: list[Pair], cfg: TrainConfig, out_dir: str | Path,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          record: dict | None = None) -> Path:
    """Train `model` on `pairs`; writes checkpoints under out_dir/checkpoints and returns the last one.

    Resumes from the last checkpoint in `out_dir` when `cfg.resume` and the data match.
    `record` (data description, evaluation) is merged into each checkpoint's training.json.
    Raises TooFewPairsError, or TrainingCancelled after saving a checkpoint when `cancel` is set.
    """
    out_dir = Path(out_dir)
    # 1. Determinism, threads, device.
    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    device = pick_device(cfg)
    check_enough(pairs)

    # 2. Decode everything once; drop files that do not decode (recorded, never fatal).
    pairs, clips, failed = _decodable(pairs, cfg)
    batch = min(cfg.batch_size, len(pairs))
    steps_per_epoch = max(1, len(pairs) // batch // cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    logmel = MelFrontEnd(processor.feature_extractor, device=device)

    # 3. Model, what to train, optimizer; pick up a checkpoint of the same data.
    rec = {**(record or {}), "config": asdict(cfg), "n_train": len(pairs), "failed_files": failed,
           "data_fingerprint": fingerprint(pairs), "loss_history": []}
    ckpt = last_checkpoint(out_dir) if cfg.resume else None
    start, total = _resume(model, ckpt, rec, cfg, total) if ckpt is not None else (0, total)
    model.to(device)
    params = select_trainable(model, cfg.train)
    optimizer = make_optimizer(params, cfg)
    if ckpt is not None and (ckpt / STATE_FILE).exists():
        optimizer.load_state_dict(torch.load(ckpt / STATE_FILE, map_location=device, weights_only=True))
    amp_dtype, use_amp, scaler = _mixed_precision(cfg, device)

    def checkpoint(step: int) -> Path:
        rec.update(step=step, total_steps=total, epoch=step / steps_per_epoch, finished=step >= total)
        folder = save_checkpoint(out_dir / "checkpoints" / f"step-{step:07d}", model, processor, optimizer, rec)
        _prune_checkpoints(out_dir, folder)
        return folder

    # 4. Optimizer steps; each is grad_accum micro-batches of `batch` pairs.
    t0, step, last = time.monotonic(), start, ckpt
    while step < total:
        epoch, pos = divmod(step, steps_per_epoch)
        order = np.random.default_rng([cfg.seed, epoch]).permutation(len(pairs))
        rng = np.random.default_rng([cfg.seed, epoch, pos])
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, cfg)
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            first = (pos * cfg.grad_accum + micro) * batch
            idx = order[first:first + batch]
            waves = [augmented_window(clips[i], logmel.max_length, cfg.augment, rng) for i in idx]
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                loss = _batch_loss(model, logmel, processor.tokenizer, waves, [pairs[i].caption for i in idx],
                                   device) / cfg.grad_accum
            scaler.scale(loss).backward()
            step_loss += loss.item()
        _apply_gradients(optimizer, scaler, params)
        step += 1
        rec["loss_history"].append([step, round(step_loss, 5)])

        # 5. Time box: re-plan the run's length from the measured pace (after 5 steps, then each
        #    epoch), never beyond the configured epochs; the cosine follows the new length.
        elapsed = time.monotonic() - t0
        if cfg.max_minutes and (step - start == 5 or step % steps_per_epoch == 0):
            total = rec["time_boxed_total_steps"] = _steps_that_fit(cfg, step, start, elapsed, steps_per_epoch)
        if progress:
            progress(step, total, step_loss, elapsed / (step - start) * (total - step))
        if step % steps_per_epoch == 0 or step == total or (cfg.save_every_steps and step % cfg.save_every_steps == 0):
            last = checkpoint(step)
        if cancel is not None and cancel.is_set() and step < total:
            raise TrainingCancelled(checkpoint(step))
    if last is None:  # resumed from a finished run
        last = checkpoint(step)
    return last


def _resume(model, ckpt: Path, rec: dict, cfg: TrainConfig, total: int) -> tuple[int, int]:
    """Load the checkpoint's weights into `model` and its loss history into `rec`; returns
    (the step it stopped at, the run's total steps). Refuses a checkpoint of other data."""
    old = json.loads((ckpt / RECORD_FILE).read_text())
    if old.get("data_fingerprint") != rec["data_fingerprint"]:
        raise ValueError(f"{ckpt.parent.parent} holds a checkpoint trained on other data; choose a new output "
                         "folder or turn resuming off")
    model.load_state_dict(type(model).from_pretrained(str(ckpt)).state_dict())
    start = old["step"]
    if cfg.max_minutes:  # keep the time-boxed plan of the interrupted run
        total = max(old["total_steps"], start)
    rec["loss_history"] = old.get("loss_history", [])
    return start, total


def _batch_loss(model, logmel, tokenizer, waves: list, captions: list[str], device) -> torch.Tensor:
    """CLAP's contrastive loss on one micro-batch of (audio window, caption) pairs."""
    feats = logmel(waves).clone()  # an ordinary tensor: autograd cannot save inference tensors
    tokens = tokenizer(captions, padding=True, truncation=True, max_length=77, return_tensors="pt").to(device)
    audio = model.get_audio_features(input_features=feats).pooler_output
    text = model.get_text_features(input_ids=tokens["input_ids"],
                                   attention_mask=tokens["attention_mask"]).pooler_output
    return clip_loss(audio.float(), text.float(), model.logit_scale_a, model.logit_scale_t,
                     positive_targets(captions, device))


def _apply_gradients(optimizer, scaler, params) -> None:
    """One optimizer step on the accumulated gradients, clipped to norm 1."""
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def _steps_that_fit(cfg: TrainConfig, step: int, start: int, elapsed: float, steps_per_epoch: int) -> int:
    """The run's new length from the pace so far: what fits in `cfg.max_minutes`, never beyond
    the configured epochs nor before the current step."""
    pace = elapsed / (step - start)
    fits = step + int((cfg.max_minutes * 60 - elapsed) / pace)
    return max(step, min(steps_per_epoch * cfg.epochs, fits))


def _decodable(pairs: list[Pair], cfg: TrainConfig) -> tuple[list[Pair], list[np.ndarray], list]:
    """Decode every pair's audio once; (the pairs that decode, their clips, the failures)."""
    clips, failed = load_clips([p.path for p in pairs], cfg.max_seconds)
    keep = [i for i, c in enumerate(clips) if c.size]
    pairs, clips = [pairs[i] for i in keep], [clips[i] for i in keep]
    check_enough(pairs)
    return pairs, clips, failed


def _mixed_precision(cfg: TrainConfig, device):
    """(autocast dtype, whether autocast is on, gradient scaler): mixed precision on CUDA only."""
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = cfg.mixed_precision and device.type == "cuda"
    return amp_dtype, use_amp, torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
