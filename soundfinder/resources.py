"""Where the shipped, read-only resources (vocabularies, ...) live.

`resources/` at the repository root is the source of truth. The same folder has to be found
when running from a checkout, from a PyInstaller bundle and from an installed wheel, each of
which puts it somewhere else; this module is the one place that knows all three.
"""

from __future__ import annotations

import site
import sys
from functools import cache
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent
_MARKER = "vocabularies"  # a candidate only counts if it holds this, so a stray folder is not taken


class ResourcesNotFound(FileNotFoundError):
    """The shipped resources folder is missing: the installation is incomplete."""


def _candidates() -> list[Path]:
    found: list[Path] = []
    # 1. PyInstaller bundle: `--add-data resources:resources` unpacks under sys._MEIPASS.
    meipass = getattr(sys, "_MEIPASS", None)
    if meipass:
        found.append(Path(meipass) / "resources")
    # 2. Wheel with the folder mapped into the package (package-dir "soundfinder._resources").
    found.append(_PACKAGE_DIR / "_resources")
    # 3. Source checkout (also editable installs): the repo root holds pyproject.toml. The check
    #    keeps us from picking up some other project's `site-packages/resources`.
    root = _PACKAGE_DIR.parent
    if (root / "pyproject.toml").is_file():
        found.append(root / "resources")
    # 4. Wheel installed with data-files: <prefix>/share/soundfinder/resources.
    for prefix in (sys.prefix, site.getuserbase()):
        found.append(Path(prefix) / "share" / "soundfinder" / "resources")
    return found


@cache
def resources_dir() -> Path:
    """The folder holding soundfinder's shipped resources.

    Raises:
        ResourcesNotFound: no candidate location holds the resources; the message lists where
            we looked so a broken package can be diagnosed.
    """
    candidates = _candidates()
    for path in candidates:
        if (path / _MARKER).is_dir():
            return path
    looked = "\n  ".join(str(p) for p in candidates)
    raise ResourcesNotFound(f"soundfinder resources not found; looked in:\n  {looked}")


def vocabularies_dir() -> Path:
    """The folder of shipped label sets (`*.json`, one set per file)."""
    return resources_dir() / "vocabularies"
