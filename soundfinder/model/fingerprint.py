"""The digest of a weights file, remembered by (path, size, mtime) so a start does not re-read it.

Why: the space id of a local checkpoint is a hash of its safetensors; hashing 600 MB costs
0.5-1 s of every start on a laptop (more while indexing runs). A file whose path, size and
modification time are unchanged has the same bytes for our purpose (a checkpoint is written
once; `save_pretrained` replaces the file, changing its mtime).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def _cache_path() -> Path:
    from soundfinder import config

    return config.cache_dir() / "weights-digests.json"


def file_digest(path: Path) -> bytes:
    """blake2b of the file's bytes (the same value `hashlib.file_digest(f, "blake2b")` gives)."""
    st = path.stat()
    key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    cache = _cache_path()
    try:
        known = json.loads(cache.read_text(encoding="utf-8"))
        if not isinstance(known, dict):
            known = {}
    except (OSError, ValueError):
        known = {}
    hit = known.get(key)
    if isinstance(hit, str):
        try:
            return bytes.fromhex(hit)
        except ValueError:
            pass
    with open(path, "rb") as fh:
        digest = hashlib.file_digest(fh, "blake2b").digest()
    known = {k: v for k, v in known.items() if not k.startswith(f"{path.resolve()}|")}
    known[key] = digest.hex()
    try:
        from soundfinder.library.atomic import atomic_write_text

        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(cache, json.dumps(known, indent=1))
    except OSError:
        pass
    return digest


def weights_digest(folder: Path) -> str | None:
    """8-byte blake2b over the folder's safetensors digests (None: no safetensors there)."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    h = hashlib.blake2b(digest_size=8)
    for f in files:
        h.update(file_digest(f))
    return h.hexdigest()


__all__ = ["file_digest", "weights_digest"]
