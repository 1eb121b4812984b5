"""Contrastive fine-tuning (or from-scratch training) of a CLAP model on (audio, caption) pairs.

Read top to bottom like nanoGPT's train.py: a config dataclass, then one loop. Each step draws
a class-balanced batch (sampler.py), a fresh caption per clip (templates.py) and a random view
of each clip's cached log-mel (augment.py, featcache.py). The learning rate is a pure function
of the step (warm-up + cosine) and every random draw is seeded from (seed, epoch, step), so a
run resumed from a checkpoint sees exactly the batches it would have seen; only the optimizer
state needs saving.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from soundfinder.model.features import MelFrontEnd
from soundfinder.training.augment import MelAugment
from soundfinder.training.captions import Pair
from soundfinder.training.checkpoints import (  # noqa: F401 (re-exported)
    RECORD_FILE,
    STATE_FILE,
    last_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)
from soundfinder.training.featcache import default_cache_dir, load_features
from soundfinder.training.frozen import Encoder, make_encoder
from soundfinder.training.loss import clip_loss, positive_targets
from soundfinder.training.optim import default_lr, lr_at, make_optimizer, select_trainable  # noqa: F401
from soundfinder.training.sampler import caption_classes, class_weights, epoch_order
from soundfinder.training.templates import CaptionSampler

MIN_TRAIN_PAIRS = 16  # fewer pairs than this cannot form useful contrastive batches
MIN_DISTINCT_CAPTIONS = 2

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
    epochs: int = 5  # passes over the training pairs (a time box, max_minutes, sets the length instead)
    batch_size: int = 16  # pairs per forward pass; each pair is contrasted with the other batch_size - 1
    grad_accum: int = 1  # forward passes per optimizer step (larger effective batch, same negatives)
    lr: float | None = None  # peak learning rate; None: from the mode (optim.default_lr)
    weight_decay: float = 0.05  # AdamW decay, not applied to biases, norms and temperatures
    warmup_steps: int = 0  # optimizer steps of linear warm-up; 0: warmup_fraction of the run
    warmup_fraction: float = 0.05
    min_lr_ratio: float = 0.0  # the cosine decays to lr * min_lr_ratio
    seed: int = 0  # seeds initialisation, sampling, captions, augmentation and dropout
    mixed_precision: bool = True  # autocast: bf16 (else fp16) on CUDA; bf16 on CPUs that compute it natively
    augment: MelAugment = field(default_factory=MelAugment)  # gain, time roll, SpecAugment masks
    captions: str = "sampled"  # "sampled": a new caption per step (templates.py); "fixed": the name caption
    balance: bool = True  # class-balanced batches (weights 1/sqrt(class count)); False: plain shuffling
    max_seconds: float = 10.0  # audio decoded per file (features use the first model window)
    holdout_fraction: float = 0.1  # fraction of files (whole groups) held out for evaluation
    group_by: str = "top"  # held-out groups: "top" folder under each library folder, or "parent" folder
    save_every_steps: int = 0  # checkpoint every N optimizer steps as well as at each epoch's end (0: epochs only)
    max_minutes: float = 0.0  # time box: the run lasts this long (length planned from the pace); 0: none
    resume: bool = True  # continue from the output folder's last checkpoint when it used the same data
    device: str = "auto"  # "auto" (CUDA when present), "cpu" or "cuda"
    num_threads: int = 0  # torch CPU threads (0: torch's default)
    feature_cache: str = ""  # folder for cached log-mel features; "": the user cache folder; "off": none

    @property
    def peak_lr(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.train, self.from_scratch)

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        d = dict(d)
        d["augment"] = MelAugment(**d.get("augment", {}))
        return TrainConfig(**d)


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


def _features(pairs: list[Pair], cfg: TrainConfig, processor, device) -> tuple[list[Pair], list, dict]:
    """Log-mel features of every pair (cached by content hash); drops files that do not decode."""
    logmel = MelFrontEnd(processor.feature_extractor, device=device)
    cache = None if cfg.feature_cache == "off" else Path(cfg.feature_cache) if cfg.feature_cache else default_cache_dir()
    feats, failed = load_features([p.path for p in pairs], logmel, processor.feature_extractor, cfg.max_seconds, cache)
    keep = [i for i, f in enumerate(feats) if f is not None]
    pairs, feats = [pairs[i] for i in keep], [feats[i] for i in keep]
    check_enough(pairs)
    return pairs, feats, failed


# --- the loop --------------------------------------------------------------------------------------

def train(model, processor, pairs: list[Pair], cfg: TrainConfig, out_dir: str | Path,
          progress: Progress | None = None, cancel: threading.Event | None = None,
          record: dict | None = None) -> Path:
    """Train `model` on `pairs`; checkpoints go under out_dir/checkpoints; returns the last one.

    Resumes from out_dir's last checkpoint of the same data (cfg.resume). `record` is merged into
    training.json with the pace. Raises TooFewPairsError, or TrainingCancelled (after saving).
    """
    out_dir = Path(out_dir)
    # 1. Determinism, threads, device; features once (disk-cached across runs).
    device = _setup(cfg)
    check_enough(pairs)
    pairs, feats, failed = _features(pairs, cfg, processor, device)
    batch = min(cfg.batch_size, len(pairs))
    steps_per_epoch = max(1, len(pairs) // batch // cfg.grad_accum)
    total = steps_per_epoch * cfg.epochs
    classes, weights, sampler = _sampling(pairs, cfg)

    # 2. Model, what to train, optimizer; pick up a checkpoint of the same data.
    rec = {**(record or {}), "config": asdict(cfg) | {"peak_lr": cfg.peak_lr}, "n_train": len(pairs),
           "failed_files": failed, "data_fingerprint": fingerprint(pairs), "loss_history": [],
           "n_classes": len(set(classes))}
    ckpt = last_checkpoint(out_dir) if cfg.resume else None
    start, total = _resume(model, ckpt, rec, cfg, total) if ckpt is not None else (0, total)
    model.to(device)
    params = select_trainable(model, cfg.train)
    optimizer = make_optimizer(params, cfg.peak_lr, cfg.weight_decay)
    if ckpt is not None and (ckpt / STATE_FILE).exists():
        optimizer.load_state_dict(torch.load(ckpt / STATE_FILE, map_location=device, weights_only=True))
    amp_dtype, use_amp, scaler = _mixed_precision(cfg, device)
    rec["autocast"] = str(amp_dtype).replace("torch.", "") if use_amp else "off"
    encoder = make_encoder(model, processor.tokenizer, feats, cfg, device)

    def checkpoint(step: int) -> Path:
        rec.update(step=step, total_steps=total, epoch=step / steps_per_epoch, finished=step >= total)
        folder = save_checkpoint(out_dir / "checkpoints" / f"step-{step:07d}", model, processor, optimizer, rec)
        prune_checkpoints(out_dir, folder)
        return folder

    # 3. Optimizer steps; each is grad_accum micro-batches of `batch` pairs.
    t0, step, last, in_model = time.monotonic(), start, ckpt, 0.0
    while step < total:
        epoch, pos = divmod(step, steps_per_epoch)
        order = epoch_order(len(pairs), np.random.default_rng([cfg.seed, epoch]), weights)
        rng, gen = np.random.default_rng([cfg.seed, epoch, pos]), torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        _set_lr(optimizer, lr_at(step, total, cfg))
        step_loss = 0.0
        for micro in range(cfg.grad_accum):
            first = (pos * cfg.grad_accum + micro) * batch
            idx = order[first:first + batch].tolist()
            texts, keys = zip(*(sampler.sample(pairs[i].caption, rng) for i in idx), strict=True)
            x = encoder.inputs(idx, gen)
            t_model = time.monotonic()
            with torch.autocast(device.type, dtype=amp_dtype, enabled=use_amp):
                loss = _batch_loss(model, encoder, x, list(texts), list(keys), device) / cfg.grad_accum
            scaler.scale(loss).backward()
            in_model += time.monotonic() - t_model
            step_loss += loss.item()
        t_model = time.monotonic()
        _apply_gradients(optimizer, scaler, params)
        in_model += time.monotonic() - t_model
        step += 1
        rec["loss_history"].append([step, round(step_loss, 5)])

        # 4. Time box: the run's length is re-planned from the measured pace (after 5 steps, then
        #    each epoch) to fill the box; the cosine follows the new length.
        elapsed = time.monotonic() - t0
        rec["speed"] = {"steps_per_s": round((step - start) / elapsed, 3), "model_share": round(in_model / elapsed, 3)}
        if cfg.max_minutes and (step - start == 5 or step % steps_per_epoch == 0):
            total = rec["time_boxed_total_steps"] = _steps_that_fit(cfg, step, start, elapsed)
        if progress:
            progress(step, total, step_loss, elapsed / (step - start) * (total - step))
        if step % steps_per_epoch == 0 or step == total or (cfg.save_every_steps and step % cfg.save_every_steps == 0):
            last = checkpoint(step)
        if cancel is not None and cancel.is_set() and step < total:
            raise TrainingCancelled(checkpoint(step))
    if last is None or last.name != f"step-{step:07d}":  # resumed from a finished run, or ended off an epoch
        last = checkpoint(step)
    return last


def _setup(cfg: TrainConfig) -> torch.device:
    torch.manual_seed(cfg.seed)
    if cfg.num_threads:
        torch.set_num_threads(cfg.num_threads)
    return pick_device(cfg)


def _sampling(pairs: list[Pair], cfg: TrainConfig):
    """(each pair's class, class-balanced sampling weights or None, the caption sampler)."""
    classes = caption_classes([p.caption for p in pairs])
    weights = class_weights(classes) if cfg.balance else None
    return classes, weights, CaptionSampler(fixed=cfg.captions == "fixed")


def _set_lr(optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


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


def _batch_loss(model, encoder: Encoder, x, texts: list[str], keys: list[str], device) -> torch.Tensor:
    """CLAP's contrastive loss on one micro-batch; items with the same caption key are positives."""
    audio, text = encoder.embed(x, texts)
    return clip_loss(audio.float(), text.float(), model.logit_scale_a, model.logit_scale_t,
                     positive_targets(keys, device))


def _apply_gradients(optimizer, scaler, params) -> None:
    """One optimizer step on the accumulated gradients, clipped to norm 1."""
    scaler.unscale_(optimizer)
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    scaler.step(optimizer)
    scaler.update()
    optimizer.zero_grad(set_to_none=True)


def _steps_that_fit(cfg: TrainConfig, step: int, start: int, elapsed: float) -> int:
    """The run's new length from the pace so far: what fits in `cfg.max_minutes` (the time box
    sets the length, whatever `epochs` says), never before the current step."""
    pace = elapsed / (step - start)
    return max(step, step + int((cfg.max_minutes * 60 - elapsed) / pace))


def _mixed_precision(cfg: TrainConfig, device):
    """(autocast dtype, whether autocast is on, gradient scaler).

    CUDA: bf16 where supported, else fp16 with a gradient scaler. CPU: bf16 autocast only where
    the CPU computes bf16 natively (AVX512-BF16 / AMX, model/precision.py): a recipe step ran
    1.25x faster (1.19 vs 1.48 s), so a time box gets a quarter more steps; elsewhere bf16 is
    emulated and slower, so the CPU trains in float32. Weights and the loss stay float32.
    """
    if device.type == "cpu":
        from soundfinder.model.precision import cpu_bf16_native

        return torch.bfloat16, bool(cfg.mixed_precision and cpu_bf16_native()), torch.amp.GradScaler("cpu", enabled=False)
    amp_dtype = torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float16
    use_amp = cfg.mixed_precision and device.type == "cuda"
    return amp_dtype, use_amp, torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
