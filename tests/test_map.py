"""The library map: layout, storage, placement of new sounds, staleness, colours, `map --png`."""

from __future__ import annotations

import os

import numpy as np
import pytest

from soundfinder.library import Library
from soundfinder.library.records import Batch, FileInfo
from soundfinder.library.tags import AutoTag
from soundfinder.model.clap import EmbeddingSpace
from soundfinder.query import maplayout as ml

SPACE = EmbeddingSpace(model="synthetic", weights="w", dim=32)


def clustered(n: int, clusters: int = 4, dim: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(clusters, dim)) * 3
    labels = np.arange(n) % clusters
    x = centres[labels] + rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), labels


def add_sounds(lib: Library, vectors: np.ndarray, folder: str = "/samples/kit", start: int = 0,
               tag: list[str] | None = None) -> list[str]:
    infos = [FileInfo(f"{folder}/s{start + i:04d}.wav", 100, 1, hash=f"h{folder}{start + i}") for i in range(len(vectors))]
    lib.commit(Batch(embedded=list(zip(infos, vectors, strict=True))))
    if tag is not None:
        rows = [(lib.get(info.path).id, [AutoTag(t, 0.9, 0.9)]) for info, t in zip(infos, tag, strict=True)]
        lib.replace_auto_tags("drums", "v1", rows)
    return [i.path for i in infos]


@pytest.fixture
def library(tmp_path):
    vectors, labels = clustered(200)
    with Library.open(tmp_path / "lib", space=SPACE) as lib:
        add_sounds(lib, vectors, tag=[["kick", "snare", "hat", "tom"][c] for c in labels])
    return tmp_path / "lib"


def test_layout_is_deterministic_and_keeps_clusters_apart():
    vectors, labels = clustered(240)
    a = ml.compute_layout(vectors, "umap")
    b = ml.compute_layout(vectors, "umap")
    assert a.shape == (240, 2) and np.array_equal(a, b)
    centres = np.array([a[labels == c].mean(axis=0) for c in range(4)])
    spread = max(np.linalg.norm(a[labels == c] - centres[c], axis=1).mean() for c in range(4))
    gaps = [np.linalg.norm(centres[i] - centres[j]) for i in range(4) for j in range(i + 1, 4)]
    assert min(gaps) > 2 * spread  # four clusters in, four islands out


def test_layout_progress_and_cancel():
    import threading

    vectors, _ = clustered(240)
    cancel = threading.Event()
    seen = []

    def progress(p):
        seen.append(p.phase)
        if p.phase == "layout" and p.done >= 5:
            cancel.set()

    with pytest.raises(ml.MapCancelled):
        ml.compute_layout(vectors, "umap", progress=progress, cancel=cancel)
    assert "neighbours" in seen and "layout" in seen


def test_map_stored_atomically_and_reloaded(library, monkeypatch):
    with Library.open(library) as lib:
        stored = ml.build_map(lib, "pca")
        again = lib.maps.load()
        assert np.array_equal(again.vector_ids, stored.vector_ids) and np.array_equal(again.xy, stored.xy)
        assert again.info["method"] == "pca" and not again.placed.any()
        before = (lib.root / "map.npz").read_bytes()

        def crash(*a, **k):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", crash)
        with pytest.raises(OSError):
            lib.maps.save(ml.StoredMap(stored.vector_ids, stored.xy + 1, stored.placed))
        monkeypatch.undo()
        assert (lib.root / "map.npz").read_bytes() == before  # the old map, whole
        assert not [n for n in os.listdir(lib.root) if n.endswith(".tmp")]


def test_map_of_another_model_is_ignored(library):
    with Library.open(library) as lib:
        ml.build_map(lib, "pca")
    from soundfinder.library.maps import MapStore

    assert MapStore(library, "another-model", readonly=True).load() is None


def test_new_sounds_are_placed_in_their_cluster_without_recompute(library):
    with Library.open(library) as lib:
        first = ml.build_map(lib, "pca")
        base, _ = clustered(200)  # the library's vectors; new sounds are near copies of some
        rng = np.random.default_rng(1)
        picks = rng.choice(200, 60, replace=False)
        new = base[picks] + 0.05 * rng.normal(size=(60, 32)).astype(np.float32)
        new /= np.linalg.norm(new, axis=1, keepdims=True)
        add_sounds(lib, new, folder="/samples/new")
        stored, stale = ml.current_map(lib)
        assert len(stored) == 260 and stored.placed.sum() == 60
        assert stale.missing == 60 and stale.stale  # 60 of 260 > 20 %: a recompute is offered
        kept, known = stored.positions_of(first.vector_ids)
        assert known.all() and np.array_equal(kept, first.xy)  # nobody else moved
        new_ids = stored.vector_ids[stored.placed]
        xy_new, _ = stored.positions_of(new_ids)
        xy_old, _ = first.positions_of(first.vector_ids[picks])
        assert np.median(np.linalg.norm(xy_new - xy_old, axis=1)) < 0.15
        again = lib.maps.load()  # placements are stored, not recomputed each time
        assert again.placed.sum() == 60
        assert ml.current_map(lib)[1].placed == 60  # and still counted as placed
        from soundfinder.query.mapdata import map_data

        data = map_data(lib)
        assert data.placed.sum() == 60 and "refresh the map" in data.hint  # drawn with the hint
        ml.build_map(lib, "pca")  # the refresh: everything laid out again, nothing "placed"
        assert map_data(lib).hint == "" and not lib.maps.load().placed.any()


def test_place_1000_is_fast_and_near_neighbours():
    import time

    vectors, labels = clustered(5000, clusters=10)
    xy = np.c_[labels, labels * 0.5].astype(np.float32)  # any layout: placement follows it
    t = time.perf_counter()
    got = ml.place(vectors[:1000], vectors, xy)
    assert time.perf_counter() - t < 5
    assert np.abs(got - xy[:1000]).max() < 0.5


def test_place_by_search_matches_brute_force_and_skips_sounds_off_the_map():
    vectors, labels = clustered(600, clusters=6)
    xy = np.c_[labels, -labels].astype(np.float32)
    base_ids = np.arange(0, 600, 2)  # every other vector is on the map
    new = vectors[1:40:2]

    def knn(v, k):  # what Library.knn answers: (vector id, cosine), best first, any id
        sims = vectors @ v
        top = np.argsort(-sims)[:k]
        return [(int(i), float(sims[i])) for i in top]

    got = ml.place_by_search(knn, new, base_ids, xy[base_ids], vectors)
    want = ml.place(new, vectors[base_ids], xy[base_ids])
    assert np.allclose(got, want, atol=1e-4)
    lonely = ml.place_by_search(lambda v, k: [(1, 0.9)], new[:2], base_ids, xy[base_ids], vectors)
    assert np.allclose(lonely, want[:2], atol=1e-4)  # no neighbour on the map: brute force


def test_fewer_than_three_sounds_is_a_clear_error(tmp_path):
    with Library.open(tmp_path / "lib", space=SPACE) as lib:
        add_sounds(lib, clustered(2)[0])
        with pytest.raises(ml.MapError, match="at least 3"):
            ml.build_map(lib)


def test_colours_and_cluster_labels_come_from_tags(library):
    from soundfinder.query.mapdata import map_data

    with Library.open(library) as lib:
        ml.build_map(lib, "pca")
        data = map_data(lib, "tag")
    assert set(data.names) == {"kick", "snare", "hat", "tom"}
    assert {lab.text for lab in data.labels} <= {"kick", "snare", "hat", "tom"} and data.labels
    by_folder = None
    with Library.open(library, readonly=True) as lib:
        by_folder = map_data(lib, "folder", save=False)
    assert by_folder.names == ["kit"]


def test_map_png_renders_offscreen(cli, library, tmp_path, monkeypatch):
    monkeypatch.setenv("SOUNDFINDER_LIBRARY", str(library))
    out = tmp_path / "map.png"
    code, stdout, stderr = cli("map", "--png", str(out), "--size", "640x400", "--color", "tag")
    assert code == 0, stderr
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert int.from_bytes(data[16:20], "big") == 640 and int.from_bytes(data[20:24], "big") == 400
    code, stdout, _ = cli("map", "--json")
    import json

    info = json.loads(stdout)
    assert info["sounds"] == 200 and info["stale"]["stale"] is False and info["method"] == "umap"


def test_map_png_of_a_tiny_library_is_an_empty_state(cli, tmp_path, monkeypatch):
    with Library.open(tmp_path / "small", space=SPACE) as lib:
        add_sounds(lib, clustered(2)[0])
    monkeypatch.setenv("SOUNDFINDER_LIBRARY", str(tmp_path / "small"))
    code, _, stderr = cli("map", "--png", str(tmp_path / "m.png"), "--size", "300x200")
    assert code == 0 and "at least 3" in stderr
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"
    code, _, stderr = cli("map", "--png", str(tmp_path / "m.png"), "--size", "big")
    assert code == 1 and "--size" in stderr
