"""`soundfinder index --cluster` on a local Ray (2 CPUs here and in CI; the `cluster` extra).

Each Ray lives in its own short temp folder (RAY_TMPDIR; HOME too, for Ray's token) and is shut
down by its test; what a killed driver leaves is ended by pid. No other Ray is ever touched."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import tone, write

ray = pytest.importorskip("ray", reason='the cluster extra: pip install "soundfinder[cluster]"')

RUN_TIMEOUT = 420  # one CLI run on a loaded 2-core machine, Ray start-up included


@pytest.fixture
def ray_home(monkeypatch):
    """A short private folder for Ray's sessions (unix socket paths must stay short) and token."""
    d = Path(tempfile.mkdtemp(prefix="sfray", dir="/tmp" if os.path.isdir("/tmp") else None))
    monkeypatch.setenv("RAY_TMPDIR", str(d))
    monkeypatch.setenv("HOME", str(d))
    for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    yield d
    from soundfinder.indexing.cluster import disconnect

    disconnect()
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def shared_ray():
    """One local Ray (2 CPUs) for the in-process CLI runs of this module: `connect` uses a Ray
    the process already holds, so they pay Ray's start-up once."""
    d = Path(tempfile.mkdtemp(prefix="sfray", dir="/tmp" if os.path.isdir("/tmp") else None))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAY_TMPDIR", str(d))
        mp.setenv("HOME", str(d))
        for var in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
            mp.delenv(var, raising=False)
        import logging

        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR,
                 log_to_driver=False)
        try:
            yield d
        finally:
            ray.shutdown()
            shutil.rmtree(d, ignore_errors=True)


def _records(library: Path) -> dict:
    from soundfinder.library import Library

    with Library.open(library, readonly=True) as lib:
        return {r.path: (r, lib.vector(r.vector_id) if r.vector_id is not None else None) for r in lib.files()}


def _descriptors(library: Path) -> dict:
    from soundfinder.library import Library

    with Library.open(library, readonly=True) as lib:
        return lib.descriptors.get_many(r.hash for r in lib.files())


def _fields(r) -> dict:
    return {k: v for k, v in r.__dict__.items() if k not in ("id", "vector_id", "tags")}


def test_cluster_output_equals_the_local_pipeline(cli, sample_folder, tmp_path, shared_ray):
    shutil.copy(sample_folder / "Drums" / "Kick_808.wav", sample_folder / "Kick_copy.wav")  # a duplicate
    code, out, err = cli("index", "--json", "--cluster", "local", "--actors", "1:2", str(sample_folder))
    assert code == 0, err
    clustered, cluster_err = json.loads(out), err
    local_lib = tmp_path / "local-library"
    code, out, err = cli("--library", str(local_lib), "index", "--json", str(sample_folder))
    assert code == 0, err
    local = json.loads(out)
    for k in ("new", "changed", "moved", "removed", "unchanged", "failed", "embedded"):
        assert clustered[k] == local[k], k
    assert clustered["failures"] == local["failures"]
    a, b = _records(cli.library), _records(local_lib)
    assert a.keys() == b.keys() and len(a) == 10
    for path, (rec, vec) in a.items():
        lrec, lvec = b[path]
        assert _fields(rec) == _fields(lrec), path
        if lvec is None:
            assert vec is None
        else:
            assert float(np.dot(vec, lvec)) >= 0.99999, path
    descs = [_descriptors(lib) for lib in (cli.library, local_lib)]
    assert descs[0] == descs[1] and len(descs[0]) == len({r.hash for r, v in a.values() if v is not None})
    # The corrupt file is an error row: failed, with the local pipeline's own reason.
    broken = a[str(sample_folder / "FX" / "broken.wav")][0]
    assert broken.status == "failed" and broken.error and "not audio" in broken.error
    # The copy reuses its original's vector.
    assert a[str(sample_folder / "Kick_copy.wav")][0].vector_id == a[str(sample_folder / "Drums" / "Kick_808.wav")][0].vector_id
    docs = []
    for lib in (cli.library, local_lib):
        code, out, err = cli("--library", str(lib), "doctor", "--json")
        assert code == 0, out + err
        report = json.loads(out)
        docs.append((report["ok"], report["problems"], {k: v for k, v in report["facts"].items() if k != "writer"}))
    assert docs[0] == docs[1]

    assert "the local pipeline (without --cluster) is faster" in cluster_err  # 8 files: a small job

    # A second run has nothing to do.
    code, out, err = cli("index", "--json", "--cluster", "local", str(sample_folder))
    assert code == 0 and json.loads(out)["unchanged"] == 10 and json.loads(out)["embedded"] == 0


def test_stage_one_turns_a_corrupt_file_into_an_error_row(embedder, tmp_path):
    from soundfinder.indexing.cluster_workers import prepare_files
    from soundfinder.model.windows import MAX_WINDOWS

    good = write(tmp_path / "ok.wav", tone(300, 12.0))  # two windows
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    rows = prepare_files({"key": np.array([0, 1, 2]), "path": np.array([str(good), str(bad), str(tmp_path / "gone.wav")])},
                         extractor=embedder.feature_extractor, front_end=embedder.front_end,
                         window_samples=embedder.window_samples, max_windows=MAX_WINDOWS)
    assert list(rows["key"]) == [0, 0, 1, 2] and list(rows["windows"]) == [2, 2, 0, 0]
    assert rows["error"][0] == "" and rows["error"][2] and rows["error"][3]
    mel = np.frombuffer(rows["mel"][0], dtype=np.float32)
    expected = embedder.audio_inputs(embedder.windows(np.zeros(1, np.float32)))[0].float().numpy()
    assert mel.size == expected.size


def test_a_model_actor_that_cannot_load_answers_fatal_rows(embedder, tiny_model_dir, tmp_path):
    from soundfinder.indexing.cluster_workers import EmbedActor

    batch = {"key": np.array([0]), "window": np.array([0]), "windows": np.array([1]), "error": np.array([""]),
             "mel": np.array([b""], dtype=object), "duration": np.array([1.0]), "source_rate": np.array([48000]),
             "channels": np.array([1]), "format": np.array(["WAV"]), "subtype": np.array(["PCM_16"]),
             "warning": np.array([""]), "descriptors": np.array([""])}
    missing = EmbedActor(str(tmp_path / "nowhere"), embedder.space.id, "cpu", "auto", (1001, 64))
    assert missing.fatal.startswith("could not load the model on node") and "\n" not in missing.fatal
    assert list(missing(batch)["fatal"]) == [missing.fatal]
    other = EmbedActor(str(tiny_model_dir), "some-other-space", "cpu", "auto", (1001, 64))
    assert "not the driver's some-other-space" in other.fatal


def test_flag_errors_are_one_line_and_leave_the_library_untouched(cli, sample_folder, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once closed
    code, out, err = cli("index", "--cluster", f"127.0.0.1:{port}", str(sample_folder))
    assert code == 1 and "cannot reach a Ray cluster at 127.0.0.1" in err and err.count("\n") == 1
    assert not cli.library.exists()
    code, out, err = cli("index", "--cluster", "local", "--actors", "3:1", str(sample_folder))
    assert code == 1 and "--actors" in err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    code, out, err = cli("index", "--cluster", "local", str(sample_folder))
    assert code == 1 and 'pip install "soundfinder[cluster]"' in err
    assert not cli.library.exists()


def test_unreadable_paths_a_missing_model_or_gpu_on_the_workers(cli, sample_folder, shared_ray, tiny_model_dir):
    cli.library.mkdir()
    (cli.library / "marker").write_text("x")
    code, out, err = cli("index", "--cluster", "local", "--path-map", f"{sample_folder}=/nonexistent/samples",
                         str(sample_folder))
    assert code == 1 and "--path-map" in err and "cannot read /nonexistent/samples" in err, err
    assert sorted(p.name for p in cli.library.iterdir()) == ["marker"]
    code, out, err = cli("index", "--cluster", "local", "--path-map", f"{tiny_model_dir}=/nonexistent/model",
                         str(sample_folder))
    assert code == 1 and "model folder /nonexistent/model is missing on node" in err, err
    code, out, err = cli("index", "--cluster", "local", "--gpus-per-actor", "1", str(sample_folder))
    assert code == 1 and "needs 1 GPU(s); the cluster has 0" in err, err
    assert sorted(p.name for p in cli.library.iterdir()) == ["marker"]
    assert ray.is_initialized()  # a Ray the caller holds is left running


def test_version_mismatch_is_one_line():
    from soundfinder.indexing.cluster import explain_connect_error

    e = RuntimeError("Version mismatch: The cluster was started with:\n    Ray: 2.59.0\n    Python: 3.12.1\n"
                     "This process on node 10.0.0.2 was started with:\n    Ray: 2.60.0\n    Python: 3.11.9\n")
    line = explain_connect_error(e, "10.0.0.1:6379")
    assert "\n" not in line and "another Ray or Python version" in line and "2.59.0" in line


# -- kills ----------------------------------------------------------------------------------

def _many_files(root: Path, n: int) -> Path:
    rng = np.random.default_rng(7)
    for i in range(n):
        write(root / f"set{i % 4}" / f"take_{i:03d}.wav", tone(float(rng.uniform(60, 3000)), float(rng.uniform(0.3, 2.5)),
                                                              kind=("sine", "hit", "noise")[i % 3], seed=i))
    return root


def _env(ray_home: Path, model: Path, library: Path) -> dict:
    return dict(os.environ, SOUNDFINDER_MODEL=str(model), SOUNDFINDER_LIBRARY=str(library), SOUNDFINDER_DEVICE="cpu",
                RAY_TMPDIR=str(ray_home), HOME=str(ray_home), OMP_NUM_THREADS="1")


def _descendants(pid: int) -> dict[int, str]:
    """pid -> cmdline of every live descendant of `pid` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, stack = {}, [pid]
    while stack:
        for c in children.get(stack.pop(), []):
            try:
                with open(f"/proc/{c}/cmdline", "rb") as f:
                    out[c] = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            stack.append(c)
    return out


def _end(pids, timeout: float = 30) -> None:
    """Wait for processes we started to go; SIGKILL by pid those still there after `timeout`."""
    deadline = time.monotonic() + timeout
    for pid in pids:
        while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
            time.sleep(0.2)
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _indexed(library: Path) -> int:
    from soundfinder.library import Library

    try:
        with Library.open(library, readonly=True) as lib:
            return lib.stats()["indexed"]
    except Exception:  # not created yet, or caught between its first two writes
        return 0


def _run_and_wait(args, env, until, timeout=RUN_TIMEOUT):
    """Start the CLI; poll `until(proc)` (True: stop polling) while it runs. Returns the Popen."""
    proc = subprocess.Popen([sys.executable, "-m", "soundfinder", *args], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if until(proc):
            break
        time.sleep(0.1)
    return proc


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_driver_killed_then_rerun_commits_every_file_exactly_once(tmp_path, ray_home, tiny_model_dir):
    n = 96  # three commits of 32: a state between two commits lasts long enough to be seen
    folder, library = _many_files(tmp_path / "takes", n), tmp_path / "lib"
    env = _env(ray_home, tiny_model_dir, library)
    seen = {}

    def partway(proc):
        seen["tree"] = {**seen.get("tree", {}), **_descendants(proc.pid)}
        return 0 < _indexed(library) < n

    proc = _run_and_wait(["index", "--cluster", "local", str(folder)], env, partway)
    try:
        assert proc.poll() is None, "the run ended before any commit could be seen: " + proc.stderr.read().decode()[-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        _end([proc.pid, *seen.get("tree", {}), *_descendants(proc.pid)])
    before = _indexed(library)
    assert 0 < before < n
    done = subprocess.run([sys.executable, "-m", "soundfinder", "index", "--json", "--cluster", "local", str(folder)],
                          env=env, capture_output=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr.decode()[-3000:]
    summary = json.loads(done.stdout)
    assert summary["embedded"] == n - before and summary["unchanged"] == before
    recs = _records(library)
    assert len(recs) == n and all(r.status == "indexed" for r, _ in recs.values())
    from soundfinder.library import Library

    with Library.open(library, readonly=True) as lib:
        assert lib.stats()["vectors"] == n == len({r.vector_id for r, _ in recs.values()})  # nothing twice


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_actor_killed_mid_run_does_not_stop_the_job(tmp_path, ray_home, tiny_model_dir):
    n = 96
    folder, library = _many_files(tmp_path / "takes", n), tmp_path / "lib"
    env = _env(ray_home, tiny_model_dir, library)
    killed, tree = [], {}

    def kill_actor(proc):
        tree.update(_descendants(proc.pid))
        if 0 < _indexed(library) < n:
            actors = [p for p, cmd in _descendants(proc.pid).items() if "EmbedActor" in cmd]
            if actors:
                os.kill(actors[0], signal.SIGKILL)
                killed.append((actors[0], _indexed(library)))
                return True
        return False

    proc = _run_and_wait(["index", "--json", "--cluster", "local", str(folder)], env, kill_actor)
    try:
        out, err = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        _end([*tree, *_descendants(proc.pid)])  # Ray's own processes end with the driver; stragglers by pid
    assert killed and killed[0][1] < n, "no model actor was found running mid-job"
    assert proc.returncode == 0, err.decode()[-3000:]
    recs = _records(library)
    assert len(recs) == n and all(r.status == "indexed" for r, _ in recs.values())
    assert len({r.vector_id for r, _ in recs.values()}) == n


# -- attaching to a cluster started with `ray start --head` (token auth) -------------------------

HEAD = r"""
set -u
cd "$D"
"$PY" -c "$LO_UP" || true  # a fresh network namespace has only a loopback, and it is down
"$RAY" start --head --node-ip-address=127.0.0.1 --port="$PORT" --num-cpus=2 --include-dashboard=false \
  --temp-dir="$D/r" --disable-usage-stats >start.log 2>&1 || { echo "ray start failed"; cat start.log; exit 3; }
"$PY" -m soundfinder index --json --cluster "127.0.0.1:$PORT" "$FOLDER" >out.json 2>err.txt; echo $? >rc
if [ "$ISOLATED" = 1 ]; then "$RAY" stop >stop.log 2>&1; echo $? >stop_rc; fi
"""


# `ip link set lo up` without iproute2: SIOCGIFFLAGS, then SIOCSIFFLAGS with IFF_UP.
LO_UP = ("import fcntl, socket, struct; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); "
         "f = struct.unpack('16sH14s', fcntl.ioctl(s, 0x8913, struct.pack('16sH14s', b'lo', 0, b'')))[1]; "
         "fcntl.ioctl(s, 0x8914, struct.pack('16sH14s', b'lo', f | 1, b''))")


def _isolation() -> list[str]:
    """A private PID + network namespace: `ray stop` there sees only the cluster this test
    starts, and the cluster can listen on nothing but the loopback. [] where not allowed."""
    for cmd in (["unshare", "-pfn", "--mount-proc"], ["unshare", "-rpfn", "--mount-proc"]):
        try:
            if subprocess.run([*cmd, "true"], capture_output=True, timeout=20).returncode == 0:
                return cmd
        except (OSError, subprocess.SubprocessError):
            pass
    return []


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="unshare and /proc")
def test_attach_to_a_head_with_token_auth_then_ray_stop(tmp_path, ray_home, tiny_model_dir):
    import secrets

    folder, library = _many_files(tmp_path / "takes", 6), tmp_path / "lib"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wrap = _isolation()
    env = dict(_env(ray_home, tiny_model_dir, library), D=str(ray_home), PORT=str(port), FOLDER=str(folder),
               ISOLATED="1" if wrap else "0", RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32),
               PY=sys.executable, RAY=str(Path(sys.executable).with_name("ray")), LO_UP=LO_UP)
    proc = subprocess.Popen([*wrap, "bash", "-c", HEAD], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT)
    finally:
        if not wrap:  # no private namespace: stop exactly this cluster's processes, by pid
            ours = [int(p) for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(int(p), str(ray_home))]
            tree = {d for p in ours for d in _descendants(p)}
            for pid in ours:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            _end([*ours, *tree])
    assert proc.returncode == 0, out.decode()[-3000:]
    rc = (ray_home / "rc").read_text().strip()
    assert rc == "0", (ray_home / "err.txt").read_text()[-3000:]
    summary = json.loads((ray_home / "out.json").read_text())
    assert summary["new"] == 6 and summary["embedded"] == 6
    assert len(_records(library)) == 6
    if wrap:  # only a loopback there, so Ray listens on nothing else
        assert "Local node IP: 127.0.0.1" in (ray_home / "start.log").read_text()
        assert (ray_home / "stop_rc").read_text().strip() == "0"
        assert "Stopped all" in (ray_home / "stop.log").read_text()


def _cmdline_has(pid: int, text: str) -> bool:
    try:
        return text.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
