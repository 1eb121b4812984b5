"""The first start's model download: real progress, a Cancel that stops, resume, a fast "offline".

Why: the default checkpoint is ~600 MB and the first start is a user's first impression. Left to
`from_pretrained`, the download shows nothing the GUI can draw, cannot be stopped, and an
offline machine waits through ~20 s of retries before an error that does not say what to do.

`ensure_model(hub_id, progress=..., cancel=...)` returns a local snapshot folder:
  1. already in the Hugging Face cache: returned at once, no network at all (fast start-up);
  2. `HF_HUB_OFFLINE` set, or the hub's host not reachable within `CONNECT_TIMEOUT`: a
     `DownloadError` saying what to do, at once;
  3. otherwise `huggingface_hub.snapshot_download` with a progress class that reports bytes,
     rate and ETA to `progress` and raises `DownloadCancelled` inside the download threads as
     soon as `cancel` is set. The hub keeps partial files (`.incomplete`) and resumes them with
     HTTP ranges on the next call, so a cancelled or broken download continues where it stopped.
Headless: the CLI prints the callbacks, the GUI draws them.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

# Only what `ClapModel`/`ClapProcessor.from_pretrained` read: the hub repo also holds a
# pickled copy of the weights (pytorch_model.bin, same size again), never loaded here.
ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.txt", "*.model"]
CONNECT_TIMEOUT = 3.0


class DownloadError(Exception):
    """The model could not be downloaded; the message says what to do."""


class DownloadCancelled(DownloadError):
    """The user cancelled the download (what was fetched stays and is resumed next time)."""


@dataclass(frozen=True)
class DownloadProgress:
    done: int            # bytes on disk so far (including a resumed part)
    total: int | None    # bytes in all, once known
    rate: float | None   # bytes per second, smoothed
    eta: float | None    # seconds left at that rate

    def describe(self) -> str:
        mb = 1024 * 1024
        parts = [f"{self.done / mb:.0f}" + (f" of {self.total / mb:.0f} MB" if self.total else " MB")]
        if self.rate:
            parts.append(f"{self.rate / mb:.1f} MB/s")
        if self.eta is not None:
            parts.append(f"{int(self.eta) // 60}:{int(self.eta) % 60:02d} left")
        return ", ".join(parts)


ProgressFn = Callable[[DownloadProgress], None]


class _Meter:
    """Bytes, rate (over the last `window` seconds) and ETA from the hub's byte counter."""

    def __init__(self, progress: ProgressFn | None, cancel: threading.Event, min_interval: float = 0.2,
                 window: float = 5.0):
        self.progress, self.cancel = progress, cancel
        self.min_interval, self.window = min_interval, window
        self.lock = threading.Lock()
        self.done, self.total = 0, None
        self.rate = None
        self._samples: deque[tuple[float, int]] = deque()
        self._last_report = 0.0

    def update(self, done: int, total: int | None, force: bool = False) -> None:
        if self.cancel.is_set() and not force:
            raise DownloadCancelled("download cancelled; it resumes where it stopped next time")
        with self.lock:
            now = time.monotonic()
            self.done, self.total = int(done), (int(total) if total else None)
            if not self._samples:  # the first count is the resumed part: a baseline, not a rate
                self._samples.append((now, self.done))
            else:
                self._samples.append((now, self.done))
                while len(self._samples) > 2 and now - self._samples[0][0] > self.window:
                    self._samples.popleft()
                t0, d0 = self._samples[0]
                if now - t0 > 0.05:
                    self.rate = max(0.0, (self.done - d0) / (now - t0))
            if not force and now - self._last_report < self.min_interval:
                return
            self._last_report = now
            eta = None
            if self.rate and self.total:
                eta = max(0.0, (self.total - self.done) / self.rate)
            snapshot = DownloadProgress(self.done, self.total, self.rate, eta)
        if self.progress:
            self.progress(snapshot)


def _progress_class(meter: _Meter):
    """A tqdm class for `snapshot_download`: draws nothing, feeds `meter` from the byte bar.

    The hub creates several bars with this class (files, network transfer, bytes written); the
    bytes-written one ("Reconstructing ..." / unit B, not "Downloading bytes") counts what is on
    disk, resumed parts included, and its total grows as each file's size becomes known.
    """
    from tqdm import tqdm

    class _Bar(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs.pop("name", None)
            kwargs["disable"] = False
            kwargs["file"] = open(os.devnull, "w")  # noqa: SIM115 - closed in close()
            super().__init__(*args, **kwargs)
            desc = (self.desc or "").lower()
            self._bytes = self.unit == "B" and "downloading" not in desc

        def update(self, n=1):
            out = super().update(n)
            if self._bytes:
                meter.update(self.n, self.total)
            elif meter.cancel.is_set():
                raise DownloadCancelled("download cancelled; it resumes where it stopped next time")
            return out

        def close(self):
            f = self.fp
            super().close()
            try:
                f.close()
            except Exception:
                pass

    return _Bar


def looks_like_hub_id(source: str) -> bool:
    """`owner/name` that is not an existing path."""
    p = Path(source).expanduser()
    return not p.exists() and source.count("/") == 1 and not source.startswith((".", "/", "~"))


def cached_snapshot(repo_id: str, revision: str | None = None) -> str | None:
    """The local snapshot folder if the model is fully in the cache (no network), else None."""
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(repo_id, revision=revision, local_files_only=True,
                                   allow_patterns=ALLOW_PATTERNS)
    except Exception:  # LocalEntryNotFoundError and friends: not (completely) there
        return None
    f = Path(folder)
    return folder if (f / "config.json").exists() and any(f.glob("*.safetensors")) else None


def hub_reachable(endpoint: str | None = None, timeout: float = CONNECT_TIMEOUT) -> str | None:
    """None if a TCP connection to the hub opens within `timeout`, else a short reason."""
    from huggingface_hub import constants

    url = urlparse(endpoint or constants.ENDPOINT)
    host, port = url.hostname or "huggingface.co", url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except socket.gaierror:
        return f"cannot resolve {host} (no internet connection?)"
    except OSError as e:
        return f"cannot connect to {host}:{port} ({e.strerror or type(e).__name__})"


def offline_reason() -> str | None:
    """Why the hub must not or cannot be asked, decided in at most `CONNECT_TIMEOUT` seconds."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    return hub_reachable()


def ensure_model(repo_id: str, *, revision: str | None = None, progress: ProgressFn | None = None,
                 cancel: threading.Event | None = None, max_workers: int = 4) -> str:
    """A local folder holding `repo_id`'s checkpoint, downloading it first if needed."""
    folder = cached_snapshot(repo_id, revision)
    if folder:
        return folder
    reason = offline_reason()
    if reason:
        raise DownloadError(
            f"the model {repo_id} is not downloaded yet and the hub cannot be used: {reason}. Connect "
            f"to the internet and start again (the download is ~600 MB and resumes if interrupted), "
            f"or copy the model folder from another machine and pass it with --model FOLDER "
            f"(or SOUNDFINDER_MODEL)")
    from huggingface_hub import snapshot_download

    cancel = cancel or threading.Event()
    meter = _Meter(progress, cancel)
    try:
        folder = snapshot_download(repo_id, revision=revision, allow_patterns=ALLOW_PATTERNS,
                                   tqdm_class=_progress_class(meter), max_workers=max_workers)
    except DownloadCancelled:
        raise
    except Exception as e:
        if cancel.is_set():
            raise DownloadCancelled("download cancelled; it resumes where it stopped next time") from e
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise DownloadError(f"downloading {repo_id} failed: {first}. Start again to resume; what was "
                            "fetched is kept") from e
    meter.update(meter.done, meter.total, force=True)
    return folder
