"""The waveform of the selected file: peaks computed off the UI thread and cached."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QWidget

from soundfinder.gui.threads import run_task, serial_executor

PEAK_RATE = 8000  # decoding rate for drawing: plenty for a few hundred pixels
BUCKETS = 1200


def compute_peaks(path: str, buckets: int = BUCKETS) -> tuple[np.ndarray, float]:
    """(peaks (n, 2) of min and max per bucket, duration in seconds); raises DecodeError."""
    from soundfinder.audio import decode

    audio = decode(path, sample_rate=PEAK_RATE)
    if audio.samples.size < buckets * 8 and audio.source_rate > PEAK_RATE:
        # a short one-shot: decode finer so each bucket holds real peaks, not single samples
        audio = decode(path, sample_rate=min(audio.source_rate, 48000))
    x = audio.samples
    n = max(1, min(buckets, x.size // 4))
    edges = np.linspace(0, x.size, n + 1).astype(np.int64)
    lo = np.minimum.reduceat(x, edges[:-1])
    hi = np.maximum.reduceat(x, edges[:-1])
    peak = max(float(np.abs(x).max()), 1e-6)
    return np.stack([lo, hi], axis=1) / peak, audio.duration


class PeakCache:
    """Recently drawn files' peaks (small: 1200 × 2 floats each)."""

    def __init__(self, size: int = 512):
        self.size = size
        self._items: OrderedDict[str, tuple] = OrderedDict()

    def get(self, path: str):
        if path in self._items:
            self._items.move_to_end(path)
            return self._items[path]
        return None

    def put(self, path: str, value) -> None:
        self._items[path] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)


class WaveformWidget(QWidget):
    seekRequested = Signal(float)  # seconds
    peaksReady = Signal(str)  # path

    def __init__(self, parent=None, executor=None):
        super().__init__(parent)
        self.setMinimumHeight(110)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.cache = PeakCache()
        self._executor = executor or serial_executor("waveform")
        self.path: str | None = None
        self.peaks: np.ndarray | None = None
        self.duration = 0.0
        self.position = 0.0
        self.message = "Select a sound to see its waveform"

    def show_file(self, path: str | None) -> None:
        self.path, self.position = path, 0.0
        cached = self.cache.get(path) if path else None
        if cached is not None:
            self._set(*cached)
            return
        self.peaks, self.message = None, ("Loading waveform…" if path else "Select a sound to see its waveform")
        self.update()
        if path:
            run_task(lambda: compute_peaks(path), lambda result=None, error=None: self._loaded(path, result, error),
                     self._executor)

    def _loaded(self, path: str, result, error) -> None:
        if error is None:
            self.cache.put(path, result)
        if path != self.path:
            return  # the selection moved on while this one decoded
        if error is not None:
            self.peaks, self.message = None, f"Cannot draw: {getattr(error, 'reason', error)}"
            self.update()
        else:
            self._set(*result)
        self.peaksReady.emit(path)

    def _set(self, peaks, duration) -> None:
        self.peaks, self.duration = peaks, duration
        self.update()

    def set_position(self, seconds: float) -> None:
        self.position = seconds
        self.update()

    def mousePressEvent(self, event) -> None:
        if self.peaks is not None and self.duration > 0 and event.button() == Qt.MouseButton.LeftButton:
            frac = max(0.0, min(1.0, event.position().x() / max(1, self.width())))
            self.position = frac * self.duration
            self.seekRequested.emit(self.position)
            self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRectF(self.rect())
        p.fillRect(rect, QColor("#15181c"))
        mid = rect.center().y()
        if self.peaks is None:
            p.setPen(QColor("#7d8590"))
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.message)
            return
        p.setPen(QPen(QColor("#2a3038"), 1))
        p.drawLine(QPointF(rect.left(), mid), QPointF(rect.right(), mid))
        n = len(self.peaks)
        half = rect.height() * 0.45
        xs = np.linspace(rect.left(), rect.right(), n)
        path = QPainterPath(QPointF(xs[0], mid - self.peaks[0, 1] * half))
        for x, hi in zip(xs[1:], self.peaks[1:, 1], strict=True):
            path.lineTo(x, mid - hi * half)
        for x, lo in zip(xs[::-1], self.peaks[::-1, 0], strict=True):
            path.lineTo(x, mid - lo * half)
        path.closeSubpath()
        played = rect.width() * (self.position / self.duration) if self.duration > 0 else 0.0
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor("#3d7f79"))
        p.drawPath(path)
        if played > 0:
            p.save()
            p.setClipRect(QRectF(rect.left(), rect.top(), played, rect.height()))
            p.setBrush(QColor("#6fe0d3"))
            p.drawPath(path)
            p.restore()
            p.setPen(QPen(QColor("#f2f5f7"), 1.5))
            p.drawLine(QPointF(rect.left() + played, rect.top()), QPointF(rect.left() + played, rect.bottom()))
