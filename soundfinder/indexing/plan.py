"""Planning an index run: what changed on disk, and the cheap part of bringing the library up to date.

Scan, compare with the catalog by path/size/mtime, hash what changed, and commit at once what
costs no model time (moves, removals, byte-identical content, known failures). What is left
is the new content to embed, one file per distinct hash. Shared by the local pipeline
(`pipeline.index_paths`) and the cluster driver (`cluster.index_on_cluster`), so both decide
and commit exactly alike.
"""

from __future__ import annotations

import errno
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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


def info_with_metadata(info: FileInfo) -> FileInfo:
    """`info` with duration, rate and format filled in from the file's header, where readable."""
    import soundfile as sf

    try:
        with open(info.path, "rb") as f:  # a file object: soundfile cannot take non-UTF-8 names
            i = sf.info(f)
        info.duration, info.sample_rate, info.channels = i.duration, i.samplerate, i.channels
        info.format, info.subtype = i.format, i.subtype
    except Exception:  # metadata is a nicety; the vector is what counts
        pass
    return info


def count_new(summary: IndexSummary, rec) -> None:
    if rec is None:
        summary.new += 1
    else:
        summary.changed += 1


def record_failure(batch: Batch, summary: IndexSummary, prog: Progress, info: FileInfo, reason: str) -> None:
    """Record a file that cannot be indexed, in the batch and in the run's report."""
    batch.failed.append((info, reason))
    summary.failed += 1
    summary.failures.append((info.path, reason))
    prog.errors.append((info.path, reason))


def record_decode_failure(batch: Batch, summary: IndexSummary, prog: Progress, info: FileInfo, reason: str,
                          changed: set[str]) -> None:
    """A file planned for the model that could not be decoded (locally or on a worker): a failure,
    no longer counted as new or changed (the plan counted it before it was known), and done."""
    record_failure(batch, summary, prog, info, reason)
    if info.path in changed:
        summary.changed -= 1
    else:
        summary.new -= 1
    prog.done += 1


@dataclass
class Plan:
    """The embedding work left after the cheap changes were committed."""

    firsts: list[FileInfo]  # one file per distinct new content, in scan order
    groups: dict[str, list[FileInfo]]  # content hash -> every file with it (firsts[i] first)
    changed: set[str]  # paths the catalog knew before (counted as changed, not new)
    prog: Progress  # the embedding phase's progress (errors so far carried over)


def plan_changes(library: Library, roots: list[str], summary: IndexSummary, report: ProgressFn,
                 cancel: threading.Event) -> Plan:
    """Steps 1-2 of an index run; commits the cheap batch and records the roots as folders."""
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
    firsts = [infos[0] for infos in to_embed.values()]
    prog = Progress("embedding", 0, sum(len(v) for v in to_embed.values()), errors=prog.errors)
    changed = {i.path for i in changes.candidates if i.path in changes.known}
    return Plan(firsts, to_embed, changed, prog)


EmbedFn = Callable[[Plan, IndexSummary, ProgressFn, threading.Event], None]


def run_index(library: Library, roots: Iterable[str], progress: ProgressFn | None,
              cancel: threading.Event | None, embed: EmbedFn) -> IndexSummary:
    """The frame of an index run, the same locally and on a cluster: plan (steps 1-2, the cheap
    changes committed), then `embed` the plan's new content (step 3), then the summary."""
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    summary = IndexSummary()
    report = progress or (lambda p: None)
    roots = [os.path.abspath(os.path.expanduser(r)) for r in roots]
    plan = plan_changes(library, roots, summary, report, cancel)
    if plan.firsts:
        report(plan.prog)  # "embedding 0/N": the long phase starts now
    embed(plan, summary, report, cancel)
    summary.cancelled = cancel.is_set()
    summary.seconds = time.monotonic() - t0
    plan.prog.phase = "done"
    report(plan.prog)
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
            record_failure(cheap, summary, prog, info, reason)
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
            count_new(summary, rec)
        elif rec is not None and rec.status == FAILED and rec.hash == info.hash:
            summary.failed += 1  # same bytes failed before; keep the reason, skip the decode
            summary.failures.append((info.path, rec.error or "failed"))
            cheap.failed.append((info, rec.error or "failed"))
        else:
            to_embed.setdefault(info.hash, []).append(info)
            count_new(summary, rec)
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


def commit_with_copies(library: Library, batch: Batch, groups: dict[str, list[FileInfo]],
                       descriptors: dict[str, dict] | None = None,
                       fingerprints: dict[str, tuple[str, bytes]] | None = None) -> int:
    """Commit an embedded batch, its musical descriptors, then the byte-identical copies of what
    it embedded (they reuse its vectors and its repair warning). Returns how many copies were
    committed. `descriptors` (content hash -> row) loses the rows it writes.

    Shared by the local committer (`embedding.Committer`) and the cluster driver.
    """
    library.commit(batch)
    if descriptors:
        library.descriptors.put_many((i.hash, descriptors.pop(i.hash)) for i, _ in batch.embedded
                                     if i.hash in descriptors)
    if fingerprints:  # the same way: content hash -> (version, bytes), for duplicates
        library.fingerprints.put_many((i.hash, *fingerprints.pop(i.hash)) for i, _ in batch.embedded
                                      if i.hash in fingerprints)
    dupes = Batch()
    for info, _ in batch.embedded:
        rest = groups[info.hash][1:]
        if rest:
            vid = library.vector_for_hash(info.hash)
            for copy in rest:
                copy.warning = info.warning  # same bytes, same repair
                dupes.reused.append((info_with_metadata(copy), vid))
    library.commit(dupes)
    return len(dupes.reused)
