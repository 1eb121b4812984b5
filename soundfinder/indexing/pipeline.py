"""scan → compare with the catalog → hash → decode (threads) → embed (batches) → commit.

Cheap changes (moves, removals, files whose content the library already has, failures)
commit first in one batch; new audio is then decoded on worker threads while the model
embeds the previous batch, and each batch commits as soon as it is embedded, so a
cancelled or killed run keeps everything finished before it and the next run resumes.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from soundfinder.audio import DecodeError, decode
from soundfinder.indexing.plan import (
    IndexSummary,
    Progress,
    ProgressFn,
    commit_with_copies,
    plan_changes,
)
from soundfinder.indexing.plan import record_failure as _fail
from soundfinder.library import Batch, FileInfo, Library

__all__ = ["IndexSummary", "Progress", "index_paths"]  # the planning types live in plan.py


def _decode_for(path: str, rate: int):
    try:
        return decode(path, sample_rate=rate)
    except DecodeError as e:
        return e


def index_paths(library: Library, embedder, roots: Iterable[str], *, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, files_per_batch: int = 32,
                decode_workers: int | None = None, commit_seconds: float = 2.0) -> IndexSummary:
    """Bring the library up to date with the files under `roots` (folders or single files)."""
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    summary = IndexSummary()
    report = progress or (lambda p: None)
    roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]

    plan = plan_changes(library, roots, summary, report, cancel)

    # 3. Embed new content, one file per distinct hash; byte-identical copies reuse its vector.
    firsts, to_embed, changed, prog = plan.firsts, plan.groups, plan.changed, plan.prog
    if firsts:
        report(prog)  # "embedding 0/N": the long phase starts now
    _embed(library, embedder, firsts, to_embed, changed, summary, prog, report, cancel, files_per_batch,
           decode_workers or max(2, min(4, (os.cpu_count() or 2))), commit_seconds)
    summary.cancelled = cancel.is_set()
    summary.seconds = time.monotonic() - t0
    prog.phase = "done"
    report(prog)
    return summary


@dataclass
class _Prepared:
    """One decoded file, cut into windows and (on CPU) already turned into model inputs."""

    info: FileInfo
    count: int  # windows
    inputs: object  # torch tensor (count, 1, frames, mels), or the raw windows (accelerators)


def _prepare(path: str, info: FileInfo, embedder, on_worker: bool):
    """Decode worker: file -> windows -> (CPU) features. Runs on a pool thread; numpy, soxr,
    libsndfile and torch release the GIL, so this overlaps the model's forward pass."""
    try:
        audio = decode(path, sample_rate=embedder.sample_rate)
    except DecodeError as e:
        return e
    windows = embedder.windows(audio.samples)
    inputs = embedder.audio_inputs(windows) if on_worker else windows
    # Metadata now: the samples are dropped as soon as the features exist (CPU).
    info.duration, info.sample_rate = audio.duration, audio.source_rate
    info.channels, info.format, info.subtype = audio.channels, audio.format, audio.subtype
    return _Prepared(info, len(windows), inputs)


def _embed(library, embedder, firsts, groups, changed, summary, prog, report, cancel, files_per_batch, workers,
           commit_seconds) -> None:
    """Decode + features on `workers` threads, the model on this thread, commits on another.

    The model sees full batches of `embedder.batch_size` windows mixed across files (a long
    file's windows may straddle two batches); a file is committed once all its windows are
    embedded, as the normalised mean of its windows' embeddings (as `encode_audio` does).
    """
    if not firsts:
        return
    import torch

    on_worker = embedder.features_in_workers
    batch_size = embedder.batch_size
    # Enough decoded files in flight to fill the next batches while the model runs, bounded so
    # memory stays small (each window's input is 256 KB).
    prefetch = max(2 * batch_size, 2 * workers, 8)
    pending: deque[tuple[FileInfo, Future]] = deque()
    it = iter(firsts)
    win_inputs: list = []  # queued windows (tensors or arrays), in file order
    win_owner: list[int] = []  # slot of each queued window
    slots: dict[int, list] = {}  # slot -> [prepared, sum of embeddings, windows left]
    next_slot = 0
    batch = Batch()
    last_commit = time.monotonic()
    committing: Future | None = None

    def run_model(n: int) -> None:
        t0 = time.perf_counter()
        inputs, owners = win_inputs[:n], win_owner[:n]
        del win_inputs[:n], win_owner[:n]
        if on_worker:
            feats = inputs[0] if len(inputs) == 1 else torch.cat(inputs)
        else:
            feats = embedder.audio_inputs([w for part in inputs for w in part])
        emb = embedder.encode_inputs(feats)
        summary.model_seconds += time.perf_counter() - t0
        row = 0
        for slot, part in zip(owners, inputs, strict=True):
            k = part.shape[0] if on_worker else len(part)
            entry = slots[slot]
            entry[1] = entry[1] + emb[row:row + k].sum(axis=0)
            entry[2] -= k
            row += k
            if entry[2] == 0:
                finished(slots.pop(slot))

    def finished(entry) -> None:
        info, total = entry[0].info, entry[1]
        vec = total / max(float(np.linalg.norm(total)), 1e-12)
        batch.embedded.append((info, vec.astype(np.float32)))
        summary.embedded += 1
        prog.done += 1

    def queued_windows() -> int:
        return sum(p.shape[0] for p in win_inputs) if on_worker else sum(len(p) for p in win_inputs)

    def take(n_windows: int) -> None:
        """Run the model on up to `n_windows` queued windows (whole file parts, split if needed)."""
        count, parts = 0, 0
        while parts < len(win_inputs) and count < n_windows:
            part = win_inputs[parts]
            k = part.shape[0] if on_worker else len(part)
            if count + k > n_windows:  # split this file's windows across two batches
                cut = n_windows - count
                win_inputs[parts:parts + 1] = [part[:cut], part[cut:]]
                win_owner[parts:parts + 1] = [win_owner[parts]] * 2
                k = cut
            count += k
            parts += 1
        run_model(parts)

    def do_commit(b: Batch) -> int:
        """Commit thread: the batch, then byte-identical copies of what it embedded."""
        return commit_with_copies(library, b, groups)

    def wait_commit() -> None:
        nonlocal committing
        if committing is not None:
            fut, committing = committing, None
            t0 = time.perf_counter()
            prog.done += fut.result()  # re-raises a failed commit here
            summary.wait_commit_seconds += time.perf_counter() - t0

    def commit(wait: bool = False) -> None:
        nonlocal batch, last_commit, committing
        wait_commit()  # one commit in flight at a time: commits stay in order
        if len(batch):
            committing = committer.submit(do_commit, batch)
            batch = Batch()
        last_commit = time.monotonic()
        if wait:
            wait_commit()
        report(prog)

    main_threads = torch.get_num_threads()

    def single_threaded():
        # torch's intra-op thread count is per thread (OpenMP): a decode worker's STFT on one
        # file's windows runs on one core instead of starting a team that competes with the
        # model's threads. The global default this also sets is restored below.
        torch.set_num_threads(1)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode",
                            initializer=single_threaded if on_worker else None) as pool, \
            ThreadPoolExecutor(max_workers=1, thread_name_prefix="commit") as committer:
        def fill():
            while len(pending) < prefetch:
                info = next(it, None)
                if info is None:
                    return
                pending.append((info, pool.submit(_prepare, info.path, info, embedder, on_worker)))

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
                    _fail(batch, summary, prog, info, result.reason)
                    if info.path in changed:  # it was counted as changed/new before we knew
                        summary.changed -= 1
                    else:
                        summary.new -= 1
                    prog.done += 1
                else:
                    slots[next_slot] = [result, np.zeros(embedder.dim, dtype=np.float64), result.count]
                    win_inputs.append(result.inputs)
                    win_owner.append(next_slot)
                    next_slot += 1
                while queued_windows() >= batch_size and not cancel.is_set():
                    take(batch_size)
                if not pending and not cancel.is_set():
                    while win_inputs:
                        take(batch_size)
                if len(batch) >= files_per_batch or time.monotonic() - last_commit > commit_seconds:
                    commit()
        finally:
            for _, fut in pending:
                fut.cancel()
            # Files whose windows were not all embedded (cancel) are simply not committed: the
            # next run picks them up.
            commit(wait=True)
    torch.set_num_threads(main_threads)  # the model thread's count, and the default for new threads
