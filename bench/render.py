"""Tempo/key-locked renders: accuracy and speed (issue: hear it in your song).

    python bench/render.py

Prints, on material synthesized here (a stereo 4-bar drum loop at 120 BPM, a two-note
sustained chord tone, and a real Hydrogen kit hit if installed):
- rendered duration / expected (source BPM / target BPM x length) for several target tempos;
- transposition error in cents for -6..+6 semitones, from the strongest frequency of the render;
- first render of the 4-bar 120 BPM loop to 95 BPM (target <= 1 s) and a cached lookup;
- that the source file's bytes are unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from soundfinder.render import RenderCache, plan_fit, render_file  # noqa: E402

RATE = 48000


def drum_loop(path: Path, bpm: float = 120.0, bars: int = 4) -> float:
    beat = int(round(60 / bpm * RATE))
    n = beat * 4 * bars
    x = np.zeros(n, np.float32)
    rng = np.random.default_rng(0)
    t = np.arange(int(0.12 * RATE)) / RATE
    kick = np.sin(2 * np.pi * 55 * t * np.exp(-t * 6)) * np.exp(-t * 25)
    hat = rng.standard_normal(int(0.03 * RATE)) * np.exp(-np.arange(int(0.03 * RATE)) / RATE * 150) * 0.3
    for b in range(4 * bars):
        x[b * beat:b * beat + kick.size] += kick.astype(np.float32)
        off = b * beat + beat // 2
        x[off:off + hat.size] += hat.astype(np.float32)
    sf.write(path, np.stack([x, x * 0.9], 1) * 0.7, RATE, subtype="PCM_24")
    return n / RATE


def peak_frequency(x: np.ndarray, rate: int) -> float:
    x = x[len(x) // 4: 3 * len(x) // 4] * np.hanning(len(x) // 2)
    n = 1 << 20
    spec = np.abs(np.fft.rfft(x, n=n))
    i = int(np.argmax(spec[1:]) + 1)
    a, b, c = np.log(spec[i - 1:i + 2] + 1e-12)
    return (i + 0.5 * (a - c) / (a - 2 * b + c)) * rate / n


def gui_latency(loop: Path, tmp: Path) -> None:
    """Selection change -> the player reports PlayingState, for a cached render (Qt offscreen)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QElapsedTimer, QEventLoop
    from PySide6.QtWidgets import QApplication

    from soundfinder.gui.audition import Auditioner
    from soundfinder.gui.player import Player
    from soundfinder.gui.project_bar import Project

    app = QApplication.instance() or QApplication([])
    player = Player()
    aud = Auditioner(player, RenderCache(tmp / "gui-cache"), lambda p: {"bpm": 120.0, "kind": "loop"})
    aud.set_project(Project(bpm=95.0, sync=True))
    aud.cache.get(loop, aud.plan(str(loop))[0], True)  # heard before: cached
    waits = []
    for _ in range(10):
        player.stop()
        app.processEvents()
        timer = QElapsedTimer()
        timer.start()
        aud.play(str(loop))  # the row changed: the window calls exactly this
        while not player.playing and timer.elapsed() < 3000:
            app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        waits.append(timer.elapsed())
    print(f"  cached audition start (selection -> PlayingState): median {np.median(waits):.0f} ms, "
          f"max {max(waits)} ms (target <= 150 ms)")


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sf-render-bench-"))
    loop = tmp / "loop.wav"
    seconds = drum_loop(loop)
    digest = hashlib.sha256(loop.read_bytes()).hexdigest()

    print("duration (4-bar 120 BPM loop)")
    worst = 0.0
    for target in (70, 95, 124, 140, 174):
        plan = plan_fit(source_bpm=120, source_key=None, kind="loop", target_bpm=target, target_key=None)
        out = tmp / f"loop_{target}.wav"
        render_file(loop, plan, out, percussive=True)
        got = sf.info(str(out)).duration
        want = seconds * 120 / target
        err = abs(got / want - 1) * 100
        worst = max(worst, err)
        print(f"  -> {target:3d} BPM: {got:7.3f} s, expected {want:7.3f} s, error {err:.3f} %")
    print(f"  worst duration error {worst:.3f} % (target <= 0.5 %)")

    print("transposition (A4 sine, 2 s)")
    tone = tmp / "a4.wav"
    t = np.arange(2 * RATE) / RATE
    sf.write(tone, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), RATE, subtype="PCM_24")
    worst_c = 0.0
    for semis in range(-6, 7):
        from soundfinder.render.fit import FitPlan

        out = tmp / f"tone_{semis}.wav"
        render_file(tone, FitPlan(semitones=semis), out, quality="fast")
        y, r = sf.read(str(out), dtype="float32")
        got = peak_frequency(y if y.ndim == 1 else y[:, 0], r)
        cents = 1200 * np.log2(got / (440 * 2 ** (semis / 12)))
        worst_c = max(worst_c, abs(cents))
        print(f"  {semis:+3d} st: {got:8.2f} Hz, error {cents:+6.2f} cents")
    print(f"  worst transposition error {worst_c:.2f} cents (target <= 20)")

    print("speed")
    cache = RenderCache(tmp / "cache")
    plan = plan_fit(source_bpm=120, source_key=None, kind="loop", target_bpm=95, target_key=None)
    for quality in ("fast", "high"):
        times = []
        for i in range(3):
            t0 = time.perf_counter()
            render_file(loop, plan, tmp / f"speed_{quality}_{i}.wav", percussive=True, quality=quality)
            times.append(time.perf_counter() - t0)
        print(f"  first render ({quality}), 4 bars 120 -> 95 BPM: median {np.median(times) * 1000:.0f} ms "
              f"(runs {', '.join(f'{x * 1000:.0f}' for x in times)} ms; target <= 1000 ms for auditioning)")
    cache.get(loop, plan, percussive=True)
    t0 = time.perf_counter()
    for _ in range(100):
        cache.lookup(loop, plan, percussive=True)
    print(f"  cached lookup: {(time.perf_counter() - t0) * 10:.2f} ms per call")
    gui_latency(loop, tmp)
    same = hashlib.sha256(loop.read_bytes()).hexdigest() == digest
    print(f"source bytes unchanged: {same}")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter teardown: Qt multimedia objects crash it on some builds
