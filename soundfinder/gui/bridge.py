"""The GUI's handle on the core: the model and the library, used off the UI thread.

The GUI searches, lists and indexes from several threads; the core's `Library` is safe to
share between them (each call takes its lock), so a search slips in between two commits of a
running indexing job. Where several calls must see one state, the bridge holds
`library.lock` around them. The embedder is thread-safe on its own.

Results come back as Qt signals on the main thread; a search result carries the sequence
number of its query and is dropped when a newer query was asked in the meantime.

Start-up (`bridge_start.py`): the library opens beside the model load, names answer the first
queries, and `soundReady` says when text search adds sound (`answered`: how the results last
emitted were ranked).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from soundfinder.gui.bridge_start import StartupMixin
from soundfinder.gui.threads import DaemonExecutor, run_task, serial_executor
from soundfinder.query.request import Query
from soundfinder.query.search import Hit

# Hits beyond this many are shown without telling user tags from auto tags (one query each).
SOURCE_LIMIT = 2000


@dataclass
class TaggedHit(Hit):
    user_tags: frozenset = frozenset()  # those of `record.tags` the user set
    descriptors: object = None  # library.descriptors.DescriptorRow (tempo, key, kind…) or None
    copies: int = 1  # with copies collapsed: how many files this row stands for


def collapse_copies(hits: list, groups: dict[str, int]) -> list:
    """The first (best-ranked) hit of each recording, counting the copies it stands for."""
    first: dict = {}
    out = []
    for h in hits:
        key = groups.get(h.record.hash, h.record.hash or h.path)
        if key in first:
            first[key].copies += 1
            continue
        first[key] = h
        out.append(h)
    return out


class CoreBridge(StartupMixin, QObject):
    """Loads the model, opens the library and answers queries on background threads."""

    modelLoading = Signal(str)  # model source
    modelDownloading = Signal(str)  # the first start's download: "120 of 600 MB, 4.1 MB/s, 1:57 left"
    modelReady = Signal(str)
    modelFailed = Signal(str)  # message
    libraryReady = Signal(dict)  # stats
    soundReady = Signal()  # the model is loaded and the library's vectors are in its space
    textReady = Signal()  # before the model: the cached ONNX text tower answers text by sound too
    libraryFailed = Signal(str)
    statsChanged = Signal(dict)
    resultsReady = Signal(int, object, list)  # sequence, what was asked (Query), hits (TaggedHit)
    queryFailed = Signal(int, str)
    tagsChanged = Signal(list)  # [TagCount], most used first

    def __init__(self, parent=None, executor=None, model_executor=None, preloaded=None):
        """`preloaded`: an embedder already in memory, used when `start` asks for its model."""
        super().__init__(parent)
        self.preloaded = preloaded
        self.embedder = None
        self.library = None  # soundfinder.library.Library
        self.readonly = False
        self._queries = executor or serial_executor("query")
        self._loader = model_executor or DaemonExecutor("model")  # a download never holds up exit
        self._seq = itertools.count(1)
        self.latest = 0
        self._load_id = 0
        self.user_tag_names: set[str] = set()  # tags some file carries as a user tag
        self.closed = False
        self.within: str | None = None  # a folder chosen in the side panel narrows every query
        self.collapse = False  # one row per recording: byte-identical files and `copy_groups`
        self.copy_groups: dict[str, int] = {}  # content hash -> duplicate group (gui/manager.py)
        self.sound = False  # the loaded model's space is the open library's: text search uses sound
        self.answered = "fused"  # how the last emitted text results were ranked: "names" before `sound`
        self.text_tower = None  # model.onnx_text.OnnxTextTower loaded before torch (bridge_start.py)
        self.text_sound = False  # that tower's space is the open library's: text search uses sound
        self._library_path: str | None = None  # the library open or opening

    # -- queries -------------------------------------------------------------------------

    def ask(self, query: Query, k: int, feedback=None) -> int:
        """Answer `query` (an example file, text, or every file) with up to `k` hits; returns its sequence.
        `feedback` (query.ranking.Feedback): thumbs up/down that re-rank a text search."""
        if query.kind == "like":
            return self.similar(query.like, k, query.tags, query.filters)
        if query.kind == "text":
            return self.search(query.text, k, query.tags, query.filters, feedback)
        return self.browse(tags=query.tags, filters=query.filters)

    def _ask(self, question: Query, fn, collapse: bool = True, ranked: str = "fused") -> int:
        seq = next(self._seq)
        self.latest = seq

        def job():
            if seq != self.latest:
                return None  # a newer query is already queued: skip the work
            return self._with_sources(fn(), collapse)

        def done(result=None, error=None):
            if seq != self.latest:
                return  # stale: a newer query's results will arrive (or already have)
            if error is not None:
                self.queryFailed.emit(seq, str(error))
            elif result is not None:
                self.answered = ranked
                self.resultsReady.emit(seq, question, result)

        run_task(job, done, self._queries)
        return seq

    def _with_sources(self, hits: list, collapse: bool = True) -> list:
        """Hits that know which of their tags the user set (shown apart from auto tags). Only files
        carrying a tag some user has set anywhere are asked, so auto tags alone cost nothing."""
        from soundfinder.library.tags import USER, TagError

        out = []
        with self.library.lock:
            descs = self.library.descriptors.get_many(h.record.hash for h in hits)
            for i, h in enumerate(hits):
                mine: frozenset = frozenset()
                if i < SOURCE_LIMIT and self.user_tag_names.intersection(h.record.tags):
                    try:
                        mine = frozenset(t.tag for t in self.library.tags_of(h.path) if t.source == USER)
                    except TagError:
                        pass  # the file left the library between the search and here
                out.append(TaggedHit(h.score, h.record, getattr(h, "why", None), mine, descs.get(h.record.hash)))
                if getattr(h, "when", None) is not None:  # a history view's time (gui/manager.py)
                    out[-1].when = h.when
        return collapse_copies(out, self.copy_groups) if self.collapse and collapse else out

    def search(self, text: str, k: int, tags: list[str] = (), filters=None, feedback=None) -> int:
        from soundfinder.query.search import search_text

        tags, within = list(tags), self.within
        question = Query(text=text, tags=tags, filters=filters)
        # None: names alone, while the model loads (the ONNX text tower answers first where cached)
        embedder = self.embedder if self.sound else (self.text_tower if self.text_sound else None)
        return self._ask(question, lambda: search_text(self.library, embedder, text, k, tags=tags,
                                                       filters=filters, within=within, feedback=feedback),
                         ranked="fused" if embedder is not None else "names")

    def similar_steered(self, paths: list[str], more: str, less: str, amount: float, k: int,
                        tags: list[str] = (), filters=None) -> int:
        """Sounds like `paths` (their centroid), moved toward `more` and away from `less`."""
        from soundfinder.query.search import embed_file, search_vector
        from soundfinder.query.steer import centroid, steer

        tags, paths, within = list(tags), list(paths), self.within

        def run():
            vec = centroid([embed_file(self.library, self.embedder, p) for p in paths])
            if more or less:
                text = [t for t in (more, less) if t]
                vecs = dict(zip(text, self.embedder.encode_text(text), strict=True))
                vec = steer(vec, vecs.get(more), vecs.get(less), amount)
            exclude = set(paths) if len(paths) > 1 or more or less else None
            return search_vector(self.library, vec, k, exclude_paths=exclude, tags=tags, filters=filters,
                                 within=within)

        return self._ask(Query(like=paths[0], tags=tags, filters=filters), run)

    def similar(self, path: str, k: int, tags: list[str] = (), filters=None) -> int:
        from soundfinder.query.search import search_similar

        tags, within = list(tags), self.within
        question = Query(like=path, tags=tags, filters=filters)
        return self._ask(question, lambda: search_similar(self.library, self.embedder, path, k,
                                                          tags=tags, filters=filters, within=within))

    def browse(self, limit: int = 10000, tags: list[str] = (), filters=None) -> int:
        """Every indexed file (up to `limit`) carrying all `tags`, by path: what an empty search shows."""
        from soundfinder.library import INDEXED
        from soundfinder.query.search import Hit

        tags, within = list(tags), self.within

        def job():
            hidden = self.library.hidden_hashes()
            if within:
                allowed = self.library.files_with_tags(tags) if tags else None
                records = [r for r in self.library.files_under(within) if r.status == INDEXED
                           and r.hash not in hidden and (allowed is None or r.id in allowed)]
                records = sorted(records, key=lambda r: r.path)[:limit]
            elif tags:
                allowed = self.library.files_with_tags(tags)
                by_vector = self.library.files_for_vectors(set(allowed.values()))
                records = sorted((r for rs in by_vector.values() for r in rs if r.id in allowed
                                  and r.hash not in hidden), key=lambda r: r.path)[:limit]
            else:
                records = [r for r in self.library.files(INDEXED) if r.hash not in hidden][
                    : None if filters is not None and filters.active else limit]
            if filters is not None and filters.active:
                from soundfinder.query.filters import filter_records

                with self.library.lock:
                    descs = self.library.descriptors.get_many(r.hash for r in records)
                records = filter_records(records, descs, filters)[:limit]
            self.library.attach_tags(records)
            return [Hit(float("nan"), r) for r in records]

        return self._ask(Query(tags=tags, filters=filters), job)

    # -- tags ----------------------------------------------------------------------------

    def refresh_tags(self) -> None:
        """Emit `tagsChanged` with the library's tag counts (and remember which tags users set)."""
        if self.library is None:
            return

        def done(result=None, error=None):
            if result is not None:
                self.user_tag_names = {c.tag for c in result if c.user}
                self.tagsChanged.emit(result)

        run_task(self.library.tag_counts, done, self._queries)

    def tags_of(self, paths: list[str], callback) -> None:
        """Call `callback(result={path: [TagRecord]}, error=)` on the UI thread."""
        run_task(lambda: {p: self.library.tags_of(p) for p in paths}, callback, self._queries)

    def edit_tags(self, paths: list[str], add: list[str], remove: list[str], callback) -> None:
        """Add user tags to `paths` and remove others (a removed auto tag is remembered as rejected)."""
        def job():
            with self.library.lock:
                if add:
                    self.library.set_user_tags(paths, add)
                if remove:
                    self.library.unset_user_tags(paths, remove)

        run_task(job, callback, self._queries)

    def save_label_set(self, label_set, callback) -> None:
        """Save a user label set into the library folder; `callback(result=path, error=)`."""
        from soundfinder.query.vocabularies import save_user_label_set

        root = self.library.root
        run_task(lambda: save_user_label_set(root, label_set), callback, self._queries)

    def ready(self) -> bool:
        """Model and library both there, in one space: everything works (indexing, sound search)."""
        return self.embedder is not None and self.library is not None and self.sound

    # -- library facts and folders -------------------------------------------------------

    def refresh_stats(self) -> None:
        if self.library is None:
            return
        run_task(self.library.stats, lambda result=None, error=None:
                 result is not None and self.statsChanged.emit(result), self._queries)

    def failures(self, callback) -> None:
        """Call `callback(list[(path, reason)])` with the library's failed files."""
        from soundfinder.library import FAILED

        run_task(lambda: [(r.path, r.error or "failed") for r in self.library.files(FAILED)],
                 lambda result=None, error=None: callback(result or []), self._queries)

    def remove_folder(self, folder: str) -> None:
        def done(result=None, error=None):
            if error is not None:
                self.libraryFailed.emit(str(error))
            self.refresh_stats()

        run_task(lambda: self.library.remove_folder(folder), done, self._queries)

    def close(self, timeout: float = 30) -> None:
        """Close the library (saving its search graph) once the query running now ends; queued
        queries are dropped unsearched. May wait `timeout`: the window calls it off the UI thread."""
        self.closed = True
        self._load_id += 1
        self.latest = 0  # no query has this number: every queued one is stale now
        self._queries.submit(lambda: None).result(timeout=timeout)
        if self.library is not None:
            with self.library.lock:
                self.library.close()
            self.library = None
