"""What runs on the Ray workers of `soundfinder index --cluster` (imported there, never by the app).

Stage 1, `prepare_files` (Ray Data tasks): decode + resample + cut into windows + log-mel,
one output row per window, so the model stage sees full batches mixed across files as the
local pipeline's batcher does. Stage 2, `EmbedActor` (an actor pool): the audio tower,
loaded once per actor from the model folder or hub cache of its node.

Neither stage ever raises for a file or a model problem: one raised exception fails a whole
Ray Data job, so a file that cannot be decoded becomes an error row (its reason exactly what
the local pipeline stores), and a model that cannot be loaded on a node becomes a `fatal`
row the driver turns into one clear message.

Rows carry the mel as raw float32 bytes (empty for error rows) rather than a tensor column:
error rows then cost nothing, and the batches stay plain Arrow binary.
"""

from __future__ import annotations

import json

import numpy as np

# Columns of a stage-1 row (one per window; one per failed file with windows == 0). `warning`
# is the decoder's repair note (NaN samples), `descriptors` the musical analysis
# (`indexing/describe.py`) as JSON, repeated on each window row (small beside the mel).
META = ("duration", "source_rate", "channels", "format", "subtype", "warning", "descriptors")


def _front_end(extractor, front_end: str):
    """The same feature recipe the local embedder uses on a CPU, always in float32 here (the
    actor casts to its model's dtype, as `ClapEmbedder.encode_inputs` does)."""
    if front_end == "torch":
        from soundfinder.model.features import MelFrontEnd

        return MelFrontEnd(extractor, "cpu")

    def reference(windows):
        import torch

        feats = extractor(windows, sampling_rate=int(extractor.sampling_rate), return_tensors="np")
        return torch.from_numpy(feats["input_features"])

    return reference


def prepare_files(batch: dict, *, extractor, front_end: str, window_samples: int, max_windows: int) -> dict:
    """Stage 1: a batch of {"key", "path"} rows -> one row per window (or one error row per file)."""
    import torch

    from soundfinder.audio import DecodeError, decode
    from soundfinder.indexing.describe import describe
    from soundfinder.model.windows import split_windows

    torch.set_num_threads(1)  # one core per task: Ray runs as many tasks as it has CPUs
    features = _front_end(extractor, front_end)
    rate = int(extractor.sampling_rate)
    out: dict[str, list] = {k: [] for k in ("key", "window", "windows", "mel", "error", *META)}

    def row(key, window, windows, mel, error, meta):
        for k, v in zip(("key", "window", "windows", "mel", "error"), (key, window, windows, mel, error),
                        strict=True):
            out[k].append(v)
        for k, v in zip(META, meta, strict=True):
            out[k].append(v)

    for key, path in zip(batch["key"], batch["path"], strict=True):
        try:
            audio = decode(str(path), sample_rate=rate, keep_channels=True)
            described = json.dumps(describe(str(path), audio)[0])  # same audio, as the local pipeline
            windows = split_windows(audio.samples, window_samples, max_windows)
            mel = features(windows).to(torch.float32).numpy()
        except DecodeError as e:
            row(int(key), 0, 0, b"", e.reason, (0.0, 0, 0, "", "", "", ""))
            continue
        except Exception as e:  # never raise: one exception would fail the whole job
            row(int(key), 0, 0, b"", f"worker error: {type(e).__name__}: {e}", (0.0, 0, 0, "", "", "", ""))
            continue
        meta = (float(audio.duration), int(audio.source_rate), int(audio.channels), str(audio.format),
                str(audio.subtype), audio.warning or "", described)
        for i in range(len(windows)):
            row(int(key), i, len(windows), np.ascontiguousarray(mel[i]).tobytes(), "", meta)
    return {
        "key": np.asarray(out["key"], dtype=np.int64),
        "window": np.asarray(out["window"], dtype=np.int32),
        "windows": np.asarray(out["windows"], dtype=np.int32),
        "mel": np.asarray(out["mel"], dtype=object),
        "error": np.asarray(out["error"], dtype=object),
        "duration": np.asarray(out["duration"], dtype=np.float64),
        "source_rate": np.asarray(out["source_rate"], dtype=np.int64),
        "channels": np.asarray(out["channels"], dtype=np.int64),
        "format": np.asarray(out["format"], dtype=object),
        "subtype": np.asarray(out["subtype"], dtype=object),
        "warning": np.asarray(out["warning"], dtype=object),
        "descriptors": np.asarray(out["descriptors"], dtype=object),
    }


class EmbedActor:
    """Stage 2: the audio tower, loaded once per actor on its node (never shipped through the
    object store). A load failure or a different embedding space than the driver's becomes a
    `fatal` column on every row it answers, so the driver stops with one line."""

    def __init__(self, model: str, space_id: str, device: str, precision: str, mel_shape: tuple[int, int]):
        self.mel_shape = tuple(mel_shape)
        self.fatal = ""
        self.embedder = None
        self.dim = 0
        try:
            import socket

            from soundfinder.model import ClapEmbedder

            self.embedder = ClapEmbedder.load(model, device=device, precision=precision)
            self.dim = self.embedder.dim
            if self.embedder.space.id != space_id:
                self.fatal = (f"the model on node {socket.gethostname()} is {self.embedder.space.id}, not "
                              f"the driver's {space_id}; give every node the same checkpoint")
        except Exception as e:  # reported through the rows; raising here would fail the job
            import socket

            self.fatal = f"could not load the model on node {socket.gethostname()}: {str(e).splitlines()[0]}"

    def __call__(self, batch: dict) -> dict:
        n = len(batch["key"])
        out = {k: batch[k] for k in ("key", "window", "windows", "error", *META)}
        out["fatal"] = np.asarray([self.fatal] * n, dtype=object)
        if self.fatal:
            out["embedding"] = np.zeros((n, 1), dtype=np.float32)
            return out
        emb = np.zeros((n, self.dim), dtype=np.float32)
        ok = np.flatnonzero(np.asarray(batch["windows"]) > 0)
        if ok.size:
            import torch

            mels = np.stack([np.frombuffer(batch["mel"][i], dtype=np.float32) for i in ok])
            feats = torch.from_numpy(mels.reshape(len(ok), 1, *self.mel_shape))
            emb[ok] = self.embedder.encode_inputs(feats)
        out["embedding"] = emb
        return out


def check_node(roots: list[tuple[str, str]], model_dir: str | None, version: str) -> str:
    """Pre-flight on one node: '' when it can do the job, else one line saying what is wrong.

    Args:
        roots: (driver path, path on the workers) of each folder or file to index.
        model_dir: the model folder as the workers see it (None for a hub id: the node's cache
            or the hub answers when the actor loads it).
        version: the driver's soundfinder version.
    """
    import os
    import socket

    from soundfinder import __version__

    host = socket.gethostname()
    if __version__ != version:
        return (f"node {host} has soundfinder {__version__} and this machine {version}: install the same "
                f"version on every node")
    for local, remote in roots:
        try:
            if os.path.isdir(remote):
                os.listdir(remote)
            else:
                with open(remote, "rb"):
                    pass
        except OSError as e:
            return (f"workers on node {host} cannot read {remote} ({e.strerror or e}): if the samples are "
                    f"mounted elsewhere there, add --path-map {local}=PATH_ON_THE_WORKERS")
    if model_dir is not None and not os.path.isfile(os.path.join(model_dir, "config.json")):
        return (f"the model folder {model_dir} is missing on node {host}: copy it there (same path, or "
                f"map it with --path-map), or use a hub model id")
    return ""
