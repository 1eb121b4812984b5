"""Deterministic parts of live indexing: debouncing with a fake clock, the worker's queue run
inline, and `apply_changes` against a real library (no watcher, no threads)."""

from __future__ import annotations

import os
import shutil
import threading

import pytest

from soundfinder.indexing import IndexSummary, Progress
from soundfinder.indexing.scan import content_hash
from soundfinder.indexing.watch import ChangeCollector
from soundfinder.indexing.worker import CHANGES, IndexWorker, apply_changes
from soundfinder.library import INDEXED, OFFLINE, Library
from tests.conftest import tone, write


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def collector(states: dict, debounce=1.0, max_wait=10.0):
    clock = FakeClock()
    return ChangeCollector(debounce, max_wait, clock=clock, stat=lambda p: states.get(p)), clock


def test_a_file_still_growing_waits_until_it_is_stable():
    states = {"/s/a.wav": (10, 1)}
    c, clock = collector(states)
    c.add("/s/a.wav")
    for t in range(1, 6):  # grows every half second: never settled
        clock.now = t * 0.5
        states["/s/a.wav"] = (10 + t, 1 + t)
        assert c.take_ready() == []
    clock.now = 3.0
    assert c.take_ready() == []  # stable for 0.5 s only
    clock.now = 3.5
    assert c.take_ready() == ["/s/a.wav"]
    assert len(c) == 0


def test_an_event_restarts_the_window():
    states = {"/s/a.wav": (1, 1)}
    c, clock = collector(states)
    c.add("/s/a.wav")
    assert c.take_ready() == []
    clock.now = 0.9
    c.add("/s/a.wav")  # the same bytes, but something happened: wait again
    clock.now = 1.0
    assert c.take_ready() == []
    clock.now = 2.0
    assert c.take_ready() == ["/s/a.wav"]


def test_a_burst_is_handed_over_as_one_change_set():
    paths = [f"/s/pack/{i:04}.wav" for i in range(3000)]
    states = {p: (100, 1) for p in paths}
    c, clock = collector(states)
    for i, p in enumerate(paths):
        clock.now = i * 0.0005  # 3000 events over 1.5 s
        c.add(p)
        if i % 500 == 0:
            assert c.take_ready() == []  # the burst goes on: nothing leaves yet
    clock.now += 0.1
    assert c.take_ready() == []
    clock.now += 1.5
    assert sorted(c.take_ready()) == paths


def test_created_and_deleted_within_the_window_is_a_gone_path():
    states = {}
    c, clock = collector(states)
    c.add("/s/tmp.wav")  # created and already gone when first looked at
    assert c.take_ready() == []
    clock.now = 1.0
    assert c.take_ready() == ["/s/tmp.wav"]  # apply_changes finds nothing there and no record: no work


def test_max_wait_lets_settled_paths_go_while_a_big_copy_goes_on():
    states = {"/s/small.wav": (1, 1), "/s/big/huge.wav": (1, 1), "/s/big": (0, 1)}
    c, clock = collector(states, debounce=1.0, max_wait=5.0)
    for p in states:
        c.add(p)
    for t in range(1, 13):
        clock.now = t * 0.5
        states["/s/big/huge.wav"] = (t, t)
        ready = c.take_ready()
        if clock.now < 5.0:
            assert ready == []
        elif clock.now == 5.0:
            assert ready == ["/s/small.wav"]  # the folder waits for what is still being written in it
        else:
            assert ready == []
    clock.now = 7.5
    assert sorted(c.take_ready()) == ["/s/big", "/s/big/huge.wav"]


# -- the worker, run inline --------------------------------------------------------------

def fake_index(calls):
    def index(library, embedder, roots, progress=None, cancel=None):
        calls.append(list(roots))
        progress(Progress("embedding", 1, 2))
        if cancel.is_set():
            return IndexSummary(cancelled=True)
        progress(Progress("embedding", 2, 2))
        return IndexSummary(new=len(roots), embedded=len(roots))
    return index


class FakeLibrary:
    def folders(self):
        return ["/lib/a"]

    def files_under(self, folder):
        return iter(())

    def get(self, path):
        return None


def test_queued_change_sets_merge_and_run_in_order(tmp_path):
    calls = []
    w = IndexWorker(FakeLibrary(), None, index=fake_index(calls))
    w.submit_reconcile()
    w.submit_changes(["/elsewhere/x.wav"])
    w.submit_changes(["/elsewhere/y.wav", "/elsewhere/x.wav"])
    assert [j.kind for j in w._queue] == ["reconcile", CHANGES]
    assert w._queue[1].paths == ["/elsewhere/x.wav", "/elsewhere/y.wav"]
    assert w.run_next().summary.new == 1
    assert calls == [["/lib/a"]]  # no roots given: every library folder
    w.run_next()  # outside every library folder: nothing to do
    assert calls == [["/lib/a"]] and w.is_idle()


class Reports:
    """Progress reports from the worker thread, waited for by condition (never by a fixed time)."""

    def __init__(self):
        self.items: list = []
        self._cond = threading.Condition()

    def append(self, p) -> None:
        with self._cond:
            self.items.append(p)
            self._cond.notify_all()

    def wait_for(self, predicate, timeout: float = 20) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: predicate(self.items), timeout), self.items


def test_pause_holds_the_job_at_the_next_file_and_cancel_releases_it():
    calls, progress = [], Reports()
    w = IndexWorker(FakeLibrary(), None, index=fake_index(calls), on_progress=progress.append,
                    progress_interval=0)
    w.submit_reconcile()
    w.submit_reconcile()
    w.pause()
    t = threading.Thread(target=w.run_next)
    t.start()
    progress.wait_for(lambda ps: [p.state for p in ps] == ["paused"])  # held in the first progress report
    assert t.is_alive() and calls == [["/lib/a"]]
    w.resume()
    t.join(20)
    assert not t.is_alive() and progress.items[-1].done == 2
    w.pause()
    t = threading.Thread(target=w.run_next)
    t.start()
    progress.wait_for(lambda ps: ps[-1].state == "paused")  # the second job is held: now cancel it
    w.cancel_current()
    t.join(20)
    assert not t.is_alive() and w.totals.new == 1 and w.is_idle()


def test_a_failing_job_does_not_end_the_worker():
    def broken(*a, **k):
        raise OSError("disk on fire")

    results = []
    w = IndexWorker(FakeLibrary(), None, index=broken, on_job_done=results.append)
    w.submit_reconcile()
    w.start(reconcile=False)
    assert w.wait_idle(20)
    assert "disk on fire" in results[0].error
    w.stop(5)


# -- apply_changes on a real library -----------------------------------------------------

@pytest.fixture
def lib(tmp_path, embedder):
    with Library.open(tmp_path / "lib", space=embedder.space) as library:
        yield library


def test_apply_changes_moves_folders_without_re_embedding(tmp_path, lib, embedder):
    root = tmp_path / "samples"
    files = [write(root / "Kicks" / f"k{i}.wav", tone(60 + i, 0.05, kind="hit", seed=i)) for i in range(4)]
    folders = [str(root)]
    os.makedirs(root, exist_ok=True)
    s = apply_changes(lib, embedder, [str(root / "Kicks")], folders)
    assert (s.new, s.embedded) == (4, 4)
    assert lib.folders() == []  # a subfolder never becomes a library folder of its own
    ids = {f.name: lib.get(str(f)).id for f in files}

    os.rename(root / "Kicks", root / "Drums")
    s = apply_changes(lib, embedder, [str(root / "Kicks"), str(root / "Drums")], folders)
    assert (s.moved, s.embedded, s.removed) == (4, 0, 0)
    assert {f.name: lib.get(str(root / "Drums" / f.name)).id for f in files} == ids  # same records: tags kept
    assert list(lib.files_under(str(root / "Kicks"))) == []

    (root / "Drums" / "k0.wav").unlink()
    s = apply_changes(lib, embedder, [str(root / "Drums" / "k0.wav")], folders)
    assert s.removed == 1 and lib.get(str(root / "Drums" / "k0.wav")) is None

    shutil.rmtree(root / "Drums")
    s = apply_changes(lib, embedder, [str(root / "Drums")], folders)
    assert s.removed == 3 and lib.stats()["files"] == 0


def test_apply_changes_costs_nothing_for_a_file_that_came_and_went(tmp_path, lib, embedder):
    (tmp_path / "samples").mkdir()
    commits = []
    lib_commit = lib.commit
    lib.commit = lambda b: (commits.append(b), lib_commit(b))
    s = apply_changes(lib, embedder, [str(tmp_path / "samples" / "gone.wav")], [str(tmp_path / "samples")])
    assert commits == [] and s.embedded == 0


def test_apply_changes_under_a_missing_folder_marks_offline_instead_of_removing(tmp_path, lib, embedder):
    root = tmp_path / "drive"
    f = write(root / "a.wav", tone(300, 0.05))
    apply_changes(lib, embedder, [str(f)], [str(root)])
    os.rename(root, tmp_path / "unplugged")
    apply_changes(lib, embedder, [str(f)], [str(root)])
    assert lib.get(str(f)).status == OFFLINE
    os.rename(tmp_path / "unplugged", root)
    s = apply_changes(lib, embedder, [str(root)], [str(root)])
    assert lib.get(str(f)).status == INDEXED and s.embedded == 0
    assert lib.get(str(f)).hash == content_hash(str(f))
