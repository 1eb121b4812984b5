"""How the bridge starts: the library and the model side by side, sound search once both agree.

An existing library opens at once, beside the model load (which imports torch and
transformers: seconds on a laptop), so a query typed at start-up is answered from the names
index; once the model is loaded and its space is the library's, `soundReady` tells the window
to ask again with sound. A new library is created once the model's space is known. Split from
`bridge.py` (the queries) to keep each file readable in one sitting.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from soundfinder.gui.threads import run_task


def _warm_graph(lib) -> None:
    """Load the library's search graph on the query thread right after the first query (which
    names may answer alone), so the first query by sound does not pay for it either."""
    if lib.index is not None:
        with lib.lock:
            lib.index.warm()


class StartupMixin:
    """`CoreBridge`'s start-up verbs (it holds the signals and the state they use)."""

    def start(self, model: str, device: str, precision: str, library_path: str) -> None:
        """Open the library and load the model off the UI thread: an existing library opens first,
        without the model, and the model load begins once the query thread has answered what the
        window asked on opening (importing torch holds Python's GIL for up to ~0.5 s at a time,
        which would slow the window's first paint and first results); a new library is created
        once the model's space is known."""
        self._load_id += 1
        load_id = self._load_id
        self._download_cancel = cancel = threading.Event()
        self.sound = self.text_sound = False
        self.modelLoading.emit(model)
        self._deferred_load = None
        early = not self._library_is(library_path) and os.path.exists(os.path.join(library_path, "catalog.sqlite"))

        def load():
            from soundfinder.model import ClapEmbedder
            from soundfinder.model.clap import threads_hint

            pre = self.preloaded
            if pre is not None and pre.space.model == os.path.abspath(os.path.expanduser(model)):
                embedder = pre
            else:
                threads_hint()
                embedder = ClapEmbedder.load(model, device=device, precision=precision, cancel=cancel,
                                             download_progress=lambda p: self.modelDownloading.emit(p.describe()))
            embedder.warm_up()  # here, not in the user's first query (one-time allocations, kernels)
            return embedder

        def loaded(result=None, error=None):
            if load_id != self._load_id:
                return  # cancelled or superseded by another start()
            if error is not None:
                self.modelFailed.emit(str(error))
                return
            self.embedder = result
            from soundfinder.model.text_backend import export_in_background

            export_in_background(result)  # once per model: the next start answers text before torch
            self.modelReady.emit(model)
            if self._library_is(library_path):
                self._check_sound()  # nothing yet while it opens: the opening calls it when done
            else:
                self.open_library(library_path, result.space)

        if early:
            from soundfinder.model.text_backend import enabled

            torch_load = lambda: run_task(load, loaded, self._loader)  # noqa: E731
            self._deferred_load = (lambda: self._load_text_first(model, torch_load)) \
                if enabled(precision, device) else torch_load
            self.open_library(library_path)
        else:
            run_task(load, loaded, self._loader)

    def _load_model_now(self) -> None:
        """Start the model load put off by `start` (once; a no-op when none waits)."""
        load, self._deferred_load = getattr(self, "_deferred_load", None), None
        if load is not None and not self.closed:
            load()

    def _load_text_first(self, model: str, then) -> None:
        """The cached ONNX text tower (no torch), so typed queries get sound within a second or two;
        `then` (the torch load) starts once the query it lets the window ask again is answered. No
        tower, or one that fails its check (deleted; `status` says so): `then` at once."""
        from soundfinder.model import onnx_text

        load_id = self._load_id

        def agreed(tower, space_id=None, error=None):
            if load_id != self._load_id or self.closed:
                return
            if error is None and space_id == tower.space.id and not self.sound:
                self.text_sound = True
                self.textReady.emit()  # the window asks again: its query is queued before `then`
            run_task(lambda: None, lambda **_: then(), self._queries)

        def loaded(result=None, error=None):
            if load_id != self._load_id or self.closed:
                return
            tower = result[0] if result else None
            lib = self.library
            if tower is None or lib is None:
                then()
                return
            self.text_tower = tower
            run_task(lambda: lib.space_id, lambda result=None, error=None: agreed(tower, result, error),
                     self._queries)

        run_task(lambda: onnx_text.load_cached(model), loaded, self._loader)

    def _library_is(self, path: str) -> bool:
        """Whether `path` is the library open now or opening (not another folder)."""
        return self._library_path is not None and Path(path).expanduser().resolve() == \
            Path(self._library_path).expanduser().resolve()

    def _check_sound(self) -> None:
        """With model and library both there: sound search on if their spaces agree; a library
        without one yet (new) adopts the model's by opening again with it."""
        if self.embedder is None or self.library is None or self.sound or not self._library_is(str(self.library.root)):
            return
        lib, space = self.library, self.embedder.space

        def done(result=None, error=None):
            if lib is not self.library or space is not getattr(self.embedder, "space", None) or error:
                return  # superseded by another library or model meanwhile
            if result is None and not lib.readonly:
                self.open_library(str(lib.root), space)
            elif result is None or result == space.id:
                self.sound = True
                self.soundReady.emit()
            else:
                self.libraryFailed.emit(f"this library was indexed with {result}, not {space.id}: searching "
                                        f"by names only. Use the original model, or another library folder")

        run_task(lambda: lib.space_id, done, self._queries)

    def cancel_loading(self) -> None:
        """Forget the model load in flight; a download in progress stops (and resumes next time)."""
        self._load_id += 1
        self._deferred_load = None
        cancel = getattr(self, "_download_cancel", None)
        if cancel is not None:
            cancel.set()

    def open_library(self, path: str, space=None) -> None:
        """Open (or create) the library at `path` off the UI thread; `space` None: the model is
        not loaded yet, the space is checked when it is (`_check_sound`)."""
        from soundfinder.library import Library, LibraryError, LibraryLockedError

        old = self.library
        self._library_path = path

        def job():
            if old is not None:
                old.close()
            try:
                return Library.open(path, space=space), False
            except LibraryLockedError:
                if not os.path.exists(os.path.join(path, "catalog.sqlite")):
                    raise
                return Library.open(path, space=space, readonly=True), True
            except LibraryError:
                raise

        def done(result=None, error=None):
            if error is not None:
                self._library_path = None  # tried again once the model is loaded
                self.libraryFailed.emit(str(error))
                self._load_model_now()
                return
            lib, self.readonly = result
            if self.closed:  # the window closed while the library opened
                run_task(lib.close, None, self._queries)
                return
            self.library = lib
            self.sound = False

            def stats_done(result=None, error=None):
                self.libraryReady.emit(result or {})  # the window asks its first query here
                # Queued behind that query: the model load starts once it is answered, then the
                # graph warms (for the first query by sound).
                run_task(lambda: None, lambda **_: self._load_model_now(), self._queries)
                run_task(lambda: _warm_graph(lib), None, self._queries)

            run_task(self.library.stats, stats_done, self._queries)
            self._check_sound()

        run_task(job, done, self._queries)
