"""Watching the library's folders and keeping the index current in the background.

Threads, and what each may touch:
    watchdog observer(s)   file system events → `ChangeCollector.add(path)`; nothing else
    "soundfinder-watch"    every `tick`: hands settled paths to the worker; checks that each
                           library folder still exists (an unmount sends no reliable event)
    "soundfinder-index"    the `IndexWorker`: the only thread using the Library and the model

`LiveLibrary` wires the three together; it is what the GUI and `soundfinder watch` use:

    live = LiveLibrary(library, embedder, on_change=print)
    live.start()          # reconcile every folder (changes made while closed), then follow events
    ...
    live.stop()

A GUI connects the callbacks to signals of a QObject (emitting from another thread queues the
call onto the UI thread): on_change → AppliedChanges (added/changed/removed/moved/offline/
restored/failed paths), on_progress → WorkerProgress (state, done, total, queued, rate, eta),
on_job_done → JobResult (summary, error). Requests (`add_folder`, `pause`, `cancel`, ...)
are safe from the UI thread: they only queue work or set flags.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

from soundfinder.audio import is_audio_path
from soundfinder.indexing.debounce import ChangeCollector
from soundfinder.indexing.worker import IndexWorker, Listener


def _folder_id(folder: str) -> tuple[int, int] | None:
    """The folder's identity: a folder unmounted and another mounted at the same path differ."""
    try:
        st = os.stat(folder)
    except OSError:
        return None
    return (st.st_dev, st.st_ino) if os.path.isdir(folder) else None


class FolderWatcher:
    """Follows folders recursively with watchdog and hands settled changes to `on_changes`.

    Args:
        on_changes: called with a list of paths (files or folders, present or gone).
        on_folder: called with (folder, present) when a watched folder disappears or returns.
        polling: use watchdog's PollingObserver (network shares, file systems without events).
            A folder the native observer cannot watch (e.g. the inotify watch limit) falls back
            to polling on its own.
    """

    def __init__(self, folders: Iterable[str], on_changes: Callable[[list[str]], None],
                 on_folder: Callable[[str, bool], None], *, debounce: float = 1.0, max_wait: float = 10.0,
                 folder_check: float = 2.0, polling: bool = False, poll_interval: float = 1.0,
                 tick: float | None = None, clock: Callable[[], float] = time.monotonic):
        self.collector = ChangeCollector(debounce, max_wait, clock)
        self.on_changes = on_changes
        self.on_folder = on_folder
        self.folder_check = folder_check
        self.polling = polling
        self.poll_interval = poll_interval
        self.tick = tick if tick is not None else max(0.05, debounce / 4)
        self.clock = clock
        self.problems: list[tuple[str, str]] = []
        self._folders: dict[str, tuple[int, int] | None] = {}
        self._watches: dict[str, tuple[object, object]] = {}  # folder -> (observer, watch)
        self._lock = threading.RLock()
        self._observer = None
        self._fallback = None
        self._check_now = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_check = float("-inf")
        for f in folders:
            self._folders[os.path.abspath(f)] = None

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        self._observer = PollingObserver(timeout=self.poll_interval) if self.polling else Observer()
        self._observer.start()
        with self._lock:
            for folder in self._folders:
                self._folders[folder] = _folder_id(folder)
                if self._folders[folder] is not None:
                    self._schedule(folder)
        self._last_check = self.clock()
        self._thread = threading.Thread(target=self._run, name="soundfinder-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        for obs in (self._observer, self._fallback):
            if obs is not None:
                obs.stop()
        for obs in (self._observer, self._fallback):
            if obs is not None and obs.is_alive():
                obs.join(5)
        if self._thread is not None:
            self._thread.join(5)

    def watch(self, folder: str) -> None:
        folder = os.path.abspath(folder)
        with self._lock:
            if folder in self._folders:
                return
            self._folders[folder] = _folder_id(folder)
            if self._observer is not None and self._folders[folder] is not None:
                self._schedule(folder)

    def unwatch(self, folder: str) -> None:
        folder = os.path.abspath(folder)
        with self._lock:
            self._folders.pop(folder, None)
            self._unschedule(folder)

    @property
    def folders(self) -> list[str]:
        with self._lock:
            return sorted(self._folders)

    def pending(self) -> int:
        """Paths seen changing and not yet handed over."""
        return len(self.collector)

    # -- one step (the watch thread runs it every `tick`; tests may call it directly) -------

    def poll(self) -> None:
        with self.collector.lock:  # taking and handing over is one step: `pending` never misses a path
            ready = self.collector.take_ready()
            if ready:
                self.on_changes(ready)
        if self._check_now.is_set() or self.clock() - self._last_check >= self.folder_check:
            self._check_now.clear()
            self.check_folders()

    def check_folders(self) -> None:
        """Notice folders that vanished (unplugged, unmounted) or came back, and re-watch them."""
        self._last_check = self.clock()
        events = []
        with self._lock:
            for folder, before in list(self._folders.items()):
                now = _folder_id(folder)
                if now == before:
                    continue
                self._unschedule(folder)
                self._folders[folder] = now
                if now is not None:
                    self._schedule(folder)
                events.append((folder, now is not None))
        for folder, present in events:
            self.on_folder(folder, present)

    def _run(self) -> None:
        while not self._stop.wait(self.tick):
            try:
                self.poll()
            except Exception as e:  # a watcher that dies silently is worse than a logged problem
                self.problems.append(("watch", f"{type(e).__name__}: {e}"))

    # -- watchdog ------------------------------------------------------------------------

    def _schedule(self, folder: str) -> None:
        handler = _EventHandler(self, folder)
        try:
            self._watches[folder] = (self._observer, self._observer.schedule(
                handler, folder, recursive=True, event_filter=_event_types()))
        except OSError as e:  # inotify watch limit, a file system without events: poll it instead
            from watchdog.observers.polling import PollingObserver

            self.problems.append((folder, f"cannot watch with OS events ({e}); polling instead"))
            if self._fallback is None:
                self._fallback = PollingObserver(timeout=self.poll_interval)
                self._fallback.start()
            self._watches[folder] = (self._fallback, self._fallback.schedule(
                handler, folder, recursive=True, event_filter=_event_types()))

    def _unschedule(self, folder: str) -> None:
        observer, watch = self._watches.pop(folder, (None, None))
        if observer is not None:
            try:
                observer.unschedule(watch)
            except (KeyError, OSError):
                pass  # the emitter already stopped with its folder


def _event_types() -> list:
    # Not "opened" / "closed without writing": the worker reading a file must not look like a change.
    from watchdog import events as e

    return [e.FileCreatedEvent, e.FileModifiedEvent, e.FileClosedEvent, e.FileAttribEvent, e.FileDeletedEvent,
            e.FileMovedEvent, e.DirCreatedEvent, e.DirDeletedEvent, e.DirMovedEvent]


class _EventHandler:
    """Runs on watchdog's thread: only hands paths over."""

    def __init__(self, watcher: FolderWatcher, folder: str):
        self.watcher = watcher
        self.folder = folder

    def dispatch(self, event) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        if event.is_directory and event.event_type in ("modified", "attrib", "closed"):
            return  # its entries report their own events; rescanning the folder would be waste
        for raw in (event.src_path, event.dest_path):
            if not raw:
                continue
            path = os.fsdecode(raw)
            if path == self.folder:
                self.watcher._check_now.set()  # the folder itself went away or moved
            elif event.is_directory or is_audio_path(path):
                self.watcher.collector.add(path)


class LiveLibrary:
    """The library kept current: a `FolderWatcher` feeding one `IndexWorker`.

    Create it on any thread with an open writable library (which it then writes until `stop`;
    a wrapper that serialises calls, like the GUI's, works too); callbacks arrive on
    background threads, one at a time (see `IndexWorker`).

    Args:
        on_change / on_progress / on_job_done: see `IndexWorker`; more can be appended to
            `live.worker.on_change` etc. before `start`.
        debounce, max_wait, folder_check, polling, poll_interval: see `ChangeCollector` and
            `FolderWatcher`; other keywords go to `IndexWorker`.
    """

    def __init__(self, library, embedder, *, on_change: Listener | None = None,
                 on_progress: Listener | None = None, on_job_done: Listener | None = None,
                 debounce: float = 1.0, max_wait: float = 10.0, folder_check: float = 2.0,
                 polling: bool = False, poll_interval: float = 1.0, **worker_options):
        self.library = library
        self.worker = IndexWorker(library, embedder, on_change=on_change, on_progress=on_progress,
                                  on_job_done=on_job_done, **worker_options)
        self.watcher = FolderWatcher(library.folders(), self.worker.submit_changes, self._folder_changed,
                                     debounce=debounce, max_wait=max_wait, folder_check=folder_check,
                                     polling=polling, poll_interval=poll_interval)
        self.started = False

    def start(self) -> None:
        """Watch every folder and reconcile them first (what changed while the app was closed)."""
        self.watcher.start()  # events during the reconcile queue up behind it; applying them twice is harmless
        self.worker.submit_reconcile(self.watcher.folders)
        self.worker.start(reconcile=False)
        self.started = True

    def stop(self, timeout: float | None = None) -> None:
        """Stop watching and end the worker: the running job stops at its next batch, committed work
        stays. Close the library only after this returns."""
        self.watcher.stop()
        self.worker.stop(timeout)

    def __enter__(self) -> LiveLibrary:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- requests (any thread) -----------------------------------------------------------

    def add_folder(self, folder: str) -> None:
        """Follow a new folder: it is scanned, indexed and watched from now on."""
        folder = os.path.abspath(os.path.expanduser(folder))
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"no such folder: {folder}")
        if folder in self.watcher.folders:
            return
        self.watcher.watch(folder)
        if self.started:
            self.worker.submit_reconcile([folder])

    def remove_folder(self, folder: str) -> None:
        """Stop following a folder and forget its records (the files on disk are untouched)."""
        folder = os.path.abspath(os.path.expanduser(folder))
        self.watcher.unwatch(folder)
        self.worker.submit_remove_folder(folder)

    def reconcile(self) -> None:
        """A full scan of every folder against the catalog (e.g. after `cancel`)."""
        self.worker.submit_reconcile(self.watcher.folders)

    def pause(self) -> None:
        self.worker.pause()

    def resume(self) -> None:
        self.worker.resume()

    def cancel(self) -> None:
        """Stop the running and queued jobs; what was committed stays. Watching goes on."""
        self.worker.cancel_all()

    def pending(self) -> int:
        """Paths seen changing and not applied yet (waiting to settle, queued or being indexed)."""
        return self.watcher.pending() + self.worker.queued()

    def wait_settled(self, timeout: float | None = None) -> bool:
        """Block until nothing is pending or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.watcher.pending() or not self.worker.is_idle():
            if deadline is not None and time.monotonic() > deadline:
                return False
            self.worker.wait_idle(0.05)
            time.sleep(0.02)
        return True

    def _folder_changed(self, folder: str, present: bool) -> None:
        # Gone: its records go offline (kept). Back: they return without re-embedding.
        self.worker.submit_reconcile([folder])
