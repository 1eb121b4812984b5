"""Which text tower answers queries (torch's or the cached ONNX Runtime one), and making the latter.

`attach` runs at the end of `ClapEmbedder.load`: where a checked ONNX tower is cached for the
model and it is faster than the torch text tower as it runs (`onnx_text.prefer`), queries go
through it; a cache that cannot be trusted is deleted and `status` says so in one line. The
runtime record (`runtime.json`) then says which text backend runs.

`export_in_background` runs after the app's model load when no tower is cached: a low-priority
process exports and checks it (`onnx_export`), so the next launch answers typed queries before
torch is imported, and this session switches to it once it is there. Only `auto`/`fast`
precision on a CPU take this path: `float32` stays exact torch.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import threading

from soundfinder.model import onnx_text

_EXPORTING: set[str] = set()  # space ids with an export in flight in this process
_LOCK = threading.Lock()


def enabled(precision: str = "auto", device: str = "cpu") -> bool:
    """The `text_onnx` setting is on, and the model runs where this path applies (a CPU; the
    auto/fast precisions: float32 and the other explicit ones stay exact torch)."""
    from soundfinder import config

    return config.get("text_onnx") != "off" and precision in ("auto", "fast") and device in ("auto", "cpu")


def wanted(embedder) -> bool:
    rt = getattr(embedder, "runtime", None)
    return rt is not None and enabled(rt.requested, embedder.device)


def attach(embedder, tower=None, reason: str | None = None) -> None:
    """Route `embedder.encode_text` through the cached ONNX tower where it is faster, and record
    what runs (and why not) for `status`."""
    if not wanted(embedder):
        return
    if tower is None and reason is None:
        tower, reason = onnx_text.load_cached(space_id=embedder.space.id)
    rt = embedder.runtime
    _onnx_fallback(rt, reason if tower is None else None)  # None: re-exported and checked since
    if reason and tower is None:
        rt.text_onnx = "failed its check; re-exported in the background"
    if tower is not None:
        if onnx_text.prefer(tower, rt.text.precision):
            embedder.torch_text_precision = rt.text.precision  # what `drop` goes back to
            embedder.text_tower = tower
            rt.text.precision, rt.text.backend = tower.precision, "onnxruntime"
            rt.text.checked, rt.text.cosine = True, tower.cosine
            rt.text_onnx = f"{tower.precision}, checked (probe cosine {tower.cosine}); answers queries"
        else:
            rt.text_onnx = (f"{tower.precision}: answers queries at start-up only (torch "
                            f"{rt.text.precision} is as fast here)")
    elif not reason:
        marker = onnx_text.failed_marker(embedder.space.id)
        rt.text_onnx = (f"export failed: {_read(marker)}" if marker.exists() else "not exported yet")
    _record(embedder)


def _onnx_fallback(rt, reason: str | None) -> None:
    """Put the ONNX line into the text tower's fallback, beside any from the precision check."""
    parts = [p for p in (rt.text.fallback or "").split("; ") if p and not p.startswith("ONNX text tower")]
    rt.text.fallback = "; ".join(parts + ([reason] if reason else [])) or None


def drop(embedder, error: Exception) -> None:
    """The ONNX tower failed at run time: back to torch for good this session, said in `status`."""
    embedder.text_tower = None
    rt = embedder.runtime
    if rt is not None:
        rt.text.backend, rt.text.precision = "torch", getattr(embedder, "torch_text_precision", "float32")
        _onnx_fallback(rt, f"ONNX text tower failed ({type(error).__name__}); torch")
        _record(embedder)


def _record(embedder) -> None:
    from soundfinder.model.runtime import record

    record(embedder.runtime.to_json(), embedder.space.id)


def _read(path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()[:200]
    except OSError:
        return "unknown"


def can_export(embedder) -> bool:
    """Whether an export is worth starting: the path is on, nothing is cached or failed before,
    and ONNX Runtime and `onnx` (the exporter's writer) are installed."""
    if not wanted(embedder) or embedder.text_tower is not None or not getattr(embedder, "source_dir", None):
        return False
    sid = embedder.space.id
    if onnx_text.cache_folder(sid).is_dir() or onnx_text.failed_marker(sid).exists() or sid in _EXPORTING:
        return False
    return onnx_text.ort_version() is not None and importlib.util.find_spec("onnx") is not None


def export_command(embedder) -> list[str]:
    s = embedder.space
    return [sys.executable, "-m", "soundfinder.model.onnx_export", str(embedder.source_dir),
            "--model", s.model, "--weights", s.weights, "--dim", str(s.dim),
            "--root", str(onnx_text.cache_root())]


def export_in_background(embedder, done=None) -> threading.Thread | None:
    """Start the export unless `can_export` says no; once it is cached, `attach` it (this
    session's queries switch to it where it is faster) and call `done(tower, reason)`. Returns
    the watching thread (None: nothing started)."""
    with _LOCK:
        if not can_export(embedder):
            return None
        _EXPORTING.add(embedder.space.id)
    embedder.runtime.text_onnx = "exporting in the background"
    _record(embedder)

    def run():
        try:
            if getattr(sys, "frozen", False):  # a frozen app has no `python -m`: in-process, one thread
                from soundfinder.model.onnx_export import export_text_tower

                try:
                    export_text_tower(str(embedder.source_dir), embedder.space)
                except Exception as e:
                    marker = onnx_text.failed_marker(embedder.space.id)
                    marker.write_text(f"{type(e).__name__}: {str(e)[:200]}", encoding="utf-8")
            else:
                env = dict(os.environ, TRANSFORMERS_VERBOSITY="error")
                subprocess.run(export_command(embedder), env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
            tower, reason = onnx_text.load_cached(space_id=embedder.space.id)
            attach(embedder, tower, reason)
            if done is not None:
                done(tower, reason)
        finally:
            with _LOCK:
                _EXPORTING.discard(embedder.space.id)

    t = threading.Thread(target=run, name="onnx-text-export", daemon=True)
    t.start()
    return t
