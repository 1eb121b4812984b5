"""Opening and closing a library never leaves it locked or half closed; SQLite errors are told
apart by their result code (defect 4 of #12)."""

from __future__ import annotations

import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest

from soundfinder.library import Batch, FileInfo, Library, LibraryError, LibraryWriteError
from soundfinder.library.library import write_error

SPACE = SimpleNamespace(id="test-model@w/pre1", model="test-model", dim=8)


def _sqlite_error(code: int, name: str, text: str) -> sqlite3.OperationalError:
    err = sqlite3.OperationalError(text)
    err.sqlite_errorcode, err.sqlite_errorname = code, name
    return err


def test_a_failed_open_releases_the_lock_and_the_catalog(tmp_path, monkeypatch):
    import soundfinder.library.library as library_module
    from soundfinder.library.catalog import Catalog

    Library.open(tmp_path / "lib", SPACE).close()
    closed = []
    real_close = Catalog.close
    monkeypatch.setattr(Catalog, "close", lambda self: (closed.append(self), real_close(self)))

    def broken_documents(*a, **k):
        raise RuntimeError("documents.json exploded")

    monkeypatch.setattr(library_module, "open_documents", broken_documents)
    with pytest.raises(RuntimeError, match="exploded"):
        Library.open(tmp_path / "lib", SPACE)
    assert len(closed) == 1, "the catalog opened before the failure was left open"
    monkeypatch.undo()
    with Library.open(tmp_path / "lib", SPACE) as lib:  # not LibraryLockedError: the lock was released
        assert lib.stats()["files"] == 0


def test_close_runs_every_step_and_raises_the_first_error(tmp_path, monkeypatch):
    lib = Library.open(tmp_path / "lib", SPACE)
    lib.commit(Batch(embedded=[(FileInfo("/s/a.wav", 1, 1, hash="a"), np.ones(8, np.float32))]))

    def documents_close():
        raise OSError("documents: first failure")

    def catalog_close():
        real()
        raise RuntimeError("catalog: second failure")

    real = lib.catalog.close
    monkeypatch.setattr(lib.documents, "close", documents_close)
    monkeypatch.setattr(lib.catalog, "close", catalog_close)
    with pytest.raises(OSError, match="first failure"):
        lib.close()
    with pytest.raises(sqlite3.ProgrammingError):  # the catalog was closed all the same
        lib.catalog.db.execute("SELECT 1")
    with Library.open(tmp_path / "lib", SPACE) as again:  # and the writer lock released
        assert again.stats()["files"] == 1


def test_write_errors_are_classified_by_sqlite_code_not_message():
    root = "/lib"
    # A translated or reworded message still says what happened...
    full = write_error(root, _sqlite_error(sqlite3.SQLITE_FULL, "SQLITE_FULL", "base de données pleine"))
    assert "the disk is full" in str(full)
    io = write_error(root, _sqlite_error(sqlite3.SQLITE_IOERR | (3 << 8), "SQLITE_IOERR_WRITE", "E/S"))
    assert "I/O error" in str(io)
    ro = write_error(root, _sqlite_error(sqlite3.SQLITE_READONLY, "SQLITE_READONLY", "nur lesbar"))
    assert "cannot be written" in str(ro)
    # ...and a message that merely mentions the words is not mistaken for them.
    other = write_error(root, _sqlite_error(sqlite3.SQLITE_CONSTRAINT, "SQLITE_CONSTRAINT",
                                            "UNIQUE constraint failed: /samples/disk is full/readonly.wav"))
    assert str(other).startswith(f"could not write the library at {root}: UNIQUE constraint failed"), other


def test_a_real_full_database_is_reported_as_a_full_disk(tmp_path):
    """SQLite's own SQLITE_FULL (the database may not grow past max_page_count), end to end."""
    with Library.open(tmp_path / "lib", SPACE) as lib:
        pages = lib.catalog.db.execute("PRAGMA page_count").fetchone()[0]
        lib.catalog.db.execute(f"PRAGMA max_page_count = {pages}")
        rows = [(FileInfo(f"/samples/{'x' * 200}{i}.wav", i, 1, hash=f"h{i}"), np.ones(8, np.float32))
                for i in range(2000)]
        with pytest.raises(LibraryWriteError, match="the disk is full"):
            lib.commit(Batch(embedded=rows))
        assert lib.stats()["files"] == 0 and lib.stats()["vectors"] == 0


def test_a_catalog_that_is_not_a_database_is_called_damaged(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "catalog.sqlite").write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LibraryError, match="the catalog is damaged"):
        Library.open(tmp_path / "lib", SPACE)
    with pytest.raises(LibraryError, match="the catalog is damaged"):
        Library.open(tmp_path / "lib", SPACE, readonly=True)
