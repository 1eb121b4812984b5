"""Precision: auto takes bfloat16 only where it is native and checked; vectors share one space.

Tolerance (documented in README "Speed"): a vector made at bfloat16 or int8 stays within cosine
0.999 (bf16) / 0.99 (int8) of its float32 twin on the tiny model, and search results change only
among near ties: every file of the top 5 at another precision scores, in float32, no more than
TOL below the float32 5th result, and its first result no more than TOL below the float32 first.
(The tiny random model packs its vectors tightly: scores 0.366 and 0.3656 swap.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import tone

TOL = 0.01


def assert_same_results(exact: np.ndarray, other: np.ndarray, k: int = 5) -> None:
    """`exact`/`other`: (queries, library) scores at float32 / at another precision."""
    for e, o in zip(exact, other, strict=True):
        top = np.argsort(-o)[:k]
        assert e[top].min() >= np.sort(e)[::-1][k - 1] - TOL
        assert e[top[0]] >= e.max() - TOL


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private cache folder: the probe cache and the runtime record land there."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    from soundfinder import config

    return config.cache_dir()


def load(tiny_model_dir, precision="auto"):
    from soundfinder.model import ClapEmbedder

    return ClapEmbedder.load(str(tiny_model_dir), device="cpu", precision=precision)


def dtypes(emb):
    return (next(emb.model.audio_model.parameters()).dtype, next(emb.model.text_model.parameters()).dtype)


def test_auto_takes_bf16_only_when_native_and_checked(tiny_model_dir, cache, monkeypatch):
    import torch

    from soundfinder.model import precision

    monkeypatch.setitem(precision.THRESHOLDS, "bfloat16", 0.99)  # the tiny text tower passes too
    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    emb = load(tiny_model_dir)
    assert dtypes(emb) == (torch.bfloat16, torch.bfloat16) and emb.dtype == torch.bfloat16
    assert emb.runtime.audio.checked and emb.runtime.audio.cosine >= 0.99 and emb.runtime.fallback is None
    v = emb.encode_audio([tone(220, 0.5)])
    assert v.dtype == np.float32 and abs(np.linalg.norm(v) - 1) < 1e-4

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: False)
    emb = load(tiny_model_dir)
    assert dtypes(emb) == (torch.float32, torch.float32)
    assert emb.runtime.fallback is None and "no native bfloat16" in emb.runtime.note


def test_failed_probe_falls_back_to_float32_and_status_says_so(tiny_model_dir, cache, monkeypatch, cli):
    import torch

    from soundfinder.model import precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)  # a CPU that claims bf16 ...
    monkeypatch.setitem(precision.THRESHOLDS, "bfloat16", 1.5)       # ... and fails the probe
    emb = load(tiny_model_dir)
    assert dtypes(emb) == (torch.float32, torch.float32) and emb.dtype == torch.float32
    assert "failed the self-check" in emb.runtime.fallback
    code, out, _ = cli("status", "--json")
    assert code == 0
    rt = json.loads(out)["runtime"]
    assert rt["precision"] == "float32" and rt["setting"] == "auto"
    assert "failed the self-check" in rt["fallback"]
    code, out, _ = cli("status")
    assert "fallback: audio: bfloat16 failed the self-check" in out


def test_probe_verdict_is_cached(tiny_model_dir, cache, monkeypatch):
    from soundfinder.model import precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    first = load(tiny_model_dir).runtime
    assert not first.cached and first.probe_seconds is not None
    calls = []
    monkeypatch.setattr(precision, "probe_tower", lambda *a: calls.append(a))
    second = load(tiny_model_dir).runtime
    assert second.cached and not calls
    assert (second.audio.precision, second.text.precision) == (first.audio.precision, first.text.precision)


def test_float32_stays_selectable(tiny_model_dir, cache, monkeypatch):
    import torch

    from soundfinder.model import precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    emb = load(tiny_model_dir, "float32")
    assert dtypes(emb) == (torch.float32, torch.float32)
    assert not emb.runtime.audio.checked and emb.runtime.note == "float32 as requested (not self-checked)"


def test_corrupt_cache_runs_float32_with_one_line(tiny_model_dir, cache, monkeypatch):
    import torch

    from soundfinder.model import precision

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "precision-checks.json").write_text('{"half a verdict": [tru')
    emb = load(tiny_model_dir)
    assert dtypes(emb) == (torch.float32, torch.float32)
    assert "corrupt" in emb.runtime.fallback and "\n" not in emb.runtime.fallback
    assert not (cache / "precision-checks.json").exists()  # checked again at the next start
    assert load(tiny_model_dir).runtime.audio.precision == "bfloat16"


def test_a_model_that_cannot_be_converted_runs_float32(tiny_model_dir, cache, monkeypatch):
    import torch

    from soundfinder.model import precision

    def broken(*a, **k):
        raise RuntimeError("no kernel for this layer\nsecond line")

    monkeypatch.setattr(precision, "cpu_bf16_native", lambda: True)
    monkeypatch.setattr(precision, "convert_tower", broken)
    emb = load(tiny_model_dir)
    assert dtypes(emb) == (torch.float32, torch.float32)
    assert "conversion failed (RuntimeError: no kernel for this layer)" in emb.runtime.audio.fallback


def test_int8_is_checked_and_quantises_linear_layers(tiny_model_dir, cache, monkeypatch):
    import torch

    from soundfinder.model import precision

    monkeypatch.setitem(precision.THRESHOLDS, "int8", 0.9)
    emb = load(tiny_model_dir, "int8")
    assert emb.runtime.audio.precision == "int8" and emb.runtime.audio.backend == "torch-dynamic-int8"
    assert any("Quantized" in type(m).__name__ or "quantized" in type(m).__module__
               for m in emb.model.audio_model.modules())
    assert emb.dtype == torch.float32


def _clips():
    kinds = ("sine", "noise", "hit")
    return [tone(55 * 2 ** (i / 3), 0.3 + 0.2 * (i % 4), kind=kinds[i % 3], seed=i) for i in range(24)]


@pytest.mark.parametrize("precision,min_cos", [("bfloat16", 0.999), ("int8", 0.99)])
def test_precisions_share_one_space_and_top_results(tiny_model_dir, cache, precision, min_cos):
    exact = load(tiny_model_dir, "float32")
    other = load(tiny_model_dir, precision)
    assert other.space.id == exact.space.id  # the library's space does not move with precision
    clips = _clips()
    a, b = exact.encode_audio(clips), other.encode_audio(clips)
    assert (a * b).sum(1).min() >= min_cos
    texts = ["kick", "bright noise", "low sine", "a short hit", "pad"]
    ta, tb = exact.encode_text(texts), other.encode_text(texts)
    # Library vectors from float32, queries at the other precision (and the other way round):
    for queries_a, queries_b, lib_a, lib_b in ((ta, tb, a, a), (a, b, a, a), (ta, ta, a, b)):
        assert_same_results(queries_a @ lib_a.T, queries_b @ lib_b.T)


def test_library_indexed_at_float32_searches_the_same_at_bf16(tiny_model_dir, cache, sample_folder, tmp_path):
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library
    from soundfinder.query.search import search_text

    exact = load(tiny_model_dir, "float32")
    fast = load(tiny_model_dir, "bfloat16")
    with Library.open(tmp_path / "lib", exact.space) as lib:
        index_paths(lib, exact, [str(sample_folder)])
        want = {h.path: h.score for h in search_text(lib, exact, "warm pad", k=20)}
    with Library.open(tmp_path / "lib", fast.space) as lib:  # same space: opens, no mismatch
        got = [h.path for h in search_text(lib, fast, "warm pad", k=3)]
    best = sorted(want.values(), reverse=True)
    assert want[got[0]] >= best[0] - TOL
    assert min(want[p] for p in got) >= best[2] - TOL
