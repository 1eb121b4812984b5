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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from soundfinder.indexing.embedding import embed_new, fail, info_with_metadata
from soundfinder.indexing.scan import ScanResult, content_hash, scan_folders
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

    def add(self, other: IndexSummary) -> None:
        """Count another run's work into this one (a watcher's running totals)."""
        for k in ("new", "changed", "moved", "removed", "unchanged", "failed", "offline", "embedded"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.failures.extend(other.failures)
        self.seconds += other.seconds
        self.cancelled = self.cancelled or other.cancelled

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in ("new", "changed", "moved", "removed", "unchanged", "failed",
                                           "offline", "embedded", "seconds", "cancelled")}
        d["failures"] = [{"path": p, "error": r} for p, r in self.failures]
        d["problems"] = [{"path": p, "error": r} for p, r in self.problems]
        return d


ProgressFn = Callable[[Progress], None]


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
    changes = _compare(library, roots, scan, summary)
    # 2. Hash what changed: moves, duplicates and touched-but-identical files cost no model time.
    prog = Progress("hashing", 0, len(changes.candidates))
    to_embed = _hash_changes(library, scan, changes, summary, prog, report, cancel)
    library.commit(changes.cheap)
    for root in roots:
        if os.path.isdir(root):
            library.add_folder(root)

    # 3. Embed new content, one file per distinct hash; byte-identical copies reuse its vector.
    prog = Progress("embedding", 0, sum(len(v) for v in to_embed.values()), errors=prog.errors)
    if to_embed:
        report(prog)  # "embedding 0/N": the long phase starts now
    changed = {i.path for i in changes.candidates if i.path in changes.known}
    embed_new(library, embedder, to_embed, changed, summary, prog, report, cancel, files_per_batch,
              decode_workers or max(2, min(4, (os.cpu_count() or 2))), commit_seconds, analysis)
    summary.cancelled = cancel.is_set()
    summary.seconds = time.monotonic() - t0
    prog.phase = "done"
    report(prog)
    return summary


@dataclass
class _Changes:
    """What differs between the disk and the catalog, before hashing."""

    known: dict  # path -> FileRecord of the catalog's records under the roots
    missing: dict  # path -> FileRecord: known, not on disk, not hidden by an unreadable folder
    candidates: list[FileInfo]  # new or touched files (size, mtime or status differ)
    cheap: Batch  # what commits without the model: grows while hashing


def _compare(library: Library, roots: list[str], scan: ScanResult, summary: IndexSummary) -> _Changes:
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
    summary.offline = len(offline)
    candidates: list[FileInfo] = []
    for path, info in scan.files.items():
        rec = known.get(path)
        if rec and rec.size == info.size and rec.mtime_ns == info.mtime_ns and rec.status != OFFLINE:
            summary.unchanged += 1
        else:
            candidates.append(info)
    return _Changes(known, missing, candidates, Batch(offline=offline))


def _hash_changes(library: Library, scan: ScanResult, changes: _Changes, summary: IndexSummary,
                  prog: Progress, report: ProgressFn, cancel: threading.Event) -> dict[str, list[FileInfo]]:
    """Hash each candidate and sort it: reused vector, move, known failure, or new content.

    Returns {hash: files with that content} of what the model must see; the rest goes into
    `changes.cheap`.
    """
    known, missing, cheap = changes.known, changes.missing, changes.cheap
    by_hash_missing: dict[str, list[str]] = {}
    for p, r in missing.items():
        if r.hash and r.status == INDEXED:
            by_hash_missing.setdefault(r.hash, []).append(p)
    to_embed: dict[str, list[FileInfo]] = {}
    for info in changes.candidates:
        if cancel.is_set():
            break
        prog.current = info.path
        rec = known.get(info.path)
        reason = _hash(info, scan)
        if reason is not None:
            fail(cheap, summary, prog, info, reason)
            continue
        if rec is not None and rec.hash == info.hash and rec.status == INDEXED:
            info.warning = rec.warning  # same bytes: the same repair was made
            cheap.reused.append((info_with_metadata(info), rec.vector_id))
            summary.unchanged += 1
        elif rec is None and by_hash_missing.get(info.hash):
            old = by_hash_missing[info.hash].pop()
            missing.pop(old, None)
            cheap.moved.append((old, info))
            summary.moved += 1
        elif (vid := library.vector_for_hash(info.hash)) is not None:
            cheap.reused.append((info_with_metadata(info), vid))
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
    return to_embed


def _hash(info: FileInfo, scan: ScanResult) -> str | None:
    """Set `info.hash`; returns why the file cannot be read instead, where it cannot."""
    try:
        if info.size < 0:
            raise OSError(scan.reason_for(info.path) or "unreadable")
        info.hash = content_hash(info.path)
    except OSError as e:
        if info.size < 0:
            return str(e)
        if isinstance(e, PermissionError):
            return "unreadable: permission denied"
        if e.errno == errno.EINVAL and e.strerror:
            return e.strerror
        return f"unreadable: {e.strerror or e}"
    return None


def _count_new(summary: IndexSummary, rec) -> None:
    if rec is None:
        summary.new += 1
    else:
        summary.changed += 1
