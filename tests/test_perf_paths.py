"""The fast paths (torch mel front end, batched pipeline, query cache, hnsw) give the same answers
as the slow reference paths. Timings are not asserted here: bench/ measures them."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.conftest import tone, write

SR = 48_000
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _clips() -> list[np.ndarray]:
    """Real-ish sounds of several lengths: a drum hit, noise bursts, a chord, a 23 s texture
    (three windows) and a 0.05 s click."""
    rng = np.random.default_rng(7)
    t = np.arange(int(23 * SR)) / SR
    texture = (0.3 * np.sin(2 * np.pi * 110 * t * (1 + 0.1 * np.sin(t))) + 0.05 * rng.standard_normal(t.size))
    chord = sum(np.sin(2 * np.pi * f * t[: 3 * SR]) for f in (261.6, 329.6, 392.0)) / 3
    return [tone(55, 0.45, kind="hit", seed=1), tone(0, 0.05, kind="noise", seed=2),
            tone(0, 1.7, kind="noise", seed=3) * np.exp(-np.arange(int(1.7 * SR)) / SR * 3).astype(np.float32),
            chord.astype(np.float32), texture.astype(np.float32), tone(3000, 10.0, kind="hit", seed=4),
            tone(440, 12.5, seed=5)]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    from soundfinder.model.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("perf-tiny"))


def _load(path, device="cpu", front_end="torch", batch_size=None):
    from soundfinder.model import ClapEmbedder

    return ClapEmbedder.load(str(path), device=device, precision="float32", front_end=front_end,
                             batch_size=batch_size)


def test_torch_front_end_is_the_default_and_matches_reference(tiny_dir):
    fast, ref = _load(tiny_dir), _load(tiny_dir, front_end="reference")
    assert fast.front_end == "torch" and ref.front_end == "reference"
    clips = _clips()
    a, b = fast.encode_audio(clips), ref.encode_audio(clips)
    cos = (a * b).sum(axis=1)
    assert cos.min() >= 0.9999, cos
    wins = [w for c in clips for w in fast.windows(c)]
    fa, fb = fast.audio_inputs(wins), ref.audio_inputs(wins)
    assert fa.shape == fb.shape and fa.dtype == fb.dtype == torch.float32
    near = fb >= fb.amax(dim=-1, keepdim=True) - 60.0
    assert (fa - fb).abs()[near].max().item() <= 5e-3


def test_pipeline_vectors_match_reference_path(tiny_dir, tmp_path):
    """Files through the batched pipeline (windows of several files per model call, features on
    decode workers) get the vectors the reference path gives one file at a time."""
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    clips = _clips()
    folder = tmp_path / "samples"
    for i, c in enumerate(clips):
        write(folder / f"s{i}.wav", c, subtype="FLOAT")
    # Same bytes: embedded once. A copy, not a second write: libsndfile stamps a float WAV's PEAK
    # chunk with the time, so two writes a second apart differ (this flaked under load).
    shutil.copyfile(folder / "s0.wav", folder / "copy_of_s0.wav")
    (folder / "bad.wav").write_text("not audio")
    fast = _load(tiny_dir, batch_size=3)  # 3 does not divide the window counts: files straddle batches
    ref = _load(tiny_dir, front_end="reference")
    with Library.open(tmp_path / "lib", fast.space) as lib:
        summary = index_paths(lib, fast, [str(folder)], files_per_batch=4)
        assert summary.embedded == len(clips) and summary.failed == 1
        assert lib.stats()["vectors"] == len(clips)
        for i, c in enumerate(clips):
            rec = lib.get(str(folder / f"s{i}.wav"))
            got = lib.vector(rec.vector_id)
            want = ref.encode_audio([c], batch_size=1)[0]
            assert float(got @ want) >= 0.9999, (i, float(got @ want))
        assert lib.get(str(folder / "copy_of_s0.wav")).vector_id == lib.get(str(folder / "s0.wav")).vector_id


@pytest.mark.parametrize("device", DEVICES)
def test_device_parameter_same_code_path(tiny_dir, device):
    emb = _load(tiny_dir, device=device)
    assert emb.device == device and emb._front_end is not None
    assert emb._front_end.device.type == device
    assert emb.features_in_workers == (device == "cpu")
    clips = _clips()[:4]
    feats = emb.audio_inputs(clips)
    assert feats.device.type == device
    cpu = _load(tiny_dir).encode_audio(clips)
    np.testing.assert_allclose(emb.encode_audio(clips), cpu, atol=2e-3 if device != "cpu" else 1e-6)


def test_batch_size_and_precision_choices(tiny_dir):
    from soundfinder.model.clap import ModelLoadError, default_batch_size, pick_dtype

    assert default_batch_size("cpu") == 4 and default_batch_size("mps") == 16
    assert pick_dtype("cpu", "auto") == torch.float32
    assert pick_dtype("cuda", "auto") == torch.float16
    assert pick_dtype("cpu", "fast") in (torch.float32, torch.bfloat16)
    with pytest.raises(ModelLoadError, match="float16"):
        pick_dtype("cpu", "float16")
    with pytest.raises(ModelLoadError, match="unknown precision"):
        pick_dtype("cpu", "int3")
    emb = _load(tiny_dir)
    assert emb.batch_size == 4
    bf = __import__("soundfinder.model", fromlist=["ClapEmbedder"]).ClapEmbedder.load(
        str(tiny_dir), device="cpu", precision="bfloat16")
    clips = _clips()[:3]
    cos = (bf.encode_audio(clips) * emb.encode_audio(clips)).sum(axis=1)
    assert cos.min() > 0.99, cos


def test_text_cache_returns_identical_vectors(tiny_dir):
    from soundfinder.query.search import TextCache

    emb = _load(tiny_dir)
    emb.warm_up()
    calls = []
    real = emb.encode_text
    emb.encode_text = lambda texts: calls.append(list(texts)) or real(texts)
    cache = TextCache(size=2)
    a = cache.get(emb, "dusty snare")
    b = cache.get(emb, "dusty snare")
    assert b is a and np.array_equal(a, real(["dusty snare"])[0])
    cache.get(emb, "kick")
    cache.get(emb, "hat")  # evicts "dusty snare"
    c = cache.get(emb, "dusty snare")
    assert np.array_equal(a, c)
    assert calls == [["dusty snare"], ["kick"], ["hat"], ["dusty snare"]]


def _clustered(n: int, dim: int = 64, clusters: int = 20, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, dim))
    x = centres[rng.integers(0, clusters, n)] + 0.35 * rng.standard_normal((n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def test_hnsw_equals_brute_force_on_clustered_data(tmp_path):
    from soundfinder.library.vectorindex import VectorIndex
    from soundfinder.library.vectorlog import VectorLog

    everything = _clustered(3040)  # queries come from the same clusters as the data
    data, queries = everything[:3000], everything[3000:]
    log = VectorLog(tmp_path / "v.f32", data.shape[1])
    log.append(data)
    exact = VectorIndex(log, tmp_path / "v.hnsw", exact_below=10**9)
    approx = VectorIndex(log, tmp_path / "v.hnsw", exact_below=0)
    dead = {5, 17, 300}
    exact.dead = set(dead)
    approx.dead = set(dead)
    for q in queries:
        want = exact.search(q, 10)
        got = approx.search(q, 10)
        assert [i for i, _ in got] == [i for i, _ in want]
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
        assert not dead & {i for i, _ in got}
    # restricted to candidates: both give the exact answer over the candidates
    cand = np.arange(0, 3000, 3)
    for q in queries[:10]:
        want = exact.search(q, 10, cand)
        got = approx.search(q, 10, cand)
        assert [i for i, _ in got] == [i for i, _ in want]
        assert all(i % 3 == 0 and i not in dead for i, _ in got)
    # the snapshot round-trips: a reopened index replays nothing and answers the same
    approx.save_snapshot()
    again = VectorIndex(log, tmp_path / "v.hnsw", exact_below=0)
    again.dead = set(dead)
    assert [i for i, _ in again.search(queries[0], 10)] == [i for i, _ in exact.search(queries[0], 10)]


def test_pipeline_cancel_keeps_finished_files_and_resumes(tiny_dir, tmp_path):
    import threading

    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    folder = tmp_path / "samples"
    for i in range(12):
        write(folder / f"t{i:02d}.wav", tone(100 + 50 * i, 0.3 + 0.1 * i, kind="hit", seed=i))
    emb = _load(tiny_dir, batch_size=2)
    cancel = threading.Event()

    def progress(p):
        if p.phase == "embedding" and p.done >= 3:
            cancel.set()

    with Library.open(tmp_path / "lib", emb.space) as lib:
        first = index_paths(lib, emb, [str(folder)], progress=progress, cancel=cancel, files_per_batch=2)
        assert first.cancelled and 3 <= first.embedded < 12
        assert lib.stats()["indexed"] == first.embedded
        second = index_paths(lib, emb, [str(folder)])
        assert second.embedded == 12 - first.embedded and not second.cancelled
        assert lib.stats()["indexed"] == 12 and lib.stats()["vectors"] == 12
