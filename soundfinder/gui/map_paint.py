"""Drawing the map with QPainter: the same picture in the app's map view and `soundfinder map --png`.

    scene = MapScene(xy, vector_ids, codes, names, labels=..., placed=...)
    camera = Camera.fit(scene.xy, width, height)
    paint_map(painter, width, height, scene, camera)

Speed (bench/map.py): the dots are square stamps written into a numpy ARGB32 buffer (a few
scattered writes per dot, no per-dot Python) and drawn as one image; QPainter's wide-pen
`drawPoints` took about 5x as long per 100k-dot frame. Labels, legend and rings for the few
selected dots are ordinary QPainter calls on top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen

from soundfinder.query.mapcolors import MapLabel, palette

BACKGROUND = "#14171b"
TEXT = "#d8dee4"
DIM_ALPHA = 38  # dots outside the current search
MIN_SOUNDS = 3


@dataclass
class MapScene:
    """What is drawn: positions, a colour code per dot, legend names, cluster labels, and which
    dots are lit by the current search (None: all) or were placed since the layout."""

    xy: np.ndarray  # float32 (n, 2)
    vector_ids: np.ndarray  # int64 (n,)
    codes: np.ndarray  # int (n,) index into names
    names: list[str]
    labels: list[MapLabel] = field(default_factory=list)
    placed: np.ndarray | None = None  # bool (n,)
    lit: np.ndarray | None = None  # bool (n,) or None
    stale_hint: str = ""
    caption: str = ""  # a line in the bottom-left corner (the PNG says what it shows)
    selected: set[int] = field(default_factory=set)  # row numbers
    current: int | None = None  # row number
    hover: int | None = None
    colors: list[str] = field(default_factory=list)
    pixels: tuple | None = None  # cached dot_pixels(); set to None when lit/placed/codes change

    def __post_init__(self) -> None:
        self.xy = np.asarray(self.xy, dtype=np.float32).reshape(-1, 2)
        if not self.colors:
            self.colors = palette(self.names)


@dataclass
class Camera:
    """Data -> screen: screen = (data - centre) * scale + (width/2, height/2)."""

    cx: float = 0.0
    cy: float = 0.0
    scale: float = 100.0

    @classmethod
    def fit(cls, xy: np.ndarray, width: int, height: int, margin: float = 0.08) -> Camera:
        if len(xy) == 0:
            return cls()
        lo, hi = np.nanmin(xy, axis=0), np.nanmax(xy, axis=0)
        span = np.maximum(hi - lo, 1e-6)
        scale = min(width * (1 - 2 * margin) / span[0], height * (1 - 2 * margin) / span[1])
        return cls(float((lo[0] + hi[0]) / 2), float((lo[1] + hi[1]) / 2), float(scale))

    def to_screen(self, xy: np.ndarray, width: int, height: int) -> np.ndarray:
        out = (np.asarray(xy, dtype=np.float32) - np.float32([self.cx, self.cy])) * np.float32(self.scale)
        out += np.float32([width / 2, height / 2])
        return out

    def to_data(self, x: float, y: float, width: int, height: int) -> tuple[float, float]:
        return (x - width / 2) / self.scale + self.cx, (y - height / 2) / self.scale + self.cy

    def zoom(self, factor: float, x: float, y: float, width: int, height: int) -> None:
        """Zoom by `factor` keeping the data point under (x, y) where it is."""
        dx, dy = self.to_data(x, y, width, height)
        self.scale = float(np.clip(self.scale * factor, 1e-3, 1e7))
        self.cx = dx - (x - width / 2) / self.scale
        self.cy = dy - (y - height / 2) / self.scale

    def pan(self, dx: float, dy: float) -> None:
        self.cx -= dx / self.scale
        self.cy -= dy / self.scale


def _rgb(color: str, alpha: float = 1.0) -> np.uint32:
    """#rrggbb blended over the background by `alpha`, as an opaque ARGB32 pixel."""
    fg, bg = QColor(color), QColor(BACKGROUND)
    mix = [round(alpha * f + (1 - alpha) * g) for f, g in ((fg.red(), bg.red()), (fg.green(), bg.green()),
                                                          (fg.blue(), bg.blue()))]
    return np.uint32(0xFF000000 | (mix[0] << 16) | (mix[1] << 8) | mix[2])


def dot_pixels(scene: MapScene) -> tuple[np.ndarray, np.ndarray]:
    """(drawing order, ARGB32 colour per dot in that order): dimmed dots first, new (placed)
    dots a little lighter, lit dots last so a search's results sit on top."""
    lit = np.ones(len(scene.xy), bool) if scene.lit is None else np.asarray(scene.lit, bool)
    bright = np.array([_rgb(c) for c in scene.colors], dtype=np.uint32)
    dim = np.array([_rgb(c, DIM_ALPHA / 255) for c in scene.colors], dtype=np.uint32)
    pix = np.where(lit, bright[scene.codes], dim[scene.codes])
    if scene.placed is not None:
        rim = np.array([_rgb(c, 0.55) | 0x00404040 for c in scene.colors], dtype=np.uint32)
        pix = np.where(lit & scene.placed, rim[scene.codes], pix)
    order = np.argsort(lit, kind="stable")
    return order, pix[order]


def raster_dots(screen: np.ndarray, pixels: np.ndarray, size: int, width: int, height: int) -> np.ndarray:
    """Square dots splatted into a (height, width) ARGB32 array in numpy: a 100k-dot frame is a
    few scattered writes per dot, where QPainter's wide-pen points cost ~5x more (bench/map.py)."""
    img = np.full(height * width, _rgb(BACKGROUND), dtype=np.uint32)
    half = size // 2
    xy = np.floor(screen).astype(np.int64) - half
    ok = (xy[:, 0] >= 0) & (xy[:, 0] <= width - size) & (xy[:, 1] >= 0) & (xy[:, 1] <= height - size)
    base = xy[ok, 1] * width + xy[ok, 0]
    px = pixels[ok]
    for dy in range(size):
        for dx in range(size):
            img[base + (dy * width + dx)] = px
    return img.reshape(height, width)


def dot_size(n: int, scale: float, fit_scale: float) -> float:
    """Dots shrink as the library grows and grow as one zooms in."""
    base = float(np.clip(11 - 1.6 * np.log10(max(n, 1)), 2.5, 8))
    return float(np.clip(base * (scale / fit_scale) ** 0.35 if fit_scale else base, 2.0, 14.0))


def paint_map(p: QPainter, width: int, height: int, scene: MapScene | None, camera: Camera,
              fit_scale: float | None = None, legend: bool = True, message: str = "") -> None:
    p.fillRect(QRectF(0, 0, width, height), QColor(BACKGROUND))
    if scene is None or len(scene.xy) < MIN_SOUNDS:
        _centered_text(p, width, height, message or "The map needs at least 3 sounds",
                       "Index a folder of samples; every sound becomes a dot, similar sounds close together.")
        return
    screen = camera.to_screen(scene.xy, width, height)
    size = dot_size(len(scene.xy), camera.scale, fit_scale or camera.scale)
    if scene.pixels is None:
        scene.pixels = dot_pixels(scene)
    order, pixels = scene.pixels
    buf = raster_dots(screen[order], pixels, max(2, round(size)), width, height)
    p.drawImage(0, 0, QImage(buf.data, width, height, QImage.Format.Format_RGB32))
    p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    if scene.selected:
        rows = np.fromiter(scene.selected, dtype=np.int64)
        _rings(p, screen[rows], size + 5, "#ffffff", 1.5, 230)
    for row, color in ((scene.hover, "#ffd166"), (scene.current, "#ffffff")):
        if row is not None and 0 <= row < len(screen):
            _rings(p, screen[[row]], size + 9, color, 2.0, 255)
    _labels(p, scene.labels, camera, width, height)
    if legend:
        _legend(p, scene.names, scene.colors, scene.codes, width)
    if scene.stale_hint:
        _hint(p, scene.stale_hint, width, height)
    if scene.caption:
        p.setPen(QColor("#7d8590"))
        p.drawText(QRectF(14, height - 30, width - 28, 20), Qt.AlignmentFlag.AlignLeft, scene.caption)


def _rings(p: QPainter, pts: np.ndarray, diameter: float, color: str, width: float, alpha: int) -> None:
    c = QColor(color)
    c.setAlpha(alpha)
    p.setPen(QPen(c, width))
    p.setBrush(Qt.BrushStyle.NoBrush)
    r = diameter / 2
    for x, y in pts[:2000]:  # rings are for a few dots (selection, hover), never the whole map
        p.drawEllipse(QPointF(float(x), float(y)), r, r)


def _labels(p: QPainter, labels: list[MapLabel], camera: Camera, width: int, height: int) -> None:
    font = QFont(p.font())
    font.setBold(True)
    font.setPointSizeF(max(9.0, font.pointSizeF()))
    p.setFont(font)
    fm = QFontMetrics(font)
    taken: list[QRectF] = []
    for lab in sorted(labels, key=lambda lb: -lb.size):
        (x, y), = camera.to_screen(np.array([[lab.x, lab.y]]), width, height)
        w = fm.horizontalAdvance(lab.text) + 12
        rect = QRectF(x - w / 2, y - fm.height() / 2 - 3, w, fm.height() + 6)
        if not QRectF(0, 0, width, height).contains(rect) or any(rect.intersects(t) for t in taken):
            continue  # labels never overlap: the bigger cluster keeps its name
        taken.append(rect)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(20, 23, 27, 190))
        p.drawRoundedRect(rect, 6, 6)
        p.setPen(QColor(TEXT))
        p.drawText(rect, Qt.AlignmentFlag.AlignCenter, lab.text)


def _legend(p: QPainter, names: list[str], colors: list[str], codes: np.ndarray, width: int) -> None:
    font = QFont(p.font())
    font.setBold(False)
    p.setFont(font)
    fm = QFontMetrics(font)
    counts = np.bincount(np.asarray(codes, dtype=np.int64), minlength=len(names))
    rows = [f"{n}  {counts[i]:,}" for i, n in enumerate(names)]
    w = max((fm.horizontalAdvance(r) for r in rows), default=0) + 34
    h = fm.height() + 4
    box = QRectF(width - w - 12, 12, w, h * len(rows) + 10)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor(20, 23, 27, 200))
    p.drawRoundedRect(box, 6, 6)
    for i, (row, color) in enumerate(zip(rows, colors, strict=True)):
        y = box.top() + 5 + i * h
        p.setBrush(QColor(color))
        p.drawEllipse(QPointF(box.left() + 13, y + h / 2), 5, 5)
        p.setPen(QColor(TEXT))
        p.drawText(QRectF(box.left() + 24, y, w - 24, h), Qt.AlignmentFlag.AlignVCenter, row)
        p.setPen(Qt.PenStyle.NoPen)


def _hint(p: QPainter, text: str, width: int, height: int) -> None:
    fm = QFontMetrics(p.font())
    w = fm.horizontalAdvance(text) + 24
    rect = QRectF((width - w) / 2, height - fm.height() - 22, w, fm.height() + 10)
    p.setPen(QPen(QColor("#ffd166"), 1))
    p.setBrush(QColor(40, 34, 20, 220))
    p.drawRoundedRect(rect, 6, 6)
    p.setPen(QColor("#ffd166"))
    p.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def _centered_text(p: QPainter, width: int, height: int, title: str, body: str) -> None:
    font = QFont(p.font())
    font.setPointSizeF(font.pointSizeF() * 1.4)
    font.setBold(True)
    p.setFont(font)
    p.setPen(QColor(TEXT))
    p.drawText(QRectF(0, height / 2 - 40, width, 30), Qt.AlignmentFlag.AlignCenter, title)
    font.setPointSizeF(font.pointSizeF() / 1.4)
    font.setBold(False)
    p.setFont(font)
    p.setPen(QColor("#7d8590"))
    p.drawText(QRectF(0, height / 2, width, 30), Qt.AlignmentFlag.AlignCenter, body)
