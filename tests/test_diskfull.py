"""A full disk or an I/O error mid-index: one clear line, the last commit intact, resumable."""

from __future__ import annotations

import errno
import os
import sqlite3

import pytest
from conftest import tone, write  # noqa: I001 - tests/ is on sys.path


def _state(library):
    from soundfinder.library import Library

    with Library.open(library, readonly=True) as lib:
        recs = list(lib.files())
        vecs = {r.vector_id: lib.vector(r.vector_id).tobytes() for r in recs if r.vector_id is not None}
        return {r.path: (r.status, r.hash, r.vector_id) for r in recs}, vecs, len(lib.log)


def _more_sounds(folder, n=6, seed=100):
    for i in range(n):
        write(folder / "More" / f"new_{seed + i}.wav", tone(300 + 50 * i, 0.3, kind="noise", seed=seed + i))


def _fail_log_append(monkeypatch, err):
    """The vector log's file write fails half way: part of the rows reach the file first."""
    import soundfinder.library.vectorlog as vectorlog

    class HalfWriter:
        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            return getattr(self.f, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            self.f.write(data[: len(data) // 2 + 3])
            self.f.flush()
            raise OSError(err, os.strerror(err))

    def fake_open(path, mode="r", *a, **k):
        f = open(path, mode, *a, **k)
        return HalfWriter(f) if "+" in mode or "w" in mode else f

    monkeypatch.setattr(vectorlog, "open", fake_open, raising=False)
    return lambda: monkeypatch.delattr(vectorlog, "open")


def _fail_catalog(monkeypatch):
    """SQLite reports a full disk inside the commit's transaction."""
    from soundfinder.library.catalog import Catalog

    real = Catalog.upsert

    def upsert(self, *a, **k):
        real(self, *a, **k)
        err = sqlite3.OperationalError("database or disk is full")
        err.sqlite_errorcode, err.sqlite_errorname = sqlite3.SQLITE_FULL, "SQLITE_FULL"  # as SQLite sets them
        raise err

    monkeypatch.setattr(Catalog, "upsert", upsert)
    return lambda: monkeypatch.setattr(Catalog, "upsert", real)


def _fail_documents(monkeypatch, err):
    import soundfinder.library.documents as documents

    real = documents.atomic_write_text

    def broken(path, text):
        raise OSError(err, os.strerror(err))

    monkeypatch.setattr(documents, "atomic_write_text", broken)
    return lambda: monkeypatch.setattr(documents, "atomic_write_text", real)


@pytest.mark.parametrize("failure, words", [
    ("log-enospc", "disk is full"),
    ("log-eio", "I/O error"),
    ("catalog-full", "disk is full"),
    ("documents-enospc", "disk is full"),
])
def test_write_failure_keeps_last_commit_and_resumes(cli, sample_folder, monkeypatch, failure, words):
    from soundfinder.library.integrity import check

    code, _, err = cli("index", str(sample_folder))
    assert code == 0, err
    records, vectors, rows = _state(cli.library)
    _more_sounds(sample_folder)
    if failure == "documents-enospc":
        (cli.library / "documents.json").unlink()  # the folder list must be written again
    restore = {
        "log-enospc": lambda: _fail_log_append(monkeypatch, errno.ENOSPC),
        "log-eio": lambda: _fail_log_append(monkeypatch, errno.EIO),
        "catalog-full": lambda: _fail_catalog(monkeypatch),
        "documents-enospc": lambda: _fail_documents(monkeypatch, errno.ENOSPC),
    }[failure]()

    code, out, err = cli("index", str(sample_folder))
    assert code == 1, (out, err)
    assert err.startswith("soundfinder: error: could not write the library") and err.count("\n") == 1, err
    assert words in err and "Traceback" not in err, err

    # the last committed library, intact and consistent
    after, after_vectors, after_rows = _state(cli.library)
    for path, rec in records.items():
        assert after[path] == rec, path
    for vid, vec in vectors.items():
        assert after_vectors[vid] == vec
    assert check(cli.library).ok, [p.to_json() for p in check(cli.library).problems]

    restore()
    code, out, err = cli("index", str(sample_folder), "--json")
    assert code == 0, err
    final, _, _ = _state(cli.library)
    assert sum(s == "indexed" for s, _, _ in final.values()) == 8 + 6
    assert check(cli.library).ok


def test_library_on_a_read_only_disk_is_one_line(cli, sample_folder, tmp_path):
    """An unwritable library folder: a clear refusal, not a traceback (root bypasses modes)."""
    if os.geteuid() == 0:
        pytest.skip("root writes read-only folders; the read-only tree test covers this without privileges")
    lib = tmp_path / "ro-lib"
    lib.mkdir(mode=0o555)
    code, out, err = cli("--library", str(lib), "index", str(sample_folder))
    assert code == 1 and "not writable" in err and "Traceback" not in err
