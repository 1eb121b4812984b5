"""What one training step runs through the model, and caching what a step cannot change.

With `--train projection` on a pretrained model both towers are frozen: their outputs for a
file (or a caption string) never change, so they are computed once and each step runs only
the two projection layers and the loss. An epoch over 10k files then costs one forward pass
of the towers in total instead of one per epoch. (Frozen outputs are computed on the
un-augmented features: augmentation of a frozen tower's input would only add noise to a cache.)
Every other mode runs the full towers on augmented log-mels each step.
"""

from __future__ import annotations

import torch

from soundfinder.training.augment import augment_mels

MAX_TOKENS = 77


class Encoder:
    """Full forward: augmented log-mel -> audio tower, captions -> text tower, both projected."""

    def __init__(self, model, tokenizer, feats: list[torch.Tensor], aug, device):
        self.model, self.tokenizer, self.feats, self.aug, self.device = model, tokenizer, feats, aug, device

    def inputs(self, idx: list[int], gen: torch.Generator):
        x = torch.stack([self.feats[i] for i in idx]).float()
        return (x if self.aug.off else augment_mels(x, self.aug, gen)).to(self.device)

    def _tokens(self, texts: list[str]):
        return self.tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS,
                              return_tensors="pt").to(self.device)

    def embed(self, x, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        tok = self._tokens(texts)
        audio = self.model.get_audio_features(input_features=x).pooler_output
        text = self.model.get_text_features(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
        return audio, text.pooler_output


class ProjectionEncoder(Encoder):
    """Frozen towers: their pooled outputs cached (audio per file up front, text per string)."""

    def __init__(self, model, tokenizer, feats, aug, device, batch: int = 32):
        super().__init__(model, tokenizer, feats, aug, device)
        pooled = []
        with torch.no_grad():
            for i in range(0, len(feats), batch):
                x = torch.stack(feats[i:i + batch]).float().to(device)
                pooled.append(model.audio_model(input_features=x).pooler_output)
        self.audio_cache = torch.cat(pooled)
        self.text_cache: dict[str, torch.Tensor] = {}

    def inputs(self, idx: list[int], gen: torch.Generator):
        return torch.tensor(idx, device=self.device)

    def embed(self, x, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        new = [t for t in dict.fromkeys(texts) if t not in self.text_cache]
        if new:
            with torch.no_grad():
                tok = self._tokens(new)
                out = self.model.text_model(input_ids=tok["input_ids"], attention_mask=tok["attention_mask"])
            self.text_cache.update(zip(new, out.pooler_output, strict=True))
        audio = self.model.audio_projection(self.audio_cache[x])
        text = self.model.text_projection(torch.stack([self.text_cache[t] for t in texts]))
        return audio, text


def make_encoder(model, tokenizer, feats, cfg, device) -> Encoder:
    """The cached encoder when the towers are frozen (pretrained model, --train projection)."""
    if cfg.train == "projection" and not cfg.from_scratch:
        return ProjectionEncoder(model, tokenizer, feats, cfg.augment, device)
    return Encoder(model, tokenizer, feats, cfg.augment, device)
