"""The export job: plan destination names, copy or convert each file safely, write the manifest.

Safety, file by file:
1. the data goes to a hidden temporary file in the destination folder, flushed and fsynced;
2. it is *linked* to its final name, which fails instead of replacing a file that exists (a
   file of that name appearing meanwhile gets the next free "name (n).ext"); file systems
   without hard links (FAT, exFAT) fall back to a checked rename;
3. the temporary file is removed on any error or cancel.
The manifest (`manifest.csv`, clash-free too) is written last, the same way.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from soundfinder.export.convert import ConvertError, ConvertOptions, convert

CHUNK = 1 << 20


class ExportError(Exception):
    """The export cannot go on (destination unwritable, disk full); one line saying why."""


class Cancelled(Exception):
    pass


@dataclass
class ExportOptions:
    keep_folders: bool = False  # recreate each file's sub-folders below its library folder
    convert: ConvertOptions = field(default_factory=ConvertOptions)
    manifest: bool = True


@dataclass
class ExportItem:
    source: str
    destination: str | None = None
    status: str = "pending"  # copied | converted | failed | cancelled
    error: str = ""
    notes: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"source": self.source, "destination": self.destination, "status": self.status,
                "error": self.error, **self.notes}


@dataclass
class ExportResult:
    folder: str
    items: list[ExportItem]
    manifest: str | None = None
    cancelled: bool = False

    @property
    def done(self) -> int:
        return sum(i.status in ("copied", "converted") for i in self.items)

    def to_json(self) -> dict:
        return {"folder": self.folder, "exported": self.done, "cancelled": self.cancelled,
                "manifest": self.manifest, "files": [i.to_json() for i in self.items]}


def inside_folders(dest: str, folders: Iterable[str]) -> str | None:
    """The library folder `dest` lies in (exported copies there would be indexed), or None."""
    d = os.path.realpath(dest)
    for f in folders:
        r = os.path.realpath(f)
        if d == r or d.startswith(r.rstrip(os.sep) + os.sep):
            return f
    return None


def relative_target(source: str, roots: Iterable[str], keep_folders: bool) -> str:
    """The path below the export folder: the name alone, or with `keep_folders` the path below
    the library folder holding it, starting with that folder's own name (two folders' "Kicks"
    stay apart)."""
    name = os.path.basename(source)
    if not keep_folders:
        return name
    best = None
    for r in roots:
        r = os.path.abspath(r).rstrip(os.sep)
        if source.startswith(r + os.sep) and (best is None or len(r) > len(best)):
            best = r
    if best is None:
        return os.path.join(os.path.basename(os.path.dirname(source)), name)
    return os.path.join(os.path.basename(best) or "root", os.path.relpath(source, best))


def export_files(sources: list[str], to: str, options: ExportOptions | None = None, roots: Iterable[str] = (),
                 progress: Callable[[int, int, str], None] | None = None,
                 cancel: threading.Event | None = None) -> ExportResult:
    """Copy (or convert) `sources` into the folder `to`; see the module docstring.

    `progress(done, total, current source)` is called before each file and at the end;
    `cancel.set()` stops after the file being written is removed. A file that cannot be read
    or converted is recorded as failed and the rest go on; a destination that cannot be
    written stops the export with ExportError."""
    options = options or ExportOptions()
    try:
        options.convert.check()
    except ConvertError as e:
        raise ExportError(str(e)) from None
    to = os.path.abspath(os.path.expanduser(to))
    _prepare_folder(to)
    roots = list(roots)
    items = [ExportItem(os.path.abspath(s)) for s in sources]
    result = ExportResult(to, items)
    for n, item in enumerate(items):
        if progress:
            progress(n, len(items), item.source)
        if cancel is not None and cancel.is_set():
            result.cancelled = True
            break
        rel = relative_target(item.source, roots, options.keep_folders)
        if options.convert.active:
            rel = os.path.splitext(rel)[0] + ".wav"
        try:
            _export_one(item, os.path.join(to, rel), options.convert, cancel)
        except Cancelled:
            item.status = "cancelled"
            result.cancelled = True
            break
    for item in items:
        if item.status == "pending":
            item.status = "cancelled"
    if options.manifest:
        result.manifest = write_manifest(to, items)
    if progress:
        progress(result.done, len(items), "")
    return result


def _prepare_folder(to: str) -> None:
    try:
        os.makedirs(to, exist_ok=True)
    except OSError as e:
        raise _dest_error(to, e) from None
    if not os.access(to, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {to}: the folder is read-only or not yours; pick another folder")


def _dest_error(to: str, e: OSError) -> ExportError:
    if e.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)):
        why = "the disk is full"
    elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "the folder is read-only or not yours"
    else:
        why = e.strerror or str(e)
    return ExportError(f"cannot write to {to}: {why}; files exported so far are complete, none is partial")


def _export_one(item: ExportItem, target: str, conv: ConvertOptions, cancel) -> None:
    folder = os.path.dirname(target)
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".soundfinder-export-", suffix=".tmp", dir=folder)
    except OSError as e:
        raise _dest_error(folder, e) from None
    try:
        with os.fdopen(fd, "wb") as out:
            if conv.active:
                item.notes = _write_converted(item.source, out, conv)
            else:
                _copy(item.source, out, cancel)
            out.flush()
            os.fsync(out.fileno())
        item.destination = place(tmp, target)
        item.status = "converted" if conv.active else "copied"
    except Cancelled:
        raise
    except OSError as e:
        if e.filename == item.source or getattr(e, "_source", False):
            item.status, item.error = "failed", f"cannot read: {e.strerror or e}"
        else:
            raise _dest_error(folder, e) from None
    except Exception as e:  # a file libsndfile cannot decode: recorded, the rest go on
        item.status, item.error = "failed", f"cannot convert: {e}"
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _copy(source: str, out, cancel) -> None:
    try:
        src = open(source, "rb")  # noqa: SIM115 - read-only; the source is never written
    except OSError as e:
        e._source = True
        raise
    with src:
        while chunk := src.read(CHUNK):
            if cancel is not None and cancel.is_set():
                raise Cancelled
            out.write(chunk)


def _write_converted(source: str, out, conv: ConvertOptions) -> dict:
    import soundfile as sf

    try:
        x, rate, subtype, notes = convert(source, conv)
    except OSError as e:
        e._source = True
        raise
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype=subtype, format="WAV")
    out.write(buf.getvalue())
    return {"sample_rate": rate, "subtype": subtype, **notes}


def free_name(target: str) -> str:
    """`target`, or "name (2).ext", "name (3).ext"… — the first that does not exist."""
    if not os.path.lexists(target):
        return target
    stem, ext = os.path.splitext(target)
    n = 2
    while os.path.lexists(f"{stem} ({n}){ext}"):
        n += 1
    return f"{stem} ({n}){ext}"


def place(tmp: str, target: str) -> str:
    """Give the finished temporary file its final name without ever replacing a file."""
    for _ in range(1000):
        final = free_name(target)
        try:
            os.link(tmp, final)
        except FileExistsError:
            continue  # someone took the name between the check and the link
        except OSError as e:
            if e.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                raise
            if os.path.lexists(final):
                continue
            shutil.move(tmp, final)  # no hard links here (FAT/exFAT): checked rename
            return final
        os.unlink(tmp)
        return final
    raise ExportError(f"no free name for {target}")


def write_manifest(to: str, items: list[ExportItem]) -> str:
    columns = ["source", "destination", "status", "error", "sample_rate", "subtype", "gain_db", "note"]
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for i in items:
        w.writerow(i.to_json())
    fd, tmp = tempfile.mkstemp(prefix=".soundfinder-manifest-", suffix=".tmp", dir=to)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(buf.getvalue())
            f.flush()
            os.fsync(f.fileno())
        return place(tmp, os.path.join(to, "manifest.csv"))
    except OSError as e:
        raise _dest_error(to, e) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
