"""A checkpoint whose weights do not fit its architecture is refused, never run with random
weights (defect 3 of #12)."""

from __future__ import annotations

import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from soundfinder.model import ClapEmbedder
from soundfinder.model.clap import ModelLoadError


def _copy(tiny_model_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder, load_file(str(folder / "model.safetensors"))


def _save(folder, weights) -> None:
    save_file(weights, str(folder / "model.safetensors"), metadata={"format": "pt"})


def test_a_missing_weight_is_refused_by_name(tiny_model_dir, tmp_path):
    folder, weights = _copy(tiny_model_dir, tmp_path)
    dropped = next(k for k in sorted(weights) if k.startswith("audio_model.") and k.endswith("query.weight"))
    del weights[dropped]
    _save(folder, weights)
    with pytest.raises(ModelLoadError, match="1 weights missing") as err:
        ClapEmbedder.load(str(folder), device="cpu", precision="float32")
    assert dropped in str(err.value) and "\n" not in str(err.value)


def test_an_unexpected_weight_is_refused_by_name(tiny_model_dir, tmp_path):
    folder, weights = _copy(tiny_model_dir, tmp_path)
    weights["text_model.encoder.layer.9.output.dense.weight"] = torch.zeros(4, 4)
    _save(folder, weights)
    with pytest.raises(ModelLoadError, match=r"unexpected weights \(text_model\.encoder\.layer\.9"):
        ClapEmbedder.load(str(folder), device="cpu", precision="float32")


def test_derived_buffers_are_not_weights(tiny_model_dir, tmp_path):
    """Checkpoints of other transformers versions carry, or lack, buffers the model builds
    itself (position ids, Swin's relative position index): those load as before."""
    folder, weights = _copy(tiny_model_dir, tmp_path)
    positions = weights["text_model.embeddings.position_ids"]
    for name in [k for k in weights if k.endswith(("position_ids", "relative_position_index"))]:
        del weights[name]
    weights["text_model.embeddings.token_type_ids"] = torch.zeros_like(positions)
    _save(folder, weights)
    emb = ClapEmbedder.load(str(folder), device="cpu", precision="float32")
    assert emb.encode_text(["kick"]).shape[0] == 1


def test_a_weight_of_the_wrong_shape_is_refused(tiny_model_dir, tmp_path):
    folder, weights = _copy(tiny_model_dir, tmp_path)
    name = next(k for k in sorted(weights) if k.startswith("text_model.") and k.endswith("dense.weight"))
    weights[name] = torch.zeros(weights[name].shape[0] + 1, weights[name].shape[1])
    _save(folder, weights)
    with pytest.raises(ModelLoadError, match="weights of the wrong shape") as err:
        ClapEmbedder.load(str(folder), device="cpu", precision="float32")
    assert name in str(err.value)


def test_an_intact_checkpoint_loads(tiny_model_dir):
    assert ClapEmbedder.load(str(tiny_model_dir), device="cpu", precision="float32").dim > 0
