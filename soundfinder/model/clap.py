"""Load a CLAP checkpoint and embed audio and text into its shared space.

Any `from_pretrained` source works: a hub id (users have internet) or a local folder (a
fine-tuned model, or the tiny checkpoint the tests build). Weights load from safetensors
only, never from pickles.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundfinder.model.windows import MAX_WINDOWS, PREPROCESS_VERSION, split_windows


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


def cpu_has_native_bf16() -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); see `precision`."""
    from soundfinder.model.precision import cpu_bf16_native

    return cpu_bf16_native()


PRECISIONS = ("auto", "fast", "float32", "bfloat16", "float16", "int8")


def pick_dtype(device: str, precision: str = "auto"):
    """The dtype the model loads in on `device`.

    auto / fast: float16 on CUDA; float32 on a CPU, where `precision.settle` then converts the
    towers that pass its self-check (bfloat16 on CPUs with native bf16); fast also float16 on
    MPS. int8: loads float32 and quantises the Linear layers after the check. float32 /
    bfloat16 / float16: as asked, unchecked.
    """
    import torch

    if precision not in PRECISIONS:
        raise ModelLoadError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return torch.float16 if device == "cuda" else torch.float32
    if precision == "fast":
        return torch.float16 if device in ("cuda", "mps") else torch.float32
    if precision == "int8":
        if device != "cpu":
            raise ModelLoadError("precision int8 runs on the CPU only; use auto on a GPU")
        return torch.float32
    if device == "cpu" and precision == "float16":
        raise ModelLoadError("precision float16 is not supported on the CPU; use float32, or bfloat16 "
                             "on a CPU with AVX512-BF16")
    return getattr(torch, precision)


def default_batch_size(device: str, dtype=None) -> int:
    """Windows per model call. On a CPU the audio tower costs the same per clip from batch 1 to 4
    and more at 16 (cache pressure), so small batches keep latency and memory low; a GPU wants
    big batches to be busy (about 60 MB of activations per clip in half precision)."""
    if device == "cuda":
        import torch

        total = torch.cuda.get_device_properties(torch.cuda.current_device()).total_memory
        return 64 if total >= 12 * 2**30 else 16
    if device == "mps":
        return 16
    return 4


def _weights_id(source: str, model) -> str:
    """A short id of the exact weights: the hub commit, or a hash of local safetensors."""
    commit = getattr(model.config, "_commit_hash", None)
    folder = Path(source)
    if folder.is_dir():
        from soundfinder.model.fingerprint import weights_digest  # cached by path, size, mtime

        digest = weights_digest(folder)
        if digest:
            return digest
    return (commit or "unknown")[:16]


def _resolve_name(source: str) -> str:
    p = Path(source).expanduser()
    return str(p.resolve()) if p.is_dir() else source


class ClapEmbedder:
    """Audio and text towers of one CLAP checkpoint on one device.

    Thread-safe: calls into the model are serialised, so the GUI's search thread and the
    indexing worker can share one loaded model.
    """

    def __init__(self, model, processor, source: str, device: str, dtype, front_end: str = "torch",
                 batch_size: int | None = None, space: EmbeddingSpace | None = None):
        import torch

        self.model = model.eval()
        self.processor = processor
        self.feature_extractor = processor.feature_extractor
        self.device = device
        self.dtype = dtype
        self.sample_rate = int(self.feature_extractor.sampling_rate)
        self.window_samples = int(self.feature_extractor.nb_max_samples)
        self.dim = int(model.config.projection_dim)
        self.space = space or EmbeddingSpace(model=_resolve_name(source), weights=_weights_id(source, model),
                                             dim=self.dim)
        with torch.no_grad():
            self.logit_scale = float(model.logit_scale_a.exp().item())
        self._lock = threading.RLock()
        self.batch_size = int(batch_size or default_batch_size(device, dtype))
        # Whether the pipeline's decode workers compute features (CPU: overlapped with the
        # model) or leave them to the model thread, which runs them batched on the accelerator.
        self.features_in_workers = device == "cpu"
        # Intra-op threads for a query on a CPU (None: decide per query from the load). A query
        # is a few tokens: with two threads on a busy 2-core machine (indexing running, a DAW
        # open) the OpenMP barriers wait on preempted threads (300-620 ms p50 against 62-92 ms
        # with one thread at load 4), while on an idle machine two threads halve it (61 -> 33
        # ms). bench/README.md has both measurements.
        self.text_threads: int | None = None
        self.runtime = None  # precision.Runtime once `load` has settled the precision
        # The ONNX Runtime text tower answering `encode_text` where it is faster (text_backend.py),
        # and the checkpoint folder it is exported from.
        self.text_tower = None
        self.source_dir: str | None = None
        self._front_end = None
        self.front_end = "reference"
        if front_end == "torch":
            from soundfinder.model.features import MelFrontEnd

            try:
                # Features are computed in float32 (float64 would be slower for no gain in the
                # embedding) and handed over in the model's dtype.
                self._front_end = MelFrontEnd(self.feature_extractor, device, dtype=dtype)
                self.front_end = "torch"
            except ValueError:  # a fusion checkpoint: only the reference extractor reproduces it
                self._front_end = None
        elif front_end != "reference":
            raise ValueError(f"front_end must be 'torch' or 'reference', not {front_end!r}")

    @classmethod
    def load(cls, source: str, device: str = "auto", precision: str = "auto", front_end: str = "torch",
             batch_size: int | None = None, download_progress=None, cancel=None) -> ClapEmbedder:
        """Load from a hub id or folder.

        Args:
            device: auto (CUDA, then MPS, then CPU), cpu, cuda, mps.
            precision: see `pick_dtype` (auto: float16 on CUDA; on a CPU bfloat16 where it is
                native and passes the self-check of `precision.settle`, else float32).
            front_end: "torch" (batched STFT on the model's device, `MelFrontEnd`) or
                "reference" (transformers' ClapFeatureExtractor in numpy, one clip at a time).
            batch_size: windows per model call; default per device (`default_batch_size`).
            download_progress, cancel: a hub id not in the cache yet is downloaded first
                (`download.ensure_model`: progress callback, a threading.Event that stops it).
        """
        from transformers import ClapModel, ClapProcessor

        from soundfinder.model.checkpoint import check_loading_info

        dev = pick_device(device)
        dtype = pick_dtype(dev, precision or "auto")
        local = Path(source).expanduser()
        if local.exists() and not local.is_dir():
            raise ModelLoadError(f"model path {source} is a file; give the checkpoint's folder")
        src = str(local) if local.is_dir() else source
        hub = None
        from soundfinder.model import download

        if not local.is_dir() and download.looks_like_hub_id(source):
            try:
                src = download.ensure_model(source, progress=download_progress, cancel=cancel)
            except download.DownloadError as e:
                raise ModelLoadError(str(e)) from e
            # The library's space stays the hub id at its commit (the snapshot folder's name),
            # exactly as when transformers resolved the id itself.
            hub = (source, Path(src).name[:16])
        try:
            # Shape mismatches are reported in `info` too (refused below), not raised half-way.
            model, info = ClapModel.from_pretrained(src, use_safetensors=True, dtype=dtype,
                                                    output_loading_info=True, ignore_mismatched_sizes=True)
            processor = ClapProcessor.from_pretrained(src)
        except OSError as e:
            hint = ("check the folder holds config.json, model.safetensors and the processor files"
                    if local.is_dir() else
                    "check the model id and your internet connection, or pass a local checkpoint "
                    "folder with --model / SOUNDFINDER_MODEL")
            raise ModelLoadError(f"could not load model '{source}': {hint} ({str(e).splitlines()[0]})") from e
        check_loading_info(source, model, info)  # missing/unexpected weights: refuse, never random
        fe = processor.feature_extractor
        if getattr(fe, "truncation", None) == "fusion" and not model.config.audio_config.enable_fusion:
            # The default ClapFeatureExtractor gives 4 fused channels the unfused model rejects.
            fe.truncation = "rand_trunc"
        space = EmbeddingSpace(model=hub[0], weights=hub[1], dim=int(model.config.projection_dim)) if hub else None
        embedder = cls(model.to(dev), processor, src, dev, dtype, front_end=front_end, batch_size=batch_size,
                       space=space)
        from soundfinder.model.precision import settle

        settle(embedder, precision or "auto")
        embedder.source_dir = src
        from soundfinder.model.text_backend import attach

        attach(embedder)  # a cached, checked ONNX text tower where it is faster (auto/fast on a CPU)
        return embedder

    # -- audio ---------------------------------------------------------------------------
    #
    # Three steps, so the pipeline can run them on different threads:
    #   windows(samples)      cut a clip into deterministic <= 10 s windows (numpy views)
    #   audio_inputs(windows) log-mel features on the model's device (thread-safe, no lock)
    #   encode_inputs(feats)  the audio tower (serialised by the model lock)

    def windows(self, samples: np.ndarray, max_windows: int = MAX_WINDOWS) -> list[np.ndarray]:
        return split_windows(samples, self.window_samples, max_windows)

    def audio_inputs(self, windows: list[np.ndarray]):
        """Model inputs (n, 1, frames, mels) in the model's dtype and device for clips no longer
        than one window (so nothing is cropped at random). Safe to call from any thread."""
        if self._front_end is not None:
            return self._front_end(windows)
        import torch

        feats = self.feature_extractor(windows, sampling_rate=self.sample_rate, return_tensors="np")
        host = torch.from_numpy(feats["input_features"])
        if self.device == "cuda":
            host = host.pin_memory()
        return host.to(self.device, self.dtype, non_blocking=True)

    def encode_inputs(self, feats) -> np.ndarray:
        """The audio tower on prepared inputs; returns (n, dim) L2-normalised float32."""
        import torch

        if feats.shape[0] == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock, torch.inference_mode():
            feats = feats.to(self.device, self.dtype, non_blocking=True)
            out = self.model.get_audio_features(input_features=feats)
            emb = torch.nn.functional.normalize(out.pooler_output.float(), dim=-1)
        return emb.cpu().numpy().astype(np.float32, copy=False)

    def encode_windows(self, windows: list[np.ndarray]) -> np.ndarray:
        """Embed clips of at most one window each; returns (n, dim) L2-normalised float32."""
        return self.encode_inputs(self.audio_inputs(windows))

    def encode_audio(self, clips: list[np.ndarray], batch_size: int | None = None,
                     max_windows: int = MAX_WINDOWS) -> np.ndarray:
        """Embed mono clips at `sample_rate` of any length; long clips average their windows."""
        batch_size = batch_size or self.batch_size
        pieces, owner = [], []
        for i, clip in enumerate(clips):
            for w in self.windows(clip, max_windows):
                pieces.append(w)
                owner.append(i)
        out = np.zeros((len(clips), self.dim), dtype=np.float32)
        for s in range(0, len(pieces), batch_size):
            emb = self.encode_windows(pieces[s:s + batch_size])
            np.add.at(out, owner[s:s + batch_size], emb)
        return _normalise(out)

    def warm_up(self, audio: bool = False) -> None:
        """Run the text tower (and the audio tower if asked) once, so the first real query does
        not pay for one-time allocations and kernel selection. Call it from a background thread
        right after loading; it holds the model lock for one query's time."""
        self.encode_text(["warm up"])
        if audio:
            self.encode_windows([np.zeros(self.sample_rate // 10, dtype=np.float32)])

    # -- text ----------------------------------------------------------------------------

    def encode_text(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        tower = self.text_tower
        if tower is not None:
            try:
                return tower.encode_text(texts, batch_size)
            except Exception as e:  # never a wrong vector: back to torch for this session
                from soundfinder.model.text_backend import drop

                drop(self, e)
        import torch

        chunks = []
        prev = torch.get_num_threads()
        with self._lock, torch.inference_mode():
            threads = self._query_threads() if len(texts) <= 4 else None  # label sets keep all
            if threads:
                torch.set_num_threads(threads)  # per calling thread (OpenMP), restored below
            try:
                chunks = self._encode_text(texts, batch_size)
            finally:
                if torch.get_num_threads() != prev:
                    torch.set_num_threads(prev)
        if not chunks:
            return np.zeros((0, self.dim), dtype=np.float32)
        return torch.cat(chunks).numpy().astype(np.float32, copy=False)

    def _query_threads(self) -> int | None:
        if self.device != "cpu":
            return None
        if self.text_threads:
            return self.text_threads
        cores = os.cpu_count() or 1
        try:
            busy = os.getloadavg()[0] >= cores - 0.5
        except (AttributeError, OSError):  # no load average (Windows)
            busy = False
        return 1 if busy or cores == 1 else None

    def _encode_text(self, texts: list[str], batch_size: int) -> list:
        import torch

        chunks = []
        for s in range(0, len(texts), batch_size):
            tok = self.processor.tokenizer(texts[s:s + batch_size], padding=True, truncation=True,
                                           max_length=77, return_tensors="pt").to(self.device)
            out = self.model.get_text_features(**tok)
            chunks.append(torch.nn.functional.normalize(out.pooler_output.float(), dim=-1).cpu())
        return chunks


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def threads_hint() -> None:
    """Keep torch from oversubscribing small machines where decode threads also run."""
    import torch

    if os.cpu_count() and os.cpu_count() <= 4:
        torch.set_num_threads(os.cpu_count())
