"""The last model load's precision and backend, remembered for `status` (which loads no model).

Why: `status --json` must say which precision and backend run, and why a faster one was not
taken, in milliseconds: it reads what `precision.settle` recorded in the cache folder.
"""

from __future__ import annotations

import json
import time


def record(runtime: dict, model: str) -> None:
    """Remember the last load's runtime, so `status` can say what runs without loading a model."""
    from soundfinder import config
    from soundfinder.library.atomic import atomic_write_text

    entry = runtime | {"model": model, "at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        path = config.cache_dir() / "runtime.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(entry, indent=1, sort_keys=True))
    except OSError:
        pass


def last_runtime() -> dict | None:
    """What the last model load on this machine ran (precision, backend, fallback), or None."""
    from soundfinder import config

    try:
        data = json.loads((config.cache_dir() / "runtime.json").read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def status_report(setting: str) -> dict:
    """`status`'s runtime section: the precision setting and what the last model load ran.

    Cheap (no torch import): it reads the record `settle` leaves behind.
    """
    last = last_runtime()
    out = {"setting": setting, "precision": None, "backend": None, "fallback": None, "last_load": last}
    if not last:
        out["summary"] = f"precision {setting}; no model loaded on this machine yet"
        return out
    audio, text = last.get("audio") or {}, last.get("text") or {}
    out.update(precision=last.get("precision"), backend=last.get("backend"), fallback=last.get("fallback"),
               text_precision=text.get("precision"), text_backend=text.get("backend"),
               text_onnx=last.get("text_onnx"))
    towers = (f"audio {audio.get('precision')}, text {text.get('precision')}"
              if audio.get("precision") != text.get("precision") else str(audio.get("precision")))
    backends = (f"audio {last.get('backend')}, text {text.get('backend')}"
                if text.get("backend") and text.get("backend") != last.get("backend") else str(last.get("backend")))
    summary = f"{towers} on {last.get('device')} ({backends}; precision {last.get('requested')})"
    if last.get("fallback"):
        summary += f"; fallback: {last['fallback']}"
    if last.get("text_onnx"):
        summary += f"; ONNX text tower: {last['text_onnx']}"
    if last.get("requested") != setting:
        summary += f"; setting is now {setting}, applied at the next load"
    out["summary"] = summary
    return out
