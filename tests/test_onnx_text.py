"""The ONNX Runtime text tower: same vectors as torch, a cache that is checked before it is
trusted, and typed queries answered by names and sound before torch is imported (#18)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from soundfinder.model import onnx_text  # noqa: E402

QUERIES = ["kick", "warm analog pad", "the sound of a dusty snare with a short tail",
           "lofi dusty piano chords " * 12]  # the last one is cut at 77 tokens, like torch's


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_model_dir, embedder):
    """The tiny model's text tower exported once (into a session folder; copied per test)."""
    from soundfinder.model.onnx_export import export_text_tower

    root = tmp_path_factory.mktemp("onnx-text")
    result = export_text_tower(str(tiny_model_dir), embedder.space, root)
    return root, result


@pytest.fixture
def cached(exported, monkeypatch, embedder):
    """That export in this test's user cache, with the ONNX text path on; its folder."""
    monkeypatch.setenv("SOUNDFINDER_TEXT_ONNX", "auto")
    onnx_text.forget_open()
    root, result = exported
    folder = onnx_text.cache_folder(embedder.space.id)
    shutil.copytree(result["folder"], folder)
    yield folder
    onnx_text.forget_open()


def _prefer_any(monkeypatch):
    """The tiny tower keeps float32 (its int8 copy misses the bar); let the app adopt it anyway."""
    monkeypatch.setattr(onnx_text, "FASTER_THAN_TORCH", {"float32": {"float32", "bfloat16", "int8"},
                                                         "int8": {"float32", "bfloat16", "int8"}})


def _torch32(tiny_model_dir):
    from soundfinder.model import ClapEmbedder

    return ClapEmbedder.load(str(tiny_model_dir), device="cpu", precision="float32")


def test_export_is_one_checked_folder_per_model(exported, embedder):
    root, result = exported
    assert [p.name for p in root.iterdir()] == [onnx_text.cache_key(embedder.space.id)]
    folder = root / onnx_text.cache_key(embedder.space.id)
    assert sorted(p.name for p in folder.iterdir()) == ["meta.json", "model.onnx", "tokenizer.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["space"]["weights"] == embedder.space.weights and meta["size"] == (folder / "model.onnx").stat().st_size
    assert result["cosines"]["float32"] >= onnx_text.THRESHOLDS["float32"]
    assert onnx_text.cache_key(embedder.space.id) != onnx_text.cache_key(embedder.space.id + "x")


def test_onnx_vectors_match_torch_float32(cached, tiny_model_dir, embedder):
    from soundfinder.query import prompts
    from soundfinder.query.search import TextCache

    tower, why = onnx_text.load_cached(str(tiny_model_dir))  # the space found without torch's help
    assert why is None and tower is not None and tower.space == embedder.space
    ref = _torch32(tiny_model_dir)
    batched, alone = tower.encode_text(QUERIES), np.stack([tower.encode_text([q])[0] for q in QUERIES])
    want = ref.encode_text(QUERIES)
    assert batched.shape == want.shape and batched.dtype == np.float32
    assert np.sum(batched * want, axis=1).min() >= 0.9999 and np.sum(alone * want, axis=1).min() >= 0.9999
    a = prompts.text_vector(tower, "kick", TextCache(), ensemble=True)  # the prompt ensemble, normalised
    b = prompts.text_vector(ref, "kick", TextCache(), ensemble=True)
    assert float(a @ b) >= 0.9999 and abs(float(np.linalg.norm(a)) - 1) < 1e-5


def test_the_loaded_model_queries_through_onnx_and_status_says_so(cached, tiny_model_dir, monkeypatch, cli):
    from soundfinder.model import ClapEmbedder

    _prefer_any(monkeypatch)
    want = _torch32(tiny_model_dir).encode_text(["kick"])[0]
    emb = ClapEmbedder.load(str(tiny_model_dir), device="cpu")  # the last load: what `status` reports
    assert emb.text_tower is not None and emb.runtime.text.backend == "onnxruntime"
    calls = []
    run = emb.text_tower._run
    monkeypatch.setattr(emb.text_tower, "_run", lambda texts: (calls.append(texts), run(texts))[1])
    vec = emb.encode_text(["kick"])
    assert calls == [["kick"]] and float(vec[0] @ want) >= 0.9999
    code, out, err = cli("status", "--json")
    rt = json.loads(out)["runtime"]
    assert code == 0 and rt["text_backend"] == "onnxruntime" and "answers queries" in rt["text_onnx"]


def _truncate(folder):
    data = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(data[: len(data) // 2])


def _wrong_fingerprint(folder):
    meta = json.loads((folder / "meta.json").read_text())
    meta["space"]["weights"] = "0123456789abcdef"
    (folder / "meta.json").write_text(json.dumps(meta))


def _garble(folder):
    """Same size, different weights: loads, but would embed wrongly."""
    data = bytearray((folder / "model.onnx").read_bytes())
    mid = len(data) // 2
    data[mid:mid + 20000] = bytes(20000)
    (folder / "model.onnx").write_bytes(bytes(data))


@pytest.mark.parametrize("damage, said", [(_truncate, "truncated"), (_wrong_fingerprint, "was made for"),
                                          (_garble, "ONNX text tower cache")])
def test_a_damaged_cache_falls_back_to_torch_with_one_line(cached, tiny_model_dir, monkeypatch, damage, said):
    from soundfinder.model import ClapEmbedder
    from soundfinder.model.runtime import status_report

    _prefer_any(monkeypatch)
    damage(cached)
    emb = ClapEmbedder.load(str(tiny_model_dir), device="cpu")
    assert emb.text_tower is None and emb.runtime.text.backend == "torch"
    fallback = emb.runtime.text.fallback  # may also hold the bf16 check's verdict on the tiny model
    line = fallback[fallback.index("ONNX text tower cache"):]
    assert said in line and "\n" not in line and line.endswith("torch this time")
    assert line in status_report("auto")["summary"] and line in status_report("auto")["fallback"]
    assert not cached.exists()  # deleted: re-exported after this load, never used again
    monkeypatch.setenv("SOUNDFINDER_TEXT_ONNX", "off")
    plain = ClapEmbedder.load(str(tiny_model_dir), device="cpu")
    np.testing.assert_array_equal(emb.encode_text(QUERIES), plain.encode_text(QUERIES))


def test_the_probe_refuses_a_tower_that_embeds_wrongly(cached, embedder):
    """A tower whose vectors left the torch float32 ones (here: the stored reference moved) is
    refused by its check, whatever the file looks like."""
    meta = json.loads((cached / "meta.json").read_text())
    meta["probe"]["vectors"] = (-np.asarray(meta["probe"]["vectors"])).tolist()
    (cached / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(onnx_text.TextTowerError, match="probe cosine"):
        onnx_text.open_tower(cached, embedder.space.id)


def test_background_export_caches_the_tower_for_the_next_start(tiny_model_dir, monkeypatch):
    """The real path: a low-priority `python -m soundfinder.model.onnx_export` after the load."""
    from soundfinder.model import ClapEmbedder, text_backend

    monkeypatch.setenv("SOUNDFINDER_TEXT_ONNX", "auto")
    onnx_text.forget_open()
    emb = ClapEmbedder.load(str(tiny_model_dir), device="cpu")
    assert emb.runtime.text_onnx == "not exported yet"
    done = []
    thread = text_backend.export_in_background(emb, done=lambda tower, why: done.append((tower, why)))
    assert thread is not None and text_backend.export_in_background(emb) is None  # one at a time
    thread.join(timeout=600)
    assert done and done[0][0] is not None and done[0][1] is None, done
    assert onnx_text.cache_folder(emb.space.id).is_dir()
    tower = done[0][0]
    if onnx_text.prefer(tower, emb.torch_text_precision if emb.text_tower else emb.runtime.text.precision):
        assert emb.text_tower is tower and "answers queries" in emb.runtime.text_onnx  # switched at once
    else:
        assert emb.text_tower is None and "start-up only" in emb.runtime.text_onnx
    assert text_backend.export_in_background(emb) is None  # cached: not again
    onnx_text.forget_open()


GUI_CHILD = r"""
import json, os, sys, time
model, library = sys.argv[1:3]
from soundfinder.gui.app import make_app
app = make_app()
from soundfinder.gui.main_window import MainWindow
window = MainWindow({"library": library, "model": model, "device": "cpu", "precision": None})
window.search_bar.autoplay.blockSignals(True)
window.search_bar.autoplay.setChecked(False)
window.show()
got = []
window.bridge.resultsReady.connect(lambda seq, q, hits: got.append(
    {"text": q.text, "mode": window.bridge.answered, "paths": [h.path for h in hits],
     "torch": "torch" in sys.modules, "transformers": "transformers" in sys.modules,
     "model_ready": window.bridge.embedder is not None, "label": window.model_label.text()}))
window.search_bar.edit.setText("kick")
end = time.monotonic() + 120
while not any(g["mode"] == "fused" for g in got) and time.monotonic() < end:
    app.processEvents()
    time.sleep(0.005)
print("GOT " + json.dumps(got), flush=True)
os._exit(0)  # the torch load in flight is not this test's subject
"""


def test_start_up_answers_by_names_and_sound_before_torch_is_imported(user_settings, cached, tiny_model_dir,
                                                                     indexed_library, python_exe, monkeypatch):
    from soundfinder.library import Library
    from soundfinder.query.search import search_text

    monkeypatch.setenv("SOUNDFINDER_TEXT_ONNX", "auto")  # user_settings turned it off
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    out = subprocess.run([python_exe, "-c", GUI_CHILD, str(tiny_model_dir), str(indexed_library)], env=env,
                         capture_output=True, text=True, timeout=300)
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("GOT ")]
    assert lines, out.stderr[-3000:]
    got = [g for g in json.loads(lines[-1][4:]) if g["text"] == "kick"]
    fused = [g for g in got if g["mode"] == "fused"]
    assert fused, got
    first = fused[0]
    assert not first["torch"] and not first["transformers"] and not first["model_ready"], got
    assert first["label"] == "text search ready · model loading…"
    tower, _ = onnx_text.load_cached(str(tiny_model_dir))
    with Library.open(indexed_library, readonly=True) as lib:
        want = [h.path for h in search_text(lib, tower, "kick", k=200)]
    assert first["paths"] == want and len(want) > 1
