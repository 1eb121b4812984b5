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
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf

from soundfinder.audio import DecodeError, decode
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

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("new", "changed", "moved", "removed", "unchanged", "failed",
                                           "offline", "embedded", "seconds", "cancelled")}
        d["failures"] = [{"path": p, "error": r} for p, r in self.failures]
        return d


ProgressFn = Callable[[Progress], None]


def _info_with_metadata(info: FileInfo) -> FileInfo:
    try:
        i = sf.info(info.path)
        info.duration, info.sample_rate, info.channels = i.duration, i.samplerate, i.channels
        info.format, info.subtype = i.format, i.subtype
    except Exception:  # metadata is a nicety; the vector is what counts
        pass
    return info


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
    missing = {p: r for p, r in known.items() if p not in scan.files
               and not any(p.startswith(m + os.sep) for m in scan.missing_roots)}
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
                raise OSError("cannot read the file (dangling link or no permission)")
            info.hash = content_hash(info.path)
        except OSError as e:
            reason = "unreadable: permission denied" if isinstance(e, PermissionError) else (
                f"unreadable: {e.strerror}" if e.strerror else str(e))
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
    _embed(library, embedder, firsts, to_embed, changed, summary, prog, report, cancel, files_per_batch,
           decode_workers or max(2, min(4, (os.cpu_count() or 2))), commit_seconds)
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


def _embed(library, embedder, firsts, groups, changed, summary, prog, report, cancel, files_per_batch, workers,
           commit_seconds) -> None:
    if not firsts:
        return
    rate = embedder.sample_rate
    pending: list[tuple[FileInfo, Future]] = []
    it = iter(firsts)
    batch = Batch()
    ready: list[tuple[FileInfo, np.ndarray]] = []
    last_commit = time.monotonic()

    def flush_model():
        if not ready:
            return
        vectors = embedder.encode_audio([a for _, a in ready])
        for (info, _), v in zip(ready, vectors, strict=True):
            batch.embedded.append((info, v))
        ready.clear()

    def commit():
        nonlocal batch, last_commit
        flush_model()
        hashes = [info.hash for info, _ in batch.embedded]
        library.commit(batch)
        dupes = Batch()
        for h in hashes:
            vid = library.vector_for_hash(h)
            dupes.reused.extend((_info_with_metadata(i), vid) for i in groups[h][1:])
        library.commit(dupes)
        prog.done += len(dupes.reused)
        batch = Batch()
        last_commit = time.monotonic()
        report(prog)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        def fill():
            while len(pending) < 2 * files_per_batch:
                info = next(it, None)
                if info is None:
                    return
                pending.append((info, pool.submit(_decode_for, info.path, rate)))

        fill()
        while pending and not cancel.is_set():
            info, fut = pending.pop(0)
            fill()
            result = fut.result()
            prog.current = info.path
            if isinstance(result, DecodeError):
                _fail(batch, summary, prog, info, result.reason)
                if info.path in changed:  # it was counted as changed/new before we knew
                    summary.changed -= 1
                else:
                    summary.new -= 1
            else:
                info.duration, info.sample_rate = result.duration, result.source_rate
                info.channels, info.format, info.subtype = result.channels, result.format, result.subtype
                ready.append((info, result.samples))
                summary.embedded += 1
            prog.done += 1
            if len(ready) >= files_per_batch // 4 or not pending:
                flush_model()
            if len(batch) >= files_per_batch or time.monotonic() - last_commit > commit_seconds:
                commit()
            else:
                report(prog)
        for _, fut in pending:
            fut.cancel()
    commit()
