"""Load a CLAP checkpoint and embed audio and text into its shared space.

Any `from_pretrained` source works: a hub id (users have internet) or a local folder (a
fine-tuned model, or the tiny checkpoint the tests build). Weights load from safetensors
only, never from pickles.
"""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundfinder.embed.windows import MAX_WINDOWS, PREPROCESS_VERSION, split_windows


class ModelLoadError(Exception):
    """The model could not be loaded; the message says what to do about it."""


@dataclass(frozen=True)
class EmbeddingSpace:
    """What makes two vectors comparable: same model, same weights, same preprocessing."""

    model: str
    weights: str
    dim: int
    preprocess: int = PREPROCESS_VERSION

    @property
    def id(self) -> str:
        return f"{self.model}@{self.weights}/pre{self.preprocess}"


def pick_device(requested: str = "auto") -> str:
    import torch

    if requested != "auto":
        if requested == "cuda" and not torch.cuda.is_available():
            raise ModelLoadError("--device cuda was asked for but no CUDA GPU is available")
        if requested == "mps" and not torch.backends.mps.is_available():
            raise ModelLoadError("--device mps was asked for but Apple MPS is not available")
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _weights_id(source: str, model) -> str:
    """A short id of the exact weights: the hub commit, or a hash of local safetensors."""
    commit = getattr(model.config, "_commit_hash", None)
    folder = Path(source)
    if folder.is_dir():
        h = hashlib.blake2b(digest_size=8)
        files = sorted(folder.glob("*.safetensors"))
        for f in files:
            with open(f, "rb") as fh:
                h.update(hashlib.file_digest(fh, "blake2b").digest())
        if files:
            return h.hexdigest()
    return (commit or "unknown")[:16]


def _resolve_name(source: str) -> str:
    p = Path(source).expanduser()
    return str(p.resolve()) if p.is_dir() else source


class ClapEmbedder:
    """Audio and text towers of one CLAP checkpoint on one device.

    Thread-safe: calls into the model are serialised, so the GUI's search thread and the
    indexing worker can share one loaded model.
    """

    def __init__(self, model, processor, source: str, device: str, dtype):
        import torch

        self.model = model.eval()
        self.processor = processor
        self.feature_extractor = processor.feature_extractor
        self.device = device
        self.dtype = dtype
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.window_samples = int(self.feature_extractor.nb_max_samples)
        self.dim = int(model.config.projection_dim)
        self.space = EmbeddingSpace(model=_resolve_name(source), weights=_weights_id(source, model),
                                    dim=self.dim)
        with torch.no_grad():
            self.logit_scale = float(model.logit_scale_a.exp().item())
        self._lock = threading.RLock()
        self._front_end = None

    @classmethod
    def load(cls, source: str, device: str = "auto", precision: str = "auto") -> ClapEmbedder:
        """Load from a hub id or folder. `precision`: auto (fp16 on CUDA), float32, bfloat16, float16."""
        import torch
        from transformers import ClapModel, ClapProcessor

        dev = pick_device(device)
        if precision == "auto":
            dtype = torch.float16 if dev == "cuda" else torch.float32
        else:
            dtype = getattr(torch, precision)
        local = Path(source).expanduser()
        if local.exists() and not local.is_dir():
            raise ModelLoadError(f"model path {source} is a file; give the checkpoint's folder")
        src = str(local) if local.is_dir() else source
        try:
            model = ClapModel.from_pretrained(src, use_safetensors=True, dtype=dtype)
            processor = ClapProcessor.from_pretrained(src)
        except OSError as e:
            hint = ("check the folder holds config.json, model.safetensors and the processor files"
                    if local.is_dir() else
                    "check the model id and your internet connection, or pass a local checkpoint "
                    "folder with --model / SOUNDFINDER_MODEL")
            raise ModelLoadError(f"could not load model '{source}': {hint} ({str(e).splitlines()[0]})") from e
        fe = processor.feature_extractor
        if getattr(fe, "truncation", None) == "fusion" and not model.config.audio_config.enable_fusion:
            # The default ClapFeatureExtractor gives 4 fused channels the unfused model rejects.
            fe.truncation = "rand_trunc"
        return cls(model.to(dev), processor, src, dev, dtype)

    # -- audio ---------------------------------------------------------------------------

    def audio_inputs(self, windows: list[np.ndarray]):
        """Model inputs for clips no longer than one window (so nothing is cropped at random)."""
        if self._front_end is not None:
            return self._front_end(windows)
        import torch

        feats = self.feature_extractor(windows, sampling_rate=self.sample_rate, return_tensors="np")
        return torch.from_numpy(feats["input_features"]).to(self.device, self.dtype)

    def encode_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """Embed clips of at most one window each; returns (n, dim) L2-normalised float32."""
        import torch

        with self._lock, torch.inference_mode():
            feats = self.audio_inputs(windows)
            out = self.model.get_audio_features(input_features=feats.to(self.dtype))
            emb = out.pooler_output.float()
            emb = torch.nn.functional.normalize(emb, dim=-1)
        return emb.cpu().numpy().astype(np.float32, copy=False)

    def encode_audio(self, clips: list[np.ndarray], batch_size: int = 8,
                     max_windows: int = MAX_WINDOWS) -> np.ndarray:
        """Embed mono clips at `sample_rate` of any length; long clips average their windows."""
        pieces, owner = [], []
        for i, clip in enumerate(clips):
            for w in split_windows(clip, self.window_samples, max_windows):
                pieces.append(w)
                owner.append(i)
        out = np.zeros((len(clips), self.dim), dtype=np.float32)
        for s in range(0, len(pieces), batch_size):
            emb = self.encode_windows(pieces[s:s + batch_size])
            np.add.at(out, owner[s:s + batch_size], emb)
        return _normalise(out)

    # -- text ----------------------------------------------------------------------------

    def encode_text(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        import torch

        chunks = []
        with self._lock, torch.inference_mode():
            for s in range(0, len(texts), batch_size):
                tok = self.processor.tokenizer(texts[s:s + batch_size], padding=True, truncation=True,
                                               max_length=77, return_tensors="pt").to(self.device)
                out = self.model.get_text_features(**tok)
                chunks.append(torch.nn.functional.normalize(out.pooler_output.float(), dim=-1).cpu())
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return torch.cat(chunks).numpy().astype(np.float32, copy=False)


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def threads_hint() -> None:
    """Keep torch from oversubscribing small machines where decode threads also run."""
    import torch

    if os.cpu_count() and os.cpu_count() <= 4:
        torch.set_num_threads(os.cpu_count())
