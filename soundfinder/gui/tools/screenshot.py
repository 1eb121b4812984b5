"""Render the main window with results for a query to a PNG (for the README).

    python -m soundfinder.gui --screenshot out.png --library DIR [--query TEXT] [--tag T ...] [--model M]
"""

from __future__ import annotations

import argparse
import sys
import time

TIMEOUT_S = 120


def _wait(app, predicate, what: str, timeout: float = TIMEOUT_S) -> None:
    end = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > end:
            raise SystemExit(f"soundfinder: screenshot: timed out waiting for {what}")
        app.processEvents()
        time.sleep(0.01)


def take(out: str, overrides: dict, query: str, size: tuple[int, int] = (1320, 800), select: int = 2,
         tags: list[str] = (), sound_filter=None, map_tab: bool = False, view: str | None = None) -> None:
    from soundfinder.gui.app import make_app
    from soundfinder.gui.main_window import MainWindow

    app = make_app()
    window = MainWindow(overrides)
    window.search_bar.autoplay.blockSignals(True)  # do not save this choice to the user's settings
    window.search_bar.autoplay.setChecked(False)
    window.resize(*size)
    window.show()
    failed = []
    window.bridge.modelFailed.connect(failed.append)
    window.bridge.libraryFailed.connect(failed.append)
    _wait(app, lambda: window.bridge.ready() or failed, "the model and library")
    if failed:
        raise SystemExit(f"soundfinder: screenshot: {failed[0]}")
    _wait(app, lambda: window.bridge.readonly or (window.live.live is not None and not window.live.busy),
          "the folders to be checked")
    for tag in tags:
        window.tags.bar.add(tag)
    if sound_filter is not None:
        window.filter_bar.set_filter(sound_filter)
    got = []
    window.bridge.resultsReady.connect(lambda seq, q, hits: got.append(q.text))
    window.search_bar.edit.setText(query)
    window.search_bar.submit()
    _wait(app, lambda: query in got, "search results")
    if view:  # a side-panel view (favourites, hidden, history) instead of the search
        window.bridge.resultsReady.connect(lambda seq, q, hits: got.append(q.view))
        window.manager.show_view(view, None)
        _wait(app, lambda: view in got, f"the {view} view")
    if window.results.rowCount():
        window.view.setFocus()
        window.view.selectRow(min(select, window.results.rowCount() - 1))
        _wait(app, lambda: window.waveform.peaks is not None or "Cannot" in window.waveform.message, "waveform")
        window.waveform.set_position(window.waveform.duration * 0.35)
    if map_tab:  # the Map tab (issue #17), with the search lit up and the selected sound current
        window.map.tabs.setCurrentIndex(1)
        _wait(app, lambda: window.map.canvas.scene is not None or "no map" in window.map.panel.status.text(), "the map")
        window.map.canvas.select_path(window.current_path())
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)
    window.grab().save(out)
    window.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soundfinder.gui")
    p.add_argument("--screenshot", metavar="PNG", help="render the window to this file and exit")
    p.add_argument("--library")
    p.add_argument("--model")
    p.add_argument("--device")
    p.add_argument("--query", default="punchy kick drum")
    p.add_argument("--size", default="1320x800", help="window size, WIDTHxHEIGHT")
    p.add_argument("--tag", action="append", default=[], help="a tag filter chip (repeatable)")
    p.add_argument("--bpm", help="filter bar: tempo, 120 or 118-122")
    p.add_argument("--key", help="filter bar: key, e.g. 'A minor'")
    p.add_argument("--kind", choices=("loop", "one-shot"), help="filter bar: loops or one-shots")
    p.add_argument("--map", action="store_true", help="show the Map tab (compute it first: soundfinder map)")
    p.add_argument("--view", choices=("favourites", "hidden", "auditioned", "dragged"),
                   help="show a side-panel view after the search")
    args = p.parse_args(argv)
    if not args.screenshot:
        from soundfinder.gui.app import run

        return run(args)
    w, h = (int(v) for v in args.size.lower().split("x"))
    flt = None
    if args.bpm or args.key or args.kind:
        from soundfinder.query.filters import SoundFilter, parse_bpm, parse_key

        flt = SoundFilter(bpm=parse_bpm(args.bpm) if args.bpm else None,
                          key=parse_key(args.key) if args.key else None, kind=args.kind)
    take(args.screenshot, {"library": args.library, "model": args.model, "device": args.device}, args.query,
         (w, h), tags=args.tag, sound_filter=flt, map_tab=args.map, view=args.view)
    print(args.screenshot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
