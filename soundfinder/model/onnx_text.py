"""The text tower on ONNX Runtime: typed queries answered without torch, and faster than it.

Why: a query typed at start-up waited for `import torch` (~2 s), `from transformers import
ClapModel` (~4 s more) and the model load before sound joined the names; ONNX Runtime and
`tokenizers` import in ~0.3 s and an int8 text tower loads in ~0.3 s, so the second launch
answers by names and sound within the issue's 3 s. The int8 tower is also ~3x faster per query
than torch bf16 on this CPU (bench/text_tower.py), so the running app keeps using it.

The tower is exported once per model (`onnx_export`, a background process after the torch model
first loaded) into the user cache, one folder per embedding space, soundfinder and ONNX Runtime
version (`cache_folder`): model.onnx (text model + projection + L2 norm), tokenizer.json (the
exact fast tokenizer the torch path used) and meta.json (the space, the probe texts and their
torch float32 vectors). Opening it checks everything before a vector leaves it: versions, the
space it was made for, the file size, and the probe texts again against the stored float32
vectors (cosine >= `THRESHOLDS`); any failure deletes the folder and the caller uses torch,
with one line for `status` — never wrong vectors.

Nothing here imports torch or transformers (the start-up path depends on that).
"""

from __future__ import annotations

import json
import shutil
import threading
from importlib import metadata
from pathlib import Path

import numpy as np

FORMAT = 1  # bump when the exported graph or meta.json changes meaning
MAX_TOKENS = 77  # the torch path's `max_length` (clap.py `_encode_text`)
# Cosine every probe text must keep against the torch float32 tower (model/precision.py's bars).
THRESHOLDS = {"float32": 0.9999, "int8": 0.995}
# Fixed probe: short and long queries, a prompt-ensemble template, one past 77 tokens (truncation).
PROBE_TEXTS = ("kick", "808 bass", "a punchy kick drum", "the sound of warm analog pad chords",
               "vinyl crackle noise sample", "a recording of a female vocal chop with reverb",
               "short plucky synth lead in c minor", "lofi dusty piano chords " * 12)
# Which exported precision the running app prefers to torch, given how torch runs its text tower,
# measured in one process by bench/text_tower.py (bench/README.md, #18): ORT int8 ran 2.3-4.4x
# faster than torch bf16 and int8; ORT float32 1.2-1.6x faster than torch float32 but no faster
# than torch bf16 (so where bf16 runs, the float32 graph serves the start-up only).
CHECK_TEXTS = 5  # probe texts checked at every open (the short ones)
FASTER_THAN_TORCH = {"int8": {"float32", "bfloat16", "int8"}, "float32": {"float32"}}
CACHE_DIR = "text-onnx"

_OPEN: dict[str, OnnxTextTower] = {}  # folder -> tower: one session per process and folder
_OPEN_LOCK = threading.Lock()
_REJECTED: dict[str, str] = {}  # space id -> why its cached tower was deleted (until re-exported)


class TextTowerError(Exception):
    """The cached ONNX text tower cannot be trusted; the message says why (one line)."""


def ort_version() -> str | None:
    try:
        return metadata.version("onnxruntime")
    except metadata.PackageNotFoundError:
        return None


def cache_root() -> Path:
    from soundfinder import config

    return config.cache_dir() / CACHE_DIR


def cache_key(space_id: str) -> str:
    import hashlib

    from soundfinder import __version__

    parts = [space_id, __version__, ort_version() or "-", str(FORMAT)]
    return hashlib.blake2b("|".join(parts).encode(), digest_size=10).hexdigest()


def cache_folder(space_id: str, root: Path | None = None) -> Path:
    return (root or cache_root()) / cache_key(space_id)


def failed_marker(space_id: str, root: Path | None = None) -> Path:
    """Left by an export that could not be done or checked, so it is not retried every start."""
    return (root or cache_root()) / f"{cache_key(space_id)}.failed"


def space_id_of(source: str) -> str | None:
    """The embedding space id `ClapEmbedder.load(source)` will have, without torch (None: a hub
    id not in the local cache yet). Local folders: a hash of the safetensors, remembered by path,
    size and mtime (`fingerprint.py`); hub ids: the cached snapshot's commit."""
    from soundfinder.model.clap import EmbeddingSpace
    from soundfinder.model.fingerprint import weights_digest

    local = Path(source).expanduser()
    if local.is_dir():
        digest = weights_digest(local)
        if not digest:
            return None
        model, weights = str(local.resolve()), digest
    else:
        from soundfinder.model import download

        snap = download.cached_snapshot(source) if download.looks_like_hub_id(source) else None
        if snap is None:
            return None
        model, weights = source, Path(snap).name[:16]
    return EmbeddingSpace(model=model, weights=weights, dim=0).id


class OnnxTextTower:
    """`encode_text` of one exported text tower: (n, dim) L2-normalised float32, like torch's.

    Thread-safe (ONNX Runtime sessions are); quacks like a `ClapEmbedder` for text search
    (`space`, `dim`, `encode_text`).
    """

    def __init__(self, folder: Path, meta: dict, threads: int = 1):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        from soundfinder.model.clap import EmbeddingSpace

        self.folder = folder
        self.meta = meta
        self.precision = str(meta["precision"])
        self.space = EmbeddingSpace(**meta["space"])
        self.dim = int(self.space.dim)
        self.cosine: float | None = None
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=int(meta["pad_id"]), pad_token=str(meta["pad_token"]))
        opts = ort.SessionOptions()
        # One thread: a query is a few tokens and int8 runs ~10 ms; a second thread gained nothing
        # on a loaded 2-core machine and spinning threads would slow indexing (bench/text_tower.py).
        opts.intra_op_num_threads = max(1, int(threads))
        opts.inter_op_num_threads = 1
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(folder / "model.onnx"), opts, providers=["CPUExecutionProvider"])

    def encode_text(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        out = [self._run(list(texts[s:s + batch_size])) for s in range(0, len(texts), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, self.dim), dtype=np.float32)

    def _run(self, texts: list[str]) -> np.ndarray:
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        vec = self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(vec, dtype=np.float32)

    def check(self) -> float:
        """Worst probe cosine against the stored torch float32 vectors, batched and one by one;
        raises `TextTowerError` below the precision's bar. The short probe texts only (~0.1 s
        here, on the start-up path): a damaged file moves every vector; the export checked all."""
        texts = list(self.meta["probe"]["texts"])[:CHECK_TEXTS]
        ref = np.asarray(self.meta["probe"]["vectors"], dtype=np.float32)
        got = [self._run(texts), np.concatenate([self._run([t]) for t in texts[:2]])]
        cos = min(float(np.min(np.sum(g * ref[: len(g)], axis=1))) for g in got)
        bar = THRESHOLDS.get(self.precision, 1.0)
        if not np.isfinite(cos) or cos < bar or got[0].shape[1] != self.dim:
            raise TextTowerError(f"gives vectors off the torch float32 tower (probe cosine {cos:.5f} < {bar})")
        self.cosine = round(cos, 6)
        return cos


def read_meta(folder: Path, space_id: str) -> dict:
    """meta.json of a cached tower, checked against this model and these versions."""
    from soundfinder import __version__
    from soundfinder.model.clap import EmbeddingSpace

    try:
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        space = EmbeddingSpace(**meta["space"])
        size = int(meta["size"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TextTowerError(f"meta.json unreadable ({type(e).__name__})") from e
    if space.id != space_id:
        raise TextTowerError(f"was made for {space.id}, not {space_id}")
    if (meta.get("format"), meta.get("soundfinder"), meta.get("onnxruntime")) != \
            (FORMAT, __version__, ort_version()):
        raise TextTowerError("was made by another soundfinder or ONNX Runtime version")
    try:
        actual = (folder / "model.onnx").stat().st_size
    except OSError as e:
        raise TextTowerError("model.onnx is missing") from e
    if actual != size:
        raise TextTowerError(f"model.onnx is {actual} bytes, not {size} (truncated or replaced)")
    return meta


def open_tower(folder: Path, space_id: str, threads: int = 1) -> OnnxTextTower:
    """Open and check a cached tower (raises `TextTowerError` with the reason)."""
    meta = read_meta(folder, space_id)
    try:
        tower = OnnxTextTower(folder, meta, threads)
    except ImportError as e:
        raise TextTowerError(f"needs {e.name} ({e})") from e
    except Exception as e:  # ONNX Runtime's errors for a damaged graph have no common base
        raise TextTowerError(f"does not load ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from e
    try:
        tower.check()
    except TextTowerError:
        raise
    except Exception as e:  # a graph that loads but cannot run these inputs
        raise TextTowerError(f"does not run ({type(e).__name__}: {str(e).splitlines()[0][:120]})") from e
    return tower


def load_cached(source: str | None = None, space_id: str | None = None,
                root: Path | None = None) -> tuple[OnnxTextTower | None, str | None]:
    """(tower, None) when a checked tower is cached for this model; (None, None) when none is
    (not exported yet, or no ONNX Runtime); (None, reason) when one was there and could not be
    trusted: it is deleted (re-exported after the torch model loads) and `reason` is the line
    for `status`."""
    if ort_version() is None:
        return None, None
    space_id = space_id or (space_id_of(source) if source else None)
    if space_id is None:
        return None, None
    folder = cache_folder(space_id, root)
    if not folder.is_dir():
        return None, _REJECTED.get(space_id)
    with _OPEN_LOCK:
        tower = _OPEN.get(str(folder))
        if tower is not None and tower.folder.is_dir():
            return tower, None
        try:
            tower = open_tower(folder, space_id)
        except TextTowerError as e:
            _OPEN.pop(str(folder), None)
            shutil.rmtree(folder, ignore_errors=True)
            _REJECTED[space_id] = f"ONNX text tower cache {e}: deleted, torch this time"
            return None, _REJECTED[space_id]
        _OPEN[str(folder)] = tower
        _REJECTED.pop(space_id, None)
        return tower, None


def prefer(tower: OnnxTextTower, torch_text_precision: str) -> bool:
    """Whether the running app should embed queries with `tower` rather than its torch text tower."""
    return torch_text_precision in FASTER_THAN_TORCH.get(tower.precision, set())


def forget_open() -> None:
    """Drop the remembered sessions (tests that damage a cache on disk after opening it)."""
    with _OPEN_LOCK:
        _OPEN.clear()
        _REJECTED.clear()
