"""The embedding phase: decode on worker threads, the model on the caller's, commits on another.

Four pieces, each readable alone:
- `_prepare` (decode workers): file -> windows -> (on CPU) model inputs.
- `indexing.describe` (analysis threads, at a lower priority): the musical analysis of the same
  decoded audio; its rows are stored by whichever commit comes after it finishes.
- `WindowBatcher` (model thread): queues windows of several files and runs the model on full
  batches of `embedder.batch_size` windows (a long file's windows may straddle two batches);
  a file is done once all its windows are embedded, as the normalised mean of its windows'
  embeddings (what `encode_audio` does for one file).
- `Committer` (commit thread): gathers done and failed files into `Batch`es and commits them in
  order, one in flight at a time, then the byte-identical copies of what each batch embedded.
`embed_new` drives them.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from soundfinder.audio import DecodeError, decode
from soundfinder.indexing.describe import describe, fingerprint
from soundfinder.indexing.plan import commit_with_copies, record_decode_failure
from soundfinder.library import Batch, FileInfo, Library

ANALYSIS_NICE = 10  # the analysis thread's niceness (Linux), see `_background`
ANALYSIS_BACKLOG_BYTES = 256 << 20  # decoded audio waiting for analysis, at most


@dataclass
class _Prepared:
    """One decoded file, cut into windows and (on CPU) already turned into model inputs."""

    info: FileInfo
    count: int  # windows
    inputs: object  # torch tensor (count, 1, frames, mels), or the raw windows (accelerators)
    audio: object = None  # the Decoded, kept (with its channels) only for the musical analysis
    fingerprint: tuple[str, bytes] | None = None  # (version, bytes) for duplicates, describe.py


def _prepare(path: str, info: FileInfo, embedder, on_worker: bool, analysis: bool = False):
    """Decode worker: file -> windows -> (CPU) features. Runs on a pool thread; numpy, soxr,
    libsndfile and torch release the GIL, so this overlaps the model's forward pass."""
    try:
        audio = decode(path, sample_rate=embedder.sample_rate, keep_channels=analysis)
    except DecodeError as e:
        return e
    printed = fingerprint(audio)  # ~0.4 ms, for `duplicates`
    windows = embedder.windows(audio.samples)
    inputs = embedder.audio_inputs(windows) if on_worker else windows
    # Metadata now: the samples are dropped as soon as the features exist (CPU).
    info.duration, info.sample_rate = audio.duration, audio.source_rate
    info.channels, info.format, info.subtype = audio.channels, audio.format, audio.subtype
    info.warning = audio.warning
    return _Prepared(info, len(windows), inputs, audio if analysis else None, printed)


@dataclass
class _Part:
    """Some consecutive windows of one file, waiting for the model."""

    owner: int  # the file's slot
    inputs: object  # tensor (k, 1, frames, mels) or a list of k windows


@dataclass
class _InFlight:
    """A file some of whose windows are embedded: their sum, and how many are still to come."""

    info: FileInfo
    total: np.ndarray
    left: int


class WindowBatcher:
    """Runs the model on full batches of windows mixed across files (model thread only)."""

    def __init__(self, embedder, on_worker: bool, summary):
        self.embedder = embedder
        self.on_worker = on_worker
        self.summary = summary  # model_seconds is added up here
        self.parts: list[_Part] = []
        self.files: dict[int, _InFlight] = {}
        self._next_slot = 0

    def _size(self, inputs) -> int:
        return inputs.shape[0] if self.on_worker else len(inputs)

    def add(self, prepared: _Prepared) -> None:
        slot, self._next_slot = self._next_slot, self._next_slot + 1
        self.files[slot] = _InFlight(prepared.info, np.zeros(self.embedder.dim, dtype=np.float64),
                                     prepared.count)
        self.parts.append(_Part(slot, prepared.inputs))

    def queued(self) -> int:
        """Windows waiting for the model."""
        return sum(self._size(p.inputs) for p in self.parts)

    def run(self, n_windows: int) -> list[tuple[FileInfo, np.ndarray]]:
        """Embed up to `n_windows` queued windows; returns the files this finished, with vectors."""
        batch, count = [], 0
        while self.parts and count < n_windows:
            part = self.parts[0]
            k = self._size(part.inputs)
            if count + k > n_windows:  # split this file's windows across two batches
                cut = n_windows - count
                batch.append(_Part(part.owner, part.inputs[:cut]))
                part.inputs = part.inputs[cut:]
                break
            batch.append(self.parts.pop(0))
            count += k
        return self._embed(batch)

    def _embed(self, batch: list[_Part]) -> list[tuple[FileInfo, np.ndarray]]:
        import torch

        t0 = time.perf_counter()
        if self.on_worker:
            feats = batch[0].inputs if len(batch) == 1 else torch.cat([p.inputs for p in batch])
        else:
            feats = self.embedder.audio_inputs([w for p in batch for w in p.inputs])
        emb = self.embedder.encode_inputs(feats)
        self.summary.model_seconds += time.perf_counter() - t0
        done, row = [], 0
        for part in batch:
            k = self._size(part.inputs)
            entry = self.files[part.owner]
            entry.total = entry.total + emb[row:row + k].sum(axis=0)
            entry.left -= k
            row += k
            if entry.left == 0:
                del self.files[part.owner]
                vec = entry.total / max(float(np.linalg.norm(entry.total)), 1e-12)
                done.append((entry.info, vec.astype(np.float32)))
        return done


class Committer:
    """Commits finished files in batches on its own thread, in order, one batch in flight."""

    def __init__(self, library: Library, groups: dict[str, list[FileInfo]], summary, prog, report,
                 executor: ThreadPoolExecutor, files_per_batch: int, commit_seconds: float):
        self.library = library
        self.groups = groups  # hash -> every file with that content (the first is embedded)
        self.summary, self.prog, self.report = summary, prog, report
        self.executor = executor
        self.files_per_batch, self.commit_seconds = files_per_batch, commit_seconds
        self.batch = Batch()
        self.last = time.monotonic()
        self.in_flight: Future | None = None
        # content hash -> the analysis of its file (a Future of (row, CPU seconds)), until its
        # row is handed to a commit: that is once it is done and its file embedded
        self.rows: dict[str, Future] = {}
        self.audio_bytes: dict[str, int] = {}  # content hash -> decoded bytes its analysis holds
        self.embedded_hashes: set[str] = set()
        self.prints: dict[str, tuple[str, bytes]] = {}  # content hash -> fingerprint, until committed

    def describing(self, content_hash: str, analysis: Future, nbytes: int) -> None:
        self.rows[content_hash] = analysis
        self.audio_bytes[content_hash] = nbytes

    def make_room(self, nbytes: int) -> None:
        """Wait (oldest first) until the decoded audio waiting for analysis and `nbytes` more fit
        in ANALYSIS_BACKLOG_BYTES: the background analysis may lag the model, never without bound."""
        for h in list(self.audio_bytes):
            if sum(self.audio_bytes.values()) + nbytes <= ANALYSIS_BACKLOG_BYTES:
                return
            if (f := self.rows.get(h)) is not None:
                t0 = time.perf_counter()
                f.exception()  # waits; describe never raises
                self.summary.wait_decode_seconds += time.perf_counter() - t0
            del self.audio_bytes[h]

    def _forget_done(self) -> None:
        for h in [h for h in self.audio_bytes if h not in self.rows or self.rows[h].done()]:
            del self.audio_bytes[h]

    def embedded(self, info: FileInfo, vector: np.ndarray) -> None:
        self.batch.embedded.append((info, vector))
        self.embedded_hashes.add(info.hash)
        self.summary.embedded += 1
        self.prog.done += 1

    def failed(self, info: FileInfo, reason: str, changed: set[str]) -> None:
        record_decode_failure(self.batch, self.summary, self.prog, info, reason, changed)

    def due(self) -> bool:
        return len(self.batch) >= self.files_per_batch or time.monotonic() - self.last > self.commit_seconds

    def commit(self, wait: bool = False) -> None:
        """Hand the gathered batch to the commit thread (after the previous one finished)."""
        self._wait()  # one commit in flight at a time: commits stay in order
        rows = self._finished_rows(everything=wait)
        if len(self.batch) or rows:
            self.in_flight = self.executor.submit(self._commit, self.batch, rows)
            self.batch = Batch()
        self.last = time.monotonic()
        if wait:
            self._wait()
        self.report(self.prog)

    def _wait(self) -> None:
        if self.in_flight is not None:
            fut, self.in_flight = self.in_flight, None
            t0 = time.perf_counter()
            self.prog.done += fut.result()  # re-raises a failed commit here
            self.summary.wait_commit_seconds += time.perf_counter() - t0

    def _finished_rows(self, everything: bool) -> dict[str, dict]:
        """Descriptor rows of embedded files whose analysis is done, taken out of `rows`. Neither
        the model nor a commit waits for an analysis, except the last commit, for all of them."""
        self._forget_done()
        ready = {}
        for h in [h for h, f in self.rows.items() if h in self.embedded_hashes and (everything or f.done())]:
            ready[h], seconds = self.rows.pop(h).result()
            self.summary.analysis_seconds += seconds
        return ready

    def _commit(self, batch: Batch, rows: dict[str, dict]) -> int:
        """Commit thread: the batch, the finished descriptors, then the byte-identical copies of
        what the batch embedded."""
        copies = commit_with_copies(self.library, batch, self.groups, rows, self.prints) if len(batch) else 0
        self.library.descriptors.put_many(rows.items())  # files of earlier batches (the rest were taken)
        return copies


def embed_new(library: Library, embedder, groups: dict[str, list[FileInfo]], changed: set[str], summary,
              prog, report, cancel, files_per_batch: int, workers: int, commit_seconds: float,
              analysis: bool = False) -> None:
    """Embed one file per distinct content of `groups` and commit them (and their copies).

    Args:
        changed: paths the library knew before (counted as changed, not new, in `summary`).
    """
    firsts = [infos[0] for infos in groups.values()]
    if not firsts:
        return
    import torch

    on_worker = embedder.features_in_workers
    main_threads = torch.get_num_threads()

    def single_threaded():
        # torch's intra-op thread count is per thread (OpenMP): a decode worker's STFT on one
        # file's windows runs on one core instead of starting a team that competes with the
        # model's threads. The global default this also sets is restored below.
        torch.set_num_threads(1)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode",
                            initializer=single_threaded if on_worker else None) as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as commit_thread, \
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis",
                               initializer=_background) as analyst:
        committer = Committer(library, groups, summary, prog, report, commit_thread, files_per_batch,
                              commit_seconds)
        _run(embedder, firsts, pool, WindowBatcher(embedder, on_worker, summary), committer, changed,
             summary, prog, cancel, workers, analyst if analysis else None)
    torch.set_num_threads(main_threads)  # the model thread's count, and the default for new threads


def _nbytes(audio) -> int:
    return audio.samples.nbytes + (audio.channel_data.nbytes if audio.channel_data is not None else 0)


def _background() -> None:
    """The analysis thread runs at a lower priority (Linux: per-thread nice): on a machine the
    model keeps busy it takes the cycles the model leaves, instead of stalling the model's
    threads, and catches up whenever the model waits. A thread may always lower its own
    priority; elsewhere (no per-thread nice through `os`) it keeps the normal priority."""
    import os
    import sys
    import threading

    if sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), ANALYSIS_NICE)
        except OSError:
            pass


def _run(embedder, firsts, pool, batcher: WindowBatcher, committer: Committer, changed, summary, prog,
         cancel, workers: int, analyst: ThreadPoolExecutor | None = None) -> None:
    """The model thread's loop: take decoded files in order, embed full batches, commit when due.
    `analyst`: the thread for the musical analysis (None: no analysis)."""
    analysis = analyst is not None
    batch_size = embedder.batch_size
    # Enough decoded files in flight to fill the next batches while the model runs, bounded so
    # memory stays small (each window's input is 256 KB).
    prefetch = max(2 * batch_size, 2 * workers, 8)
    pending: deque[tuple[FileInfo, Future]] = deque()
    todo = iter(firsts)

    def fill():
        while len(pending) < prefetch and (info := next(todo, None)) is not None:
            pending.append((info, pool.submit(_prepare, info.path, info, embedder, batcher.on_worker, analysis)))

    def embed(n_windows: int) -> None:
        for info, vector in batcher.run(n_windows):
            committer.embedded(info, vector)

    try:
        fill()
        while pending and not cancel.is_set():
            info, fut = pending.popleft()
            fill()
            t0 = time.perf_counter()
            result = fut.result()
            summary.wait_decode_seconds += time.perf_counter() - t0
            prog.current = info.path
            if isinstance(result, DecodeError):
                committer.failed(info, result.reason, changed)
            else:
                if result.audio is not None:
                    # The musical analysis of the same decoded audio (never a second decode), on
                    # the background analysis threads: the model waits for decodes, never for an
                    # analysis; a later commit stores its row.
                    nbytes = _nbytes(result.audio)
                    committer.make_room(nbytes)
                    committer.describing(info.hash, analyst.submit(describe, info.path, result.audio), nbytes)
                    result.audio = None
                if result.fingerprint is not None:
                    committer.prints[info.hash] = result.fingerprint
                batcher.add(result)
            while batcher.queued() >= batch_size and not cancel.is_set():
                embed(batch_size)
            if not pending and not cancel.is_set():
                while batcher.parts:
                    embed(batch_size)
            if committer.due():
                committer.commit()
    finally:
        for _, fut in pending:
            fut.cancel()
        # Files whose windows were not all embedded (cancel) are simply not committed: the
        # next run picks them up.
        committer.commit(wait=True)
        for analysis in committer.rows.values():  # of files not committed: not worth finishing
            analysis.cancel()
