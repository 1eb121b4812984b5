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


class ConfigError(ValueError):
    """A setting has a value it cannot take (e.g. an environment variable outside its choices)."""


@dataclass(frozen=True)
class Option:
    """One setting. `flag` makes it a global command-line flag (`--name`); `choices` limits the
    values the flag, the environment and the Settings dialog accept."""

    name: str
    default: object
    description: str
    env: str | None = None
    choices: tuple[str, ...] | None = None
    flag: bool = False
    dialog: bool = True  # shown in the Settings dialog (False: set elsewhere in the window)


def _default_library() -> str:
    return str(Path(platformdirs.user_data_dir(APP_NAME, appauthor=False)) / "library")


OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("library", None, "Folder holding the catalog, vectors and documents", "SOUNDFINDER_LIBRARY",
           flag=True),
    Option("model", DEFAULT_MODEL, "CLAP checkpoint: a Hugging Face hub id or a local folder",
           "SOUNDFINDER_MODEL", flag=True),
    Option("device", "auto", "Where the model runs: auto (CUDA, then Apple MPS, then CPU), cpu, cuda, mps",
           "SOUNDFINDER_DEVICE", choices=("auto", "cpu", "cuda", "mps"), flag=True),
    Option("precision", "auto", "Model precision: auto (float16 on CUDA; on a CPU bfloat16 where the CPU "
           "computes it natively and a self-check at load passes, else float32), fast (as auto, and float16 "
           "on Apple MPS), float32 (exact), bfloat16, float16 (GPU), int8 (CPU, quantised Linear layers, "
           "self-checked)",
           "SOUNDFINDER_PRECISION", choices=("auto", "fast", "float32", "bfloat16", "float16", "int8"), flag=True),
    Option("text_onnx", "auto", "Typed queries through an ONNX Runtime text tower, exported once per model in "
           "the background: answers before torch loads at start-up, and faster where it is. auto (used "
           "where it passes its check against torch float32; CPU, precision auto/fast), off (torch only)",
           "SOUNDFINDER_TEXT_ONNX", choices=("auto", "off")),
    Option("autoplay", True, "Play a sound as soon as it is selected"),
    Option("volume", 0.8, "Preview volume, 0 to 1"),
    Option("results", 200, "How many results a search shows"),
    Option("drag_original", False, "With Sync on, drags deliver the original file instead of the fitted "
           "render (holding Alt while dragging does the same)"),
    Option("project_bpm", 120.0, "The project tempo loops are fitted to", dialog=False),
    Option("project_key", "", "The project key loops are moved to (empty: any key)", dialog=False),
    Option("project_sync", False, "Play loops at the project tempo and key", dialog=False),
    Option("project_to_key", False, "Move pitched one-shots to the project key's root", dialog=False),
)}


def add_global_flags(parser) -> None:
    """Add a `--name` flag for every option declared with `flag=True` (the CLI's global flags)."""
    for opt in OPTIONS.values():
        if not opt.flag:
            continue
        env = f" (env {opt.env})" if opt.env else ""
        parser.add_argument(f"--{opt.name}", choices=opt.choices, default=None,
                            metavar=None if opt.choices else opt.name.upper(), help=opt.description + env)


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
        value = os.environ[opt.env]
        if opt.choices and value not in opt.choices:
            raise ConfigError(f"{opt.env}={value!r} is not one of {', '.join(opt.choices)}")
        return value
    user = load_user_settings() if user is None else user
    if name in user and user[name] is not None:
        return user[name]
    if name == "library":
        return _default_library()
    return opt.default


def cache_dir() -> Path:
    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))
