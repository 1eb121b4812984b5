"""The GUI's handle on the core: the model and the library, used off the UI thread.

The GUI searches, lists and indexes from several threads; the core's `Library` is safe to
share between them (each call takes its lock), so a search slips in between two commits of a
running indexing job. Where several calls must see one state, the bridge holds
`library.lock` around them. The embedder is thread-safe on its own.

Results come back as Qt signals on the main thread; a search result carries the sequence
number of its query and is dropped when a newer query was asked in the meantime.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal

from soundfinder.gui.threads import run_task, serial_executor
from soundfinder.query.search import Hit

# Hits beyond this many are shown without telling user tags from auto tags (one query each).
SOURCE_LIMIT = 2000


@dataclass
class TaggedHit(Hit):
    user_tags: frozenset = frozenset()  # those of `record.tags` the user set


class CoreBridge(QObject):
    """Loads the model, opens the library and answers queries on background threads."""

    modelLoading = Signal(str)  # model source
    modelDownloading = Signal(str)  # the first start's download: "120 of 600 MB, 4.1 MB/s, 1:57 left"
    modelReady = Signal(str)
    modelFailed = Signal(str)  # message
    libraryReady = Signal(dict)  # stats
    libraryFailed = Signal(str)
    statsChanged = Signal(dict)
    resultsReady = Signal(int, str, list)  # sequence, what was asked, hits (TaggedHit)
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
        self._loader = model_executor or serial_executor("model")
        self._seq = itertools.count(1)
        self.latest = 0
        self._load_id = 0
        self.user_tag_names: set[str] = set()  # tags some file carries as a user tag

    # -- startup -------------------------------------------------------------------------

    def start(self, model: str, device: str, precision: str, library_path: str) -> None:
        """Load the model, then open the library (both off the UI thread)."""
        self._load_id += 1
        load_id = self._load_id
        self._download_cancel = cancel = threading.Event()
        self.modelLoading.emit(model)

        def load():
            from soundfinder.model import ClapEmbedder
            from soundfinder.model.clap import threads_hint

            pre = self.preloaded
            if pre is not None and pre.space.model == os.path.abspath(os.path.expanduser(model)):
                return pre
            threads_hint()
            return ClapEmbedder.load(model, device=device, precision=precision, cancel=cancel,
                                     download_progress=lambda p: self.modelDownloading.emit(p.describe()))

        def loaded(result=None, error=None):
            if load_id != self._load_id:
                return  # cancelled or superseded by another start()
            if error is not None:
                self.modelFailed.emit(str(error))
                return
            self.embedder = result
            self.modelReady.emit(model)
            self.open_library(library_path)

        run_task(load, loaded, self._loader)

    def cancel_loading(self) -> None:
        """Forget the model load in flight; a download in progress stops (and resumes next time)."""
        self._load_id += 1
        cancel = getattr(self, "_download_cancel", None)
        if cancel is not None:
            cancel.set()

    def open_library(self, path: str) -> None:
        from soundfinder.library import Library, LibraryError, LibraryLockedError

        old = self.library

        def job():
            if old is not None:
                old.close()
            try:
                return Library.open(path, space=self.embedder.space), False
            except LibraryLockedError:
                if not os.path.exists(os.path.join(path, "catalog.sqlite")):
                    raise
                return Library.open(path, space=self.embedder.space, readonly=True), True
            except LibraryError:
                raise

        def done(result=None, error=None):
            if error is not None:
                self.libraryFailed.emit(str(error))
                return
            lib, self.readonly = result
            self.library = lib
            run_task(self.library.stats, lambda result=None, error=None:
                     self.libraryReady.emit(result or {}), self._queries)

        run_task(job, done, self._queries)

    # -- queries -------------------------------------------------------------------------

    def _ask(self, question: str, fn) -> int:
        seq = next(self._seq)
        self.latest = seq

        def job():
            if seq != self.latest:
                return None  # a newer query is already queued: skip the work
            return self._with_sources(fn())

        def done(result=None, error=None):
            if seq != self.latest:
                return  # stale: a newer query's results will arrive (or already have)
            if error is not None:
                self.queryFailed.emit(seq, str(error))
            elif result is not None:
                self.resultsReady.emit(seq, question, result)

        run_task(job, done, self._queries)
        return seq

    def _with_sources(self, hits: list) -> list:
        """Hits that know which of their tags the user set (shown apart from auto tags). Only files
        carrying a tag some user has set anywhere are asked, so auto tags alone cost nothing."""
        from soundfinder.library.tags import USER, TagError

        out = []
        with self.library.lock:
            for i, h in enumerate(hits):
                mine: frozenset = frozenset()
                if i < SOURCE_LIMIT and self.user_tag_names.intersection(h.record.tags):
                    try:
                        mine = frozenset(t.tag for t in self.library.tags_of(h.path) if t.source == USER)
                    except TagError:
                        pass  # the file left the library between the search and here
                out.append(TaggedHit(h.score, h.record, mine))
        return out

    def search(self, text: str, k: int, tags: list[str] = ()) -> int:
        from soundfinder.query.search import search_text

        tags = list(tags)
        return self._ask(text, lambda: search_text(self.library, self.embedder, text, k, tags=tags))

    def similar(self, path: str, k: int, tags: list[str] = ()) -> int:
        from soundfinder.query.search import search_similar

        tags = list(tags)
        return self._ask(f"similar:{path}", lambda: search_similar(self.library, self.embedder, path, k,
                                                                   tags=tags))

    def browse(self, limit: int = 10000, tags: list[str] = ()) -> int:
        """Every indexed file (up to `limit`) carrying all `tags`, by path: what an empty search shows."""
        from soundfinder.library import INDEXED
        from soundfinder.query.search import Hit

        tags = list(tags)

        def job():
            if tags:
                allowed = self.library.files_with_tags(tags)
                by_vector = self.library.files_for_vectors(set(allowed.values()))
                records = sorted((r for rs in by_vector.values() for r in rs if r.id in allowed),
                                 key=lambda r: r.path)[:limit]
            else:
                records = self.library.files(INDEXED)[:limit]
            self.library.attach_tags(records)
            return [Hit(float("nan"), r) for r in records]

        return self._ask("", job)

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
        return self.embedder is not None and self.library is not None

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

    def close(self) -> None:
        """Close the library (saving its search graph); waits for queued queries."""
        self._load_id += 1
        self._queries.submit(lambda: None).result(timeout=30)
        if self.library is not None:
            with self.library.lock:
                self.library.close()
            self.library = None
