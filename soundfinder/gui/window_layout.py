"""The main window's widgets and how they sit: search bar over a side panel and the results.

Construction only, kept apart from `main_window.py`'s behaviour so each reads in one sitting;
the controllers (tags, sync, filters, manager) add their bars to `w.centre` afterwards.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QLabel, QSplitter, QStackedWidget, QVBoxLayout, QWidget

from soundfinder.gui.library_panel import LibraryPanel
from soundfinder.gui.results_model import ResultsModel
from soundfinder.gui.results_view import ResultsView
from soundfinder.gui.waveform import WaveformWidget
from soundfinder.gui.widgets import EmptyState, ModelBanner, SearchBar


def build(w) -> None:
    """Create `w`'s widgets as attributes (search_bar, results, view, waveform, panel, centre…)."""
    w.search_bar = SearchBar()
    w.banner = ModelBanner()
    w.results = ResultsModel(w)
    w.view = ResultsView()
    w.view.setModel(w.results)
    w.empty = EmptyState()
    w.stack = QStackedWidget()
    w.stack.addWidget(w.empty)
    w.stack.addWidget(w.view)
    w.query_label = QLabel()
    w.query_label.setObjectName("queryLabel")
    w.waveform = WaveformWidget()
    w.now_playing = QLabel()
    w.now_playing.setObjectName("dim")
    w.panel = LibraryPanel()

    w.centre = centre = QWidget()
    v = QVBoxLayout(centre)
    v.setContentsMargins(0, 0, 0, 0)
    v.setSpacing(4)
    v.addWidget(w.query_label)
    v.addWidget(w.stack, 1)
    v.addWidget(w.now_playing)
    v.addWidget(w.waveform)
    w.splitter = QSplitter(Qt.Orientation.Horizontal)
    w.splitter.addWidget(w.panel)
    w.splitter.addWidget(centre)
    w.splitter.setStretchFactor(1, 1)
    w.splitter.setSizes([300, 1000])

    root = QWidget()
    outer = QVBoxLayout(root)
    outer.setContentsMargins(0, 0, 8, 0)
    outer.setSpacing(0)
    outer.addWidget(w.search_bar)
    outer.addWidget(w.banner)
    outer.addWidget(w.splitter, 1)
    w.setCentralWidget(root)

    w.counts_label = QLabel("Loading…")
    w.audio_label = QLabel("" if w.player.output_available else "audio output unavailable")
    w.audio_label.setObjectName("dim")
    w.model_label = QLabel()
    w.model_label.setObjectName("dim")
    w.statusBar().addWidget(w.counts_label, 1)
    w.statusBar().addPermanentWidget(w.audio_label)
    w.statusBar().addPermanentWidget(w.model_label)

    find = QAction("Search", w, shortcut=QKeySequence.StandardKey.Find)
    find.triggered.connect(w.focus_search)
    w.addAction(find)
