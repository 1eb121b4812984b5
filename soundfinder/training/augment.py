"""Augmentation on log-mel features: cheap views of a clip computed once.

Features are decoded and turned into log-mel once per file (and cached, see featcache.py), so
augmentation has to happen in the feature domain: a gain of g dB adds g to every dB value, a
circular roll along time moves the onset (the recipe's +-0.5 s), and SpecAugment's masks hide a
few time frames and mel bands so the model cannot lean on one detail. None of these change
what the sound *is*, so its caption stays true. The masks are off by default: with them (and
dropout) the recipe's small model under-fitted its 30-minute box (README's fine-tuning table).
Mixup is not used: it was not measured better
here (see the README's fine-tuning section).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

FRAMES_PER_SECOND = 100  # CLAP's hop of 480 samples at 48 kHz


@dataclass(frozen=True)
class MelAugment:
    """How much to vary a clip's log-mel each time it is seen (zeros switch a kind off)."""

    gain_db: float = 6.0  # uniform gain in +-gain_db dB (added to the dB features)
    roll_s: float = 0.5  # circular time roll of up to +-roll_s seconds
    time_masks: int = 0  # SpecAugment time masks (off by default: see the README's fine-tuning numbers) ...
    time_mask_frames: int = 40  # ... each up to this many frames (0.4 s)
    freq_masks: int = 0  # SpecAugment frequency masks ...
    freq_mask_bins: int = 8  # ... each up to this many mel bins

    @property
    def off(self) -> bool:
        return not (self.gain_db or self.roll_s or self.time_masks or self.freq_masks)


def augment_mels(feats: torch.Tensor, aug: MelAugment, gen: torch.Generator) -> torch.Tensor:
    """A random view of each (1, frames, mels) item of `feats` (n, 1, frames, mels); a new tensor."""
    out = feats.clone()
    n, _, frames, mels = out.shape
    floor = out.amin(dim=(1, 2, 3), keepdim=True)  # masked cells read as silence
    if aug.gain_db:
        out += (torch.rand(n, 1, 1, 1, generator=gen) * 2 - 1) * aug.gain_db
    if aug.roll_s:
        limit = int(aug.roll_s * FRAMES_PER_SECOND)
        shifts = torch.randint(-limit, limit + 1, (n,), generator=gen)
        for i, s in enumerate(shifts.tolist()):
            if s:
                out[i] = torch.roll(out[i], s, dims=1)
    for i in range(n):
        for _ in range(aug.time_masks):
            w = int(torch.randint(0, aug.time_mask_frames + 1, (1,), generator=gen))
            t0 = int(torch.randint(0, max(1, frames - w), (1,), generator=gen))
            out[i, :, t0:t0 + w, :] = floor[i]
        for _ in range(aug.freq_masks):
            w = int(torch.randint(0, aug.freq_mask_bins + 1, (1,), generator=gen))
            f0 = int(torch.randint(0, max(1, mels - w), (1,), generator=gen))
            out[i, :, :, f0:f0 + w] = floor[i]
    return out

