"""Check a library folder's consistency and repair what can be repaired (`soundfinder doctor`).

The checks read the pieces directly (SQLite, the vector log's header and length, the hnsw
snapshot, documents.json) rather than through `Library.open`, which would refuse, or
silently fix, the very damage they look for.

What `repair` does, problem by problem:

    log-uncommitted      vector rows past the catalog (a crash between append and commit):
                         cut off (the next `Library.open` would do the same).
    log-partial-row      a half-written row at the end of the log: cut off.
    log-damaged          the log's header is unreadable: the file is kept aside as
                         vectors.f32.damaged-*, a new empty log is started and every indexed
                         file is queued for re-embedding (below).
    records-past-log     files pointing at vectors the log does not hold (a lost or older
    record-without-vector  log, a restored backup) and files whose vector's content hash is
    record-hash-mismatch   not theirs: the vectors are dropped and the files are *queued for
                         re-embedding*: status failed with a reason saying so, hash and size
                         cleared so the next `soundfinder index` of their folder embeds them
                         again. Their rows, and so their tags, are kept.
    vector-ids-gap       vector rows no catalog entry names (ids not contiguous): registered
                         as unused ("dead") vectors so ids stay contiguous; search skips them.
    snapshot-unloadable  the hnsw graph snapshot cannot be loaded, or holds more vectors than
                         the log: deleted and rebuilt from the log.
    leftover-temp        temporary files of an interrupted write: deleted.
    files-missing        indexed or failed files no longer on disk: marked *offline*, never
                         forgotten, so tags survive a drive that comes back; search does not
                         list offline files, and `soundfinder forget` (or the next index of
                         their folder, if it exists and the files are still gone) removes them.
    documents-damaged    documents.json does not parse: kept aside as documents.json.damaged-*
                         and re-created with the library folders from the catalog.

Not repairable (reported, exit status non-zero): a damaged catalog (SQLite integrity check),
a missing embedding-space id, a log whose dimension differs from the catalog's.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path

from soundfinder.library.atomic import atomic_write_text, fsync_dir
from soundfinder.library.catalog import decode_path
from soundfinder.library.lock import WriterLock
from soundfinder.library.records import FAILED, INDEXED, OFFLINE
from soundfinder.library.vectorlog import HEADER, MAGIC

REEMBED_REASON = "vector lost (library repaired by soundfinder doctor); index its folder again to re-embed"
EXAMPLES = 5


@dataclass
class Problem:
    code: str
    message: str
    count: int = 1
    repairable: bool = True
    repaired: bool = False
    examples: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"code": self.code, "message": self.message, "count": self.count,
                "repairable": self.repairable, "repaired": self.repaired, "examples": self.examples}


@dataclass
class Report:
    library: str
    problems: list[Problem] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    repair: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing is wrong any more (no problem, or every one repaired)."""
        return all(p.repaired for p in self.problems)

    def codes(self) -> set[str]:
        return {p.code for p in self.problems if not p.repaired}

    def to_json(self) -> dict:
        return {"library": self.library, "ok": self.ok, "repair": self.repair, "facts": self.facts,
                "problems": [p.to_json() for p in self.problems]}


class IntegrityError(Exception):
    """The folder is not a library at all (nothing to check)."""


def _paths(root: Path) -> dict[str, Path]:
    return {"catalog": root / "catalog.sqlite", "log": root / "vectors.f32", "snapshot": root / "vectors.hnsw",
            "documents": root / "documents.json", "lock": root / "lock"}


def _read_log_header(path: Path) -> tuple[str, int, int, int]:
    """(state, dim, rows, partial bytes); state is "ok", "missing" or "damaged"."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(HEADER.size)
    except FileNotFoundError:
        return "missing", 0, 0, 0
    if len(head) < HEADER.size:
        return "damaged", 0, 0, 0
    magic, dim, _version = HEADER.unpack(head)
    if magic != MAGIC or dim <= 0 or dim > 65536:
        return "damaged", 0, 0, 0
    body = size - HEADER.size
    return "ok", dim, body // (4 * dim), body % (4 * dim)


def _documents_state(path: Path) -> str | None:
    """None when fine (or absent), else why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as e:
        return f"unreadable ({e})"
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except ValueError as e:
        return f"not valid JSON ({e})"
    if not isinstance(data, dict) or not all(isinstance(t, dict) for t in data.values()):
        return "not a table of documents"
    return None


def _connect(path: Path, readonly: bool) -> sqlite3.Connection:
    if readonly:
        db = sqlite3.connect(f"file:{os.fspath(path)}?mode=ro", uri=True, timeout=10)
    else:
        db = sqlite3.connect(os.fspath(path), timeout=10, isolation_level=None)
        db.execute("PRAGMA foreign_keys=ON")
    return db


def check(root: str | os.PathLike, *, files: bool = True, snapshot: bool = True, _we_write: bool = False) -> Report:
    """Every consistency check; writes nothing. `files`: also look for files missing on disk.

    While another process writes the library, rows it appended for a commit in flight are not
    reported (they are either committed or cut off on its next open)."""
    root = Path(root).expanduser().resolve()
    p = _paths(root)
    report = Report(str(root))
    if not p["catalog"].exists():
        raise IntegrityError(f"no library at {root} (no catalog.sqlite)")
    holder = None if _we_write else WriterLock(p["lock"]).held_by_other()
    report.facts["writer"] = holder
    try:
        db = _connect(p["catalog"], readonly=True)
        quick = db.execute("PRAGMA quick_check").fetchone()[0]
    except sqlite3.Error as e:
        report.problems.append(Problem("catalog-corrupt", f"the catalog cannot be read: {e}", repairable=False))
        return report
    try:
        _check_catalog(db, root, p, report, quick, holder, files, snapshot)
    except sqlite3.Error as e:
        report.problems.append(Problem("catalog-corrupt", f"the catalog cannot be read: {e}", repairable=False))
    finally:
        db.close()
    return report


def _check_catalog(db, root, p, report, quick, holder, files, snapshot) -> None:
    add = report.problems.append
    if quick != "ok":
        add(Problem("catalog-corrupt", f"SQLite integrity check failed: {quick}", repairable=False))
    meta = dict(db.execute("SELECT key, value FROM meta"))
    n_files = db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
    n_vec_rows, max_id = db.execute("SELECT COUNT(*), COALESCE(MAX(id), -1) FROM vectors").fetchone()
    committed = max_id + 1
    state, dim, rows, partial = _read_log_header(p["log"])
    report.facts.update(files=n_files, catalog_vectors=committed, log_rows=rows, log_dim=dim,
                        space=meta.get("space"), dim=int(meta["dim"]) if meta.get("dim") else None)

    # embedding space
    if (committed or rows or state == "damaged") and not meta.get("space"):
        add(Problem("space-missing", "the library has vectors but no embedding-space id (model, weights, "
                                     "preprocessing): it cannot tell which model made them", repairable=False))
    if meta.get("dim") and state == "ok" and int(meta["dim"]) != dim:
        add(Problem("dim-mismatch", f"the catalog says {meta['dim']}-d vectors, the log holds {dim}-d",
                    repairable=False))
        return

    # the log against the catalog
    if state == "damaged":
        add(Problem("log-damaged", "the vector log's header is damaged; its vectors cannot be trusted"))
        rows = 0
    elif state == "missing" and committed:
        add(Problem("log-damaged", f"the vector log is missing; the catalog refers to {committed} vectors"))
    if partial:
        add(Problem("log-partial-row", f"the vector log ends with a partial row ({partial} bytes)"))
    if rows > committed and holder is None:  # while a writer runs, its next batch is in flight
        add(Problem("log-uncommitted", f"{rows - committed} vector rows past the catalog (an interrupted "
                                       f"commit)", count=rows - committed))
    past = db.execute("SELECT path FROM files WHERE vector_id >= ?", (rows,)).fetchall()
    if past:
        add(Problem("records-past-log", f"{len(past)} files point at vectors the log does not hold "
                                        f"(log rows: {rows})", count=len(past),
                    examples=[decode_path(r[0]) for r in past[:EXAMPLES]]))
    orphan = db.execute(
        "SELECT path FROM files WHERE (status=? AND vector_id IS NULL) OR (vector_id IS NOT NULL AND "
        "vector_id < ? AND vector_id NOT IN (SELECT id FROM vectors))", (INDEXED, rows)).fetchall()
    if orphan:
        add(Problem("record-without-vector", f"{len(orphan)} indexed files have no vector entry",
                    count=len(orphan), examples=[decode_path(r[0]) for r in orphan[:EXAMPLES]]))
    mismatch = db.execute(
        "SELECT f.path FROM files f JOIN vectors v ON v.id = f.vector_id WHERE f.hash IS NOT v.hash "
        "AND v.id < ?", (rows,)).fetchall()
    if mismatch:
        add(Problem("record-hash-mismatch", f"{len(mismatch)} files point at the vector of other content",
                    count=len(mismatch), examples=[decode_path(r[0]) for r in mismatch[:EXAMPLES]]))
    gaps = min(committed, rows) - db.execute("SELECT COUNT(*) FROM vectors WHERE id < ?", (rows,)).fetchone()[0]
    if gaps > 0:
        add(Problem("vector-ids-gap", f"{gaps} vector rows are named by no catalog entry (ids not contiguous)",
                    count=gaps))

    # the search graph snapshot and leftovers of interrupted writes
    if snapshot and p["snapshot"].exists() and state == "ok":
        why = _snapshot_problem(p["snapshot"], dim, rows)
        if why:
            add(Problem("snapshot-unloadable", f"the search graph snapshot {why}; it is rebuilt from the log"))
    temps = [t.name for t in root.iterdir() if t.name.endswith(".tmp")] if holder is None else []
    if temps:
        add(Problem("leftover-temp", f"{len(temps)} temporary files of interrupted writes", count=len(temps),
                    examples=temps[:EXAMPLES]))

    from soundfinder.library.userdata import doctor_check  # favourites, collections, history
    report.facts["userdata"], found = doctor_check(db)
    report.problems += [Problem(c, m, count=n, repairable=False) for c, m, n in found]
    why = _documents_state(p["documents"])  # documents
    if why:
        add(Problem("documents-damaged", f"documents.json is damaged: {why}"))

    if files:
        _check_files_on_disk(db, add)


def _check_files_on_disk(db, add) -> None:
    gone = []
    for (raw,) in db.execute("SELECT path FROM files WHERE status IN (?, ?)", (INDEXED, FAILED)):
        path = decode_path(raw)
        if not os.path.lexists(path):
            gone.append(path)
    if gone:
        add(Problem("files-missing", f"{len(gone)} files are no longer on disk", count=len(gone),
                    examples=gone[:EXAMPLES]))


def _snapshot_problem(path: Path, dim: int, rows: int) -> str | None:
    try:
        import hnswlib
    except ImportError:  # pragma: no cover - hnswlib is a dependency
        return None
    index = hnswlib.Index(space="cosine", dim=dim)
    try:
        index.load_index(str(path), max_elements=max(rows, 1) + 1)
    except Exception as e:  # noqa: BLE001 - any failure means "cannot be used"
        return f"cannot be loaded ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    if index.get_current_count() > rows:
        return f"holds {index.get_current_count()} vectors, more than the log's {rows}"
    return None


def repair(root: str | os.PathLike, *, files: bool = True) -> Report:
    """Check, fix what can be fixed (as the library's writer), check again.

    Raises LibraryLockedError when another process is writing the library.
    """
    root = Path(root).expanduser().resolve()
    p = _paths(root)
    lock = WriterLock(p["lock"])
    lock.acquire()
    try:
        before = check(root, files=files, _we_write=True)
        codes = before.codes()
        if not codes or "catalog-corrupt" in codes or "dim-mismatch" in codes:
            before.repair = True
            return before
        _repair(root, p, before, codes)
        after = check(root, files=files, _we_write=True)
    finally:
        lock.release()
    remaining = after.codes()
    for prob in before.problems:
        prob.repaired = prob.repairable and prob.code not in remaining
    known = {prob.code for prob in before.problems}
    before.problems += [q for q in after.problems if q.code not in known]
    before.facts = after.facts
    before.repair = True
    return before


def _repair(root: Path, p: dict[str, Path], report: Report, codes: set[str]) -> None:
    db = _connect(p["catalog"], readonly=False)
    try:
        meta = dict(db.execute("SELECT key, value FROM meta"))
        state, dim, rows, _partial = _read_log_header(p["log"])
        if "log-damaged" in codes and meta.get("dim"):
            if state != "missing":
                p["log"].replace(p["log"].with_name(f"vectors.f32.damaged-{time.strftime('%Y%m%d-%H%M%S')}"))
            with open(p["log"], "wb") as f:
                f.write(HEADER.pack(MAGIC, int(meta["dim"]), 1))
                f.flush()
                os.fsync(f.fileno())
            fsync_dir(root)
            rows = 0
        db.execute("BEGIN IMMEDIATE")
        try:
            lost = db.execute(
                "SELECT id FROM files WHERE vector_id >= ? OR (status=? AND vector_id IS NULL) OR "
                "(vector_id IS NOT NULL AND vector_id NOT IN (SELECT id FROM vectors)) OR id IN "
                "(SELECT f.id FROM files f JOIN vectors v ON v.id = f.vector_id WHERE f.hash IS NOT v.hash)",
                (rows, INDEXED)).fetchall()
            for (fid,) in lost:
                db.execute("UPDATE files SET status=?, error=?, vector_id=NULL, hash=NULL, size=-1, "
                           "updated=? WHERE id=?", (FAILED, REEMBED_REASON, time.time(), fid))
            db.execute("DELETE FROM vectors WHERE id >= ?", (rows,))
            # vectors whose content no file has any more are fine (dead); ids named by nothing are
            # registered as dead so that ids stay contiguous with the log
            have = {r[0] for r in db.execute("SELECT id FROM vectors")}
            for vid in range(0, db.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM vectors").fetchone()[0]):
                if vid not in have:
                    db.execute("INSERT INTO vectors (id, hash) VALUES (?, ?)", (vid, f"unused:{vid}"))
            if "files-missing" in codes:
                now = time.time()
                for fid, raw in db.execute("SELECT id, path FROM files WHERE status IN (?, ?)",
                                           (INDEXED, FAILED)).fetchall():
                    if not os.path.lexists(decode_path(raw)):
                        db.execute("UPDATE files SET status=?, updated=? WHERE id=?", (OFFLINE, now, fid))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        committed = db.execute("SELECT COALESCE(MAX(id) + 1, 0) FROM vectors").fetchone()[0]
        folders = _folders_from_catalog(db)
    finally:
        db.close()

    state, dim, rows, partial = _read_log_header(p["log"])
    if state == "ok" and (rows > committed or partial):
        with open(p["log"], "r+b") as f:
            f.truncate(HEADER.size + committed * 4 * dim)
            f.flush()
            os.fsync(f.fileno())
        rows = committed
    if "leftover-temp" in codes:
        for t in root.iterdir():
            if t.name.endswith(".tmp"):
                t.unlink(missing_ok=True)
    if "documents-damaged" in codes:
        from soundfinder.library.documents import damaged_name

        p["documents"].replace(damaged_name(p["documents"]))
        atomic_write_text(p["documents"], json.dumps(
            {"folders": {str(i + 1): {"path": f} for i, f in enumerate(folders)}}, indent=1, ensure_ascii=False))
    if "snapshot-unloadable" in codes or (p["snapshot"].exists() and codes & {"log-damaged", "records-past-log"}):
        _rebuild_snapshot(p, dim)


def _folders_from_catalog(db) -> list[str]:
    """The library folders: the catalog's copy of the list, else the top-most folders of its files."""
    row = db.execute("SELECT value FROM meta WHERE key='folders'").fetchone()
    if row:
        try:
            folders = json.loads(row[0])
            if isinstance(folders, list) and folders:
                return sorted(str(f) for f in folders)
        except ValueError:
            pass
    parents = sorted({os.path.dirname(decode_path(r[0])) for r in db.execute("SELECT path FROM files")})
    tops: list[str] = []
    for d in parents:
        if not any(d == t or d.startswith(t.rstrip(os.sep) + os.sep) for t in tops):
            tops.append(d)
    return tops


def _rebuild_snapshot(p: dict[str, Path], dim: int) -> None:
    from soundfinder.library.vectorindex import VectorIndex
    from soundfinder.library.vectorlog import VectorLog

    p["snapshot"].unlink(missing_ok=True)
    log = VectorLog(p["log"], dim)
    if len(log) == 0:
        return
    index = VectorIndex(log, p["snapshot"])
    index._ensure_graph()  # noqa: SLF001 - the library package's own index
    index.save_snapshot()
