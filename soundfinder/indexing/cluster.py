"""`soundfinder index --cluster`: the same index run, with decoding and the model on Ray.

The driver is where the library lives; it holds the writer lock and is the only writer.
It runs in the local pipeline's frame (`plan.run_index`, planning with `plan.plan_changes`:
scan, skip unchanged files by path/size/mtime, hash for duplicates and moves, commit the cheap
changes), hands
one file per new content to Ray Data (stage 1 tasks decode + mel, stage 2 an actor pool runs
the audio tower; see `cluster_workers`), and commits what streams back batch by batch with
the local pipeline's commit (`plan.commit_with_copies`: vector log fsynced, then one catalog
transaction). A driver killed at any moment loses only uncommitted files: rerunning the
same command plans them again, and nothing committed is redone or duplicated.

Ray is imported only here and only when `--cluster` is given.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from soundfinder.indexing.plan import (
    IndexSummary,
    Progress,
    ProgressFn,
    commit_with_copies,
    record_decode_failure,
    run_index,
)
from soundfinder.library import Batch, FileInfo, Library

INSTALL_HINT = 'pip install "soundfinder[cluster]"'
# Below this many files to embed, the local pipeline finishes first: a local Ray costs ~5-10 s
# to start plus a model load per actor, which the local pipeline (~5-10 files/s on a laptop
# CPU with the real model) spends on ~50-100 files. bench/cluster.py measures both.
SMALL_JOB_FILES = 200
MAX_BLOCKS = 4096
DECODE_TASK_MEMORY = 512 * 2**20  # measured up to 285 MiB per decode worker (torch imported)


_owned = False  # whether this process's Ray was started or attached by `connect`


class ClusterError(Exception):
    """A cluster problem the user can act on; the message is one line, the library untouched."""


@dataclass
class ClusterOptions:
    address: str = "local"
    actors: tuple[int, int] = (1, 1)
    gpus_per_actor: float = 0.0
    path_map: list[tuple[str, str]] = field(default_factory=list)  # (local prefix, remote prefix)
    files_per_task: int = 8  # files per stage-1 task


def parse_actors(text: str) -> tuple[int, int]:
    """'2' -> (2, 2); '1:4' -> (1, 4)."""
    try:
        lo, _, hi = text.partition(":")
        lo_n, hi_n = int(lo), int(hi or lo)
    except ValueError:
        raise ClusterError(f"--actors takes MIN:MAX (e.g. 1:4) or one number, not {text!r}") from None
    if lo_n < 1 or hi_n < lo_n:
        raise ClusterError(f"--actors {text}: need 1 <= MIN <= MAX")
    return lo_n, hi_n


def parse_path_map(items: Iterable[str]) -> list[tuple[str, str]]:
    """['/Volumes/NAS=/mnt/nas'] -> [('/Volumes/NAS', '/mnt/nas')]: the same files under another mount."""
    out = []
    for item in items:
        local, sep, remote = item.partition("=")
        if not sep or not local or not remote:
            raise ClusterError(f"--path-map takes LOCAL=REMOTE (e.g. /Volumes/NAS=/mnt/nas), not {item!r}")
        out.append((os.path.abspath(os.path.expanduser(local)).rstrip(os.sep) or os.sep, remote.rstrip("/") or "/"))
    return out


def to_remote(path: str, path_map: list[tuple[str, str]]) -> str:
    """The path a worker sees for the driver's `path` (the longest matching prefix wins)."""
    for local, remote in sorted(path_map, key=lambda m: -len(m[0])):
        if path == local or path.startswith(local.rstrip(os.sep) + os.sep):
            return remote + path[len(local):].replace(os.sep, "/")
    return path


# -- connecting ---------------------------------------------------------------------------

def connect(address: str, num_cpus: int | None = None) -> None:
    """Start a local Ray (`local`) or attach to a running cluster (`HOST:PORT`, `ray://HOST:PORT`).

    A Ray this process already holds (a program embedding soundfinder, the tests) is used as
    it is, and `disconnect` leaves it running."""
    global _owned
    try:
        import ray
    except ImportError:
        raise ClusterError(f"--cluster needs Ray: {INSTALL_HINT}") from None
    if address != "local":
        _probe(address)
    if ray.is_initialized():
        _configure_data()
        return
    # Ray's own notes (token auth is on, execution plans, tuning hints) are not the user's
    # business here; errors still show.
    kwargs: dict = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address == "local":
        kwargs.update(address="local", num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False)
    else:
        kwargs["address"] = address
    try:
        ray.init(**kwargs)
    except Exception as e:
        raise ClusterError(explain_connect_error(e, address)) from None
    _owned = True
    _configure_data()


def _configure_data() -> None:
    import ray.data

    logging.getLogger("ray.data").setLevel(logging.ERROR)  # after the import, which configures it
    warnings.filterwarnings("ignore", module="ray.data")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False  # the CLI prints its own progress
    ctx.issue_detectors_config.detectors = []


def disconnect() -> None:
    """Shut down the Ray `connect` started or attached to (not one the caller already held)."""
    global _owned
    if not _owned:
        return
    import ray

    _owned = False
    if ray.is_initialized():
        ray.shutdown()


def _probe(address: str) -> None:
    """Fail in seconds with one line instead of Ray's long retry loop when nothing listens there."""
    hostport = address.removeprefix("ray://")
    host, sep, port = hostport.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ClusterError(f"--cluster takes local, HOST:PORT or ray://HOST:PORT, not {address!r}")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as e:
        why = e.strerror or type(e).__name__.replace("Error", "").lower() or str(e)
        raise ClusterError(f"cannot reach a Ray cluster at {address}: {why} (start one there with "
                           f"`ray start --head`, or use --cluster local)") from None


def explain_connect_error(e: BaseException, address: str) -> str:
    """One line from whatever `ray.init` raised."""
    import platform

    import ray

    text = str(e)
    first = text.strip().splitlines()[0] if text.strip() else type(e).__name__
    if "version mismatch" in text.lower():
        return (f"the Ray cluster at {address} runs another Ray or Python version than this machine "
                f"(ray {ray.__version__}, Python {platform.python_version()}): install the same "
                f"versions on both ({' '.join(text.split())[:200]})")
    if type(e).__name__ == "AuthenticationError" or "authentication" in text.lower() or "token" in text.lower():
        return (f"the Ray cluster at {address} refused this driver's token: set RAY_AUTH_MODE=token and "
                f"RAY_AUTH_TOKEN (or ~/.ray/auth_token) to the cluster's token (`ray get-auth-token` on "
                f"its head node)")
    if isinstance(e, ConnectionError | TimeoutError):
        # The port answered (`_probe`), so the usual cause is a token Ray refused.
        return (f"cannot reach a Ray cluster at {address}: {first}; its port answers, so if the cluster "
                f"uses token authentication set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN to its token "
                f"(`ray get-auth-token` on the head node)")
    return f"could not start or attach Ray at {address}: {first}"


def preflight(roots: list[str], model: str, opts: ClusterOptions) -> None:
    """Ask every alive node whether it can read the roots, has the model folder and the same
    soundfinder, before anything is written: a problem there is one line, the library untouched."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    from soundfinder import __version__
    from soundfinder.indexing.cluster_workers import check_node

    gpus = float(ray.cluster_resources().get("GPU", 0))
    if opts.gpus_per_actor and gpus < opts.gpus_per_actor * opts.actors[0]:
        raise ClusterError(f"--gpus-per-actor {opts.gpus_per_actor:g} with --actors {opts.actors[0]}:"
                           f"{opts.actors[1]} needs {opts.gpus_per_actor * opts.actors[0]:g} GPU(s); the cluster "
                           f"has {gpus:g} (leave --gpus-per-actor out to run the model on CPUs)")
    remote_roots = [(r, to_remote(r, opts.path_map)) for r in roots]
    model_dir = to_remote(os.path.abspath(model), opts.path_map) if os.path.isdir(model) else None
    check = ray.remote(num_cpus=0)(check_node)
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    refs = [check.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(remote_roots, model_dir, __version__) for n in nodes]
    for node, ref in zip(nodes, refs, strict=True):
        try:
            problem = ray.get(ref, timeout=300)
        except Exception as e:
            name = node.get("NodeManagerAddress", "?")
            if "ModuleNotFoundError" in str(e) or "No module named" in str(e):
                raise ClusterError(f"soundfinder is not installed on node {name}: {INSTALL_HINT} there "
                                   f"(the same version as here, {__version__})") from None
            raise ClusterError(f"node {name} did not answer the pre-flight check: "
                               f"{str(e).strip().splitlines()[0]}") from None
        if problem:
            raise ClusterError(problem)


# -- the run ------------------------------------------------------------------------------

def index_on_cluster(library: Library, embedder, roots: Iterable[str], opts: ClusterOptions, *, model: str,
                     precision: str = "auto", progress: ProgressFn | None = None,
                     cancel: threading.Event | None = None, warn: Callable[[str], None] | None = None,
                     files_per_batch: int = 32, commit_seconds: float = 2.0,
                     stats: dict | None = None) -> IndexSummary:
    """`index_paths` with decoding and the model on Ray (`connect` first). `embedder` is the
    driver's copy (on the CPU): it gives the embedding space and the feature recipe; the
    workers load `model` themselves. `stats` (optional) receives commit timings."""

    def embed(plan, summary, report, cancel):
        if plan.firsts and warn and len(plan.firsts) < SMALL_JOB_FILES:
            warn(f"only {len(plan.firsts)} file(s) to embed: below ~{SMALL_JOB_FILES} the local pipeline "
                 f"(without --cluster) is faster than starting Ray workers")
        if plan.firsts and not cancel.is_set():
            ds = build_dataset(embedder, plan.firsts, opts, model, precision)
            committer = _Committer(library, plan.groups, plan.changed, summary, plan.prog, report, stats)
            committer.consume(ds, plan.firsts, embedder.dim, cancel, files_per_batch, commit_seconds)

    return run_index(library, roots, progress, cancel, embed)


def build_dataset(embedder, firsts: list[FileInfo], opts: ClusterOptions, model: str, precision: str):
    """from_items -> stage 1 tasks (decode + mel) -> stage 2 actor pool (the audio tower)."""
    import ray

    from soundfinder.indexing.cluster_workers import EmbedActor, prepare_files
    from soundfinder.model.clap import default_batch_size
    from soundfinder.model.windows import MAX_WINDOWS

    items = [{"key": i, "path": to_remote(info.path, opts.path_map)} for i, info in enumerate(firsts)]
    per_task = max(1, opts.files_per_task)
    # One block per task's worth of files, up to MAX_BLOCKS (Ray Data tracks every block; past
    # that a block holds more files and its task works through them batch by batch).
    blocks = max(1, min(-(-len(items) // per_task), MAX_BLOCKS))
    ds = ray.data.from_items(items, override_num_blocks=blocks)
    # `memory` reserves room for a decode (at most MAX_WINDOWS windows are decoded) and, being a
    # resource the actors do not ask for, keeps Ray Data from fusing decoding into the model
    # actors: the two stages stay apart and overlap, like the local pipeline's threads.
    ds = ds.map_batches(prepare_files, batch_size=per_task, batch_format="numpy", num_cpus=1,
                        memory=DECODE_TASK_MEMORY,
                        fn_kwargs={"extractor": embedder.feature_extractor, "front_end": embedder.front_end,
                                   "window_samples": embedder.window_samples, "max_windows": MAX_WINDOWS})
    lo, hi = opts.actors
    gpu = opts.gpus_per_actor > 0
    mel_shape = tuple(embedder.audio_inputs([np.zeros(16, dtype=np.float32)]).shape[2:])
    actor_cpus = 1.0 if gpu else _cpu_actor_share(hi)
    return ds.map_batches(
        EmbedActor, batch_format="numpy", batch_size=default_batch_size("cuda") if gpu else default_batch_size("cpu"),
        compute=ray.data.ActorPoolStrategy(min_size=lo, max_size=hi), num_cpus=actor_cpus,
        num_gpus=opts.gpus_per_actor if gpu else None,
        fn_constructor_kwargs={"model": to_remote(os.path.abspath(model), opts.path_map)
                               if os.path.isdir(model) else model,
                               "space_id": embedder.space.id, "device": "cuda" if gpu else "cpu",
                               "precision": precision, "mel_shape": mel_shape})


def _cpu_actor_share(max_actors: int) -> float:
    """CPU actors reserve at most an equal share of all but one CPU, so stage 1 always has a CPU
    to decode on (2 CPUs and 2 actors would otherwise leave the decode tasks none, and stall)."""
    import ray

    cpus = float(ray.cluster_resources().get("CPU", 1.0))
    return max(0.1, min(1.0, (cpus - 1.0) / max_actors)) if cpus > 1 else 0.5


class _Committer:
    """Driver side: windows stream back in any order; a file is complete when all its windows
    are in (its vector is the normalised mean, as in the local pipeline), and complete files
    commit in batches. Duplicate rows from a retried task are ignored."""

    def __init__(self, library, groups, changed, summary: IndexSummary, prog: Progress, report, stats):
        self.library, self.groups, self.changed = library, groups, changed
        self.summary, self.prog, self.report = summary, prog, report
        self.stats = stats if stats is not None else {}
        self.stats.setdefault("commit_ms", [])
        self.batch = Batch()
        self.partial: dict[int, tuple[np.ndarray, set[int]]] = {}
        self.done: set[int] = set()
        self.rows: dict[str, dict] = {}  # content hash -> descriptors, until its file is committed

    def consume(self, ds, firsts: list[FileInfo], dim: int, cancel, files_per_batch: int,
                commit_seconds: float) -> None:
        last = time.monotonic()
        t_start = time.monotonic()
        for rows in ds.iter_batches(batch_size=None, batch_format="numpy"):
            self.stats.setdefault("first_result_s", time.monotonic() - t_start)
            fatal = next((f for f in rows["fatal"] if f), None)
            if fatal:
                raise ClusterError(str(fatal))
            for j in range(len(rows["key"])):
                self._row(rows, j, firsts, dim)
            if cancel.is_set():
                break
            if len(self.batch) >= files_per_batch or time.monotonic() - last > commit_seconds:
                self.commit()
                last = time.monotonic()
        self.commit()

    def _row(self, rows, j: int, firsts: list[FileInfo], dim: int) -> None:
        key = int(rows["key"][j])
        if key in self.done:
            return
        info, windows = firsts[key], int(rows["windows"][j])
        if windows == 0:  # the file failed on a worker: recorded like a local decode failure
            self.done.add(key)
            record_decode_failure(self.batch, self.summary, self.prog, info, str(rows["error"][j]), self.changed)
            return
        total, seen = self.partial.setdefault(key, (np.zeros(dim, dtype=np.float64), set()))
        window = int(rows["window"][j])
        if window in seen:
            return
        seen.add(window)
        total += rows["embedding"][j]
        if len(seen) < windows:
            return
        del self.partial[key]
        self.done.add(key)
        info.duration, info.sample_rate = float(rows["duration"][j]), int(rows["source_rate"][j])
        info.channels = int(rows["channels"][j])
        info.format, info.subtype = str(rows["format"][j]), str(rows["subtype"][j])
        info.warning = str(rows["warning"][j]) or None
        if rows["descriptors"][j]:
            self.rows[info.hash] = json.loads(rows["descriptors"][j])
        vec = total / max(float(np.linalg.norm(total)), 1e-12)
        self.batch.embedded.append((info, vec.astype(np.float32)))
        self.summary.embedded += 1
        self.prog.done += 1
        self.prog.current = info.path

    def commit(self) -> None:
        if not len(self.batch):
            return
        t0 = time.perf_counter()
        self.prog.done += commit_with_copies(self.library, self.batch, self.groups, self.rows)
        self.stats["commit_ms"].append((time.perf_counter() - t0) * 1000)
        self.batch = Batch()
        self.report(self.prog)
