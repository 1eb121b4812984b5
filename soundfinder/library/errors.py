"""The library's exceptions, in one module so that every part can raise them."""

from __future__ import annotations

import errno
import sqlite3
from pathlib import Path


class LibraryError(Exception):
    """The library folder cannot be used; the message says why and what to do."""


class LibraryLockedError(LibraryError):
    """Another process is writing the library; the message names it."""


class SpaceMismatchError(LibraryError):
    pass


class LibraryWriteError(LibraryError):
    """A write failed (disk full, I/O error, read-only disk): nothing of it was kept, and the
    library is still at its last committed state."""


def sqlite_code(err: BaseException) -> int | None:
    """SQLite's primary result code of an error (extended codes folded), or None when the
    error did not come from SQLite itself (e.g. a closed connection)."""
    code = getattr(err, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def is_damaged(err: BaseException) -> bool:
    """Whether SQLite says the file is not a usable database (corrupt, or not a database)."""
    return sqlite_code(err) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _why(err: BaseException) -> str:
    code, sql = getattr(err, "errno", None), sqlite_code(err)
    if code in (errno.ENOSPC, getattr(errno, "EDQUOT", -1)) or sql == sqlite3.SQLITE_FULL:
        return "the disk is full"
    if code == errno.EIO or sql == sqlite3.SQLITE_IOERR:
        return "the disk reported an I/O error"
    if code in (errno.EROFS, errno.EACCES, errno.EPERM) or sql in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM):
        return "the library folder cannot be written (read-only disk or no permission)"
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def write_error(root: Path, err: BaseException) -> LibraryWriteError:
    """One line a person can act on, from an OSError (by errno) or a SQLite error (by its
    result code, never its message text: that differs between SQLite versions and locales)."""
    return LibraryWriteError(
        f"could not write the library at {root}: {_why(err)}. Everything committed before is intact; "
        f"free some space (or fix the disk) and run the same command again to continue")
