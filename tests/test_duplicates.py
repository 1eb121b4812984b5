"""Duplicates at scale: the candidate stage hands only likely copies to the decoder (embedding
and length), the confirmation runs per component on threads with bounded memory, and the
whole-library neighbour lists skip the vector itself and dead vectors (exact and hnsw)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

DIM = 32
RATE = 22050


def _unit(x):
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _near(v, cos, rng):
    u = rng.standard_normal(v.shape)
    u -= (u @ v) * v
    return _unit(cos * v + np.sqrt(1 - cos ** 2) * _unit(u))


def _noise(seed, seconds):
    """A decaying noise burst: another seed is another recording (another waveform)."""
    r = np.random.default_rng(seed)
    n = int(seconds * RATE)
    return (r.standard_normal(n) * np.exp(-np.arange(n) / (0.2 * RATE))).astype(np.float32)


@pytest.fixture
def scene(tmp_path):
    """A library of synthetic vectors (no audio files; a loader stands in for decoding):
    300 unrelated sounds, a drum's 6 velocity layers (alike at cosine 0.90, one length), a
    trimmed copy of one layer, a resampled copy of an unrelated sound, and a near-twin vector
    of another sound whose length is 3x (not a copy)."""
    from soundfinder.library import Library
    from soundfinder.library.records import Batch, FileInfo
    from soundfinder.model.clap import EmbeddingSpace

    rng = np.random.default_rng(4)
    vecs = list(_unit(rng.standard_normal((300, DIM))))
    durs = list(rng.uniform(0.1, 5.0, 300))
    signal = {i: (i, 1.0) for i in range(300)}  # file index -> (noise seed, gain)
    layer0 = len(vecs)
    centre = _unit(rng.standard_normal(DIM))
    for j in range(6):
        vecs.append(_near(centre, np.sqrt(0.90), rng))
        durs.append(1.0)
        signal[layer0 + j] = (1000 + j, 1.0)
    trimmed = len(vecs)
    vecs.append(_near(vecs[layer0], 0.99, rng))
    durs.append(1.0 - 0.02)
    signal[trimmed] = (1000, 0.7)
    resampled = len(vecs)
    vecs.append(_near(vecs[7], 0.985, rng))
    durs.append(durs[7])
    signal[resampled] = (7, 1.4)
    longer = len(vecs)
    vecs.append(_near(vecs[9], 0.99, rng))
    durs.append(durs[9] * 3)
    signal[longer] = (2000, 1.0)
    paths = [str(tmp_path / "s" / f"{i:04d}.wav") for i in range(len(vecs))]
    infos = [FileInfo(p, 1000 + i, i, hash=f"{i:032x}", duration=float(d), sample_rate=44100, channels=1,
                      format="WAV", subtype="PCM_16") for i, (p, d) in enumerate(zip(paths, durs, strict=True))]
    root = tmp_path / "lib"
    with Library.open(root, EmbeddingSpace(model="test/synthetic", weights="w", dim=DIM)) as lib:
        lib.commit(Batch(embedded=list(zip(infos, vecs, strict=True))))
    decoded: list[str] = []
    lock = threading.Lock()

    def loader(path):
        with lock:
            decoded.append(path)
        seed, gain = signal[paths.index(path)]
        return _noise(seed, durs[paths.index(path)]) * gain

    return {"root": root, "paths": paths, "loader": loader, "decoded": decoded, "layers": range(layer0, layer0 + 6),
            "pairs": {(paths[layer0], paths[trimmed]), (paths[7], paths[resampled])}}


def _open(scene, **kw):
    from soundfinder.library import Library

    return Library.open(scene["root"], **kw)


def _pairs_as_paths(lib, pairs):
    by_vector = {r.vector_id: r.path for r in lib.files()}
    return {tuple(sorted((by_vector[int(a)], by_vector[int(b)]))) for a, b, _ in pairs.tolist()}


@pytest.mark.parametrize("exact_below", [20000, 50])  # exact matrix blocks, then the hnsw graph
def test_candidates_are_the_copies_not_the_layers_nor_another_length(scene, exact_below):
    from soundfinder.query import duplicates

    with _open(scene, exact_below=exact_below) as lib:
        assert _pairs_as_paths(lib, duplicates.candidate_pairs(lib)) == scene["pairs"]


def test_only_candidates_are_decoded_and_copies_grouped(scene):
    from soundfinder.query import duplicates

    with _open(scene) as lib:
        groups = duplicates.find_duplicates(lib, loader=scene["loader"])
    assert {tuple(sorted(r.path for r in g.files)) for g in groups} == scene["pairs"]
    assert all(g.kind == "near" for g in groups)
    assert sorted(scene["decoded"]) == sorted(p for pair in scene["pairs"] for p in pair)  # each once


def test_threads_agree_with_one_thread_and_cancel_stops(scene):
    from soundfinder.query import duplicates

    with _open(scene) as lib:
        # a low threshold makes the layers candidates too: the signal check must keep them apart
        kw = {"min_cosine": 0.5, "loader": scene["loader"]}
        one = duplicates.find_duplicates(lib, workers=1, **kw)
        two = duplicates.find_duplicates(lib, workers=2, **kw)
        assert [[r.path for r in g.files] for g in one] == [[r.path for r in g.files] for g in two]
        assert {tuple(sorted(r.path for r in g.files)) for g in one} == scene["pairs"]
        cancel = threading.Event()
        cancel.set()
        scene["decoded"].clear()
        assert duplicates.find_duplicates(lib, cancel=cancel, **kw) == [] and scene["decoded"] == []


def test_decoded_audio_is_bounded(monkeypatch):
    from soundfinder.query import dupconfirm

    monkeypatch.setattr(dupconfirm, "CACHE_BYTES", 3 * 4000)
    calls = []
    cache = dupconfirm._Decoded({i: str(i) for i in range(10)},
                                lambda p: calls.append(p) or np.zeros(1000, dtype=np.float32))
    for v in range(10):
        cache(v)
    assert len(cache.cache) == 3 and cache.bytes == 12000
    cache(9)
    cache(0)  # dropped earlier: decoded again
    assert calls.count("9") == 1 and calls.count("0") == 2


def test_components_split_and_keep_order():
    from soundfinder.query.dupconfirm import components

    pairs = np.array([[1, 2, 0.99], [5, 6, 0.98], [2, 3, 0.97], [7, 8, 0.96], [1, 3, 0.95]])
    comps = components(pairs)
    assert [c[:, :2].astype(int).tolist() for c in comps] == [[[1, 2], [2, 3], [1, 3]], [[5, 6]], [[7, 8]]]


@pytest.mark.parametrize("exact_below", [20000, 50])
def test_neighbours_skip_self_and_dead_vectors(scene, exact_below):
    from soundfinder.library.records import Batch

    with _open(scene, exact_below=exact_below) as lib:
        removed = scene["paths"][7]
        victim = lib.get(removed).vector_id
        lib.commit(Batch(removed=[removed]))
        ids = np.array([r.vector_id for r in lib.files()])
        labels, sims = lib.neighbours(ids, 5)
        assert labels.shape == (len(ids), 5)
        assert not (labels == ids[:, None]).any() and victim not in labels
        assert (np.diff(sims, axis=1) <= 1e-6).all()  # best first
        matrix = lib.indexed_vectors()[2]
        best = np.asarray(matrix[ids]) @ np.asarray(matrix[labels[:, 0]]).T
        assert np.allclose(np.diag(best), sims[:, 0], atol=1e-4)
