"""`soundfinder watch` as a process: its output, a kill -9 in the middle of indexing, a restart
that resumes without losing or duplicating anything, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from soundfinder.library import Library
from tests.conftest import tone, write
from tests.test_watch import wait_until

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")


class WatchProcess:
    def __init__(self, folder, env, stderr_path):
        self.lines: list[str] = []
        self.stderr_path = stderr_path
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "soundfinder", "watch", str(folder), "--debounce", "0.3"],
            stdout=subprocess.PIPE, stderr=open(stderr_path, "w"), env=env, text=True)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def starting(self, kind: str) -> list[str]:
        return [line[2:] for line in list(self.lines) if line.startswith(kind + " ")]

    def stderr(self) -> str:
        return open(self.stderr_path).read()


@pytest.fixture
def env(tiny_model_dir, tmp_path):
    return dict(os.environ, SOUNDFINDER_MODEL=str(tiny_model_dir), SOUNDFINDER_LIBRARY=str(tmp_path / "lib"),
                SOUNDFINDER_DEVICE="cpu")


ATTEMPTS = 3  # a kill -9 that lands after the last commit tested nothing: start over, fresh


def kill_mid_pack(tmp_path, env, staging, attempt: int):
    """Start a watcher on a new folder and library, copy the pack in, kill -9 once some of it is
    committed. Returns (folder, env, paths printed before the kill, paths committed)."""
    folder = tmp_path / f"samples{attempt}"
    folder.mkdir()
    env = dict(env, SOUNDFINDER_LIBRARY=str(tmp_path / f"lib{attempt}"))
    first = WatchProcess(folder, env, tmp_path / f"err1-{attempt}.txt")
    wait_until(lambda: "watching" in first.stderr(), timeout=60, message="the watcher to start")
    shutil.copytree(staging, folder / "pack")
    wait_until(lambda: len(first.starting("+")) >= 20, timeout=60, message="a first batch")
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(10)
    with Library.open(env["SOUNDFINDER_LIBRARY"], readonly=True) as lib:
        committed = {r.path for r in lib.files()}
    return folder, env, set(first.starting("+")), committed


def test_watch_survives_kill_9_and_stops_cleanly_on_sigterm(tmp_path, env):
    staging = tmp_path / "pack"
    for i in range(300):
        write(staging / f"d{i % 3}" / f"s{i:03}.wav", tone(90 + 5 * i, 0.02, kind="hit", seed=i))

    # 1. Start, copy a pack in, kill -9 once some of it is committed (again if all of it was).
    for attempt in range(ATTEMPTS):
        folder, env, before, committed = kill_mid_pack(tmp_path, env, staging, attempt)
        if len(committed) < 300:
            break
    else:
        pytest.fail(f"the kill came after everything was indexed, {ATTEMPTS} times: nothing was tested")
    every = {str(folder / "pack" / p.relative_to(staging)) for p in staging.rglob("*.wav")}
    assert before <= committed <= every

    # 2. Restart: the reconcile adds exactly what the killed run had not committed.
    second = WatchProcess(folder, env, tmp_path / "err2.txt")
    wait_until(lambda: len(committed) + len(second.starting("+")) >= 300, timeout=60, message="the rest")
    added = second.starting("+")
    assert not set(added) & committed and len(set(added)) == len(added)
    assert committed | set(added) == every

    # 3. Changes print as they apply; a folder move re-embeds nothing.
    os.rename(folder / "pack" / "d0", folder / "moved")
    wait_until(lambda: len(second.starting(">")) == 100, message="the moves")
    assert second.starting(">")[0].startswith(str(folder / "pack" / "d0") + os.sep)
    (folder / "moved" / "s000.wav").unlink()
    wait_until(lambda: second.starting("-") == [str(folder / "moved" / "s000.wav")])

    second.proc.send_signal(signal.SIGTERM)
    assert second.proc.wait(30) == 0
    assert "stopped" in second.stderr()
    with Library.open(env["SOUNDFINDER_LIBRARY"]) as lib:
        stats = lib.stats()
        assert (stats["files"], stats["indexed"]) == (299, 299)
        assert lib.catalog.vector_count() == 300  # each sound embedded once over both runs, none twice
