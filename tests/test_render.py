"""Tempo- and key-locked renders: the fitting rules, the render itself, the cache and `soundfinder render`."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import soundfile as sf

from soundfinder.render import FitError, RenderCache, parse_key, plan_fit, render_file
from soundfinder.render.fit import key_shift, shortest_interval

RATE = 48000


def click_loop(path, bpm=120.0, bars=4, rate=RATE, channels=2):
    """A drum-like loop: a decaying click on every beat, exactly `bars` bars of 4/4 long."""
    beat = int(round(60.0 / bpm * rate))
    n = beat * 4 * bars
    x = np.zeros(n, np.float32)
    t = np.arange(int(0.05 * rate)) / rate
    hit = (np.sin(2 * np.pi * 180 * t) * np.exp(-t * 60)).astype(np.float32)
    for b in range(4 * bars):
        x[b * beat:b * beat + hit.size] += hit
    sf.write(path, np.stack([x] * channels, axis=1) * 0.8, rate, subtype="PCM_24")
    return n / rate


def sine(path, freq, seconds=2.0, rate=RATE):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32), rate, subtype="PCM_24")


def peak_frequency(x: np.ndarray, rate: int) -> float:
    """The strongest frequency, with parabolic interpolation between FFT bins."""
    x = x[len(x) // 4: 3 * len(x) // 4] * np.hanning(len(x) // 2)
    spec = np.abs(np.fft.rfft(x, n=1 << 20))
    i = int(np.argmax(spec[1:]) + 1)
    a, b, c = np.log(spec[i - 1:i + 2] + 1e-12)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * rate / (1 << 20)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# --- fitting rules --------------------------------------------------------------------------

@pytest.mark.parametrize("text,name", [("A minor", "A minor"), ("Am", "A minor"), ("F# major", "F# major"),
                                       ("Bbmin", "A# minor"), ("C", "C major"), ("c#m", "C# minor")])
def test_parse_key(text, name):
    assert parse_key(text).name == name


@pytest.mark.parametrize("text", ["H major", "", "Cmaj7", "A dorian"])
def test_parse_key_rejects(text):
    with pytest.raises(FitError):
        parse_key(text)


def test_shortest_interval_stays_within_six():
    assert {shortest_interval(0, t) for t in range(12)} == set(range(-6, 6))
    assert shortest_interval(9, 0) == 3  # A up to C
    assert shortest_interval(0, 7) == -5  # C down to G, not up 7


def test_key_shift_prefers_relative_key_across_modes():
    # C major into A minor: the relative key shares every note, no move needed.
    assert key_shift(parse_key("C major"), parse_key("A minor")) == 0
    # E minor into C major: relative minor of C is A minor; E->A is +5, E->C is -4: direct is closer.
    assert key_shift(parse_key("E minor"), parse_key("C major")) == -4
    # G major into E minor: relative is G major itself.
    assert key_shift(parse_key("G major"), parse_key("E minor")) == 0
    assert key_shift(parse_key("D minor"), parse_key("E minor")) == 2


def test_plan_loop_and_drums_and_one_shots():
    loop = plan_fit(source_bpm=120, source_key="C major", kind="loop", target_bpm=95, target_key="D major")
    assert loop.stretch == pytest.approx(95 / 120) and loop.semitones == 2
    assert loop.label() == "95 BPM, D major"
    drums = plan_fit(source_bpm=120, source_key=None, kind="loop", target_bpm=124, target_key="A minor")
    assert drums.semitones == 0 and drums.stretch == pytest.approx(124 / 120)
    shot = plan_fit(source_bpm=None, source_key=None, kind="one-shot", target_bpm=124, target_key="A minor",
                    pitch="C2")
    assert shot.is_identity  # one-shots keep their length and are moved only on request
    to_key = plan_fit(source_bpm=None, source_key=None, kind="one-shot", target_bpm=124, target_key="A minor",
                      pitch="C2", to_key=True)
    assert to_key.semitones == -3 and to_key.stretch == 1.0
    unknown = plan_fit(source_bpm=None, source_key=None, kind="loop", target_bpm=124, target_key=None)
    assert unknown.is_identity and "tempo unknown" in unknown.warnings[0]
    extreme = plan_fit(source_bpm=60, source_key=None, kind="loop", target_bpm=174, target_key=None)
    assert any("extreme" in w for w in extreme.warnings)


# --- rendering ------------------------------------------------------------------------------

def test_render_duration_follows_tempo_and_source_is_untouched(tmp_path):
    src = tmp_path / "loop.wav"
    seconds = click_loop(src, bpm=120, bars=4)
    before = digest(src)
    plan = plan_fit(source_bpm=120, source_key=None, kind="loop", target_bpm=95, target_key=None)
    out = tmp_path / "out.wav"
    render_file(src, plan, out, percussive=True)
    info = sf.info(str(out))
    assert info.channels == 2 and info.samplerate == RATE
    assert info.duration == pytest.approx(seconds * 120 / 95, rel=0.005)
    assert digest(src) == before


def test_render_transposes_within_20_cents(tmp_path):
    src = tmp_path / "a440.wav"
    sine(src, 440.0)
    plan = plan_fit(source_bpm=None, source_key="A major", kind="one-shot", target_bpm=None,
                    target_key="C major", to_key=True)
    assert plan.semitones == 3
    out = tmp_path / "up.wav"
    render_file(src, plan, out)
    y, rate = sf.read(str(out), dtype="float32")
    got = peak_frequency(y if y.ndim == 1 else y[:, 0], rate)
    cents = 1200 * np.log2(got / (440.0 * 2 ** (3 / 12)))
    assert abs(cents) < 20, (got, cents)


def test_render_starts_without_a_click(tmp_path):
    src = tmp_path / "dc.wav"
    sf.write(src, np.full(RATE, 0.9, np.float32), RATE)
    out = tmp_path / "o.wav"
    render_file(src, plan_fit(source_bpm=100, source_key=None, kind="loop", target_bpm=100, target_key=None), out)
    y, _ = sf.read(str(out), dtype="float32")
    assert abs(y[0]) < 1e-3 and y[200] > 0.5


def test_render_refuses_to_overwrite_its_source(tmp_path):
    from soundfinder.render import RenderError

    src = tmp_path / "loop.wav"
    click_loop(src, bars=1)
    before = digest(src)
    with pytest.raises(RenderError):
        render_file(src, plan_fit(source_bpm=120, source_key=None, kind="loop", target_bpm=100,
                                  target_key=None), src)
    assert digest(src) == before


# --- cache ----------------------------------------------------------------------------------

def test_cache_names_hits_and_evicts(tmp_path, monkeypatch):
    import soundfinder.render.cache as cache_mod

    src = tmp_path / "Dusty Keys 03.wav"
    click_loop(src, bars=1)
    calls = []
    real = cache_mod.render_file
    monkeypatch.setattr(cache_mod, "render_file", lambda *a, **k: calls.append(a) or real(*a, **k))
    cache = RenderCache(tmp_path / "renders", cap_bytes=10**9)
    plan = plan_fit(source_bpm=120, source_key="C major", kind="loop", target_bpm=124, target_key="A minor")
    first = cache.get(src, plan)
    assert first.name == "Dusty Keys 03 (124 BPM).wav"  # C major -> A minor needs no move
    assert cache.get(src, plan) == first and len(calls) == 1
    plan2 = plan_fit(source_bpm=120, source_key="C major", kind="loop", target_bpm=124, target_key="B minor")
    second = cache.get(src, plan2)
    assert second.name == "Dusty Keys 03 (124 BPM, B minor).wav" and len(calls) == 2
    cache.cap_bytes = first.stat().st_size + 1  # room for one render: the older one goes
    import os
    os.utime(first, (1, 1))
    assert cache.clean() == 1
    assert not first.exists() and second.exists()


# --- command line ---------------------------------------------------------------------------

def test_cli_render(cli, tmp_path):
    src = tmp_path / "loop.wav"
    click_loop(src, bpm=120, bars=2)
    before = digest(src)
    out = tmp_path / "fitted.wav"
    code, _, err = cli("render", str(src), "--bpm", "124", "--out", str(out))
    assert code == 2 and "tempo" in err and "--source-bpm" in err and not out.exists()
    code, _, err = cli("render", str(src), "--bpm", "124", "--key", "H major", "--source-bpm", "120",
                       "--out", str(out))
    assert code == 2 and "not a key" in err
    code, _, err = cli("render", str(src), "--bpm", "fast", "--out", str(out))
    assert code == 2 and "not a tempo" in err
    code, stdout, err = cli("render", str(src), "--bpm", "96", "--source-bpm", "120", "--out", str(out),
                            "--json")
    assert code == 0, err
    assert sf.info(str(out)).duration == pytest.approx(sf.info(str(src)).duration * 120 / 96, rel=0.005)
    assert digest(src) == before
    code, _, err = cli("render", str(src), "--key", "A minor", "--source-bpm", "120", "--out", str(out))
    assert code == 2 and "key" in err


def test_cli_render_uses_the_librarys_analysis(cli, tmp_path):
    """A loop indexed (and analysed) in the library needs no --source-bpm."""
    folder = tmp_path / "loops"
    folder.mkdir()
    src = folder / "groove 120bpm.wav"  # the name carries the tempo (analysis rule: name evidence)
    click_loop(src, bpm=120, bars=2)
    code, _, err = cli("index", str(folder))
    assert code == 0, err
    out = tmp_path / "fitted.wav"
    code, _, err = cli("render", str(src), "--bpm", "96", "--out", str(out))
    assert code == 0, err
    assert sf.info(str(out)).duration == pytest.approx(sf.info(str(src)).duration * 120 / 96, rel=0.005)
