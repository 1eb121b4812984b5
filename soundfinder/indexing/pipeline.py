"""scan → compare with the catalog → hash → decode (threads) → embed (batches) → commit.

Cheap changes (moves, removals, files whose content the library already has, failures)
commit first in one batch; new audio is then decoded on worker threads while the model
embeds the previous batch, and each batch commits as soon as it is embedded, so a
cancelled or killed run keeps everything finished before it and the next run resumes.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from soundfinder.audio import DecodeError, decode
from soundfinder.indexing.describe import describe
from soundfinder.indexing.scan import content_hash, scan_folders
from soundfinder.library import FAILED, INDEXED, OFFLINE, Batch, FileInfo, Library


@dataclass
class Progress:
    phase: str  # "scanning", "hashing", "embedding", "done"
    done: int
    total: int
    current: str | None = None
    errors: list[tuple[str, str]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    @property
    def eta(self) -> float | None:
        r = self.rate
        return (self.total - self.done) / r if r > 0 else None


@dataclass
class IndexSummary:
    new: int = 0
    changed: int = 0
    moved: int = 0
    removed: int = 0
    unchanged: int = 0
    failed: int = 0
    offline: int = 0
    embedded: int = 0  # files that went through the model (new distinct content)
    seconds: float = 0.0
    cancelled: bool = False
    failures: list[tuple[str, str]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)  # folders that could not be read
    # Where the embedding phase's wall time went on the model thread (not in to_json):
    model_seconds: float = 0.0  # in the audio tower (and features, where they run there)
    wait_decode_seconds: float = 0.0  # waiting for a decode worker: the model starved
    wait_commit_seconds: float = 0.0  # waiting for the previous commit to finish
    analysis_seconds: float = 0.0  # musical analysis on the decode workers (CPU time, summed)

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("new", "changed", "moved", "removed", "unchanged", "failed",
                                           "offline", "embedded", "seconds", "cancelled")}
        d["failures"] = [{"path": p, "error": r} for p, r in self.failures]
        d["problems"] = [{"path": p, "error": r} for p, r in self.problems]
        return d


ProgressFn = Callable[[Progress], None]


def _info_with_metadata(info: FileInfo) -> FileInfo:
    try:
        with open(info.path, "rb") as f:  # a file object: soundfile cannot take non-UTF-8 names
            i = sf.info(f)
        info.duration, info.sample_rate, info.channels = i.duration, i.samplerate, i.channels
        info.format, info.subtype = i.format, i.subtype
    except Exception:  # metadata is a nicety; the vector is what counts
        pass
    return info


def index_paths(library: Library, embedder, roots: Iterable[str], *, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, files_per_batch: int = 32,
                decode_workers: int | None = None, commit_seconds: float = 2.0,
                analysis: bool = True) -> IndexSummary:
    """Bring the library up to date with the files under `roots` (folders or single files)."""
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    summary = IndexSummary()
    report = progress or (lambda p: None)
    roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]
    report(Progress("scanning", 0, 0))
    scan = scan_folders(roots)

    # 1. Compare what is on disk with the catalog.
    known = {}
    for root in roots:
        if os.path.isdir(root) or root in scan.missing_roots:
            known.update((r.path, r) for r in library.files_under(root))
        elif (rec := library.get(root)) is not None:
            known[root] = rec
    offline = [p for p, r in known.items() if any(p.startswith(m + os.sep) for m in scan.missing_roots)
               and r.status != OFFLINE]
    # Files under a folder we could not list are not gone: keep their records untouched.
    hidden = [*scan.missing_roots, *scan.unreadable_folders]
    missing = {p: r for p, r in known.items() if p not in scan.files
               and not any(p.startswith(m + os.sep) for m in hidden)}
    summary.problems.extend((p, r) for p, r in scan.problems if p not in scan.files)
    candidates: list[FileInfo] = []
    cheap = Batch(offline=offline)
    summary.offline = len(offline)
    for path, info in scan.files.items():
        rec = known.get(path)
        if rec and rec.size == info.size and rec.mtime_ns == info.mtime_ns and rec.status != OFFLINE:
            summary.unchanged += 1
        else:
            candidates.append(info)

    # 2. Hash what changed: moves, duplicates and touched-but-identical files cost no model time.
    prog = Progress("hashing", 0, len(candidates))
    by_hash_missing = {}
    for p, r in missing.items():
        if r.hash and r.status == INDEXED:
            by_hash_missing.setdefault(r.hash, []).append(p)
    to_embed: dict[str, list[FileInfo]] = {}
    for info in candidates:
        if cancel.is_set():
            break
        prog.current = info.path
        rec = known.get(info.path)
        try:
            if info.size < 0:
                raise OSError(scan.reason_for(info.path) or "unreadable")
            info.hash = content_hash(info.path)
        except OSError as e:
            if info.size < 0:
                reason = str(e)
            elif isinstance(e, PermissionError):
                reason = "unreadable: permission denied"
            elif e.errno == errno.EINVAL and e.strerror:
                reason = e.strerror
            else:
                reason = f"unreadable: {e.strerror or e}"
            _fail(cheap, summary, prog, info, reason)
            continue
        if rec is not None and rec.hash == info.hash and rec.status == INDEXED:
            cheap.reused.append((_info_with_metadata(info), rec.vector_id))
            summary.unchanged += 1
        elif rec is None and by_hash_missing.get(info.hash):
            old = by_hash_missing[info.hash].pop()
            missing.pop(old, None)
            cheap.moved.append((old, info))
            summary.moved += 1
        elif (vid := library.vector_for_hash(info.hash)) is not None:
            cheap.reused.append((_info_with_metadata(info), vid))
            _count_new(summary, rec)
        elif rec is not None and rec.status == FAILED and rec.hash == info.hash:
            summary.failed += 1  # same bytes failed before; keep the reason, skip the decode
            summary.failures.append((info.path, rec.error or "failed"))
            cheap.failed.append((info, rec.error or "failed"))
        else:
            to_embed.setdefault(info.hash, []).append(info)
            _count_new(summary, rec)
        prog.done += 1
        report(prog)
    if not cancel.is_set():  # an interrupted hash pass may not have seen every move yet
        cheap.removed = list(missing)
        summary.removed = len(missing)
    library.commit(cheap)
    for root in roots:
        if os.path.isdir(root):
            library.add_folder(root)

    # 3. Embed new content, one file per distinct hash; byte-identical copies reuse its vector.
    firsts = [infos[0] for infos in to_embed.values()]
    prog = Progress("embedding", 0, sum(len(v) for v in to_embed.values()), errors=prog.errors)
    changed = {i.path for i in candidates if i.path in known}
    if firsts:
        report(prog)  # "embedding 0/N": the long phase starts now
    _embed(library, embedder, firsts, to_embed, changed, summary, prog, report, cancel, files_per_batch,
           decode_workers or max(2, min(4, (os.cpu_count() or 2))), commit_seconds, analysis)
    summary.cancelled = cancel.is_set()
    summary.seconds = time.monotonic() - t0
    prog.phase = "done"
    report(prog)
    return summary


def _count_new(summary: IndexSummary, rec) -> None:
    if rec is None:
        summary.new += 1
    else:
        summary.changed += 1


def _fail(batch: Batch, summary: IndexSummary, prog: Progress, info: FileInfo, reason: str) -> None:
    batch.failed.append((info, reason))
    summary.failed += 1
    summary.failures.append((info.path, reason))
    prog.errors.append((info.path, reason))


@dataclass
class _Prepared:
    """One decoded file, cut into windows and (on CPU) already turned into model inputs."""

    info: FileInfo
    count: int  # windows
    inputs: object  # torch tensor (count, 1, frames, mels), or the raw windows (accelerators)
    descriptors: tuple[dict, float] | None = None  # (row, seconds) from indexing/describe.py


def _prepare(path: str, info: FileInfo, embedder, on_worker: bool, analysis: bool = False):
    """Decode worker: file -> windows -> (CPU) features. Runs on a pool thread; numpy, soxr,
    libsndfile and torch release the GIL, so this overlaps the model's forward pass."""
    try:
        audio = decode(path, sample_rate=embedder.sample_rate, keep_channels=analysis)
    except DecodeError as e:
        return e
    described = describe(path, audio) if analysis else None
    windows = embedder.windows(audio.samples)
    inputs = embedder.audio_inputs(windows) if on_worker else windows
    # Metadata now: the samples are dropped as soon as the features exist (CPU).
    info.duration, info.sample_rate = audio.duration, audio.source_rate
    info.channels, info.format, info.subtype = audio.channels, audio.format, audio.subtype
    return _Prepared(info, len(windows), inputs, described)


def _embed(library, embedder, firsts, groups, changed, summary, prog, report, cancel, files_per_batch, workers,
           commit_seconds, analysis=False) -> None:
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
    rows: dict[str, dict] = {}  # content hash -> descriptors (indexing/describe.py), until committed
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
        if entry[0].descriptors is not None:
            rows[info.hash] = entry[0].descriptors[0]
            summary.analysis_seconds += entry[0].descriptors[1]
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
        """Commit thread: the batch, its descriptors, then byte-identical copies of what it embedded."""
        library.commit(b)
        library.descriptors.put_many((i.hash, rows.pop(i.hash)) for i, _ in b.embedded if i.hash in rows)
        dupes = Batch()
        for info, _ in b.embedded:
            rest = groups[info.hash][1:]
            if rest:
                vid = library.vector_for_hash(info.hash)
                dupes.reused.extend((_info_with_metadata(i), vid) for i in rest)
        library.commit(dupes)
        return len(dupes.reused)

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
                pending.append((info, pool.submit(_prepare, info.path, info, embedder, on_worker, analysis)))

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
