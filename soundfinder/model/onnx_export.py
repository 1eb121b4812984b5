"""Export a checkpoint's text tower to ONNX, check it against torch float32, cache it atomically.

Why a separate module (and process): exporting traces the torch graph for ~10-20 s of Python
work and quantising takes as long again; in the app's process that would hold the GIL against
the window and add ~1 GB to its memory while indexing runs. `export_in_background` runs
`python -m soundfinder.model.onnx_export` at low priority on one thread instead; the result
appears in the cache in one rename, so a crash or a kill at any moment leaves either no tower
or a whole one (a temp folder left behind is removed by the next export).

What is exported is exactly what the app embeds a query with (`ClapEmbedder.encode_text`):
the text model and its projection, then L2 normalisation, in float32, from token ids and the
attention mask (dynamic batch and length). The tokenizer is the checkpoint's own fast tokenizer
(saved beside the graph, padding and truncation applied at run time as `encode_text` asks).
Checks before the rename: the float32 graph must give cosine >= 0.9999 to torch float32 on
`onnx_text.PROBE_TEXTS` (batched and alone), and the int8 graph (ONNX Runtime dynamic
quantisation of the MatMuls) >= 0.995, else the float32 graph is kept; if float32 fails too,
nothing is cached and `<key>.failed` says why (shown by `status`, not retried).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from soundfinder.model import onnx_text
from soundfinder.model.clap import EmbeddingSpace

OPSET = 17


def _load_float32(source: str):
    """The checkpoint in float32 (whatever precision the app runs) and its processor."""
    import torch
    from transformers import ClapModel, ClapProcessor

    from soundfinder.model.checkpoint import check_loading_info

    model, info = ClapModel.from_pretrained(source, use_safetensors=True, dtype=torch.float32,
                                            output_loading_info=True)
    check_loading_info(source, model, info)
    return model.eval(), ClapProcessor.from_pretrained(source)


def _tower_module(model):
    import torch

    class TextTower(torch.nn.Module):
        """token ids + mask -> the unit text vector (`ClapEmbedder._encode_text`)."""

        def __init__(self, clap):
            super().__init__()
            self.clap = clap

        def forward(self, input_ids, attention_mask):
            out = self.clap.get_text_features(input_ids=input_ids, attention_mask=attention_mask)
            return torch.nn.functional.normalize(out.pooler_output.float(), dim=-1)

    return TextTower(model).eval()


def _torch_vectors(model, tokenizer, texts: list[str]) -> np.ndarray:
    import torch

    with torch.inference_mode():
        tok = tokenizer(texts, padding=True, truncation=True, max_length=onnx_text.MAX_TOKENS, return_tensors="pt")
        out = model.get_text_features(**tok).pooler_output
        return torch.nn.functional.normalize(out.float(), dim=-1).numpy()


def _write_graph(model, tokenizer, path: Path) -> None:
    import torch

    sample = tokenizer(["a kick", "the sound of a punchy snare drum"], padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "embeds": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # tracer and deprecation notes, nothing actionable
        torch.onnx.export(_tower_module(model), (sample["input_ids"], sample["attention_mask"]), str(path),
                          dynamo=False, input_names=["input_ids", "attention_mask"], output_names=["embeds"],
                          dynamic_axes=axes, opset_version=OPSET)


def _write_tokenizer(tokenizer, path: Path) -> dict:
    """The backend (fast) tokenizer with no padding or truncation baked in; its pad token."""
    backend = tokenizer.backend_tokenizer
    backend.no_padding()
    backend.no_truncation()
    path.write_text(backend.to_str(), encoding="utf-8")
    return {"pad_id": int(tokenizer.pad_token_id), "pad_token": str(tokenizer.pad_token)}


def _quantise(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)  # "consider pre-processing": advice for CNNs, logged on root
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        finally:
            logging.disable(logging.NOTSET)


def _probe(folder: Path, graph: str, meta: dict) -> float:
    """Worst cosine of `graph` in `folder` to the torch float32 probe vectors in `meta`, with the
    probe texts batched (padding) and one by one."""
    trial = dict(meta, precision="float32" if graph == "float32.onnx" else "int8")
    texts = list(meta["probe"]["texts"])
    ref = np.asarray(meta["probe"]["vectors"], dtype=np.float32)
    os.replace(folder / graph, folder / "model.onnx")
    try:
        tower = onnx_text.OnnxTextTower(folder, trial)
        got = [tower.encode_text(texts), np.concatenate([tower.encode_text([t]) for t in texts])]
        del tower
        return min(float(np.min(np.sum(g * ref, axis=1))) for g in got)
    finally:
        os.replace(folder / "model.onnx", folder / graph)


def export_text_tower(source: str, space: EmbeddingSpace, root: Path | None = None, int8: bool = True) -> dict:
    """Export, check and cache the text tower of the checkpoint folder `source` whose vectors
    live in `space`; returns what was cached (precision, cosines, seconds). Raises
    `TextTowerError` when even the float32 graph fails its check (nothing is cached then)."""
    from soundfinder import __version__
    from soundfinder.library.atomic import fsync_dir

    t0 = time.perf_counter()
    root = root or onnx_text.cache_root()
    final = onnx_text.cache_folder(space.id, root)
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob(f".tmp-{final.name}-*"):  # an export killed half-way (not one running now)
        if time.time() - old.stat().st_mtime > 3600:
            shutil.rmtree(old, ignore_errors=True)
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    tmp.mkdir()
    try:
        model, processor = _load_float32(source)
        texts = list(onnx_text.PROBE_TEXTS)
        meta = {"format": onnx_text.FORMAT, "soundfinder": __version__, "onnxruntime": onnx_text.ort_version(),
                "space": {"model": space.model, "weights": space.weights, "dim": space.dim,
                          "preprocess": space.preprocess},
                **_write_tokenizer(processor.tokenizer, tmp / "tokenizer.json"),
                "probe": {"texts": texts, "vectors": np.round(_torch_vectors(model, processor.tokenizer, texts),
                                                             7).tolist()}}
        _write_graph(model, processor.tokenizer, tmp / "float32.onnx")
        del model
        cos32 = _probe(tmp, "float32.onnx", meta)
        if not cos32 >= onnx_text.THRESHOLDS["float32"]:
            raise onnx_text.TextTowerError(f"float32 export is off torch (probe cosine {cos32:.5f})")
        chosen, cos8 = "float32", None
        if int8:
            _quantise(tmp / "float32.onnx", tmp / "int8.onnx")
            cos8 = _probe(tmp, "int8.onnx", meta)
            if cos8 >= onnx_text.THRESHOLDS["int8"]:
                chosen = "int8"
        keep = tmp / f"{chosen}.onnx"
        os.replace(keep, tmp / "model.onnx")
        for f in tmp.glob("*.onnx"):
            if f.name != "model.onnx":
                f.unlink()
        cosines = {"float32": round(cos32, 6), "int8": None if cos8 is None else round(cos8, 6)}
        meta.update(precision=chosen, size=(tmp / "model.onnx").stat().st_size, cosines=cosines,
                    made=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        (tmp / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():  # another export won the race, or a stale copy: replace it whole
            shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        fsync_dir(root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    onnx_text.failed_marker(space.id, root).unlink(missing_ok=True)
    return {"folder": str(final), "precision": chosen, "cosines": cosines,
            "seconds": round(time.perf_counter() - t0, 1)}


def main(argv=None) -> int:
    """`python -m soundfinder.model.onnx_export FOLDER --model ID --weights W --dim N`: what
    `export_in_background` runs; prints one JSON line. A failure leaves `<key>.failed`."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("source", help="the checkpoint folder")
    ap.add_argument("--model", required=True, help="the embedding space's model id")
    ap.add_argument("--weights", required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--root", default=None, help="cache folder (default: the user cache)")
    ap.add_argument("--no-int8", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--nice", type=int, default=10, help="lower this process's priority (POSIX)")
    args = ap.parse_args(argv)
    if args.nice and hasattr(os, "nice"):
        os.nice(args.nice)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch

    torch.set_num_threads(max(1, args.threads))  # leave the other cores to the app and indexing
    root = Path(args.root) if args.root else None
    space = EmbeddingSpace(model=args.model, weights=args.weights, dim=args.dim)
    try:
        result = export_text_tower(args.source, space, root, int8=not args.no_int8)
    except Exception as e:
        reason = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}" if str(e) else type(e).__name__
        marker = onnx_text.failed_marker(space.id, root)
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text(reason, encoding="utf-8")
        print(json.dumps({"failed": reason}), flush=True)
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
