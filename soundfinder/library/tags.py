"""Tags in the catalog: the user's, the auto-tagger's, and the rules that keep the user in charge.

One row of the catalog's `tags` table is (file_id, tag, source, label_set, score, tagger) with
source one of:

    user      the person added it. Auto-tagging never overwrites or removes it.
    auto      the zero-shot tagger added it; `label_set` and `tagger` (model + vocabulary +
              rules version, see `soundfinder.query.zeroshot.tagger_version`) say where it came from
              and `score` is the tagger's confidence in [0, 1].
    rejected  the person removed it ("this is not a kick"). Auto-tagging never adds it back.
              It is not shown as a tag, not counted and not matched by filters; setting the
              tag again turns it back into a `user` tag.

Rules, in one place:
1. A (file, tag) pair has at most one row: setting a user tag drops the auto row of the same
   name (the user's wins), unsetting drops both and records a rejection.
2. `replace_auto` writes one label set's auto tags in one transaction: the set's old auto tags
   on the files given, and every auto tag of the set made by another tagger version (another
   model or an edited vocabulary) anywhere, are replaced. Tags blocked by a user row are skipped.
   The same transaction records the set's tagger version in the catalog's meta table, so
   "tagged and found nothing" differs from "never tagged" (`auto_versions`).
3. Two label sets proposing the same tag for a file share the row; the higher score keeps it.
4. Tags are compared in a normal form (`normalize_tag`: trimmed, single spaces, case-folded),
   so `--tag Kick` finds "kick".

Filters (`files_with_tags`) run in SQL on the `tags(tag)` index, never by walking the catalog.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from soundfinder.library.catalog import Catalog, decode_path, encode_path
from soundfinder.library.records import INDEXED

USER = "user"
AUTO = "auto"
REJECTED = "rejected"
SOURCES = (USER, AUTO, REJECTED)
MAX_TAG_LENGTH = 100
_META_PREFIX = "tagger:"  # catalog meta key of a label set's last tagging run


class TagError(ValueError):
    """A tag operation cannot be done; the message says why (e.g. a file not in the library)."""


class NotInLibraryError(TagError):
    pass


class AutoTag(NamedTuple):
    """What the tagger proposes for one file (`soundfinder.query.zeroshot.Tag` fits: label, score,
    confidence; the confidence is stored as the row's score)."""

    label: str
    score: float
    confidence: float


@dataclass(frozen=True)
class TagRecord:
    """One stored tag; also one row of an export."""

    path: str
    tag: str
    source: str
    label_set: str | None = None
    score: float | None = None
    tagger: str | None = None

    def to_json(self) -> dict:
        return {"path": self.path, "tag": self.tag, "source": self.source, "label_set": self.label_set,
                "score": self.score, "tagger": self.tagger}


@dataclass(frozen=True)
class TagCount:
    """A tag with how many indexed files carry it (`files`), and from which source."""

    tag: str
    files: int
    user: int
    auto: int

    def to_json(self) -> dict:
        return {"tag": self.tag, "files": self.files, "user": self.user, "auto": self.auto}


def normalize_tag(text: str) -> str:
    """The stored form of a tag; raises TagError for an empty or overlong one."""
    if not isinstance(text, str):
        raise TagError(f"a tag must be text, got {text!r}")
    tag = " ".join(text.split()).casefold()
    if not tag:
        raise TagError("a tag cannot be empty")
    if len(tag) > MAX_TAG_LENGTH:
        raise TagError(f"a tag is at most {MAX_TAG_LENGTH} characters: {tag[:30]!r}...")
    return tag


def _normalize_all(tags: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(normalize_tag(t) for t in tags))


class TagStore:
    """The tag verbs over a Catalog's connection; `Library` delegates to it."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @property
    def db(self) -> sqlite3.Connection:
        return self.catalog.db

    # -- lookups -------------------------------------------------------------------------

    def file_ids(self, paths: str | Iterable[str]) -> list[int]:
        """Catalog ids of `paths` (a path or several), in order; NotInLibraryError names the first
        path the library does not know."""
        if isinstance(paths, str):
            paths = [paths]
        ids: list[int] = []
        for path in paths:
            row = self.db.execute("SELECT id FROM files WHERE path=?", (encode_path(path),)).fetchone()
            if row is None:
                raise NotInLibraryError(f"not in the library: {path}")
            ids.append(int(row[0]))
        return ids

    # -- the user's edits ----------------------------------------------------------------

    def set_user(self, paths: str | Iterable[str], tags: Iterable[str]) -> list[str]:
        """Add user tags to files (replacing an auto tag or a rejection of the same name).

        Returns the tags as stored (normal form)."""
        return self._decide(paths, tags, USER)

    def unset_user(self, paths: str | Iterable[str], tags: Iterable[str]) -> list[str]:
        """Remove tags from files, whoever added them, and remember the removal so the auto-tagger
        does not bring them back. Returns the tags as stored (normal form)."""
        return self._decide(paths, tags, REJECTED)

    def _decide(self, paths: str | Iterable[str], tags: Iterable[str], source: str) -> list[str]:
        """Record the user's word on `tags` (added or rejected), replacing any other row of them."""
        names = _normalize_all(tags)
        ids = self.file_ids(paths)
        with self.catalog.transaction():
            for fid in ids:
                for tag in names:
                    self.db.execute("DELETE FROM tags WHERE file_id=? AND tag=? AND source<>?",
                                    (fid, tag, source))
                    self.db.execute("INSERT OR IGNORE INTO tags (file_id, tag, source) VALUES (?, ?, ?)",
                                    (fid, tag, source))
        return names

    def clear_user(self, paths: str | Iterable[str], tags: Iterable[str] | None = None) -> int:
        """Forget the user's decisions (added tags and rejections) on files, all or only `tags`,
        so the next auto-tagging decides alone. Returns how many rows went."""
        ids = self.file_ids(paths)
        names = None if tags is None else _normalize_all(tags)
        removed = 0
        with self.catalog.transaction():
            for fid in ids:
                if names is None:
                    cur = self.db.execute("DELETE FROM tags WHERE file_id=? AND source IN (?, ?)",
                                          (fid, USER, REJECTED))
                    removed += cur.rowcount
                    continue
                for tag in names:
                    cur = self.db.execute("DELETE FROM tags WHERE file_id=? AND tag=? AND source IN (?, ?)",
                                          (fid, tag, USER, REJECTED))
                    removed += cur.rowcount
        return removed

    # -- the auto-tagger's output --------------------------------------------------------

    def replace_auto(self, label_set: str, tagger: str,
                     rows: Iterable[tuple[int, Sequence[AutoTag]]]) -> int:
        """Store one label set's auto tags for the files in `rows` ((file_id, tags) pairs), in ONE
        transaction (rule 2 above). Returns the number of rows inserted, changed or deleted.

        Only differences are written: re-tagging a library whose answer did not change costs a
        read of the set's rows, not a rewrite of every tag."""
        new: dict[tuple[int, str], float] = {}
        covered: set[int] = set()
        names: dict[str, str] = {}  # a label set has few labels: normalise each once
        for fid, tags in rows:
            covered.add(fid)
            for t in tags:
                name = names.get(t[0]) or names.setdefault(t[0], normalize_tag(t[0]))
                key = (fid, name)
                new[key] = max(float(t[2]), new.get(key, -1.0))
        before = self.db.total_changes
        with self.catalog.transaction():
            blocked = set(self.db.execute("SELECT file_id, tag FROM tags WHERE source IN (?, ?)", (USER, REJECTED)))
            old = {(fid, tag): (score, made_by) for fid, tag, score, made_by in self.db.execute(
                "SELECT file_id, tag, score, tagger FROM tags WHERE source=? AND label_set=?", (AUTO, label_set))}
            self.db.executemany(
                "DELETE FROM tags WHERE file_id=? AND tag=? AND source=?",
                ((fid, tag, AUTO) for (fid, tag), (_, made_by) in old.items()
                 if made_by != tagger or (fid in covered and (fid, tag) not in new)))
            self.db.executemany(
                """INSERT INTO tags (file_id, tag, source, label_set, score, tagger) VALUES (?, ?, ?, ?, ?, ?)
                   ON CONFLICT (file_id, tag, source) DO UPDATE SET
                     label_set=excluded.label_set, score=excluded.score, tagger=excluded.tagger
                   WHERE tags.label_set=excluded.label_set OR excluded.score > COALESCE(tags.score, -1)""",
                ((fid, tag, AUTO, label_set, score, tagger) for (fid, tag), score in new.items()
                 if (fid, tag) not in blocked and old.get((fid, tag)) != (score, tagger)))
            written = self.db.total_changes - before
            self.db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                            (_META_PREFIX + label_set, tagger))
        return written

    def remove_auto(self, label_sets: Iterable[str]) -> int:
        """Delete every auto tag of the named label sets (and the record of their tagging)."""
        removed = 0
        with self.catalog.transaction():
            for name in label_sets:
                removed += self.db.execute("DELETE FROM tags WHERE source=? AND label_set=?",
                                           (AUTO, name)).rowcount
                self.db.execute("DELETE FROM meta WHERE key=?", (_META_PREFIX + name,))
        return removed

    def auto_versions(self) -> dict[str, str]:
        """{label set: tagger version of its last tagging run}, also for runs that found no tag;
        compare with `tagging.tagger_version(space, set)` to tell whether a set is out of date."""
        out = {key[len(_META_PREFIX):]: value for key, value in self.db.execute(
            "SELECT key, value FROM meta WHERE substr(key, 1, ?)=?", (len(_META_PREFIX), _META_PREFIX))}
        for label_set, tagger in self.db.execute(  # tags written before runs were recorded
                "SELECT DISTINCT label_set, tagger FROM tags WHERE source=?", (AUTO,)):
            out.setdefault(label_set, tagger)
        return out

    # -- reading -------------------------------------------------------------------------

    def tags_of(self, path: str, include_rejected: bool = False) -> list[TagRecord]:
        """A file's tags, user tags first, then auto tags by score."""
        (fid,) = self.file_ids(path)
        sources = SOURCES if include_rejected else (USER, AUTO)
        rows = self.db.execute(
            f"""SELECT tag, source, label_set, score, tagger FROM tags
                WHERE file_id=? AND source IN ({",".join("?" * len(sources))})
                ORDER BY CASE source WHEN ? THEN 0 WHEN ? THEN 1 ELSE 2 END, score DESC, tag""",
            (fid, *sources, USER, AUTO))
        return [TagRecord(path, *row) for row in rows]

    def counts(self) -> list[TagCount]:
        """Every visible tag with the number of indexed files carrying it, most used first."""
        rows = self.db.execute(
            """SELECT t.tag, COUNT(DISTINCT t.file_id), SUM(t.source=?), SUM(t.source=?)
               FROM tags t JOIN files f ON f.id=t.file_id
               WHERE t.source IN (?, ?) AND f.status=?
               GROUP BY t.tag ORDER BY COUNT(DISTINCT t.file_id) DESC, t.tag""",
            (USER, AUTO, USER, AUTO, INDEXED))
        return [TagCount(tag, int(n), int(u), int(a)) for tag, n, u, a in rows]

    def export(self, include_rejected: bool = True) -> Iterator[TagRecord]:
        """Every stored tag row with its file's path, by path then source then tag."""
        sources = SOURCES if include_rejected else (USER, AUTO)
        rows = self.db.execute(
            f"""SELECT f.path, t.tag, t.source, t.label_set, t.score, t.tagger
                FROM tags t JOIN files f ON f.id=t.file_id
                WHERE t.source IN ({",".join("?" * len(sources))})
                ORDER BY f.path, t.source, t.tag""", sources)
        for raw_path, *rest in rows:
            yield TagRecord(decode_path(raw_path), *rest)

    def files_with_tags(self, all_of: Iterable[str] = (), none_of: Iterable[str] = ()) -> dict[int, int]:
        """{file id: vector id} of indexed files carrying every tag of `all_of` and none of
        `none_of` (user or auto tags; rejections never match). Both empty: every indexed file."""
        want = _normalize_all(all_of)
        avoid = _normalize_all(none_of)
        params: list = [INDEXED]
        sql = "SELECT f.id, f.vector_id FROM files f"
        if want:
            # Driven by the tags(tag) index: only files carrying the first tags are looked at.
            sql += f""" JOIN (SELECT file_id FROM tags WHERE tag IN ({",".join("?" * len(want))})
                              AND source IN (?, ?) GROUP BY file_id HAVING COUNT(DISTINCT tag)=?) w
                        ON w.file_id=f.id"""
            params = [*want, USER, AUTO, len(want), INDEXED]
        sql += " WHERE f.status=? AND f.vector_id IS NOT NULL"
        if avoid:
            sql += f""" AND NOT EXISTS (SELECT 1 FROM tags n WHERE n.file_id=f.id AND n.source IN (?, ?)
                                        AND n.tag IN ({",".join("?" * len(avoid))}))"""
            params += [USER, AUTO, *avoid]
        return {int(fid): int(vid) for fid, vid in self.db.execute(sql, params)}

    def indexed_file_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(file ids, vector ids) of every indexed file, by vector id: what auto-tagging reads."""
        rows = self.db.execute(
            "SELECT id, vector_id FROM files WHERE status=? AND vector_id IS NOT NULL ORDER BY vector_id, id",
            (INDEXED,)).fetchall()
        arr = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        return arr[:, 0].copy(), arr[:, 1].copy()
