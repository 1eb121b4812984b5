"""`Library` is safe to share between a writer thread and readers (defect 10 of #12).

No model: vectors are random unit rows in a small space, committed the way the pipeline does.
"""

from __future__ import annotations

import sqlite3
import threading
from types import SimpleNamespace

import numpy as np
import pytest

from soundfinder.library import Batch, FileInfo, Library, LibraryWriteError

DIM = 16
SPACE = SimpleNamespace(id="test-model@w/pre1", model="test-model", dim=DIM)


def _batch(start: int, n: int, rng: np.random.Generator) -> Batch:
    vecs = rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return Batch(embedded=[(FileInfo(f"/samples/s{start + i:05d}.wav", 100 + i, 1, hash=f"h{start + i}"), v)
                           for i, v in enumerate(vecs)])


def test_readers_never_see_a_transaction_that_rolls_back(tmp_path, monkeypatch):
    """A reader asking while a commit is half done waits for it; the old per-call-unlocked
    Library shared one SQLite connection, so a reader saw the writer's uncommitted rows."""
    from soundfinder.library.catalog import Catalog

    lib = Library.open(tmp_path / "lib", SPACE, exact_below=10_000)
    lib.commit(_batch(0, 3, np.random.default_rng(0)))
    inside, reader_done = threading.Event(), threading.Event()
    real = Catalog.upsert

    def upsert(self, info, *a, **k):
        real(self, info, *a, **k)
        if info.path.endswith("doomed.wav"):
            inside.set()
            reader_done.wait(2.0)  # a reader that can get in now does so within this time
            err = sqlite3.OperationalError("disk I/O error")
            err.sqlite_errorcode, err.sqlite_errorname = sqlite3.SQLITE_IOERR, "SQLITE_IOERR"
            raise err

    monkeypatch.setattr(Catalog, "upsert", upsert)
    seen = {}

    def read():
        inside.wait(10)
        seen["record"] = lib.get("/samples/doomed.wav")
        seen["stats"] = lib.stats()
        seen["paths"] = [r.path for r in lib.files()]
        reader_done.set()

    reader = threading.Thread(target=read)
    reader.start()
    doomed = Batch(embedded=[(FileInfo("/samples/doomed.wav", 5, 1, hash="doomed"), np.ones(DIM, np.float32))])
    with pytest.raises(LibraryWriteError, match="I/O error"):
        lib.commit(doomed)
    reader.join(10)
    assert not reader.is_alive()
    assert seen["record"] is None, "a reader saw a row of a transaction that rolled back"
    assert seen["stats"]["files"] == 3 and "/samples/doomed.wav" not in seen["paths"]
    lib.close()


def test_writer_and_readers_at_once(tmp_path):
    """One thread commits batch after batch while three read (search, get, stats, files):
    nothing raises, and every read sees one commit's state (files and vectors agree)."""
    lib = Library.open(tmp_path / "lib", SPACE, exact_below=50)  # past 50 vectors: the hnsw graph
    rng = np.random.default_rng(1)
    errors: list[BaseException] = []
    done = threading.Event()
    batches = 40

    def writer():
        try:
            for b in range(batches):
                lib.commit(_batch(b * 5, 5, rng))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            done.set()

    def reader(seed: int):
        q = np.random.default_rng(seed).standard_normal(DIM).astype(np.float32)
        q /= np.linalg.norm(q)
        try:
            while not done.is_set():
                with lib.lock:  # several calls that must agree: one state
                    stats, files = lib.stats(), lib.files()
                    assert stats["files"] == len(files) == stats["vectors"]
                for vid, _score in lib.knn(q, 5):
                    assert lib.files_for_vectors([vid])[vid], vid
                    assert lib.vector(vid).shape == (DIM,)
                if files:
                    assert lib.get(files[-1].path) is not None
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader, args=(s,)) for s in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors[0]
    assert lib.stats()["files"] == batches * 5
    lib.close()


def test_every_public_verb_runs_under_the_library_lock():
    """Own verbs and those of its parts (the folder list lives in library/folders.py) alike."""
    import inspect

    from soundfinder.library import Library

    public = [n for n, a in inspect.getmembers(Library) if not n.startswith("_") and callable(a)
              and not isinstance(inspect.getattr_static(Library, n), (classmethod, staticmethod))]
    assert {"add_folder", "remove_folder", "folders", "commit", "knn"} <= set(public)
    assert [n for n in public if not hasattr(getattr(Library, n), "__wrapped__")] == []
