"""The map beside the results list: a "Map" tab, its toolbar, and its wiring to the window.

`MapController(window)` puts the results (table or empty state) and a `MapPanel` into two tabs, loads the
stored map off the UI thread when the library opens (placing sounds added since), lights up
the current search's results, plays what the map hovers or clicks with the window's player,
and runs the layout as a background job with progress and cancel.
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from soundfinder.gui.map_view import MapCanvas
from soundfinder.gui.threads import run_task, serial_executor

MAP_TAB = 1


class MapPanel(QWidget):
    """The canvas under a one-line toolbar: what the map shows, colouring, compute/refresh."""

    computeRequested = Signal()
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.canvas = MapCanvas()
        self.status = QLabel("")
        self.status.setObjectName("dim")
        self.color = QComboBox()
        from soundfinder.query.mapcolors import COLOR_BY

        for key in COLOR_BY:  # tag, folder (and whatever colourings join the registry)
            self.color.addItem(f"Colour by {key}", key)
        self.compute = QPushButton("Compute map")
        self.compute.clicked.connect(self.computeRequested)
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.setTextVisible(True)
        self.progress.hide()
        self.cancel = QPushButton("Cancel")
        self.cancel.clicked.connect(self.cancelRequested)
        self.cancel.hide()
        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        for w in (self.status,):
            bar.addWidget(w, 1)
        for w in (self.progress, self.cancel, self.color, self.compute):
            bar.addWidget(w)
        v = QVBoxLayout(self)
        v.setContentsMargins(0, 4, 0, 0)
        v.setSpacing(4)
        v.addLayout(bar)
        v.addWidget(self.canvas, 1)

    def busy(self, on: bool) -> None:
        self.progress.setVisible(on)
        self.cancel.setVisible(on)
        self.compute.setEnabled(not on)


class _Progress(QObject):
    """Carries the layout job's progress from its thread to the UI thread."""

    changed = Signal(str, int, int)


class MapController:
    def __init__(self, window):
        self.window = window
        self.panel = MapPanel()
        self.canvas = self.panel.canvas
        self._executor = serial_executor("map")
        self._cancel: threading.Event | None = None
        self._highlight = None
        self._signals = _Progress()
        self._signals.changed.connect(self._progress)
        self._reload = QTimer(singleShot=True, interval=1500)  # many index commits: one reload
        self._reload.timeout.connect(self.load)
        # The results stack (empty state / table) becomes the "List" tab, in the same place.
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        layout = window.centre.layout()
        at = layout.indexOf(window.stack)
        layout.removeWidget(window.stack)
        self.tabs.addTab(window.stack, "List")
        self.tabs.addTab(self.panel, "Map")
        layout.insertWidget(at, self.tabs, 1)
        self._connect()

    def _connect(self) -> None:
        w, b = self.window, self.window.bridge
        b.libraryReady.connect(lambda _stats: self.load())
        b.statsChanged.connect(lambda _stats: self.visible() and self._reload.start())
        b.resultsReady.connect(self._results)
        self.tabs.currentChanged.connect(lambda i: i == MAP_TAB and self.load())
        self.canvas.auditionRequested.connect(w.sync.play)
        self.canvas.activated.connect(self._activated)
        self.panel.computeRequested.connect(self.compute)
        self.panel.cancelRequested.connect(self.cancel)
        self.panel.color.currentIndexChanged.connect(lambda _i: self.load())

    def visible(self) -> bool:
        return self.tabs.currentIndex() == MAP_TAB

    # -- loading -------------------------------------------------------------------------

    def load(self) -> None:
        """Read the stored map (placing new sounds) on a background thread, then show it."""
        lib = self.window.bridge.library
        if lib is None:
            return
        color = self.panel.color.currentData()

        def work():
            from soundfinder.query.mapdata import map_data
            from soundfinder.query.maplayout import live_vectors

            return map_data(lib, color), len(live_vectors(lib)[0]) if lib.log is not None else 0

        run_task(work, self._loaded, self._executor)

    def _loaded(self, result=None, error=None) -> None:
        if error is not None:
            self.panel.status.setText(f"The map could not be read: {error}")
            return
        data, sounds = result
        if sounds < 3:
            self.canvas.set_data(None, "The map needs at least 3 sounds")
            self.panel.status.setText(f"{sounds} sound(s) in the library")
            self.panel.compute.setEnabled(False)
            return
        self.panel.compute.setEnabled(self._cancel is None)
        if data is None:
            self.canvas.set_data(None, "No map yet: Compute map lays out every sound")
            self.panel.status.setText(f"{sounds:,} sounds · no map yet")
            self.panel.compute.setText("Compute map")
            return
        self.canvas.set_data(data)
        self.canvas.highlight(self._highlight)
        s = data.stale
        extra = f" · {s.placed + s.missing:,} new placed" if s and (s.placed or s.missing) else ""
        self.panel.status.setText(f"{len(data):,} sounds{extra} · hover to listen, Shift+drag to select")
        self.panel.compute.setText("Refresh map")

    def _results(self, seq: int, question, hits: list) -> None:
        """A search's results light up; browsing everything lights everything."""
        filtered = question.kind != "browse" or bool(question.tags) or question.filters is not None
        self._highlight = [h.record.vector_id for h in hits if h.record.vector_id is not None] if filtered else None
        self.canvas.highlight(self._highlight)

    def _activated(self, path: str) -> None:
        self.window.sync.play(path)  # fitted to the project when Sync is on, like the list
        row = self.window.results.row_of(path)
        if row >= 0:
            self.window._restoring = True  # select it in the list without playing it twice
            self.window.view.selectRow(row)
            self.window._restoring = False

    # -- the layout job ------------------------------------------------------------------

    def compute(self) -> None:
        if not self.window.writable() or self._cancel is not None:
            return
        lib = self.window.bridge.library
        self._cancel = cancel = threading.Event()
        self.panel.busy(True)
        self.panel.progress.setFormat("starting…")

        def work():
            from soundfinder.query.maplayout import build_map

            return build_map(lib, progress=lambda p: self._signals.changed.emit(p.phase, p.done, p.total),
                             cancel=cancel)

        run_task(work, self._computed, self._executor)

    def _progress(self, phase: str, done: int, total: int) -> None:
        self.panel.progress.setRange(0, max(total, 1))
        self.panel.progress.setValue(done)
        self.panel.progress.setFormat(f"{phase} %p%")

    def cancel(self) -> None:
        if self._cancel is not None:
            self._cancel.set()
            self.panel.progress.setFormat("cancelling…")

    def _computed(self, result=None, error=None) -> None:
        self._cancel = None
        self.panel.busy(False)
        if error is not None:
            from soundfinder.query.maplayout import MapCancelled

            msg = "map computation cancelled" if isinstance(error, MapCancelled) else f"map: {error}"
            self.window.statusBar().showMessage(msg, 6000)
        self.load()

    def shutdown(self) -> None:
        self.cancel()
        self._executor.shutdown(wait=True, cancel_futures=True)
