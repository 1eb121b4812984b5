"""The user's label sets (vocabularies) inside the library folder: `<library>/labelsets/*.json`.

Only `library/` writes the library folder; `query.vocabularies` validates a label set and
hands the bytes here to be written atomically (temp file, fsync, rename).
"""

from __future__ import annotations

from pathlib import Path

from soundfinder.library.atomic import atomic_write_bytes


def write_label_set_file(library_dir: Path, folder: str, filename: str, payload: bytes) -> Path:
    """Atomically write one label-set file under `<library_dir>/<folder>/`; returns its path."""
    if "/" in filename or "\\" in filename or filename.startswith("."):
        raise ValueError(f"not a plain file name: {filename!r}")
    path = Path(library_dir) / folder / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, payload)
    return path
