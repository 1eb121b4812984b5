"""Settings declared once (name, default, description), read by name everywhere.

Resolution order for each setting: command-line flag, environment variable, the user's
settings file (written by the GUI's settings dialog), the declared default.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "soundfinder"
DEFAULT_MODEL = "laion/clap-htsat-unfused"


@dataclass(frozen=True)
class Option:
    name: str
    default: object
    description: str
    env: str | None = None


def _default_library() -> str:
    return str(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library")


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("library", None, "Folder holding the catalog, vectors and documents", "SOUNDFINDER_LIBRARY"),
    Option("model", DEFAULT_MODEL, "CLAP checkpoint: a Hugging Face hub id or a local folder",
           "SOUNDFINDER_MODEL"),
    Option("device", "auto", "Where the model runs: auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps",
           "SOUNDFINDER_DEVICE"),
    Option("precision", "auto", "Model precision: auto (float16 on CUDA, float32 elsewhere), float32, "
           "bfloat16", "SOUNDFINDER_PRECISION"),
    Option("autoplay", True, "Play a sound as soon as it is selected"),
    Option("volume", 0.8, "Preview volume, 0 to 1"),
    Option("results", 200, "How many results a search shows"),
)}


def settings_file() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False)) / "settings.json"


def load_user_settings() -> dict:
    try:
        data = json.loads(settings_file().read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def save_user_settings(values: dict) -> None:
    from soundfinder.library.atomic import atomic_write_text

    path = settings_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    known = {k: v for k, v in values.items() if k in OPTIONS}
    atomic_write_text(path, json.dumps(known, indent=2, sort_keys=True))


def get(name: str, override: object = None, user: dict | None = None) -> object:
    """The effective value of setting `name`."""
    opt = OPTIONS[name]
    if override is not None:
        return override
    if opt.env and os.environ.get(opt.env):
        return os.environ[opt.env]
    user = load_user_settings() if user is None else user
    if name in user and user[name] is not None:
        return user[name]
    if name == "library":
        return _default_library()
    return opt.default


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
