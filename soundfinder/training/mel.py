"""The unfused CLAP log-mel front end in torch, for batches.

ClapFeatureExtractor computes the same features in numpy at ~60 ms per clip here, which
would cost more than the training step itself on every augmented epoch. This reproduces its
"repeatpad" + "rand_trunc" path (Hann STFT, power 2, its Slaney mel filters, dB) for a
whole batch in one torch call; the test suite checks it against the processor. Windows are
cut by the caller, so there is no hidden random crop.
"""

from __future__ import annotations

import numpy as np
import torch


class LogMel:
    """Waveforms (mono float32 at the extractor's rate) -> `input_features` (B, 1, frames, mels)."""

    def __init__(self, feature_extractor):
        fe = feature_extractor
        if getattr(fe, "truncation", None) == "fusion":
            raise ValueError("fused CLAP preprocessing (4-channel mel) is not supported for training; "
                             "use an unfused checkpoint such as laion/clap-htsat-unfused")
        self.sample_rate = int(fe.sampling_rate)
        self.max_samples = int(fe.nb_max_samples)
        self.n_fft = int(fe.fft_window_size)
        self.hop = int(fe.hop_length)
        self.padding = fe.padding
        self.filters = torch.tensor(np.asarray(fe.mel_filters_slaney), dtype=torch.float32)  # (freq, mels)
        self.window = torch.hann_window(self.n_fft, periodic=True)

    def pad(self, wave: np.ndarray) -> np.ndarray:
        """Fit one clip to exactly `max_samples` the way the extractor does (repeat, then zero-pad)."""
        wave = wave[: self.max_samples]
        if len(wave) == 0:
            return np.zeros(self.max_samples, np.float32)
        if len(wave) < self.max_samples and self.padding in ("repeatpad", "repeat"):
            reps = self.max_samples // len(wave) + (1 if self.padding == "repeat" else 0)
            wave = np.tile(wave, reps)[: self.max_samples]
        return np.pad(wave, (0, self.max_samples - len(wave))).astype(np.float32, copy=False)

    def __call__(self, waves: list[np.ndarray], device: str | torch.device = "cpu") -> torch.Tensor:
        x = torch.from_numpy(np.stack([self.pad(w) for w in waves])).to(device)
        spec = torch.stft(x, self.n_fft, self.hop, window=self.window.to(device), center=True,
                          pad_mode="reflect", return_complex=True)
        spec = torch.view_as_real(spec).pow(2).sum(-1)  # power, (B, freq, frames), without a sqrt
        mel = torch.einsum("bft,fm->btm", spec, self.filters.to(device))
        return (10.0 * torch.log10(mel.clamp(min=1e-10))).unsqueeze(1)
