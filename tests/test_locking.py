"""Two processes, one library: one writer (named when it refuses another), any number of readers,
and a killed writer's lock never blocks the next one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

HOLDER = r"""
import sys, time
from soundfinder.library import Library
lib = Library.open(sys.argv[1])
print("locked", flush=True)
time.sleep(120)
"""


def _start_holder(library) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(library), "holder-tag"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    assert line.strip() == "locked", proc.stderr.read()
    return proc


def test_second_writer_is_refused_naming_the_holder_while_readers_work(cli, sample_folder):
    code, _, err = cli("index", str(sample_folder))
    assert code == 0, err
    holder = _start_holder(cli.library)
    try:
        code, out, err = cli("index", str(sample_folder))
        assert code == 1
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"process {holder.pid}" in err and "open for writing" in err, err
        assert "search and status still work" in err

        code, _, err = cli("forget", str(sample_folder / "Drums"))
        assert code == 1 and f"process {holder.pid}" in err

        code, out, err = cli("status", "--json")
        assert code == 0 and '"indexed": 8' in out, err
        code, out, err = cli("search", "kick")
        assert code == 0 and "Kick_808" in out, err
        code, out, err = cli("list")
        assert code == 0 and "broken.wav" in out

        code, out, err = cli("doctor")  # checks read-only and tolerates the writer's in-flight rows
        assert code == 0, out + err
        assert f"process {holder.pid}" in out
        code, out, err = cli("doctor", "--repair")
        assert code == 1 and f"process {holder.pid}" in err
    finally:
        holder.kill()
        holder.wait()


def test_killed_writer_leaves_no_stale_lock(cli, sample_folder):
    holder = _start_holder(cli.library)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert str(holder.pid) in (cli.library / "lock").read_text()  # its note is still there...
    t0 = time.monotonic()
    code, out, err = cli("index", str(sample_folder))  # ...but the lock died with it
    assert code == 0, err
    assert time.monotonic() - t0 < 60
    assert str(os.getpid()) not in (cli.library / "lock").read_text()  # released on close


def test_same_process_second_writer_refused_and_lock_released(tmp_path):
    from soundfinder.library import Library, LibraryError, LibraryLockedError

    lib = Library.open(tmp_path / "lib")
    with pytest.raises(LibraryLockedError) as e:
        Library.open(tmp_path / "lib")
    assert isinstance(e.value, LibraryError) and f"process {os.getpid()}" in str(e.value)
    with Library.open(tmp_path / "lib", readonly=True) as reader:
        assert reader.stats()["files"] == 0
    lib.close()
    Library.open(tmp_path / "lib").close()
