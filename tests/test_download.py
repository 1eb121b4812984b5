"""First-start download: progress (bytes, rate, ETA), Cancel stops, a partial download resumes,
an offline user is told at once. A fake hub replaces `huggingface_hub.snapshot_download` (no
network): it fetches in chunks through the given progress class and keeps `.incomplete` parts
the way the real hub does."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """A hub holding one repo: the files of `source`, fetched in 64 KiB chunks."""

    def __init__(self, source: Path, cache: Path, repo: str = "someone/clap-tiny"):
        self.files = {p.name: p.read_bytes() for p in source.iterdir() if p.is_file()}
        self.snapshot = cache / ("models--" + repo.replace("/", "--")) / "snapshots" / COMMIT
        self.calls = []     # (local_files_only, bytes already there when a download started)
        self.fetched = 0    # bytes sent over the "network"

    def complete(self) -> bool:
        return all((self.snapshot / n).exists() for n in self.files)

    def __call__(self, repo_id, *, revision=None, local_files_only=False, allow_patterns=None,
                 tqdm_class=None, max_workers=8, **kw):
        if local_files_only:
            self.calls.append((True, None))
            if not self.complete():
                raise FileNotFoundError("not in the cache")
            return str(self.snapshot)
        self.snapshot.mkdir(parents=True, exist_ok=True)
        files_bar = tqdm_class(desc=f"Fetching {len(self.files)} files", total=len(self.files))
        transfer = tqdm_class(desc="Downloading bytes", total=0, unit="B")
        written = tqdm_class(desc="Reconstructing (incomplete total...)", total=0, initial=0, unit="B")
        have = sum((self.snapshot / (n + ".incomplete")).stat().st_size
                   for n in self.files if (self.snapshot / (n + ".incomplete")).exists())
        self.calls.append((False, have))
        for name, data in self.files.items():
            final, part = self.snapshot / name, self.snapshot / (name + ".incomplete")
            written.total += len(data)
            if final.exists():
                written.update(len(data))
                continue
            start = part.stat().st_size if part.exists() else 0
            written.update(start)  # resumed bytes count as done
            with open(part, "ab") as f:
                for i in range(start, len(data), 65536):
                    chunk = data[i:i + 65536]
                    f.write(chunk)
                    f.flush()
                    self.fetched += len(chunk)
                    transfer.update(len(chunk))
                    written.update(len(chunk))
                    time.sleep(0.001)  # a network takes time: the meter needs a rate
            part.rename(final)
            files_bar.update(1)
        for bar in (files_bar, transfer, written):
            bar.close()
        return str(self.snapshot)


@pytest.fixture
def hub(tiny_model_dir, tmp_path, monkeypatch):
    import huggingface_hub
    from huggingface_hub import constants

    fake = FakeHub(tiny_model_dir, tmp_path / "hf")
    # Padding so the download takes many chunks (the tiny model is small).
    fake.files["model-extra.safetensors"] = bytes(3 * 1024 * 1024)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    from soundfinder.model import download

    monkeypatch.setattr(download, "hub_reachable", lambda *a, **k: None)  # "online"
    return fake


def test_download_reports_bytes_rate_and_eta(hub, monkeypatch):
    from soundfinder.model import download

    seen = []
    monkeypatch.setattr(download, "_Meter", _fast_meter(download))
    folder = download.ensure_model("someone/clap-tiny", progress=seen.append)
    assert Path(folder) == hub.snapshot and hub.complete()
    total = sum(len(d) for d in hub.files.values())
    assert seen[-1].done == total and seen[-1].total == total
    assert all(b.done >= a.done for a, b in zip(seen, seen[1:], strict=False))
    assert any(p.rate and p.rate > 0 and p.eta is not None for p in seen), seen[:3]
    assert "MB" in seen[-1].describe()


def _fast_meter(download):
    class Meter(download._Meter):  # report every update
        def __init__(self, progress, cancel):
            super().__init__(progress, cancel, min_interval=0.0)

    return Meter


def test_cancel_stops_and_the_next_start_resumes(hub, monkeypatch):
    from soundfinder.model import download

    monkeypatch.setattr(download, "_Meter", _fast_meter(download))
    cancel = threading.Event()

    def progress(p):
        if p.done > 1024 * 1024:
            cancel.set()

    with pytest.raises(download.DownloadCancelled, match="resumes"):
        download.ensure_model("someone/clap-tiny", progress=progress, cancel=cancel)
    total = sum(len(d) for d in hub.files.values())
    stopped_at = hub.fetched
    assert stopped_at < total / 2  # it really stopped, not after the whole download
    assert not hub.complete()
    folder = download.ensure_model("someone/clap-tiny")
    assert hub.complete() and Path(folder) == hub.snapshot
    assert hub.calls[-1][1] > 0              # the second download started from the partial part
    assert hub.fetched < total + 64 * 1024   # ... and did not fetch everything again


def test_offline_user_is_told_at_once(hub, monkeypatch):
    from huggingface_hub import constants

    from soundfinder.model import download

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    t0 = time.monotonic()
    with pytest.raises(download.DownloadError, match="HF_HUB_OFFLINE is set.*--model FOLDER"):
        download.ensure_model("someone/clap-tiny")
    assert time.monotonic() - t0 < 1.0 and [c for c in hub.calls if not c[0]] == []


def test_no_connection_is_told_at_once(hub, monkeypatch):
    from soundfinder.model import download

    monkeypatch.undo()  # the real reachability check, with name resolution failing
    import huggingface_hub
    from huggingface_hub import constants

    monkeypatch.setattr(huggingface_hub, "snapshot_download", hub)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)

    def no_dns(*a, **k):
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "create_connection", no_dns)
    t0 = time.monotonic()
    with pytest.raises(download.DownloadError, match="cannot resolve huggingface.co.*--model"):
        download.ensure_model("someone/clap-tiny")
    assert time.monotonic() - t0 < 1.0


def test_cached_model_loads_without_the_network_and_keeps_the_hub_space(hub, monkeypatch, tmp_path):
    from soundfinder.model import ClapEmbedder, download

    download.ensure_model("someone/clap-tiny")
    monkeypatch.setattr(download, "hub_reachable", lambda *a, **k: pytest.fail("network asked"))
    hub.snapshot.joinpath("model-extra.safetensors").unlink()  # only the real weights remain
    hub.files.pop("model-extra.safetensors")
    emb = ClapEmbedder.load("someone/clap-tiny", device="cpu", precision="float32")
    assert emb.space.model == "someone/clap-tiny" and emb.space.weights == COMMIT[:16]
    assert emb.space.id == f"someone/clap-tiny@{COMMIT[:16]}/pre1"
    shutil.rmtree(hub.snapshot)


def test_load_says_what_to_do_when_offline(hub, monkeypatch):
    from huggingface_hub import constants

    from soundfinder.model import ClapEmbedder, ModelLoadError

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelLoadError, match="not downloaded yet.*--model FOLDER"):
        ClapEmbedder.load("someone/clap-tiny", device="cpu")


def test_weights_digest_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    import hashlib
    import os

    from soundfinder.model import fingerprint

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    w = tmp_path / "ckpt" / "model.safetensors"
    w.parent.mkdir()
    w.write_bytes(b"weights one")
    first = fingerprint.weights_digest(w.parent)
    real = hashlib.file_digest
    calls = []
    monkeypatch.setattr(hashlib, "file_digest", lambda *a: calls.append(a) or real(*a))
    assert fingerprint.weights_digest(w.parent) == first and not calls  # a start reads nothing
    w.write_bytes(b"weights two")
    os.utime(w, ns=(w.stat().st_atime_ns, w.stat().st_mtime_ns + 10**9))
    assert fingerprint.weights_digest(w.parent) != first and calls
