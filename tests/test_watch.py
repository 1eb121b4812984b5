"""Live indexing with a real watchdog observer on temporary folders.

Every wait is for a condition (`wait_until`), bounded; nothing sleeps a fixed time. Where a test
depends on the debounce window (a slow copy, one burst), the watcher's clock stands still while
the files are written, so a loaded machine cannot stretch a pause past the window.
"""

from __future__ import annotations

import io
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import soundfile as sf

from soundfinder.indexing.scan import content_hash
from soundfinder.indexing.watch import LiveLibrary
from soundfinder.library import INDEXED, OFFLINE, Library
from tests.conftest import tone, write

# watchdog's inotify backend warns when it re-adds a watch for a folder created inside a watched one
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

SETTLE = 20.0  # seconds any single change may take to show in the library


def wait_until(predicate, timeout: float = SETTLE, interval: float = 0.02, message: str = ""):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {message or predicate}")
        time.sleep(interval)


class HeldClock:
    """The debouncer's clock: stands still (moving only by `advance`) until `release`d to real time."""

    def __init__(self):
        self._offset = 0.0
        self._held_at: float | None = time.monotonic()
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._held_at + self._offset if self._held_at is not None else time.monotonic() + self._offset

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds

    def release(self) -> None:
        with self._lock:
            self._offset += self._held_at - time.monotonic()  # time goes on from where it stood
            self._held_at = None


class Live:
    """A LiveLibrary on a temporary library and sample folder, recording what it reports."""

    def __init__(self, tmp_path: Path, embedder, polling: bool = False, start: bool = True):
        self.root = tmp_path / "samples"
        self.root.mkdir(exist_ok=True)
        self.lib = Library.open(tmp_path / "lib", space=embedder.space)
        self.changes, self.jobs = [], []
        self._lock = threading.Lock()
        self.live = LiveLibrary(self.lib, embedder, on_change=self._record, on_job_done=self.jobs.append,
                                debounce=0.3, folder_check=0.2, polling=polling, poll_interval=0.2)
        self.live.add_folder(str(self.root))
        if start:
            self.live.start()

    def _record(self, c) -> None:
        with self._lock:
            self.changes.append(c)

    def all(self, kind: str) -> list:
        with self._lock:
            return [x for c in self.changes for x in getattr(c, kind)]

    def status(self, path) -> str | None:
        rec = self.lib.get(str(path))
        return rec.status if rec else None

    def hold_clock(self) -> HeldClock:
        """Stop the debouncer's time (its collector reads time through this clock only)."""
        clock = HeldClock()
        self.live.watcher.collector.clock = clock
        return clock

    @property
    def embedded(self) -> int:
        """Files that went through the model, once the jobs that committed them have finished."""
        assert self.live.wait_settled(SETTLE)
        return self.live.worker.totals.embedded

    def close(self) -> None:
        self.live.stop()
        self.lib.close()


@pytest.fixture
def live(tmp_path, embedder):
    lv = Live(tmp_path, embedder)
    wait_until(lambda: lv.jobs, message="the startup reconcile")
    yield lv
    lv.close()


def sound(path: Path, n: int, seconds: float = 0.05) -> Path:
    return write(path, tone(100 + 7 * n, seconds, kind="hit", seed=n))


def test_files_added_modified_moved_and_deleted(live):
    a = sound(live.root / "a.wav", 1)
    wait_until(lambda: live.status(a) == INDEXED)
    first_id = live.lib.get(str(a)).id

    sound(a, 2)  # new content at the same path
    wait_until(lambda: live.lib.get(str(a)).hash == content_hash(str(a)))
    assert live.embedded == 2

    b = live.root / "renamed.wav"
    os.rename(a, b)
    wait_until(lambda: live.status(b) == INDEXED and live.status(a) is None)
    assert live.embedded == 2  # a rename re-embeds nothing
    assert live.lib.get(str(b)).id == first_id  # the same record, so its tags follow
    assert live.all("moved") == [(str(a), str(b))]

    b.unlink()
    wait_until(lambda: live.status(b) is None)
    assert live.all("removed") == [str(b)]
    (live.root / "notes.txt").write_text("not audio")
    sound(live.root / "c.wav", 3)
    wait_until(lambda: live.status(live.root / "c.wav") == INDEXED)
    assert live.lib.get(str(live.root / "notes.txt")) is None


def test_folders_moved_in_out_and_around(live, tmp_path):
    kicks = [sound(live.root / "Kicks" / f"k{i}.wav", i) for i in range(5)]
    wait_until(lambda: all(live.status(k) == INDEXED for k in kicks))
    assert live.embedded == 5

    os.rename(live.root / "Kicks", live.root / "Drums")
    moved = [live.root / "Drums" / k.name for k in kicks]
    wait_until(lambda: all(live.status(m) == INDEXED for m in moved)
               and not list(live.lib.files_under(str(live.root / "Kicks"))))
    assert len(live.all("moved")) == 5 and live.embedded == 5

    os.rename(live.root / "Drums", tmp_path / "outside")  # out of the library folder: gone
    wait_until(lambda: not list(live.lib.files_under(str(live.root / "Drums"))))
    os.rename(tmp_path / "outside", live.root / "Back")  # and in again: known content, no model time
    wait_until(lambda: all(live.status(live.root / "Back" / k.name) == INDEXED for k in kicks))
    assert live.embedded == 5
    assert live.lib.folders() == [str(live.root)]  # subfolders never become library folders


def test_a_thousand_files_copied_at_once_are_indexed_once_each(live, tmp_path):
    staging = tmp_path / "pack"
    for i in range(1000):
        sound(staging / f"d{i // 100}" / f"s{i:04}.wav", i, seconds=0.01)
    t0 = time.monotonic()
    clock = live.hold_clock()  # however long the copy takes, no pause in it reaches the debounce window
    shutil.copytree(staging, live.root / "pack")
    # every file, the pack folder and its 10 subfolders seen changing, then let time run
    wait_until(lambda: live.live.watcher.pending() >= 1011, message="every path of the copy to be seen")
    clock.release()
    wait_until(lambda: live.lib.stats()["indexed"] == 1000, timeout=300)  # a bound: 83 s seen on a loaded machine
    seconds = time.monotonic() - t0
    added = live.all("added")
    assert len(added) == 1000 and len(set(added)) == 1000
    assert live.embedded == 1000 and live.lib.stats()["vectors"] == 1000
    change_jobs = [j for j in live.jobs if j.job.kind == "changes"]
    assert len(change_jobs) == 1, [len(j.job.paths) for j in change_jobs]  # one burst, one change set
    print(f"1000 files: settled in {seconds:.1f} s")


def test_a_file_written_slowly_is_embedded_once_and_complete(live):
    buf = io.BytesIO()
    sf.write(buf, tone(440, 1.0), 48000, format="WAV", subtype="PCM_16")
    data = buf.getvalue()
    path = live.root / "slow.wav"
    clock = live.hold_clock()
    with open(path, "wb") as f:
        for i in range(0, len(data), len(data) // 8):
            f.write(data[i:i + len(data) // 8])
            f.flush()
            wait_until(lambda: live.live.watcher.pending() > 0, message="the write to be seen")
            clock.advance(0.2)  # a slow copy: each pause (by the watcher's clock) shorter than the window
    clock.release()
    wait_until(lambda: live.status(path) == INDEXED)
    assert live.lib.get(str(path)).hash == content_hash(str(path))
    assert live.embedded == 1 and live.all("added") == [str(path)] and live.all("changed") == []


def test_changes_made_while_stopped_are_reconciled_on_start(tmp_path, embedder):
    lv = Live(tmp_path, embedder)
    files = [sound(lv.root / f"f{i}.wav", i) for i in range(4)]
    wait_until(lambda: all(lv.status(f) == INDEXED for f in files))
    lv.close()

    sound(lv.root / "new.wav", 10)
    sound(files[0], 11)  # changed
    files[1].unlink()  # deleted
    os.rename(files[2], lv.root / "moved.wav")

    lv = Live(tmp_path, embedder)
    try:
        wait_until(lambda: lv.jobs, message="the startup reconcile")
        s = lv.jobs[0].summary
        assert (s.new, s.changed, s.removed, s.moved, s.embedded) == (1, 1, 1, 1, 2)
        assert lv.status(files[1]) is None and lv.status(files[2]) is None
        assert lv.status(lv.root / "moved.wav") == INDEXED
        assert lv.lib.get(str(files[0])).hash == content_hash(str(files[0]))
    finally:
        lv.close()


def test_a_folder_removed_and_restored_goes_offline_and_back_without_re_embedding(live, tmp_path):
    files = [sound(live.root / "sub" / f"f{i}.wav", i) for i in range(6)]
    wait_until(lambda: all(live.status(f) == INDEXED for f in files))
    shutil.copytree(live.root, tmp_path / "backup")

    shutil.rmtree(live.root)  # the drive is gone (even its files' delete events must not remove them)
    wait_until(lambda: all(live.status(f) == OFFLINE for f in files))
    shutil.copytree(tmp_path / "backup", live.root)
    wait_until(lambda: all(live.status(f) == INDEXED for f in files))
    assert live.embedded == 6
    assert sorted(live.all("restored")) == sorted(map(str, files))
    assert live.all("removed") == []

    late = sound(live.root / "late.wav", 99)  # the returned folder is watched again
    wait_until(lambda: live.status(late) == INDEXED)


def test_polling_observer(tmp_path, embedder):
    lv = Live(tmp_path, embedder, polling=True)
    try:
        # A file written during the startup reconcile and deleted before the next poll is seen by
        # neither snapshot (only its folder's mtime changes): let the reconcile end first.
        wait_until(lambda: lv.jobs, message="the startup reconcile")
        a = sound(lv.root / "a.wav", 1)
        wait_until(lambda: lv.status(a) == INDEXED)
        a.unlink()
        wait_until(lambda: lv.status(a) is None)
    finally:
        lv.close()
