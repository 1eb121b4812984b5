"""Small human-readable documents (the library's folders) in TinyDB.

TinyDB's own JSONStorage truncates the file in place, so a crash mid-write can leave JSON
it cannot reopen; this storage writes a temporary file and renames it over the old one.
The documents are tiny, so rewriting the file on each write costs nothing here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tinydb import TinyDB
from tinydb.storages import Storage

from soundfinder.library.atomic import atomic_write_text


class AtomicJSONStorage(Storage):
    def __init__(self, path: str | os.PathLike, readonly: bool = False):
        self.path = Path(path)
        self.readonly = readonly

    def read(self):
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except UnicodeDecodeError:
            text = "\0"
        if not text.strip():
            return None
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
                raise ValueError("not a table of documents")
        except ValueError:
            # Damaged (a crash of an older version, a disk error, a hand edit): keep the bytes
            # aside for a person to look at and start from empty documents; the library folders
            # are restored from the catalog's copy. `soundfinder doctor` reports the file.
            if not self.readonly:
                self.path.replace(damaged_name(self.path))
            return None
        return data

    def write(self, data) -> None:
        if self.readonly:
            raise PermissionError(f"{self.path} is opened read-only")
        atomic_write_text(self.path, json.dumps(data, indent=1, ensure_ascii=False, sort_keys=True))

    def close(self) -> None:
        pass


def damaged_name(path: Path) -> Path:
    import time

    return path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")


def open_documents(path: str | os.PathLike, readonly: bool = False) -> TinyDB:
    return TinyDB(path, storage=AtomicJSONStorage, readonly=readonly)
