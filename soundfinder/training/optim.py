"""What to train, the optimizer and the learning-rate schedule (the reference recipe's defaults).

AdamW with betas (0.9, 0.98) and weight decay 0.05 on matrices only, 5 % linear warm-up then
cosine. The default peak learning rate depends on the mode: a model trained from scratch needs
~5e-4 (1e-5 would barely move it), a pretrained CLAP fine-tuned as a whole needs ~1e-5 (more
forgets what it knew); projections alone tolerate 1e-4.
"""

from __future__ import annotations

import math

import torch

DEFAULT_LR = {"scratch": 5e-4, "projection": 1e-4, "top": 1e-5, "all": 1e-5}


def default_lr(train: str, from_scratch: bool) -> float:
    """The peak learning rate when none is given: from the mode, never one value for all."""
    return DEFAULT_LR["scratch"] if from_scratch else DEFAULT_LR.get(train, 1e-5)


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


def make_optimizer(params: list[torch.nn.Parameter], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (biases, norms and temperatures are not shrunk)."""
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.98), eps=1e-6)


def lr_at(step: int, total: int, cfg) -> float:
    """Linear warm-up (cfg.warmup_steps, else cfg.warmup_fraction of the run, at most a tenth),
    then cosine decay to lr * min_lr_ratio (nanoGPT's get_lr)."""
    lr = cfg.peak_lr
    if cfg.warmup_steps:
        warmup = min(cfg.warmup_steps, max(1, total // 10))
    else:
        warmup = max(1, round(cfg.warmup_fraction * total))
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
