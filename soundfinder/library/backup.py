"""The user's data as one JSON document (`soundfinder backup` / `restore`).

A backup holds favourites, ratings, hidden sounds, history and collections, each keyed by
content hash with its last path. Restoring into a library over the same files (another model,
a rebuilt library) matches by hash; into a library where the files were edited, by path.
Restore happens in ONE transaction: a bad backup changes nothing.
"""

from __future__ import annotations

import time

from soundfinder.library.userdata import UserDataError

FORMAT = "soundfinder-userdata"
VERSION = 1


def dump(lib) -> dict:
    return {"format": FORMAT, "version": VERSION, "created": time.time(), "library": str(lib.root),
            **lib.userdata.dump(), "collections": lib.collections.dump()}


def restore(lib, data: dict, merge: bool = False) -> dict:
    """Replace (or with `merge`, add to) the library's user data. Returns counts restored."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserDataError("not a soundfinder user-data backup (no \"format\": \"soundfinder-userdata\")")
    if int(data.get("version", 0)) > VERSION:
        raise UserDataError(f"this backup has format version {data.get('version')}; this soundfinder reads "
                            f"up to {VERSION} (update soundfinder)")
    lib._writable()
    catalog = lib.catalog

    def resolve(h: str, path: str) -> str:
        if catalog.db.execute("SELECT 1 FROM files WHERE hash=? LIMIT 1", (h,)).fetchone():
            return h
        rec = catalog.get(path)
        return rec.hash if rec is not None and rec.hash else h

    userdata, collections = lib.userdata, lib.collections
    try:
        with catalog.transaction():
            if not merge:
                userdata.clear()
                collections.clear()
            userdata.load(data, resolve)
            collections.load(data.get("collections", []), resolve)
    except (KeyError, TypeError, ValueError, AttributeError) as e:  # a field missing or of the wrong type
        raise UserDataError(f"the backup is damaged ({type(e).__name__}: {e}); nothing was restored") from None
    return {"marks": len(data.get("marks", [])), "history": len(data.get("history", [])),
            "collections": len(data.get("collections", []))}
