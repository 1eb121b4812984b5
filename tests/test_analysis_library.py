"""Descriptors through indexing, storage, `soundfinder analyze` and the CLI filters."""

from __future__ import annotations

import json
import struct

import numpy as np
import soundfile as sf

from soundfinder.indexing import index_paths
from soundfinder.library import Library

RATE = 44100


def _loop(bpm: float, beats: int) -> np.ndarray:
    n = int(round(beats * 60.0 / bpm * RATE))
    x = np.zeros(n, dtype=np.float32)
    for b in range(beats * 2):
        i = int(round(b * 30.0 / bpm * RATE))
        seg = min(3000, n - i)
        amp = 0.8 if b % 2 == 0 else 0.3
        x[i:i + seg] += amp * np.sin(2 * np.pi * 180 * np.arange(seg) / RATE) * np.exp(-np.arange(seg) / 900)
    return x


def _note(hz: float, seconds: float = 0.8) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.6 * np.sin(2 * np.pi * hz * t) * np.exp(-t * 3)).astype(np.float32)


def _acid(path, tempo: float, beats: int):
    data = path.read_bytes()
    chunk = b"acid" + struct.pack("<I", 24) + struct.pack("<IHHfIHHf", 0, 60, 0x8000, 0.0, beats, 4, 4, tempo)
    body = data[12:] + chunk
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)


def make_folder(root):
    root.mkdir(parents=True)
    sf.write(str(root / "Groove_120bpm_Am.wav"), _loop(120, 8), RATE)
    sf.write(str(root / "Beat_90bpm.wav"), _loop(90, 8), RATE)
    sf.write(str(root / "acid_loop_120bpm.wav"), _loop(125, 8), RATE)
    _acid(root / "acid_loop_120bpm.wav", 125.0, 8)
    sf.write(str(root / "untitled.wav"), _note(65.41), RATE)  # a C2 one-shot
    sf.write(str(root / "copy_of_untitled.wav"), _note(65.41), RATE)  # identical content
    sf.write(str(root / "quiet.wav"), np.zeros(RATE, dtype=np.float32), RATE)
    return root


def test_indexing_stores_descriptors_per_content(embedder, tmp_path):
    folder = make_folder(tmp_path / "s")
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        summary = index_paths(lib, embedder, [str(folder)])
        assert summary.failed == 0 and summary.analysis_seconds > 0
        d = {r.path.rsplit("/", 1)[1]: lib.descriptors.get(r.hash) for r in lib.files()}
    assert (d["Groove_120bpm_Am.wav"].bpm, d["Groove_120bpm_Am.wav"].key) == (120.0, "A minor")
    assert d["Groove_120bpm_Am.wav"].kind == "loop" and d["Groove_120bpm_Am.wav"].bpm_source == "name"
    assert (d["acid_loop_120bpm.wav"].bpm, d["acid_loop_120bpm.wav"].bpm_source) == (125.0, "metadata")
    assert (d["untitled.wav"].kind, d["untitled.wav"].pitch) == ("one-shot", "C2")
    assert d["copy_of_untitled.wav"] == d["untitled.wav"]  # identical files share the row
    assert d["quiet.wav"].error == "silent"  # indexed anyway, the reason recorded
    assert all(v is not None and v.version for v in d.values())


def test_an_analysis_crash_never_fails_indexing(embedder, tmp_path, monkeypatch):
    import soundfinder.analysis as analysis

    def boom(*a, **k):
        raise RuntimeError("bug in an analyser")

    monkeypatch.setattr(analysis, "_analyze", boom)
    folder = make_folder(tmp_path / "s")
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        summary = index_paths(lib, embedder, [str(folder)])
        assert summary.failed == 0 and lib.stats()["indexed"] == 6
        rows = lib.descriptors.get_many(r.hash for r in lib.files())
    assert rows and all("bug in an analyser" in r.error for r in rows.values())


def test_the_model_never_waits_for_the_analysis(embedder, tmp_path, monkeypatch):
    """Every analysis is held back until the model has embedded every file: indexing still
    finishes, with every row stored (the last commit collects them). Were the analysis on the
    model's path, nothing would be embedded while it is held, and the hold would time out."""
    import threading

    import soundfinder.indexing.embedding as embedding

    folder = make_folder(tmp_path / "s")
    all_embedded, held = threading.Event(), []
    real_describe, real_embedded = embedding.describe, embedding.Committer.embedded

    def held_describe(path, audio):
        held.append(all_embedded.wait(timeout=60))
        return real_describe(path, audio)

    def embedded(self, info, vector):
        real_embedded(self, info, vector)
        if self.summary.embedded == 5:  # six files, two with the same content
            all_embedded.set()

    monkeypatch.setattr(embedding, "describe", held_describe)
    monkeypatch.setattr(embedding.Committer, "embedded", embedded)
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        index_paths(lib, embedder, [str(folder)])
        rows = lib.descriptors.get_many(r.hash for r in lib.files())
    assert held and all(held)  # no analysis ran before the model was done
    assert len(rows) == 5 and rows[next(h for h, r in rows.items() if r.bpm == 125.0)].bpm_source == "metadata"


def test_a_full_analysis_backlog_waits_and_loses_nothing(embedder, tmp_path, monkeypatch):
    """With room for no decoded audio at all, each analysis waits for the one before it: the
    decoded audio held for analysis stays bounded and every row is still stored."""
    import soundfinder.indexing.embedding as embedding

    monkeypatch.setattr(embedding, "ANALYSIS_BACKLOG_BYTES", 1)
    folder = make_folder(tmp_path / "s")
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        summary = index_paths(lib, embedder, [str(folder)])
        rows = lib.descriptors.get_many(r.hash for r in lib.files())
    assert summary.failed == 0 and len(rows) == 5 and all(r.version for r in rows.values())


def test_analyze_fills_an_old_library_resumably(embedder, tmp_path, cli, tiny_model_dir):
    folder = make_folder(tmp_path / "s")
    with Library.open(cli.library, embedder.space) as lib:  # a library indexed before analysis existed
        index_paths(lib, embedder, [str(folder)], analysis=False)
        vectors_before = len(lib.log)
        assert lib.descriptors.count() == 0
        assert len(lib.descriptors.missing("1")) == 5  # 6 files, 5 distinct contents
    code, out, err = cli("analyze", "--json")
    assert code == 0, err
    assert json.loads(out)["analyzed"] == 5
    code, out, _ = cli("analyze", "--json")
    assert json.loads(out)["analyzed"] == 0  # nothing left: resumable, idempotent
    with Library.open(cli.library, readonly=True) as lib:
        assert len(lib.log) == vectors_before  # nothing re-embedded
        assert lib.descriptors.count() == 5

    code, out, _ = cli("list", "--loop", "--bpm", "118-126", "--json", "--sort", "bpm")
    rows = json.loads(out)
    assert [r["path"].rsplit("/", 1)[1] for r in rows] == ["Groove_120bpm_Am.wav", "acid_loop_120bpm.wav"]
    assert rows[0]["bpm"] == 120.0 and rows[0]["key"] == "A minor" and rows[0]["kind"] == "loop"
    assert {"bpm_source", "key_source", "pitch", "lufs", "peak_db"} <= set(rows[0])
    code, out, _ = cli("list", "--bpm", "60", "--bpm-octave", "--json")
    assert [r["path"].rsplit("/", 1)[1] for r in json.loads(out)] == ["Groove_120bpm_Am.wav"]
    code, out, _ = cli("list", "--key", "C major", "--key-compatible", "--json")
    assert [r["path"].rsplit("/", 1)[1] for r in json.loads(out)] == ["Groove_120bpm_Am.wav"]
    code, out, _ = cli("list", "--one-shot", "--length", "0-1", "--json")
    assert sorted(r["path"].rsplit("/", 1)[1] for r in json.loads(out)) == ["copy_of_untitled.wav", "untitled.wav"]
    code, out, _ = cli("search", "drum loop", "--loop", "--bpm", "90", "--json")
    assert code == 0 and [r["path"].rsplit("/", 1)[1] for r in json.loads(out)] == ["Beat_90bpm.wav"]


def test_bad_filter_values_exit_2_with_one_line(cli):
    for args in (["list", "--bpm", "fast"], ["search", "kick", "--key", "H major"],
                 ["list", "--length", "long"], ["list", "--sort", "colour"], ["list", "--bpm-octave"]):
        code, out, err = cli(*args)
        assert code == 2, args
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
