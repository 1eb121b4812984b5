"""One background thread that owns the library: a queue of indexing jobs, run one at a time.

Nothing else writes the `Library` while the worker runs: the watcher hands it paths, the
GUI hands it requests (add a folder, pause, cancel), and it answers through callbacks.
Callbacks run on background threads, one at a time: the worker's own, or the pipeline's
commit thread for `on_change`. A GUI re-emits them as signals (queued connections) and
never touches widgets from them.

Crash safety comes from the library: every batch the worker applies is one `commit`, so a
kill at any moment leaves the last committed batch, and the reconcile that starts the next
run picks up the rest (nothing is lost, nothing is stored twice).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from soundfinder.indexing.changes import apply_changes
from soundfinder.indexing.pipeline import IndexSummary, Progress, index_paths
from soundfinder.library import OFFLINE, Batch

RECONCILE = "reconcile"  # a full scan of folders against the catalog
CHANGES = "changes"  # paths the watcher saw change
REMOVE_FOLDER = "remove_folder"  # stop following a folder and forget its records


@dataclass
class Job:
    kind: str
    paths: list[str]  # roots for RECONCILE (empty: every library folder), changed paths for CHANGES
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass
class AppliedChanges:
    """What one committed batch changed, in terms a person (or a Qt model) cares about."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)  # same path, new content or metadata
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # old path, new path
    offline: list[str] = field(default_factory=list)  # its folder disappeared; the record is kept
    restored: list[str] = field(default_factory=list)  # back online
    failed: list[tuple[str, str]] = field(default_factory=list)  # path, reason

    def __len__(self) -> int:
        return sum(len(getattr(self, k)) for k in self.__dataclass_fields__)


@dataclass
class WorkerProgress:
    state: str  # "idle", "working", "paused"
    job: str | None = None  # RECONCILE, CHANGES, ...
    phase: str | None = None  # the pipeline's phase: "scanning", "hashing", "embedding", "done"
    done: int = 0
    total: int = 0
    queued: int = 0  # paths (or folders) waiting in the jobs behind this one
    rate: float = 0.0  # files per second in this phase
    eta: float | None = None  # seconds left in this phase
    current: str | None = None


@dataclass
class JobResult:
    job: Job
    summary: IndexSummary
    seconds: float
    error: str | None = None


Listener = Callable[..., None]


class IndexWorker:
    """The indexing worker: requests from any thread; callbacks on background threads, one at a time.

    Args:
        library: an open, writable `Library`; the worker is its only user once started.
        embedder: the model that embeds new audio.
        on_change: called with an `AppliedChanges` after every commit.
        on_progress: called with a `WorkerProgress`, at most every `progress_interval` seconds
            (state changes are always reported).
        on_job_done: called with a `JobResult` after every job.
        index: the pipeline (injected by tests).
        clock: monotonic seconds (injected by tests).
    """

    def __init__(self, library, embedder, *, on_change: Listener | None = None,
                 on_progress: Listener | None = None, on_job_done: Listener | None = None,
                 index: Callable[..., IndexSummary] = index_paths, clock: Callable[[], float] = time.monotonic,
                 progress_interval: float = 0.1):
        self.library = library
        self.embedder = embedder
        self.on_change: list[Listener] = [on_change] if on_change else []
        self.on_progress: list[Listener] = [on_progress] if on_progress else []
        self.on_job_done: list[Listener] = [on_job_done] if on_job_done else []
        self.index = index
        self.clock = clock
        self.progress_interval = progress_interval
        self.totals = IndexSummary()  # summed over every job this worker ran
        self._queue: list[Job] = []
        self._current: Job | None = None
        self._cond = threading.Condition()
        self._paused = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._last_progress = float("-inf")

    # -- requests (any thread) -----------------------------------------------------------

    def start(self, reconcile: bool = True) -> None:
        """Start the thread; first reconcile every library folder (changes made while closed)."""
        if reconcile:
            self.submit_reconcile()
        self._thread = threading.Thread(target=self._run, name="soundfinder-index", daemon=True)
        self._thread.start()

    def submit_reconcile(self, roots: Iterable[str] = ()) -> None:
        """Scan `roots` (default: every library folder) against the catalog; adds new roots as folders."""
        self._submit(Job(RECONCILE, [os.path.abspath(r) for r in roots]))

    def submit_changes(self, paths: Iterable[str]) -> None:
        """Apply what happened to `paths` (files or folders, present or gone)."""
        paths = list(paths)
        if not paths:
            return
        with self._cond:
            last = self._queue[-1] if self._queue else None
            if last is not None and last.kind == CHANGES:  # one bigger batch beats two small ones
                seen = set(last.paths)
                last.paths.extend(p for p in paths if p not in seen)
                return
        self._submit(Job(CHANGES, paths))

    def submit_remove_folder(self, folder: str) -> None:
        self._submit(Job(REMOVE_FOLDER, [os.path.abspath(folder)]))

    def pause(self) -> None:
        """Hold the work at the next file; nothing is lost, committed batches stay searchable."""
        with self._cond:
            self._paused = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._paused = False
            self._cond.notify_all()

    @property
    def paused(self) -> bool:
        return self._paused

    def cancel_current(self) -> None:
        """Stop the running job; what it committed stays, the rest waits for the next reconcile."""
        with self._cond:
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()

    def cancel_all(self) -> None:
        """Drop every queued job and stop the running one."""
        with self._cond:
            self._queue.clear()
        self.cancel_current()

    def queued(self) -> int:
        with self._cond:
            return sum(max(1, len(j.paths)) for j in self._queue)

    def is_idle(self) -> bool:
        with self._cond:
            return not self._queue and self._current is None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is queued or running; False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._current is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def stop(self, timeout: float | None = None) -> None:
        """Cancel the running job, drop the queue and end the thread (the library stays open)."""
        with self._cond:
            self._stopping = True
            self._queue.clear()
            if self._current is not None:
                self._current.cancel.set()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- the worker thread ---------------------------------------------------------------

    def run_next(self) -> JobResult | None:
        """Run the next queued job in the calling thread (tests drive the worker this way)."""
        with self._cond:
            if not self._queue or self._stopping:
                return None
            self._current = job = self._queue.pop(0)
        try:
            return self._run_job(job)
        finally:
            with self._cond:
                self._current = None
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping and not self._queue:
                    self._cond.wait()
                if self._stopping:
                    return
            self.run_next()
            if self.is_idle():
                self._emit_progress(WorkerProgress("idle"), force=True)

    def _submit(self, job: Job) -> None:
        with self._cond:
            if self._stopping:
                return
            self._queue.append(job)
            self._cond.notify_all()

    def _run_job(self, job: Job) -> JobResult:
        t0 = self.clock()
        lib = _CommitTap(self.library, self._changed)
        report = self._pipeline_progress(job)
        error = None
        summary = IndexSummary()
        try:
            if job.kind == RECONCILE:
                roots = job.paths or self.library.folders()
                if roots:
                    summary = self.index(lib, self.embedder, roots, progress=report, cancel=job.cancel)
            elif job.kind == CHANGES:
                summary = apply_changes(lib, self.embedder, job.paths, self.library.folders(),
                                        progress=report, cancel=job.cancel, index=self.index)
            elif job.kind == REMOVE_FOLDER:
                removed = [r.path for r in self.library.files_under(job.paths[0])]
                self.library.remove_folder(job.paths[0])
                self._changed(AppliedChanges(removed=removed))
                summary.removed = len(removed)
        except Exception as e:  # one failed job (disk full, a model error) must not end the worker
            error = f"{type(e).__name__}: {e}"
        summary.cancelled = summary.cancelled or job.cancel.is_set()
        self.totals.add(summary)
        del self.totals.failures[:-1000]  # a watcher runs for weeks: keep the latest reasons only
        result = JobResult(job, summary, self.clock() - t0, error)
        for fn in self.on_job_done:
            fn(result)
        return result

    def _pipeline_progress(self, job: Job) -> Callable[[Progress], None]:
        last_phase = None

        def report(p: Progress) -> None:
            nonlocal last_phase
            self._wait_while_paused(job)
            # A new phase always goes out (a fast job would otherwise skip "embedding" entirely).
            new_phase, last_phase = p.phase != last_phase, p.phase
            self._emit_progress(WorkerProgress("working", job.kind, p.phase, p.done, p.total, self.queued(),
                                               p.rate, p.eta, p.current), force=new_phase or p.phase == "done")
        return report

    def _wait_while_paused(self, job: Job) -> None:
        # Called from inside the pipeline (first thing in a job, then between files): blocking here
        # pauses the job in place. Callbacks run outside the lock.
        if not self._paused:
            return
        self._emit_progress(WorkerProgress("paused", job.kind, queued=self.queued()), force=True)
        with self._cond:
            while self._paused and not job.cancel.is_set() and not self._stopping:
                self._cond.wait()

    def _emit_progress(self, progress: WorkerProgress, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last_progress < self.progress_interval:
            return
        self._last_progress = now
        for fn in self.on_progress:
            fn(progress)

    def _changed(self, changes: AppliedChanges) -> None:
        if len(changes):
            for fn in self.on_change:
                fn(changes)


class _CommitTap:
    """The library as the pipeline sees it, reporting what each commit changed."""

    def __init__(self, library, report: Callable[[AppliedChanges], None]):
        self._library = library
        self._report = report

    def __getattr__(self, name):
        return getattr(self._library, name)

    def commit(self, batch: Batch) -> None:
        changes = AppliedChanges(removed=list(batch.removed), offline=list(batch.offline),
                                 moved=[(old, info.path) for old, info in batch.moved])
        for info in [i for i, _ in batch.embedded] + [i for i, _ in batch.reused]:
            before = self._library.get(info.path)
            if before is None:
                changes.added.append(info.path)
            elif before.status == OFFLINE:
                changes.restored.append(info.path)
            else:
                changes.changed.append(info.path)
        changes.failed = [(info.path, reason) for info, reason in batch.failed]
        self._library.commit(batch)
        self._report(changes)


__all__ = ["CHANGES", "RECONCILE", "REMOVE_FOLDER", "AppliedChanges", "IndexWorker", "JobResult", "Job",
           "WorkerProgress", "apply_changes"]
