"""`soundfinder map`: compute or refresh the library's 2-D map, report on it, render it to a PNG.

    soundfinder map --refresh                      # lay out every sound again (background-safe)
    soundfinder map --png map.png --color folder --size 1600x1000
    soundfinder map --json                         # how current the stored map is

No model is loaded: the map is made from the stored vectors. The PNG is painted by the same
code as the app's map view (`gui/map_paint.py`) on Qt's offscreen platform, so no display is
needed; this is the one place the CLI borrows a GUI module, as `soundfinder` (no command) does
to open the app.
"""

from __future__ import annotations

import os
import sys
import time


def register(subparsers) -> None:
    s = subparsers.add_parser("map", help="compute the library's map or render it to a PNG",
                              description="Every sound as a dot, similar sounds close together. The map is "
                                          "computed once (seconds to a few minutes) and stored in the library; "
                                          "sounds added later are placed into it without a recompute.")
    s.add_argument("--refresh", action="store_true", help="compute the whole map again from scratch")
    s.add_argument("--method", choices=("umap", "tsne", "pca"), default=None,
                   help="layout method for a (re)computed map (default umap; see bench/map.py)")
    s.add_argument("--png", metavar="FILE", help="render the map to this PNG file (no display needed)")
    s.add_argument("--color", default="tag", metavar="BY",
                   help="colour dots by: tag (most confident category tag, the default) or folder")
    s.add_argument("--size", default="1600x1000", metavar="WxH", help="PNG size in pixels (default 1600x1000)")
    s.add_argument("--json", action="store_true", help="print a summary as JSON")
    s.set_defaults(func=cmd_map)


def parse_size(text: str) -> tuple[int, int]:
    from soundfinder.cli.common import CliError

    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise CliError(f"--size must look like 1600x1000, not {text!r}") from None
    if not (64 <= w <= 10000 and 64 <= h <= 10000):
        raise CliError(f"--size {text}: width and height must be between 64 and 10000 pixels")
    return w, h


class _MapProgress:
    def __init__(self, stream=sys.stderr):
        self.stream, self.phase, self.last = stream, None, 0.0

    def __call__(self, p) -> None:
        now = time.monotonic()
        if p.phase != self.phase or now - self.last > 5:
            self.phase, self.last = p.phase, now
            self.stream.write(f"map: {p.phase} {p.done}/{p.total}\n")
            self.stream.flush()


def cmd_map(args) -> int:
    from soundfinder import config
    from soundfinder.cli.common import CliError, print_json
    from soundfinder.library import Library
    from soundfinder.query.mapcolors import COLOR_BY
    from soundfinder.query.mapdata import map_data
    from soundfinder.query.maplayout import DEFAULT_METHOD, MIN_SOUNDS, MapError, build_map, live_vectors

    if args.color not in COLOR_BY:
        raise CliError(f"--color {args.color}: choose one of {', '.join(COLOR_BY)}")
    size = parse_size(args.size) if args.png else None
    root = str(config.get("library", args.library))
    with Library.open(root, readonly=True) as lib:
        need = args.refresh or lib.maps.load() is None
        sounds = len(live_vectors(lib)[0]) if lib.log is not None else 0
    computed = None
    if sounds >= MIN_SOUNDS and (need or args.method):
        with Library.open(root) as lib:
            started = time.perf_counter()
            try:
                build_map(lib, args.method or DEFAULT_METHOD, progress=None if args.json else _MapProgress())
            except MapError as e:
                raise CliError(str(e)) from None
            computed = round(time.perf_counter() - started, 2)
    elif sounds < MIN_SOUNDS and not args.json:
        print(f"soundfinder: the map needs at least {MIN_SOUNDS} sounds; the library has {sounds}",
              file=sys.stderr)
    data = None
    if sounds >= MIN_SOUNDS:
        with Library.open(root, readonly=True) as lib:
            data = map_data(lib, args.color, save=False)
    if args.png:
        render_png(data, args.png, size)
    summary = {"library": root, "sounds": sounds, "computed_seconds": computed, "png": args.png,
               "color": args.color, "method": (data.info.get("method") if data else None),
               "stale": data.stale.to_json() if data and data.stale else None,
               "labels": [lab.text for lab in data.labels] if data else []}
    if args.json:
        print_json(summary)
    elif data is not None:
        s = data.stale
        print(f"{len(data):,} sounds on the map ({data.info.get('method', '?')}); {s.placed + s.missing:,} placed "
              f"since it was made, {s.gone:,} gone" + (" — run `soundfinder map --refresh`" if s.stale else ""))
        if args.png:
            print(f"wrote {args.png}")
    return 0


def render_png(data, path: str, size: tuple[int, int]) -> None:
    """Paint the map (or its empty state) into a PNG with Qt's offscreen platform."""
    from soundfinder.cli.common import CliError

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    try:
        from PySide6.QtGui import QImage, QPainter
        from PySide6.QtWidgets import QApplication

        from soundfinder.gui.map_paint import Camera, MapScene, paint_map
    except ImportError as e:
        raise CliError(f"rendering a PNG needs PySide6: {e}") from None
    # A QApplication (not only a QGuiApplication): the same process may show widgets afterwards.
    app = QApplication.instance() or QApplication(["soundfinder"])  # noqa: F841 - kept alive
    w, h = size
    scene = None
    if data is not None and len(data) >= 3:
        caption = (f"{len(data):,} sounds · coloured by {data.color} · layout: {data.info.get('method', '?')} · "
                   f"soundfinder map")
        scene = MapScene(data.xy, data.vector_ids, data.codes, data.names, labels=data.labels,
                         placed=data.placed, stale_hint=data.hint, caption=caption)
    image = QImage(w, h, QImage.Format.Format_RGB32)
    painter = QPainter(image)
    camera = Camera.fit(scene.xy if scene else [], w, h)
    paint_map(painter, w, h, scene, camera)
    painter.end()
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise CliError(f"cannot write {path}: the folder {folder} does not exist")
    if not image.save(path, "PNG"):
        raise CliError(f"cannot write {path} (is the folder writable?)")
