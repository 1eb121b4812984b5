"""Duplicates' signal fingerprints: made by indexing from the audio it decoded, they rule out
another take of a drum without decoding, keep every kind of copy, and an older library (no
fingerprints) still finds its duplicates by decoding."""

from __future__ import annotations

import threading

import numpy as np
import soundfile as sf

RATE = 44100


def _hit(seed: int, seconds: float = 0.6, level: float = 0.5) -> np.ndarray:
    """A drum hit: a pitched body and a noise burst, both decaying. Another seed is another
    take of the same drum (same pitch, envelope and length; another noise and phase)."""
    r = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    body = np.sin(2 * np.pi * 180 * t + r.uniform(0, 2 * np.pi)) * np.exp(-t * 9)
    noise = r.standard_normal(t.size) * np.exp(-t * 25)
    x = np.concatenate([np.zeros(int(0.01 * RATE)), 0.4 * body + noise])
    return (level * x / np.max(np.abs(x))).astype(np.float32)


def _copies(folder, x):
    """{kind: path} of the issue's copies of `x`, written through libsndfile."""
    import soxr

    folder.mkdir(parents=True, exist_ok=True)
    cut = int(0.02 * RATE)
    made = {"flac": (x, RATE, "x.flac", "PCM_16"), "ogg": (x, RATE, "x.ogg", "VORBIS"),
            "mp3": (x, RATE, "x.mp3", None), "aiff": (x, RATE, "x.aiff", "PCM_24"),
            "resampled": (soxr.resample(x, RATE, 48000), 48000, "r.wav", "PCM_24"),
            "louder": (x * np.float32(10 ** (3 / 20)), RATE, "g.wav", "FLOAT"),
            "quieter": (x * np.float32(10 ** (-3 / 20)), RATE, "q.wav", "PCM_16"),
            "trimmed start": (x[cut:], RATE, "ts.wav", "PCM_16"), "trimmed end": (x[:-cut], RATE, "te.wav", "PCM_16")}
    out = {}
    for kind, (audio, rate, name, subtype) in made.items():
        sf.write(str(folder / name), audio, rate, subtype=subtype) if subtype else \
            sf.write(str(folder / name), audio, rate, format="MP3")
        out[kind] = folder / name
    return out


def _print(path):
    """What indexing stores: the pipeline's function on the pipeline's decode (48 kHz mono)."""
    from soundfinder.audio import decode
    from soundfinder.indexing.describe import fingerprint

    version, data = fingerprint(decode(str(path), sample_rate=48000))
    return data


def test_copies_keep_their_fingerprint_and_other_takes_are_ruled_out(tmp_path):
    from soundfinder.analysis import fingerprint

    original = tmp_path / "o.wav"
    sf.write(str(original), _hit(1), RATE, subtype="PCM_24")
    ref = _print(original)
    assert 0 < len(ref) <= 640  # small enough to keep for every sound
    for kind, path in _copies(tmp_path / "copies", _hit(1)).items():
        data = _print(path)
        assert not fingerprint.rules_out(ref, data), kind
        assert fingerprint.similarity(ref, data) >= 0.95, kind
    for seed, level in ((2, 0.5), (3, 0.9), (4, 0.2)):  # round-robins and velocity layers
        take = tmp_path / f"take{seed}.wav"
        sf.write(str(take), _hit(seed, level=level), RATE, subtype="PCM_24")
        assert fingerprint.rules_out(ref, _print(take)), seed
    assert fingerprint.rules_out(ref, b"")  # silence is nobody's copy
    assert not fingerprint.rules_out(ref, None)  # no fingerprint: only decoding can tell


def _library(tmp_path, embedder, root=None):
    """A folder with one hit, its -3 dB FLAC copy and three other takes, indexed."""
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    folder = tmp_path / "kit"
    folder.mkdir()
    sf.write(str(folder / "hit.wav"), _hit(1), RATE, subtype="PCM_24")
    sf.write(str(folder / "hit copy.flac"), _hit(1) * np.float32(10 ** (-3 / 20)), RATE, subtype="PCM_16")
    for seed in (2, 3, 4):
        sf.write(str(folder / f"hit {seed}.wav"), _hit(seed), RATE, subtype="PCM_24")
    root = root or tmp_path / "lib"
    with Library.open(root, embedder.space) as lib:
        index_paths(lib, embedder, [str(folder)])
    return root, folder


def _counting_loader():
    from soundfinder.query import samecheck

    decoded: list[str] = []
    lock = threading.Lock()

    def load(path):
        with lock:
            decoded.append(path)
        return samecheck.load(path)

    return load, decoded


def test_indexing_stores_fingerprints_and_other_takes_are_never_decoded(tmp_path, embedder):
    from soundfinder.library import Library
    from soundfinder.query import duplicates

    root, folder = _library(tmp_path, embedder)
    with Library.open(root, readonly=True) as lib:
        assert lib.fingerprints.count() == 5  # one per content, from the indexing run
        load, decoded = _counting_loader()
        # every pair a candidate (the tiny model cannot be trusted to separate the takes)
        groups = duplicates.find_duplicates(lib, min_cosine=-1.0, loader=load)
    assert [sorted(r.path for r in g.files) for g in groups] == [
        sorted([str(folder / "hit.wav"), str(folder / "hit copy.flac")])]
    assert sorted(decoded) == sorted([str(folder / "hit.wav"), str(folder / "hit copy.flac")])


def test_a_library_without_fingerprints_decodes_and_still_finds_the_copy(tmp_path, embedder):
    from soundfinder.library import Library
    from soundfinder.query import duplicates

    root, folder = _library(tmp_path, embedder)
    with Library.open(root) as lib:
        with lib.catalog.transaction():
            lib.catalog.db.execute("DROP TABLE fingerprints")  # as made before fingerprints existed
    with Library.open(root, readonly=True) as lib:
        assert lib.fingerprints.count() == 0
        load, decoded = _counting_loader()
        groups = duplicates.find_duplicates(lib, min_cosine=-1.0, loader=load)
    assert [sorted(r.path for r in g.files) for g in groups] == [
        sorted([str(folder / "hit.wav"), str(folder / "hit copy.flac")])]
    assert len(set(decoded)) == 5  # every file had to be decoded


def test_analyze_fingerprints_an_old_library(tmp_path, embedder, cli):
    import json

    from soundfinder.library import Library
    from soundfinder.query import duplicates

    root, folder = _library(tmp_path, embedder, cli.library)
    with Library.open(root) as lib:
        with lib.catalog.transaction():
            lib.catalog.db.execute("DELETE FROM fingerprints")  # indexed before they existed
    code, out, err = cli("analyze", "--json")
    assert code == 0, err
    assert json.loads(out)["fingerprinted"] == 5
    assert json.loads(cli("analyze", "--json")[1])["fingerprinted"] == 0  # nothing left
    with Library.open(root, readonly=True) as lib:
        load, decoded = _counting_loader()
        groups = duplicates.find_duplicates(lib, min_cosine=-1.0, loader=load)
    assert len(groups) == 1 and sorted(decoded) == sorted([str(folder / "hit.wav"), str(folder / "hit copy.flac")])
