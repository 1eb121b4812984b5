"""Musical analysis: name conventions, metadata chunks, the order of evidence, bad input."""

from __future__ import annotations

import struct

import numpy as np
import pytest
import soundfile as sf

from soundfinder.analysis import analyze
from soundfinder.analysis.names import bpm_from_text, hints_from_path, key_from_text
from soundfinder.analysis.notation import camelot, compatible_keys, normalize_key
from soundfinder.audio.metadata import read_metadata

RATE = 44100


# -- names -----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, bpm", [
    ("Funk_Drums_124bpm.wav", 124.0),
    ("Funk Drums 124 BPM.wav", 124.0),
    ("Loop_124_Am.wav", 124.0),
    ("bpm128_groove.wav", 128.0),
    ("Pad 87.5bpm.wav", 87.5),
])
def test_bpm_name_conventions(name, bpm):
    assert hints_from_path(f"/s/{name}").bpm == bpm


def test_bare_number_is_a_tempo_only_for_a_loop(tmp_path):
    sr = RATE
    hit = (np.sin(2 * np.pi * 200 * np.arange(sr // 2) / sr) * np.exp(-np.arange(sr // 2) / 2000)).astype(np.float32)
    assert hints_from_path("/s/Kick_101.wav").bpm_bare
    assert analyze(hit, sr, "/s/Kick_101.wav").bpm is None  # a one-shot: 101 is a take number
    assert bpm_from_text("Vol 120 Kick") is None  # an explicit 'bpm' is needed outside a file's name


@pytest.mark.parametrize("name, key", [
    ("Bass_Am.wav", "A minor"),
    ("Keys_F#min.wav", "F# minor"),
    ("Pad C# minor.wav", "C# minor"),
    ("Lead_Bbmaj_120.wav", "A# major"),
    ("Synth key of D.wav", "D major"),
    ("Bass 120 C.wav", "C major"),  # a bare letter beside a tempo
    ("Stab_Cmaj7.wav", None),  # a chord, not a key
    ("Gtr Am7 loop.wav", None),
    ("Dsus4 Pad.wav", None),
    ("A Kick.wav", None),  # a word, not a key
])
def test_key_name_conventions(name, key):
    assert hints_from_path(f"/s/{name}").key == key


def test_folder_names_count_after_the_file_name():
    h = hints_from_path("/s/Loops 128 BPM/A minor/Pad_90bpm.wav")
    assert h.bpm == 90.0 and h.key == "A minor" and h.kind == "loop"
    assert hints_from_path("/s/808s/808_C1.wav").note == 24
    assert key_from_text("Cmaj7") is None


def test_key_spellings_and_camelot():
    assert normalize_key("Bbm") == "A# minor" and normalize_key("8A") == "A minor"
    assert normalize_key("H major") is None
    assert camelot("C major") == "8B" and camelot("A minor") == "8A" and camelot("F# minor") == "11A"
    assert set(compatible_keys("A minor")) == {"A minor", "C major", "D minor", "E minor"}


# -- metadata --------------------------------------------------------------------------------

def _with_chunks(path, audio, rate, *chunks: bytes):
    sf.write(str(path), audio, rate, subtype="PCM_16")
    data = path.read_bytes()
    body = data[12:] + b"".join(chunks)
    path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WAVE" + body)
    return path


def acid(tempo: float, beats: int, one_shot: bool = False, root: int | None = None) -> bytes:
    flags = (1 if one_shot else 0) | (2 if root is not None else 0)
    return b"acid" + struct.pack("<I", 24) + struct.pack("<IHHfIHHf", flags, root or 60, 0x8000, 0.0,
                                                         beats, 4, 4, tempo)


def smpl(unity: int) -> bytes:
    return b"smpl" + struct.pack("<I", 36) + struct.pack("<9I", 0, 0, 22675, unity, 0, 0, 0, 0, 0)


def _clicks(bpm: float, beats: int, rate: int = RATE) -> np.ndarray:
    n = int(round(beats * 60.0 / bpm * rate))
    x = np.zeros(n, dtype=np.float32)
    for b in range(beats):
        i = int(round(b * 60.0 / bpm * rate))
        seg = min(2000, n - i)
        x[i:i + seg] += np.sin(2 * np.pi * 1000 * np.arange(seg) / rate) * np.exp(-np.arange(seg) / 300)
    return 0.5 * x


def test_acid_chunk_beats_the_name(tmp_path):
    """The name says 120 BPM, the file's acid chunk says 125: metadata wins."""
    path = _with_chunks(tmp_path / "Groove_120bpm.wav", _clicks(125, 8), RATE, acid(125.0, 8))
    meta = read_metadata(path)
    assert meta.bpm == 125.0 and meta.beats == 8 and meta.one_shot is False and "acid" in meta.sources
    audio, rate = sf.read(str(path), dtype="float32")
    d = analyze(audio, rate, path, meta)
    assert (d.bpm, d.bpm_source, d.kind, d.kind_source) == (125.0, "metadata", "loop", "metadata")
    # Without the chunk the name answers.
    plain = tmp_path / "Groove_120bpm_plain.wav"
    sf.write(str(plain), audio, rate)
    d = analyze(audio, rate, plain, read_metadata(plain))
    assert (d.bpm, d.bpm_source) == (120.0, "name")


def test_acid_one_shot_and_root_note_give_the_pitch(tmp_path):
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
    path = _with_chunks(tmp_path / "thing.wav", tone, RATE, acid(0.0, 0, one_shot=True, root=45))
    d = analyze(tone, RATE, path, read_metadata(path))
    assert (d.kind, d.kind_source, d.pitch, d.pitch_source) == ("one-shot", "metadata", "A2", "metadata")


def test_smpl_unity_note_but_not_the_default_60(tmp_path):
    tone = np.zeros(1000, dtype=np.float32)
    assert read_metadata(_with_chunks(tmp_path / "a.wav", tone, RATE, smpl(36))).root_note == 36
    assert read_metadata(_with_chunks(tmp_path / "b.wav", tone, RATE, smpl(60))).root_note is None


def test_flac_vorbis_tags(tmp_path):
    path = tmp_path / "t.flac"
    sf.write(str(path), np.zeros(4410, dtype=np.float32), RATE)
    # soundfile cannot write arbitrary comments: splice a VORBIS_COMMENT block in by hand.
    data = path.read_bytes()
    comments = [b"BPM=97", b"INITIALKEY=F#m"]
    block = struct.pack("<I", 3) + b"ref" + struct.pack("<I", len(comments))
    block += b"".join(struct.pack("<I", len(c)) + c for c in comments)
    first_hdr = data[4:8]
    first_len = int.from_bytes(first_hdr[1:4], "big")
    streaminfo = bytes([first_hdr[0] & 0x7F]) + first_hdr[1:4] + data[8:8 + first_len]
    rest = data[8 + first_len:]
    last_flag = first_hdr[0] & 0x80
    new = bytes([4 | last_flag]) + len(block).to_bytes(3, "big") + block
    path.write_bytes(b"fLaC" + streaminfo + new + rest)
    meta = read_metadata(path)
    assert meta.bpm == 97.0 and normalize_key(meta.key) == "F# minor"


def test_metadata_reader_never_raises(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"RIFF\xff\xff\xff\xffWAVEacid\x05\x00\x00\x00xx")
    assert not read_metadata(tmp_path / "junk.wav")
    assert not read_metadata(tmp_path / "missing.wav")


# -- audio -----------------------------------------------------------------------------------

def test_audio_tempo_of_an_unnamed_loop():
    x = _clicks(100, 8) + 0.25 * _clicks(200, 16)
    d = analyze(x, RATE, "/s/untitled.wav")
    assert d.kind == "loop" and d.bpm_source == "audio" and abs(d.bpm - 100) < 2


def test_audio_pitch_of_a_one_shot():
    t = np.arange(int(0.8 * RATE)) / RATE
    x = (0.6 * np.sin(2 * np.pi * 65.41 * t) * np.exp(-t * 3)).astype(np.float32)  # C2
    d = analyze(x, RATE, "/s/untitled.wav")
    assert (d.kind, d.pitch, d.pitch_source) == ("one-shot", "C2", "audio")
    assert d.lufs is not None and d.peak_db is not None and -6 < d.peak_db < 0


def _bad_inputs():
    rng = np.random.default_rng(0)
    t = lambda sr, s: np.arange(int(sr * s)) / sr  # noqa: E731
    return {
        "silence": (np.zeros(RATE, dtype=np.float32), RATE),
        "under 50 ms": (rng.standard_normal(1000).astype(np.float32) * 0.1, RATE),
        "one sample": (np.ones(1, dtype=np.float32), RATE),
        "dc offset": ((0.5 + 0.1 * np.sin(2 * np.pi * 220 * t(RATE, 1))).astype(np.float32), RATE),
        "clipped": (np.clip(3 * np.sin(2 * np.pi * 110 * t(RATE, 2)), -1, 1).astype(np.float32), RATE),
        "8 kHz": (np.sin(2 * np.pi * 440 * t(8000, 1)).astype(np.float32), 8000),
        "192 kHz": (np.sin(2 * np.pi * 440 * t(192000, 1)).astype(np.float32), 192000),
        "mono 2-D": (rng.standard_normal((RATE, 1)).astype(np.float32) * 0.1, RATE),
        "6 channels": (rng.standard_normal((RATE, 6)).astype(np.float32) * 0.1, RATE),
        "nan": (np.full(RATE, np.nan, dtype=np.float32), RATE),
    }


@pytest.mark.parametrize("case", list(_bad_inputs()))
def test_bad_input_gets_a_result_or_a_reason(case):
    audio, rate = _bad_inputs()[case]
    d = analyze(audio, rate, "/s/x.wav")
    assert d.version
    filled = [v for v in (d.bpm, d.key, d.pitch, d.kind, d.lufs) if v is not None]
    assert filled or d.error, d
    if case == "silence":
        assert d.error == "silent" and d.lufs is None
    if case == "under 50 ms":
        assert "too short" in d.error
    if case == "6 channels":
        assert d.lufs is not None  # loudness over the channels (LFE left out)


# -- loudness ----------------------------------------------------------------------------------

def test_loudness_matches_the_standard_and_true_peak_the_full_oversampling():
    import pyloudnorm

    from soundfinder.analysis.loudness import integrated_lufs, true_peak_db

    rng = np.random.default_rng(3)
    t = np.arange(3 * RATE) / RATE
    stereo = np.stack([0.3 * np.sin(2 * np.pi * 997 * t), 0.2 * rng.standard_normal(t.size)], axis=1)
    assert abs(integrated_lufs(stereo, RATE) - pyloudnorm.Meter(RATE).integrated_loudness(stereo)) < 0.01
    # A full-scale sine at a quarter of the rate, phase pi/4: samples at 0.707, true peak 0 dBTP.
    x = np.sin(2 * np.pi * RATE / 4 * t + np.pi / 4).astype(np.float32)
    fast, full = true_peak_db(x, RATE), true_peak_db(x, RATE, exhaustive=True)
    assert abs(fast - full) < 0.2 and fast > -0.5  # the sample peak alone says -3 dB
    hit = (rng.standard_normal(RATE) * np.exp(-t[:RATE] * 20)).astype(np.float32) * 0.5
    assert abs(true_peak_db(hit, RATE) - true_peak_db(hit, RATE, exhaustive=True)) < 0.1
    # Clipped material: every block ties at full scale, the overshoot is between the samples at
    # the clipped runs' edges, and the loudest may sit at the very start.
    clipped = np.clip(1.6 * np.sin(2 * np.pi * 5513 * t + 0.3), -1, 1).astype(np.float32)
    clipped[:40] = np.clip(2.5 * np.sin(2 * np.pi * 9000 * t[:40]), -1, 1)
    stereo_clip = np.stack([clipped, clipped[::-1]], axis=1)
    # A block whose loudest sample (a spike) is not where its true peak is (a quarter-rate burst
    # whose samples miss its crests by 3 dB): the whole block is oversampled, not the spike's
    # neighbourhood alone.
    spiky = (0.05 * rng.standard_normal(3 * RATE)).astype(np.float32)
    spiky[5] = 0.8
    n = np.arange(44, 60)
    spiky[44:60] = 0.99 * np.sin(np.pi * n / 2 + np.pi / 4)
    for sig, least in ((clipped, 0.3), (stereo_clip, 0.3), (spiky, -0.2)):
        full = true_peak_db(sig, RATE, exhaustive=True)
        assert full > least and abs(true_peak_db(sig, RATE) - full) < 0.1


def test_loudness_matches_pyloudnorm_at_every_usual_rate_and_leaves_the_audio_alone():
    """The vectorised meter (float32 filter, per-hop sums) against pyloudnorm's own loop on
    decaying and gapped signals, mono, stereo and 5.1, at rates whose 100 ms hop is whole and
    one (11025 Hz) whose hop is not; the caller's samples are never written."""
    import pyloudnorm

    from soundfinder.analysis.loudness import integrated_lufs

    rng = np.random.default_rng(7)
    for rate in (11025, 44100, 48000, 96000):
        for n in (rate // 3, 2 * rate + 123, 7 * rate):
            for ch in (1, 2, 6):
                x = (rng.standard_normal((n, ch)) * np.linspace(1, 0, n)[:, None] ** 3 * 0.3).astype(np.float32)
                x[n // 3: n // 2] = 0
                before = x.copy()
                ours = integrated_lufs(x if ch > 1 else x[:, 0], rate)
                assert np.array_equal(x, before)
                ref = np.delete(x, 3, axis=1) if ch == 6 else x
                ref = ref.astype(np.float64)
                if len(ref) < int(np.ceil(0.4 * rate)) + 1:
                    ref = np.tile(ref, (int(np.ceil((int(np.ceil(0.4 * rate)) + 1) / len(ref))), 1))
                assert abs(ours - pyloudnorm.Meter(rate).integrated_loudness(ref)) < 0.01, (rate, n, ch)


# -- filters -----------------------------------------------------------------------------------

def test_filter_parsing_and_matching():
    from soundfinder.library.descriptors import DescriptorRow
    from soundfinder.query.filters import FilterError, SoundFilter, parse_bpm, parse_key, parse_length

    assert parse_bpm("118-122") == (118.0, 122.0) and parse_bpm("120") == (117.6, 122.4)
    assert parse_key("Am") == "A minor" and parse_key("8B") == "C major"
    assert parse_length("0-2") == (0.0, 2.0) and parse_length("2") == (0.0, 2.0)
    for bad, fn in (("fast", parse_bpm), ("H major", parse_key), ("long", parse_length)):
        with pytest.raises(FilterError):
            fn(bad)
    loop = DescriptorRow(bpm=60.0, key="E minor", kind="loop")
    assert not SoundFilter(bpm=(118, 122)).matches(3.0, loop)
    assert SoundFilter(bpm=(118, 122), bpm_octave=True).matches(3.0, loop)
    assert not SoundFilter(key="A minor").matches(3.0, loop)
    assert SoundFilter(key="A minor", key_compatible=True).matches(3.0, loop)
    assert not SoundFilter(kind="one-shot").matches(3.0, loop)
    assert not SoundFilter(length=(0, 2)).matches(3.0, loop)
    assert not SoundFilter(bpm=(50, 70)).matches(3.0, None)  # no value never matches
