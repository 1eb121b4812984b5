"""Symmetric InfoNCE with learnable temperature, as CLAP and CLIP are trained.

Why not `ClapModel(..., return_loss=True)`: in transformers 5.24 its "audio" term is
`cross_entropy(logits_per_audio.t())`, which is the text->audio direction a second time, so
the loss is not symmetric. And sample libraries repeat captions ("snare" twenty times in
one kit): with one-hot targets, two snares in a batch are pushed apart. Here every item
with an identical caption counts as a positive (targets spread evenly over them).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature never below 0.01


def positive_targets(captions: list[str], device=None) -> torch.Tensor:
    """(B, B) row-normalised targets: 1 where two items share a caption (the diagonal always)."""
    ids = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    idx = torch.tensor([ids[c] for c in captions], device=device)
    same = (idx[:, None] == idx[None, :]).float()
    return same / same.sum(dim=1, keepdim=True)


def clip_loss(audio_embeds: torch.Tensor, text_embeds: torch.Tensor, logit_scale_a: torch.Tensor,
              logit_scale_t: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of audio->text and text->audio cross-entropy over the batch.

    Args:
        audio_embeds, text_embeds: (B, D) projected embeddings (normalised here).
        logit_scale_a, logit_scale_t: the model's learnable log inverse temperatures.
        targets: (B, B) soft targets from `positive_targets`; identity when None.
    """
    a = F.normalize(audio_embeds, dim=-1)
    t = F.normalize(text_embeds, dim=-1)
    logits_per_audio = logit_scale_a.clamp(max=MAX_LOGIT_SCALE).exp() * a @ t.T
    logits_per_text = logit_scale_t.clamp(max=MAX_LOGIT_SCALE).exp() * t @ a.T
    if targets is None:
        targets = torch.eye(len(a), device=a.device)
    # The targets matrix is symmetric, so the same one serves both directions.
    return (F.cross_entropy(logits_per_audio, targets) + F.cross_entropy(logits_per_text, targets)) / 2
