"""Shared fixtures: a tiny CLAP checkpoint built locally, synthesized sample folders.

No test touches the network: the model is a random ClapModel saved with `save_pretrained`
and loaded through the same `from_pretrained` path a real checkpoint takes.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
# The model's probe cache and runtime record (soundfinder.model.precision) go to a temporary
# cache, never the user's; tests that need their own use `monkeypatch.setenv` on top.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="soundfinder-test-cache-")
# No background ONNX text-tower export after every model load in every test (a process of its own);
# tests/test_onnx_text.py turns it on where it is the subject.
os.environ["SOUNDFINDER_TEXT_ONNX"] = "off"


# Where the user's settings, caches and model downloads would go: every test (and every process
# a test starts, which inherits the environment) gets its own empty folders instead.
HOME_VARS = {
    "HOME": "home", "USERPROFILE": "home",  # Path.home(); platformdirs on macOS
    "XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache", "XDG_DATA_HOME": "data",
    "XDG_STATE_HOME": "state", "APPDATA": "appdata", "LOCALAPPDATA": "localappdata",  # Windows
    "HF_HOME": "hf", "HF_HUB_CACHE": "hf/hub", "TRANSFORMERS_CACHE": "hf/hub", "TORCH_HOME": "torch",
}


def _point_home_at(root: Path, setenv) -> None:
    for var, sub in HOME_VARS.items():
        (root / sub).mkdir(parents=True, exist_ok=True)
        setenv(var, str(root / sub))


@pytest.fixture(scope="session", autouse=True)
def hermetic_session(tmp_path_factory):
    """Session fixtures (the tiny model, the embedder) are built before any per-test home exists."""
    with pytest.MonkeyPatch.context() as mp:
        _point_home_at(tmp_path_factory.mktemp("session-home"), mp.setenv)
        yield


@pytest.fixture(autouse=True)
def hermetic_home(tmp_path_factory, monkeypatch) -> Path:
    """A fresh home, config, cache and data folder for each test; never the real user's."""
    root = tmp_path_factory.mktemp("home")
    _point_home_at(root, monkeypatch.setenv)
    return root


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: use --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    from soundfinder.model.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-clap"))


@pytest.fixture(scope="session")
def embedder(tiny_model_dir):
    from soundfinder.model import ClapEmbedder

    return ClapEmbedder.load(str(tiny_model_dir), device="cpu")


def tone(freq: float, seconds: float, rate: int = 48000, kind: str = "sine", seed: int = 0) -> np.ndarray:
    """A short synthetic sound; each (freq, kind, seed) gives distinct content."""
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    if kind == "sine":
        x = np.sin(2 * np.pi * freq * t)
    elif kind == "noise":
        x = rng.standard_normal(t.size)
    elif kind == "hit":
        x = np.sin(2 * np.pi * freq * t * np.exp(-t * 8)) * np.exp(-t * 12)
    else:
        raise ValueError(kind)
    return (0.5 * x * (1 + 0.01 * rng.standard_normal(t.size))).astype(np.float32)


def write(path: Path, audio: np.ndarray, rate: int = 48000, subtype: str | None = None,
          format: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, rate, subtype=subtype, format=format)
    return path


def trainable_tiny_model(folder: Path, words: str) -> Path:
    """The tiny checkpoint with a BPE tokenizer trained on `words` (tiny.py's knows only its
    special tokens), for tests that train and evaluate captions."""
    from soundfinder.model.tiny import build_tiny_model, tiny_config
    from soundfinder.training.tokenizer import replace_tokenizer, train_caption_tokenizer

    tokenizer = train_caption_tokenizer([words] * 4, vocab_size=300)
    out = build_tiny_model(folder, seed=0, config=tiny_config(vocab_size=len(tokenizer)))
    replace_tokenizer(out, tokenizer)
    return out


@pytest.fixture
def sample_folder(tmp_path) -> Path:
    """Eight sounds in several formats, rates and channel counts, and one corrupt file."""
    root = tmp_path / "samples"
    write(root / "Drums" / "Kick_808.wav", tone(50, 0.5, kind="hit"), subtype="PCM_16")
    write(root / "Drums" / "Snare_Dusty.flac", tone(200, 0.3, 44100, kind="noise", seed=1), rate=44100)
    write(root / "Drums" / "HiHat_Closed.aiff", tone(8000, 0.1, 44100, kind="noise", seed=2), rate=44100)
    write(root / "Synth" / "Pad_Warm.wav", np.stack([tone(220, 3.0), tone(221, 3.0)], axis=1),
          subtype="FLOAT")
    write(root / "Synth" / "Lead_24bit.wav", tone(440, 1.0, 96000), rate=96000, subtype="PCM_24")
    write(root / "Synth" / "Bass_Low.ogg", tone(55, 1.0), rate=48000, format="OGG")
    write(root / "FX" / "Riser_long.wav", tone(1000, 14.0, 22050, kind="noise", seed=3), rate=22050)
    write(root / "FX" / "Blip_8k.wav", tone(600, 0.2, 8000), rate=8000, subtype="PCM_U8")
    (root / "FX" / "broken.wav").write_text("this is not audio at all")
    return root


@pytest.fixture
def indexed_library(tmp_path, embedder, sample_folder) -> Path:
    """A library folder with `sample_folder` indexed by the tiny model."""
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    root = tmp_path / "library"
    with Library.open(root, space=embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
    return root


@pytest.fixture
def cli(tiny_model_dir, tmp_path, monkeypatch):
    """Run the CLI in-process with the tiny model and a fresh library; returns (code, stdout, stderr)."""
    from soundfinder.cli import main

    library = tmp_path / "library"
    monkeypatch.setenv("SOUNDFINDER_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("SOUNDFINDER_LIBRARY", str(library))
    monkeypatch.setenv("SOUNDFINDER_DEVICE", "cpu")

    def run(*args: str):
        import io
        from contextlib import redirect_stderr, redirect_stdout

        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as e:
                code = e.code
        return code, out.getvalue(), err.getvalue()

    run.library = library
    return run


@pytest.fixture
def user_settings(tmp_path, monkeypatch):
    """Settings, window geometry and label-matrix caches go to temporary folders, never the user's."""
    from soundfinder import config

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    try:
        import soundfinder.query.autotag as tagger_mod

        monkeypatch.setattr(tagger_mod, "_matrix_cache", None)
    except ImportError:
        pass
    path = tmp_path / "config" / "settings.json"
    monkeypatch.setattr(config, "settings_file", lambda: path)
    for opt in config.OPTIONS.values():
        if opt.env:
            monkeypatch.delenv(opt.env, raising=False)
    monkeypatch.setenv("SOUNDFINDER_TEXT_ONNX", "off")  # as at the top: no export process per test
    return path


@pytest.fixture(scope="session")
def python_exe() -> str:
    return sys.executable
