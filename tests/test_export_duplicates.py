"""Export (copies only, no overwrite, manifest last, cancel, read-only destination) and
duplicates (a re-encode is grouped, two velocity layers are not)."""

from __future__ import annotations

import csv
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import tone, write

HYDROGEN = Path("/usr/share/hydrogen/data/drumkits")


@pytest.fixture
def sources(tmp_path):
    root = tmp_path / "samples"
    a = write(root / "Kicks" / "kick.wav", tone(50, 0.5, 44100, kind="hit"), rate=44100, subtype="PCM_16")
    b = write(root / "Other" / "kick.wav", tone(60, 0.5, 44100, kind="hit"), rate=44100, subtype="PCM_16")
    c = write(root / "Hats" / "hat.flac", tone(8000, 0.3, 48000, kind="noise", seed=2), rate=48000)
    return root, [str(a), str(b), str(c)]


def _digests(paths):
    import hashlib

    return {p: hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def test_export_copies_without_touching_sources_and_resolves_clashes(sources, tmp_path):
    from soundfinder.export import ExportOptions, export_files

    root, paths = sources
    before = _digests(paths)
    to = tmp_path / "out"
    to.mkdir()
    (to / "kick.wav").write_bytes(b"someone else's file")
    result = export_files(paths, str(to), ExportOptions())
    assert _digests(paths) == before
    assert (to / "kick.wav").read_bytes() == b"someone else's file"  # never overwritten
    names = sorted(os.listdir(to))
    assert names == ["hat.flac", "kick (2).wav", "kick (3).wav", "kick.wav", "manifest.csv"]
    assert (to / "kick (2).wav").read_bytes() == Path(paths[0]).read_bytes()
    rows = list(csv.DictReader(open(to / "manifest.csv", encoding="utf-8")))
    assert [r["source"] for r in rows] == paths and all(r["status"] == "copied" for r in rows)
    assert result.done == 3


def test_export_keep_folders_and_convert(sources, tmp_path):
    from soundfinder.export import ConvertOptions, ExportOptions, export_files

    root, paths = sources
    to = tmp_path / "out"
    opts = ExportOptions(keep_folders=True, convert=ConvertOptions(format="wav16", rate=48000, normalize="-14LUFS"))
    result = export_files(paths, str(to), opts, roots=[str(root)])
    assert result.done == 3
    out = to / "samples" / "Kicks" / "kick.wav"
    info = sf.info(str(out))
    assert info.samplerate == 48000 and info.subtype == "PCM_16"
    assert (to / "samples" / "Hats" / "hat.wav").exists()
    peak = np.max(np.abs(sf.read(str(to / "samples" / "Hats" / "hat.wav"))[0]))
    assert peak <= 10 ** (-1 / 20) + 1e-3  # the LUFS gain never clips past -1 dBFS

    result = export_files(paths[:1], str(tmp_path / "peak"), ExportOptions(convert=ConvertOptions(normalize="peak")))
    x, _ = sf.read(result.items[0].destination)
    assert abs(np.max(np.abs(x)) - 10 ** (-1 / 20)) < 2e-3


def test_lufs_export_lands_where_the_loudness_column_says(tmp_path):
    """A short, quiet sound exported at -20 LUFS reads -20 LUFS on the library's own meter (the
    LUFS column's): the export measures it the same way, not padded with silence (which read a
    0.2 s sound 3 dB quieter than it is and over-boosted it)."""
    from soundfinder.analysis.loudness import integrated_lufs
    from soundfinder.export import ConvertOptions, ExportOptions, export_files

    rate = 44100
    t = np.arange(int(0.2 * rate)) / rate
    src = tmp_path / "blip.wav"
    sf.write(str(src), (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)
    result = export_files([str(src)], str(tmp_path / "out"),
                          ExportOptions(convert=ConvertOptions(normalize="-20LUFS")))
    x, r = sf.read(result.items[0].destination, dtype="float32")
    assert abs(integrated_lufs(x, r) - (-20.0)) < 0.1


def test_cancel_leaves_no_partial_file(sources, tmp_path):
    from soundfinder.export import ExportOptions, export_files

    _, paths = sources
    big = write(tmp_path / "big.wav", tone(100, 30.0, 48000, kind="noise"), subtype="FLOAT")
    cancel = threading.Event()
    calls = []

    def progress(done, total, current):
        calls.append(current)
        if current == str(big):
            cancel.set()  # cancelled while the big one is about to be written

    to = tmp_path / "out"
    result = export_files([paths[0], str(big), paths[2]], str(to), ExportOptions(), progress=progress,
                          cancel=cancel)
    assert result.cancelled
    assert sorted(os.listdir(to)) == ["kick.wav", "manifest.csv"]
    assert not any(n.endswith(".tmp") for n in os.listdir(to))


def test_read_only_destination_is_one_clear_error(sources, tmp_path, cli):
    from soundfinder.export import ExportError, export_files

    if os.geteuid() == 0:
        pytest.skip("root writes anywhere")
    _, paths = sources
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(ExportError, match="read-only"):
            export_files(paths, str(ro))
        code, _, err = cli("export", paths[0], "--to", str(ro))
        assert code == 1 and len(err.strip().splitlines()) == 1 and "read-only" in err
        assert os.listdir(ro) == []
    finally:
        ro.chmod(0o700)


def test_export_cli_collection_and_inside_library_guard(cli, sources, tmp_path):
    root, paths = sources
    assert cli("index", str(root))[0] == 0
    assert cli("collection", "create", "Kit", paths[0], paths[2])[0] == 0
    code, _, err = cli("export", "--collection", "Kit", "--to", str(root / "Exported"))
    assert code == 1 and "inside the library folder" in err and not (root / "Exported").exists()
    code, out, err = cli("export", "--collection", "Kit", "--to", str(tmp_path / "kit"), "--format", "wav24",
                         "--json")
    assert code == 0, err
    assert sorted(os.listdir(tmp_path / "kit")) == ["hat.wav", "kick.wav", "manifest.csv"]


# -- duplicates ------------------------------------------------------------------------------

def _layers():
    kit = HYDROGEN / "Millo_MultiLayered3"
    pair = [kit / "sd_01.flac", kit / "sd_02.flac"]
    if not all(p.exists() for p in pair):
        pytest.skip("Hydrogen drum kits are not installed")
    return pair


def test_signal_check_tells_a_copy_from_a_velocity_layer(tmp_path):
    import soxr

    from soundfinder.query import samecheck

    soft, hard = _layers()
    x, rate = sf.read(str(hard), dtype="float32", always_2d=True)
    sf.write(str(tmp_path / "copy.ogg"), x, rate, format="OGG", subtype="VORBIS")
    sf.write(str(tmp_path / "trim.wav"), soxr.resample(x[int(0.02 * rate):], rate, 48000) * 0.7, 48000)
    original = samecheck.load(str(hard))
    assert samecheck.compare(original, samecheck.load(str(tmp_path / "copy.ogg"))).same
    assert samecheck.compare(original, samecheck.load(str(tmp_path / "trim.wav"))).same
    assert not samecheck.compare(original, samecheck.load(str(soft))).same


def test_duplicates_groups_reencodes_not_layers(cli, tmp_path):
    soft, hard = _layers()
    root = tmp_path / "lib-samples"
    (root / "kit").mkdir(parents=True)
    for p in (soft, hard):
        (root / "kit" / p.name).write_bytes(p.read_bytes())
    x, rate = sf.read(str(hard), dtype="float32", always_2d=True)
    (root / "mp3s").mkdir()
    sf.write(str(root / "mp3s" / "snare hit.mp3"), x, rate, format="MP3")
    (root / "copy").mkdir()
    (root / "copy" / "same.flac").write_bytes(hard.read_bytes())  # byte-identical
    assert cli("index", str(root))[0] == 0
    code, out, err = cli("duplicates", "--json")
    assert code == 0, err
    import json

    groups = json.loads(out)
    assert len(groups) == 1, groups
    files = {f["path"] for f in groups[0]["files"]}
    assert files == {str(root / "kit" / hard.name), str(root / "copy" / "same.flac"),
                     str(root / "mp3s" / "snare hit.mp3")}
    assert groups[0]["kind"] == "near"
    assert groups[0]["keep"] != str(root / "mp3s" / "snare hit.mp3")  # lossless is kept


def test_keep_prefers_lossless_then_rate_then_depth():
    from soundfinder.library import FileRecord
    from soundfinder.query.duplicates import choose_keep

    def rec(path, fmt, subtype, rate):
        return FileRecord(1, path, 1, 1, "h", 1.0, rate, 1, fmt, subtype, "indexed", None, 0)

    assert choose_keep([rec("/a.mp3", "MP3", "MPEG_LAYER_III", 48000), rec("/b.wav", "WAV", "PCM_16", 44100)]) == "/b.wav"
    assert choose_keep([rec("/a.wav", "WAV", "PCM_16", 44100), rec("/b.wav", "WAV", "PCM_16", 48000)]) == "/b.wav"
    assert choose_keep([rec("/a.wav", "WAV", "PCM_24", 48000), rec("/b.flac", "FLAC", "PCM_16", 48000)]) == "/a.wav"


def test_read_only_and_full_disk_simulated(sources, tmp_path, monkeypatch):
    """Tests here may run as root, who writes anywhere: the OS answers are simulated."""
    import errno

    from soundfinder.export import ExportError, export_files
    from soundfinder.export import run as export_run

    _, paths = sources
    monkeypatch.setattr(export_run.os, "access", lambda *a, **k: False)
    with pytest.raises(ExportError, match="read-only"):
        export_files(paths, str(tmp_path / "ro"))
    monkeypatch.undo()

    def full(source, out, cancel):
        out.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(export_run, "_copy", full)
    to = tmp_path / "full"
    with pytest.raises(ExportError, match="disk is full"):
        export_files(paths, str(to))
    assert os.listdir(to) == []  # no partial file, no temporary file, no manifest
