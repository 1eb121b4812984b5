"""The library's folder list, part of `Library` (a mixin: it uses the library's documents,
catalog and write checks).

Kept twice on purpose: in documents.json (TinyDB, human-readable) and as a copy in the
catalog's meta table, so a lost or damaged documents.json does not lose the folders.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable

from soundfinder.library.errors import write_error


class FolderList:
    def folders(self) -> list[str]:
        folders = sorted(d["path"] for d in self.documents.table("folders").all() if "path" in d)
        if not folders:  # documents.json lost or damaged: the catalog keeps a copy of the list
            folders = self._meta_folders()
        return folders

    def _meta_folders(self) -> list[str]:
        try:
            value = json.loads(self.catalog.get_meta("folders") or "[]")
        except ValueError:
            return []
        return sorted(str(p) for p in value) if isinstance(value, list) else []

    def _save_folders(self, folders: Iterable[str]) -> None:
        with self.catalog.transaction():
            self.catalog.set_meta("folders", json.dumps(sorted(set(folders)), ensure_ascii=False))

    def add_folder(self, folder: str) -> None:
        self._writable()
        from tinydb import Query

        path = os.path.abspath(os.path.expanduser(folder))
        try:
            table = self.documents.table("folders")
            if not table.search(Query().path == path):
                table.insert({"path": path})
            if path not in self._meta_folders():
                self._save_folders([*self._meta_folders(), path])
        except (OSError, sqlite3.Error) as e:
            raise write_error(self.root, e) from e

    def remove_folder(self, folder: str) -> None:
        """Stop following a folder and forget its records (the files stay where they are)."""
        self._writable()
        from tinydb import Query

        path = os.path.abspath(os.path.expanduser(folder))
        try:
            self.documents.table("folders").remove(Query().path == path)
            self._save_folders(p for p in self._meta_folders() if p != path)
        except (OSError, sqlite3.Error) as e:
            raise write_error(self.root, e) from e
        self.forget([r.path for r in self.catalog.files_under(path)])
