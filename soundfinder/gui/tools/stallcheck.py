"""Measure UI-thread stalls while the app indexes folders (a 10 ms timer records its worst gap).

    python -m soundfinder.gui.tools.stallcheck --library NEW_DIR --model M FOLDER... [--shot mid.png]

Prints the worst and 99th-percentile gaps between timer ticks: how long the event loop was
kept from running, i.e. how long the window could not repaint or react to a key.
"""

from __future__ import annotations

import argparse
import os
import sys
import time


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soundfinder.gui.tools.stallcheck")
    p.add_argument("folders", nargs="+")
    p.add_argument("--library", required=True)
    p.add_argument("--model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--shot", help="save a screenshot of the window halfway through")
    p.add_argument("--query", default="snare", help="typed into the search box while indexing")
    p.add_argument("--trace", action="store_true", help="print the UI thread's stack during each stall")
    args = p.parse_args(argv)

    from PySide6.QtCore import QTimer

    from soundfinder.gui.app import make_app
    from soundfinder.gui.main_window import MainWindow

    app = make_app()
    window = MainWindow({"library": args.library, "model": args.model, "device": args.device})
    window.search_bar.autoplay.blockSignals(True)
    window.search_bar.autoplay.setChecked(False)
    window.show()
    gaps: list[float] = []
    state = {"last": None, "measuring": False, "shot": False}

    def tick():
        now = time.perf_counter()
        if state["measuring"] and state["last"] is not None:
            gaps.append(now - state["last"])
        state["last"] = now

    if args.trace:
        _watch_main_thread(state)
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    timer.start()

    def progress(p):
        if args.shot and not state["shot"] and p.phase == "embedding" and p.done >= p.total // 2:
            state["shot"] = True
            window.grab().save(args.shot)
            window.search_bar.edit.setText(args.query)  # a search while indexing

    def started():
        state["measuring"] = True
        window.index_folders(args.folders)

    summary = {}
    waiting = {os.path.abspath(f) for f in args.folders}

    def job_done(result):
        # Each added folder is one reconcile job of the live library; quit when all are done.
        if state["measuring"] and result.job.kind == "reconcile" and waiting.intersection(result.job.paths):
            waiting.difference_update(result.job.paths)
            s = summary.setdefault("s", result.summary)
            if s is not result.summary:
                s.new, s.failed = s.new + result.summary.new, s.failed + result.summary.failed
            if not waiting:
                QTimer.singleShot(300, app.quit)

    window.live.progress.connect(progress)
    window.live.jobDone.connect(job_done)
    window.live.started.connect(lambda: QTimer.singleShot(200, started))
    t0 = time.monotonic()
    app.exec()
    window.close()
    gaps.sort()
    s = summary.get("s")
    print(f"indexed {s.new if s else '?'} new, {s.failed if s else '?'} failed in {time.monotonic() - t0:.1f} s; "
          f"{len(gaps)} ticks; worst gap {gaps[-1] * 1000:.0f} ms, p99 {gaps[int(len(gaps) * 0.99)] * 1000:.0f} ms, "
          f"median {gaps[len(gaps) // 2] * 1000:.1f} ms; gaps over 100 ms: {sum(g > 0.1 for g in gaps)}")
    return 0


def _watch_main_thread(state: dict, threshold: float = 0.08) -> None:
    """A thread that prints what the UI thread is doing when its timer is late."""
    import threading
    import traceback

    main_id = threading.main_thread().ident

    def watch():
        reported = None
        while True:
            time.sleep(0.02)
            last = state["last"]
            if last is None or last == reported or time.perf_counter() - last < threshold:
                continue
            reported = last
            if not state["measuring"]:
                continue
            print(f"--- UI thread late by {(time.perf_counter() - last) * 1000:.0f} ms:", file=sys.stderr)
            frame = sys._current_frames().get(main_id)
            if frame is not None:  # the innermost frames: what the UI thread is busy with
                traceback.print_list(traceback.extract_stack(frame)[-8:], file=sys.stderr)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
