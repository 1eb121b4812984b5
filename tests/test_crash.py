"""kill -9 at random moments of indexing: the library always reopens at its last commit.

A "zygote" subprocess imports torch and the package and loads the tiny model once; for each
round it forks a child that indexes the sample folder through the public API (a real,
separate process doing real file I/O), and the test SIGKILLs the child after a random delay
(seeded). After every kill the test checks, before and after reopening the library:

- the raw files are consistent (only rows past the catalog, which opening cuts off, and
  temporary files are allowed; never a record pointing past the log);
- it opens as the next writer would, and then `integrity.check` finds nothing at all;
- every record seen committed at an earlier check is still there, with the same vector id
  and the same vector bytes.

When a child finishes before its kill, the folder changes (new files, byte-identical copies,
renames, touched files) so the next rounds have work again. At the end a full run completes
and every distinct content is embedded exactly once.

SOUNDFINDER_SOAK=N runs N kill points instead of the default 24.
"""

from __future__ import annotations

import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

KILLS = int(os.environ.get("SOUNDFINDER_SOAK", "0") or 0) or 24
SEED = int(os.environ.get("SOUNDFINDER_CRASH_SEED", "20240611"))

ZYGOTE = r"""
import os, sys
from soundfinder.model import ClapEmbedder
from soundfinder.indexing import index_paths
from soundfinder.library import Library

embedder = ClapEmbedder.load(sys.argv[1], device="cpu")
os.write(1, b"ready\n")
for line in sys.stdin:
    lib_path, folder = line.rstrip("\n").split("\t")
    pid = os.fork()
    if pid == 0:
        try:
            import torch
            torch.set_num_threads(1)
            os.write(1, f"started {os.getpid()}\n".encode())
            with Library.open(lib_path, space=embedder.space) as lib:
                index_paths(lib, embedder, [folder], files_per_batch=4, commit_seconds=0.0, decode_workers=2)
            os._exit(0)
        except BaseException as e:
            os.write(2, f"child failed: {e!r}\n".encode())
            os._exit(3)
    os.write(1, f"pid {pid}\n".encode())
    _, status = os.waitpid(pid, 0)
    os.write(1, f"exit {pid} {os.waitstatus_to_exitcode(status)}\n".encode())
"""


class Zygote:
    def __init__(self, model_dir: Path):
        env = dict(os.environ, OMP_NUM_THREADS="1")
        self.proc = subprocess.Popen([sys.executable, "-c", ZYGOTE, str(model_dir)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, bufsize=0)
        self._buf = b""
        assert self.readline(120) == "ready", self.proc.stderr.read().decode()[-2000:]

    def readline(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise TimeoutError("the indexing child did not answer in time")
            chunk = os.read(self.proc.stdout.fileno(), 4096)
            if not chunk:
                raise EOFError(self.proc.stderr.read().decode(errors="replace")[-3000:])
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def run(self, library: Path, folder: Path, kill_after: float | None) -> int:
        """Index in a forked child; SIGKILL it `kill_after` seconds after it started. Exit code."""
        self.proc.stdin.write(f"{library}\t{folder}\n".encode())
        pid = None
        started = None
        while True:
            line = self.readline(120)
            word, rest = line.split(" ", 1)
            if word == "pid":
                pid = int(rest)
            elif word == "started":
                started = time.monotonic()
                if kill_after is not None:
                    time.sleep(kill_after)
                    try:
                        os.kill(int(rest), signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            elif word == "exit":
                p, code = rest.split()
                assert pid is None or int(p) == pid and started is not None
                return int(code)

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def _sound(path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(48000 * rng.uniform(0.05, 0.4))
    t = np.arange(n) / 48000
    x = 0.3 * np.sin(2 * np.pi * rng.uniform(40, 4000) * t) + 0.05 * rng.standard_normal(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x.astype(np.float32), 48000, subtype="PCM_16")


def _committed(library: Path) -> dict[str, tuple[str, int, bytes]]:
    """path -> (hash, vector id, vector bytes) of every indexed record."""
    from soundfinder.library import Library

    with Library.open(library, readonly=True) as lib:
        records = list(lib.files("indexed"))
        vectors = lib.log.take([r.vector_id for r in records]) if records else []
        return {r.path: (r.hash, r.vector_id, v.tobytes()) for r, v in zip(records, vectors, strict=True)}


def _check_after_kill(library: Path, space, before: dict) -> dict:
    from soundfinder.library import Library
    from soundfinder.library.integrity import check

    if not (library / "catalog.sqlite").exists():
        return before  # killed before the catalog's first transaction
    raw = check(library, files=False)
    assert raw.codes() <= {"log-uncommitted", "log-partial-row", "leftover-temp"}, \
        [p.to_json() for p in raw.problems]
    with Library.open(library, space=space) as lib:  # as the next writer: cuts uncommitted rows
        assert lib.log is None or len(lib.log) == lib.catalog.vector_count()
    report = check(library, files=False)
    assert report.ok, [p.to_json() for p in report.problems]
    now = _committed(library)
    for path, (h, vid, vec) in before.items():
        if os.path.exists(path):
            assert path in now, f"lost a committed record: {path}"
            assert now[path][:2] == (h, vid), path
            assert now[path][2] == vec, f"vector {vid} changed"
    return now


def _change_folder(folder: Path, rng: random.Random, serial: list[int]) -> None:
    """New work for the next rounds: new sounds, byte-identical copies, renames, touched files."""
    files = sorted(folder.rglob("*.wav"))
    for _ in range(20):
        serial[0] += 1
        _sound(folder / f"new{serial[0] % 3}" / f"s{serial[0]:04d}.wav", 1000 + serial[0])
    (folder / "copies").mkdir(exist_ok=True)
    for src in rng.sample(files, 3):
        serial[0] += 1
        shutil.copyfile(src, folder / "copies" / f"copy{serial[0]:04d}.wav")
    for src in rng.sample(files, 3):
        if src.exists():
            serial[0] += 1
            src.rename(src.with_name(f"renamed{serial[0]:04d}.wav"))
    for src in rng.sample(sorted(folder.rglob("*.wav")), 3):
        os.utime(src, ns=(time.time_ns(), time.time_ns()))


def test_kill_minus_9_at_random_moments(tiny_model_dir, embedder, tmp_path):
    rng = random.Random(SEED)
    folder = tmp_path / "samples"
    for i in range(60):
        _sound(folder / f"kit{i % 4}" / f"sound{i:03d}.wav", i)
    shutil.copyfile(folder / "kit0" / "sound000.wav", folder / "kit1" / "same_as_000.wav")
    (folder / "kit2" / "broken.wav").write_bytes(b"not audio")
    library = tmp_path / "library"
    space = embedder.space

    zygote = Zygote(tiny_model_dir)
    try:
        # one full run to learn how long a run takes here (then start again from nothing)
        t0 = time.monotonic()
        assert zygote.run(library, folder, None) == 0
        full = time.monotonic() - t0
        shutil.rmtree(library)

        kills, completed, serial, before = 0, 0, [0], {}
        t_start = time.monotonic()
        horizon = full  # kill within [0, horizon): shrinks when runs finish first (little work left)
        while kills < KILLS:
            code = zygote.run(library, folder, rng.uniform(0, horizon))
            if code == -signal.SIGKILL:
                kills += 1
                horizon = min(full, horizon * 1.2)
            else:
                assert code == 0, f"indexing failed on its own (exit {code})"
                completed += 1
                horizon = max(0.05, horizon * 0.5)
                _change_folder(folder, rng, serial)
            before = _check_after_kill(library, space, before)
            assert time.monotonic() - t_start < 600, "crash test is taking too long"

        assert zygote.run(library, folder, None) == 0  # the next run completes the job
        _check_after_kill(library, space, before)
    finally:
        zygote.close()

    from soundfinder.library import Library
    from soundfinder.library.integrity import check

    with Library.open(library, readonly=True) as lib:
        records = list(lib.files())
        indexed = [r for r in records if r.status == "indexed"]
        on_disk = {str(p) for p in folder.rglob("*.wav")}
        assert {r.path for r in records} == on_disk
        broken = {p for p in on_disk if Path(p).read_bytes() == b"not audio"}
        assert {r.path for r in records if r.status != "indexed"} == broken and len(broken) == 1
        hashes = {r.hash for r in indexed}
        # no duplicates: one vector per distinct content, and no vector left over from a killed run
        assert len(lib.log) == lib.catalog.vector_count() == len(hashes)
        assert len({r.vector_id for r in indexed}) == len(hashes)
    assert check(library).ok
    print(f"crash test: {kills} kills, {completed} runs completed between kills, full run {full:.2f} s")
