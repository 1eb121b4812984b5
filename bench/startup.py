"""Benchmark: from launching the app (cached model) to the first result of a typed query.

A fresh Python process opens the main window offscreen, types the query as soon as the window
shows and waits for the results; the parent times it from the launch (`Popen`) so interpreter
start and every import count. Two times are reported, honestly apart:
  first_result_names_s  the first results, ranked by file names alone (the window and the
                        library need neither torch nor transformers, so these do not wait for
                        the model; "by name; sound search loading…" is shown beside them)
  first_result_fused_s  the same query answered again by names and sound, once the model has
                        loaded (what the results are after the upgrade)
Launches come in three kinds, in this order, with a cache folder of their own (XDG_CACHE_HOME):
  cold     `--runs` launches with the ONNX text tower off (SOUNDFINDER_TEXT_ONNX=off): names
           first, names + sound once torch and the model have loaded (the baseline);
  first    one launch with it on and nothing cached: as cold, and after the model loads the app
           exports the ONNX text tower in a background process (waited for here);
  second   `--runs` launches with that cache: the ONNX tower answers names + sound before torch
           is imported (`fused_before_torch`), torch loads afterwards.
`fused_speedup` = cold first_result_fused_s / second first_result_fused_s, the same run.
Fresh processes then time the pieces one after another (import torch, import transformers'
CLAP, load the model, open the library, the first text query, a second one; and import
onnxruntime + tokenizers, open and check the cached tower, its first query).
The library's files get plain descriptive names (kick, pad, noise, loop) so a names search
has something to find, as in a real sample library.

    python bench/startup.py --model full          # random weights of the real configuration
    python bench/startup.py --model tiny --runs 2

Last line: `RESULT key=value ...`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

GUI_CHILD = r"""
import json, sys, time
t_launch = float(sys.argv[1]); model, library, query = sys.argv[2:5]
marks = {}
def mark(name): marks[name] = round(time.time() - t_launch, 3)
mark("python_started")
from soundfinder.gui.app import make_app
app = make_app()
from soundfinder.gui.main_window import MainWindow
window = MainWindow({"library": library, "model": model, "device": "cpu", "precision": None})
window.search_bar.autoplay.blockSignals(True)
window.search_bar.autoplay.setChecked(False)
window.show()
app.processEvents()
mark("window_shown")
got, failed = [], []
# torch's presence is noted as each answer arrives (the load may start right after it)
window.bridge.resultsReady.connect(lambda seq, q, hits: got.append([q, len(hits), "torch" in sys.modules,
                                                                    window.bridge.answered]))
window.bridge.modelFailed.connect(failed.append)
window.bridge.libraryFailed.connect(failed.append)
window.bridge.modelReady.connect(lambda *a: mark("model_ready"))
window.bridge.soundReady.connect(lambda *a: mark("sound_ready"))
window.bridge.libraryReady.connect(lambda *a: mark("library_ready"))
window.bridge.textReady.connect(lambda *a: mark("text_ready"))
window.search_bar.edit.setText(query)  # typed: the window asks it as soon as the library is open
end = time.monotonic() + 300
def answered(mode):
    return [g for g in got if g[0].text == query and (mode is None or g[-1] == mode)]
while not answered("fused") and not failed and time.monotonic() < end:
    if answered(None) and "first_result" not in marks:
        mark("first_result")
        marks["first_mode"] = answered(None)[0][-1]
        marks["torch_imported_at_first_result"] = answered(None)[0][2]
    if answered("names") and "first_result_names" not in marks:
        mark("first_result_names")
    app.processEvents()
    time.sleep(0.002)
mark("first_result_fused")
marks["torch_imported_at_fused"] = answered("fused")[0][2] if answered("fused") else None
marks["results"] = {g[-1]: g[1] for g in answered(None)}
marks["failed"] = failed[:1]
print("MARKS " + json.dumps(marks), flush=True)
window.close()
"""

PIECES_CHILD = r"""
import json, sys, time
model, library, query = sys.argv[1:4]
out = {}
t = time.perf_counter(); import torch; out["import_torch_s"] = time.perf_counter() - t
t = time.perf_counter(); from transformers import ClapModel, ClapProcessor; out["import_transformers_clap_s"] = time.perf_counter() - t
from soundfinder.model import ClapEmbedder
from soundfinder.model.clap import threads_hint
threads_hint()
t = time.perf_counter(); emb = ClapEmbedder.load(model, device="cpu"); out["model_load_s"] = time.perf_counter() - t
from soundfinder.library import Library
t = time.perf_counter(); lib = Library.open(library, space=emb.space); out["library_open_s"] = time.perf_counter() - t
from soundfinder.query.search import search_text
t = time.perf_counter(); search_text(lib, emb, query + " one", k=20); out["first_query_s"] = time.perf_counter() - t
t = time.perf_counter(); search_text(lib, emb, query + " two", k=20); out["second_query_s"] = time.perf_counter() - t
out["precision"] = emb.runtime.to_json()["precision"]; out["text_precision"] = emb.runtime.text.precision
lib.close()
print("PIECES " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)
"""

ONNX_PIECES_CHILD = r"""
import json, sys, time
model, library, query = sys.argv[1:4]
out = {}
t = time.perf_counter(); import onnxruntime; out["import_onnxruntime_s"] = time.perf_counter() - t
t = time.perf_counter(); import tokenizers; out["import_tokenizers_s"] = time.perf_counter() - t
from soundfinder.model import onnx_text
t = time.perf_counter(); tower, why = onnx_text.load_cached(model); out["onnx_tower_open_checked_s"] = time.perf_counter() - t
from soundfinder.library import Library
lib = Library.open(library, readonly=True)
from soundfinder.query.search import search_text
t = time.perf_counter(); search_text(lib, tower, query + " one", k=20); out["onnx_first_query_s"] = time.perf_counter() - t
t = time.perf_counter(); search_text(lib, tower, query + " two", k=20); out["onnx_second_query_s"] = time.perf_counter() - t
out["onnx_precision"] = tower.precision; out["torch_imported"] = "torch" in sys.modules
lib.close()
print("OPIECES " + json.dumps({k: (round(v, 3) if isinstance(v, float) else v) for k, v in out.items()}), flush=True)
"""


def build_library(model: str, folder: Path, n: int = 12) -> tuple[Path, str]:
    from indexing import synthesize

    from soundfinder.indexing import index_paths
    from soundfinder.library import Library
    from soundfinder.model import ClapEmbedder

    emb = ClapEmbedder.load(model, device="cpu")  # also leaves the probe verdict in the cache
    lib_dir = folder / "library"
    kinds = ["kick_punchy", "noise_texture", "pad_chord", "drum_loop"]  # synthesize's four kinds, in order
    for i, p in enumerate(synthesize(folder / "samples", n, max_seconds=4.0)):
        p.rename(p.with_name(f"{kinds[i % 4]}_{i:02d}{p.suffix}"))
    with Library.open(lib_dir, emb.space) as lib:
        index_paths(lib, emb, [str(folder / "samples")])
    return lib_dir, emb.space.id


def run_child(code: str, args: list[str], tag: str, onnx: str = "auto") -> dict:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONPATH=str(Path(__file__).resolve().parents[1]),
               SOUNDFINDER_TEXT_ONNX=onnx)
    t_launch = time.time()
    argv = [sys.executable, "-c", code] + ([str(t_launch)] if tag == "MARKS" else []) + args
    p = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600)
    for line in p.stdout.splitlines():
        if line.startswith(tag + " "):
            return json.loads(line[len(tag) + 1:])
    raise SystemExit(f"child failed ({p.returncode}):\n{p.stderr[-3000:]}")


def launch(kind: str, r: int, gui: list[str], onnx: str) -> dict:
    marks = run_child(GUI_CHILD, gui, "MARKS", onnx)
    print(f"{kind} launch {r + 1}: {marks}", file=sys.stderr, flush=True)
    if marks.get("failed"):
        raise SystemExit(f"{kind} launch failed: {marks['failed']}")
    return marks


def wait_for_export(space_id: str, timeout: float = 900) -> bool:
    """Wait for the export the "first" launch started in the background (its own process)."""
    from soundfinder.model import onnx_text

    end = time.monotonic() + timeout
    folder, failed = onnx_text.cache_folder(space_id), onnx_text.failed_marker(space_id)
    while time.monotonic() < end:
        if folder.is_dir():
            return True
        if failed.exists():
            print(f"export failed: {failed.read_text()}", file=sys.stderr)
            return False
        time.sleep(1)
    print("export did not finish in time", file=sys.stderr)
    return False


def main(argv=None) -> int:
    from indexing import model_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="full", help="tiny, full, or a checkpoint folder")
    ap.add_argument("--runs", type=int, default=2, help="GUI launches (the best counts)")
    ap.add_argument("--query", default="punchy kick drum")
    args = ap.parse_args(argv)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    with tempfile.TemporaryDirectory(prefix="sf-bench-start-") as tmp:
        os.environ["XDG_CACHE_HOME"] = str(Path(tmp) / "cache")  # no ONNX tower until "first" makes one
        model = str(model_dir(args.model))
        lib, space_id = build_library(model, Path(tmp))
        gui = [model, str(lib), args.query]
        cold = [launch("cold", r, gui, "off") for r in range(args.runs)]
        first = launch("first", 0, gui, "auto")
        exported = wait_for_export(space_id)
        second = [launch("second", r, gui, "auto") for r in range(args.runs)] if exported else []
        pieces = run_child(PIECES_CHILD, gui, "PIECES", "off")
        print(f"pieces: {pieces}", file=sys.stderr)
        if exported:
            opieces = run_child(ONNX_PIECES_CHILD, gui, "OPIECES")
            print(f"onnx pieces: {opieces}", file=sys.stderr)
            pieces.update(opieces)
    best = min(cold, key=lambda m: m["first_result"])
    fused = min(cold, key=lambda m: m["first_result_fused"])
    result = {"model": args.model, "runs": args.runs, "first_result_s": best["first_result"],
              "first_result_mode": best.get("first_mode"), "first_result_names_s": best.get("first_result_names"),
              "first_result_fused_s": fused["first_result_fused"], "window_shown_s": best.get("window_shown"),
              "library_ready_s": best.get("library_ready"), "model_ready_s": fused.get("model_ready"),
              "sound_ready_s": fused.get("sound_ready"),
              "torch_imported_at_first_result": best.get("torch_imported_at_first_result"),
              "first_launch_fused_s": first["first_result_fused"], "onnx_exported": exported}
    if second:
        warm = min(second, key=lambda m: m["first_result_fused"])
        result.update(second_first_result_s=min(m["first_result"] for m in second),
                      second_first_result_fused_s=warm["first_result_fused"],
                      second_text_ready_s=warm.get("text_ready"), second_model_ready_s=warm.get("model_ready"),
                      fused_before_torch=not warm.get("torch_imported_at_fused"),
                      fused_speedup=round(fused["first_result_fused"] / warm["first_result_fused"], 2))
    result.update(**pieces, cpus=os.cpu_count(), load1=round(os.getloadavg()[0], 2))
    print("RESULT " + " ".join(f"{k}={v}" for k, v in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
