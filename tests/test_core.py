"""End to end through the Python API and the CLI: index, search, similar, incremental."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from soundfinder.audio import DecodeError, decode
from soundfinder.cli.common import EXIT_ERROR, EXIT_USAGE
from soundfinder.indexing import index_paths
from soundfinder.library import Library, SpaceMismatchError
from soundfinder.query.search import search_similar, search_text
from tests.conftest import tone, write


def test_decode_formats_to_mono_48k(sample_folder):
    pad = decode(sample_folder / "Synth" / "Pad_Warm.wav")
    assert pad.samples.dtype == np.float32 and pad.samples.ndim == 1
    assert pad.channels == 2 and pad.sample_rate == 48000
    assert abs(pad.samples.size - 3.0 * 48000) < 10
    blip = decode(sample_folder / "FX" / "Blip_8k.wav")
    assert blip.source_rate == 8000 and abs(blip.samples.size - 0.2 * 48000) < 10
    for name in ("Drums/Snare_Dusty.flac", "Drums/HiHat_Closed.aiff", "Synth/Bass_Low.ogg",
                 "Synth/Lead_24bit.wav"):
        assert decode(sample_folder / name).samples.size > 0


@pytest.mark.parametrize("content, reason", [
    (b"", "empty"),
    (b"hello, I am a text file pretending to be a sample\n", "not audio"),
    (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00", "truncated"),
])
def test_decode_errors_name_file_and_reason(tmp_path, content, reason):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as e:
        decode(path)
    assert str(path) in str(e.value) and reason in e.value.reason


def test_decode_repairs_a_few_nan_samples_and_rejects_all_nan(tmp_path):
    x = tone(440, 0.1)
    x[100], x[200], x[300] = np.nan, np.inf, -np.inf
    d = decode(write(tmp_path / "nan.wav", x, subtype="FLOAT"))
    assert np.isfinite(d.samples).all() and d.samples[100] == d.samples[200] == 0.0
    assert d.warning == "3 NaN/infinite samples of 4800 replaced by silence"
    assert decode(write(tmp_path / "clean.wav", tone(440, 0.1), subtype="FLOAT")).warning is None
    with pytest.raises(DecodeError, match="every sample is NaN or infinite"):
        decode(write(tmp_path / "all_nan.wav", np.full(4800, np.nan, dtype=np.float32), subtype="FLOAT"))


def test_a_file_with_a_few_nan_samples_is_indexed_with_a_warning(cli, tmp_path):
    """Defect 8 of #12: indexed (not failed), the warning kept in the catalog, `list --json`
    shows it; an all-NaN file still fails with its reason."""
    folder = tmp_path / "nan"
    x = tone(440, 0.5)
    x[1000:1003] = np.nan
    write(folder / "glitch.wav", x, subtype="FLOAT")
    shutil.copyfile(folder / "glitch.wav", folder / "glitch_copy.wav")  # same bytes: the same repair
    write(folder / "dead.wav", np.full(4800, np.inf, dtype=np.float32), subtype="FLOAT")
    code, out, err = cli("index", str(folder), "--json")
    assert code == 0, err
    assert json.loads(out)["failed"] == 1
    code, out, err = cli("list", "--json")
    assert code == 0, err
    by_name = {e["path"].rsplit("/", 1)[-1]: e for e in json.loads(out)}
    for name in ("glitch.wav", "glitch_copy.wav"):
        assert by_name[name]["status"] == "indexed" and by_name[name]["error"] is None
        assert by_name[name]["warning"] == "3 NaN/infinite samples of 24000 replaced by silence"
    assert by_name["dead.wav"]["status"] == "failed" and "NaN" in by_name["dead.wav"]["error"]
    code, out, _ = cli("list")
    assert code == 0 and "warning: 3 NaN/infinite samples" in out


def test_long_file_vector_is_deterministic(embedder, tmp_path):
    path = write(tmp_path / "long.wav", tone(300, 23.0, kind="noise", seed=9))
    a = embedder.encode_audio([decode(path).samples])
    b = embedder.encode_audio([decode(path).samples])
    np.testing.assert_array_equal(a, b)
    assert abs(np.linalg.norm(a) - 1) < 1e-5


def test_index_search_and_similar(embedder, sample_folder, tmp_path):
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        summary = index_paths(lib, embedder, [str(sample_folder)])
        assert summary.new == 8 and summary.failed == 1
        assert summary.failures[0][0].endswith("broken.wav")
        stats = lib.stats()
        assert stats["indexed"] == 8 and stats["failed"] == 1 and stats["vectors"] == 8

        hits = search_text(lib, embedder, "deep kick drum", k=8, mode="sound")
        assert len(hits) == 8
        # By sound alone, the ranking equals brute-force cosine over the stored vectors.
        q = embedder.encode_text(["deep kick drum"])[0]
        stored = {r.path: lib.vector(r.vector_id) for r in lib.files("indexed")}
        brute = sorted(stored, key=lambda p: -float(stored[p] @ q))
        assert [h.path for h in hits] == brute
        assert all(abs(h.score - float(stored[h.path] @ q)) < 1e-5 for h in hits)

        kick = str(sample_folder / "Drums" / "Kick_808.wav")
        outside = tmp_path / "elsewhere" / "copy of kick.wav"
        outside.parent.mkdir()
        shutil.copy(kick, outside)
        best = search_similar(lib, embedder, str(outside), k=3)
        assert best[0].path == kick and best[0].score > 0.999


def test_incremental_reindex(embedder, sample_folder, tmp_path):
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
        snare = sample_folder / "Drums" / "Snare_Dusty.flac"
        moved = sample_folder / "Moved" / "Snare renamed.flac"
        moved.parent.mkdir()
        snare.rename(moved)
        (sample_folder / "Synth" / "Lead_24bit.wav").unlink()
        write(sample_folder / "Synth" / "Pad_Warm.wav", tone(330, 2.0))  # modified
        write(sample_folder / "New" / "Clap.wav", tone(1500, 0.2, kind="noise", seed=5))
        shutil.copy(sample_folder / "Drums" / "Kick_808.wav", sample_folder / "New" / "Kick copy.wav")
        s = index_paths(lib, embedder, [str(sample_folder)])
        assert (s.new, s.changed, s.moved, s.removed, s.failed) == (2, 1, 1, 1, 0)
        assert s.embedded == 2  # the new clap and the changed pad; the copy reuses the kick's vector
        assert lib.get(str(moved)).status == "indexed" and lib.get(str(snare)) is None
        again = index_paths(lib, embedder, [str(sample_folder)])
        assert again.embedded == 0 and again.unchanged == 10 and again.new == 0  # 9 sounds + broken.wav


def test_persistence_across_processes(embedder, sample_folder, tmp_path, tiny_model_dir):
    lib_dir = tmp_path / "lib"
    with Library.open(lib_dir, embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
        expected = [h.path for h in search_text(lib, embedder, "warm pad", k=5)]
    code = ("import json,sys; from soundfinder.cli import main; "
            "sys.exit(main(['--library', sys.argv[1], '--model', sys.argv[2], 'search', 'warm pad', "
            "'-k', '5', '--json']))")
    out = subprocess.run([sys.executable, "-c", code, str(lib_dir), str(tiny_model_dir)],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert [h["path"] for h in json.loads(out.stdout)] == expected


def test_other_model_is_refused(embedder, tmp_path, sample_folder):
    from soundfinder.model.clap import EmbeddingSpace

    with Library.open(tmp_path / "lib", embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder / "Drums")])
    other = EmbeddingSpace(model="laion/other", weights="abc", dim=embedder.dim)
    with pytest.raises(SpaceMismatchError, match="never mixed"):
        Library.open(tmp_path / "lib", other)


def test_cli_contract(cli, sample_folder):
    code, out, err = cli("index", str(sample_folder))
    assert code == 0, err
    assert "new 8" in out and "failed 1" in out and "broken.wav" in out

    code, out, _ = cli("status", "--json")
    assert code == 0
    status = json.loads(out)
    assert (status["files"], status["indexed"], status["failed"], status["vectors"]) == (9, 8, 1, 8)
    assert status["model"]

    code, out, _ = cli("search", "snare", "-k", "3", "--json")
    hits = json.loads(out)
    assert code == 0 and len(hits) == 3
    assert all(h["path"].startswith(str(sample_folder)) for h in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)

    code, out, _ = cli("similar", str(sample_folder / "Synth" / "Bass_Low.ogg"), "--json")
    assert code == 0
    assert json.loads(out)[0]["path"].endswith("Bass_Low.ogg")

    code, out, _ = cli("list", "--failed", "--json")
    assert code == 0
    failed = json.loads(out)
    assert len(failed) == 1 and failed[0]["status"] == "failed" and "not audio" in failed[0]["error"]

    code, out, _ = cli("list", "--json")
    assert code == 0
    listing = json.loads(out)
    assert len(listing) == 9 and all({"path", "status", "error", "duration"} <= set(x) for x in listing)

    code, out, _ = cli("forget", str(sample_folder / "Drums"))
    assert code == 0 and (sample_folder / "Drums" / "Kick_808.wav").exists()
    code, out, _ = cli("status", "--json")
    assert code == 0 and json.loads(out)["files"] == 6


def test_cli_errors_are_one_line(cli, tmp_path):
    code, _, err = cli("index", str(tmp_path / "nope"))
    assert code == EXIT_ERROR and "no such file or folder" in err and "Traceback" not in err
    code, _, err = cli("--model", str(tmp_path / "no-model"), "search", "kick")
    assert code == EXIT_ERROR and "could not load model" in err
    code, _, err = cli("search", "kick", "-k", "0")
    assert code == EXIT_USAGE and "-k must be at least 1" in err


def test_hnsw_path_matches_exact(embedder, sample_folder, tmp_path):
    with Library.open(tmp_path / "lib", embedder.space, exact_below=0) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
        q = embedder.encode_text(["bright lead"])[0]
        approx = lib.knn(q, 5)
    with Library.open(tmp_path / "lib", embedder.space) as lib:
        exact = lib.knn(q, 5)
    assert [v for v, _ in approx] == [v for v, _ in exact]


def test_unreadable_folder_keeps_its_records(embedder, sample_folder, tmp_path, monkeypatch):
    """A folder that cannot be listed (permissions, I/O error) is not a folder that was emptied."""
    import os

    with Library.open(tmp_path / "lib", embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
        drums = str(sample_folder / "Drums")
        real_scandir = os.scandir

        def failing_scandir(path):
            if os.fspath(path) == drums:
                raise PermissionError(13, "Permission denied")
            return real_scandir(path)

        monkeypatch.setattr(os, "scandir", failing_scandir)
        s = index_paths(lib, embedder, [str(sample_folder)])
        assert s.removed == 0
        assert s.problems and s.problems[0][0] == drums and "unreadable" in s.problems[0][1]
        assert lib.get(str(sample_folder / "Drums" / "Kick_808.wav")).status == "indexed"
