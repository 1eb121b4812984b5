"""The main window: search, results, audition, library panel. Wiring only; work is in the core."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from soundfinder import config
from soundfinder.gui import actions
from soundfinder.gui.bridge import CoreBridge
from soundfinder.gui.library_panel import LibraryPanel
from soundfinder.gui.live_actions import LiveController
from soundfinder.gui.map_actions import MapController
from soundfinder.gui.player import Player
from soundfinder.gui.results_model import PathRole, ResultsModel
from soundfinder.gui.results_view import ResultsView
from soundfinder.gui.tag_actions import TagController
from soundfinder.gui.waveform import WaveformWidget
from soundfinder.gui.widgets import EmptyState, ModelBanner, SearchBar
from soundfinder.gui.worker import LiveBridge

EMPTY, RESULTS = 0, 1
EMPTY_HINT = ("Add a folder of samples and soundfinder will listen to every file, so you can\n"
              "find sounds by describing them. You can also drop a folder onto this window.")


def window_settings() -> QSettings:
    """Window geometry lives beside the user's settings file (QSettings only for geometry)."""
    return QSettings(str(config.settings_file().with_name("window.ini")), QSettings.Format.IniFormat)


class MainWindow(QMainWindow):
    def __init__(self, overrides: dict | None = None, executor=None, embedder=None, live_options=None):
        """`overrides`: library, model, device, precision from the command line (None: settings).

        `executor` runs library queries (tests may pass a synchronous one); `embedder` is a
        model already loaded (used when the model setting names its folder); `live_options`
        are keywords for the folder watcher (`LiveLibrary`).
        """
        super().__init__()
        self.overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
        self.setWindowTitle("soundfinder")
        self.setAcceptDrops(True)
        self.stats: dict = {}
        self.question = ""
        self._asked_at = 0.0
        self._restoring = False  # re-selecting the current file after a refresh: do not replay it
        self.bridge = CoreBridge(self, executor=executor, preloaded=embedder)
        self.live = LiveBridge(self, options=live_options)
        self.player = Player(self)
        self._build()
        self.tags = TagController(self)
        self.library_actions = LiveController(self)
        self.map = MapController(self)  # a Map tab beside the results list
        self.centre.layout().insertWidget(0, self.tags.bar)
        self._connect()
        self._restore()
        self.start_core()

    # -- construction --------------------------------------------------------------------

    def _build(self) -> None:
        self.search_bar = SearchBar()
        self.banner = ModelBanner()
        self.results = ResultsModel(self)
        self.view = ResultsView()
        self.view.setModel(self.results)
        self.empty = EmptyState()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty)
        self.stack.addWidget(self.view)
        self.query_label = QLabel()
        self.query_label.setObjectName("queryLabel")
        self.waveform = WaveformWidget()
        self.now_playing = QLabel()
        self.now_playing.setObjectName("dim")
        self.panel = LibraryPanel()

        self.centre = centre = QWidget()
        v = QVBoxLayout(centre)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(4)
        v.addWidget(self.query_label)
        v.addWidget(self.stack, 1)
        v.addWidget(self.now_playing)
        v.addWidget(self.waveform)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.panel)
        self.splitter.addWidget(centre)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([300, 1000])

        root = QWidget()
        outer = QVBoxLayout(root)
        outer.setContentsMargins(0, 0, 8, 0)
        outer.setSpacing(0)
        outer.addWidget(self.search_bar)
        outer.addWidget(self.banner)
        outer.addWidget(self.splitter, 1)
        self.setCentralWidget(root)

        self.counts_label = QLabel("Loading…")
        self.audio_label = QLabel("" if self.player.output_available else "audio output unavailable")
        self.audio_label.setObjectName("dim")
        self.model_label = QLabel()
        self.model_label.setObjectName("dim")
        self.statusBar().addWidget(self.counts_label, 1)
        self.statusBar().addPermanentWidget(self.audio_label)
        self.statusBar().addPermanentWidget(self.model_label)

        find = QAction("Search", self, shortcut=QKeySequence.StandardKey.Find)
        find.triggered.connect(self.focus_search)
        self.addAction(find)

    def _connect(self) -> None:
        b = self.bridge
        b.modelLoading.connect(self._model_loading)
        b.modelReady.connect(self._model_ready)
        b.modelFailed.connect(self._model_failed)
        b.libraryReady.connect(self._library_ready)
        b.libraryFailed.connect(lambda msg: self._problem(msg))
        b.statsChanged.connect(self._show_stats)
        b.resultsReady.connect(self._show_results)
        b.queryFailed.connect(lambda seq, msg: self._problem(msg))
        self.search_bar.queryChanged.connect(self.run_query)
        self.search_bar.downPressed.connect(self.focus_results)
        self.search_bar.settingsRequested.connect(lambda: actions.open_settings(self))
        self.search_bar.autoplay.toggled.connect(lambda on: self._save_setting("autoplay", on))
        self.search_bar.volume.valueChanged.connect(self._volume_changed)
        self.banner.cancelRequested.connect(self._cancel_model)
        self.banner.retryRequested.connect(self.start_core)
        self.banner.chooseFolderRequested.connect(self._choose_model_folder)
        self.empty.addRequested.connect(self.panel._choose_folder)
        self.view.selectionModel().currentRowChanged.connect(self._current_changed)
        self.view.playToggled.connect(lambda: self.player.toggle(self.current_path()))
        self.view.playRequested.connect(lambda: self.current_path() and self.player.play(self.current_path()))
        self.view.backToSearch.connect(self.focus_search)
        self.view.customContextMenuRequested.connect(lambda pos: actions.context_menu(self, pos))
        self.view.doubleClicked.connect(lambda _: self.current_path() and self.player.play(self.current_path()))
        self.player.positionChanged.connect(self.waveform.set_position)
        self.player.problem.connect(lambda msg: self.statusBar().showMessage(msg, 5000))
        self.waveform.seekRequested.connect(self._seek)

    def _restore(self) -> None:
        user = config.load_user_settings()
        self.search_bar.autoplay.setChecked(bool(config.get("autoplay", user=user)))
        self.search_bar.volume.setValue(int(round(float(config.get("volume", user=user)) * 100)))
        self.player.set_volume(self.search_bar.volume.value() / 100)
        s = window_settings()
        geometry = s.value("geometry")
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            screen = QGuiApplication.primaryScreen().availableGeometry()
            self.resize(min(1320, int(screen.width() * 0.9)), min(820, int(screen.height() * 0.9)))
        splitter = s.value("splitter")
        if isinstance(splitter, QByteArray):
            self.splitter.restoreState(splitter)

    # -- settings ------------------------------------------------------------------------

    def setting(self, name: str):
        return config.get(name, self.overrides.get(name))

    def _save_setting(self, name: str, value) -> None:
        user = config.load_user_settings()
        user[name] = value
        config.save_user_settings(user)

    def _volume_changed(self, value: int) -> None:
        self.player.set_volume(value / 100)
        self._save_setting("volume", round(value / 100, 2))

    # -- model and library ---------------------------------------------------------------

    def start_core(self) -> None:
        self.bridge.start(str(self.setting("model")), str(self.setting("device")),
                          str(self.setting("precision")), str(self.setting("library")))

    def _model_loading(self, model: str) -> None:
        self.banner.loading(model)
        self.model_label.setText("loading model…")

    def _model_ready(self, model: str) -> None:
        self.banner.hide()
        name = os.path.basename(model.rstrip("/\\")) if os.path.isdir(model) else model
        self.model_label.setText(f"model: {name}")

    def _model_failed(self, message: str) -> None:
        self.banner.failed(message, str(self.setting("model")))
        self.model_label.setText("no model")
        self.counts_label.setText("Searching needs a model")
        if not self.results.hits:
            self.empty.show_message("No sound model", "soundfinder needs a CLAP model to listen to and search "
                                    "your samples.\nChoose a local model folder above, or retry once online.",
                                    False)
            self.stack.setCurrentIndex(EMPTY)

    def _cancel_model(self) -> None:
        self.bridge.cancel_loading()
        self._model_failed("loading was cancelled")

    def _choose_model_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a local CLAP model folder")
        if folder:
            self._save_setting("model", folder)
            self.overrides.pop("model", None)
            self.start_core()

    def _library_ready(self, stats: dict) -> None:
        self._show_stats(stats)
        self.bridge.failures(self.panel.set_errors)
        self.bridge.refresh_tags()
        if self.bridge.readonly:
            self.panel.set_watching(False, "Read-only: another soundfinder is writing this library, "
                                           "so changes on disk are not followed here.")
        else:
            self.live.start(self.bridge.library, self.bridge.embedder)  # reconcile, then watch
        self.run_query(self.search_bar.text())

    def _show_stats(self, stats: dict) -> None:
        self.stats = stats
        self.panel.set_folders(stats.get("folders", []))
        self.results.set_roots(stats.get("folders", []))
        ro = " · read-only (another soundfinder is writing)" if self.bridge.readonly else ""
        failed = f" · {stats['failed']:,} failed" if stats.get("failed") else ""
        offline = f" · {stats['offline']:,} offline" if stats.get("offline") else ""
        self.counts_label.setText(f"{stats.get('indexed', 0):,} sounds in {len(stats.get('folders', []))} "
                                  f"folder(s){failed}{offline}{ro}")
        self._update_stack()

    def _problem(self, message: str) -> None:
        self.statusBar().showMessage(message, 8000)

    def writable(self) -> bool:
        """Whether library edits can run now; if not, say why in the status bar."""
        if not self.bridge.ready():
            self._problem("the library opens once the model is loaded; try again in a moment")
        elif self.bridge.readonly:
            self._problem("another soundfinder is writing this library; it is open read-only here")
        else:
            return True
        return False

    # -- search --------------------------------------------------------------------------

    def run_query(self, text: str) -> None:
        if not self.bridge.ready():
            return  # the query runs once the library is ready (_library_ready)
        self._asked_at = time.monotonic()
        k = int(self.setting("results"))
        if text:
            self.bridge.search(text, k, self.tags.filters)
        else:
            self.bridge.browse(tags=self.tags.filters)

    def refresh_results(self) -> None:
        """Ask the current question again (files came or went, tags or filters changed)."""
        if self.question.startswith("similar:"):
            self.find_similar(self.question[8:])
        else:
            self.run_query(self.search_bar.text())

    def find_similar(self, path: str) -> None:
        if not self.bridge.ready():
            self._problem("the model is not loaded yet")
            return
        self._asked_at = time.monotonic()
        self.bridge.similar(path, int(self.setting("results")), self.tags.filters)

    def _show_results(self, seq: int, question: str, hits: list) -> None:
        keep = self.current_path() if question == self.question else None  # a refresh of the same query
        keep = self.library_actions.renamed.pop(keep, keep)
        self.library_actions.renamed.clear()
        self.question = question
        if self.results.set_hits(hits) and keep and (row := self.results.row_of(keep)) >= 0:
            self._restoring = True
            self.view.selectRow(row)
            self._restoring = False
        ms = (time.monotonic() - self._asked_at) * 1000
        where = f" tagged <b>{' + '.join(self.tags.filters)}</b>" if self.tags.filters else ""
        if question.startswith("similar:"):
            self.query_label.setText(f"Sounds like <b>{os.path.basename(question[8:])}</b>{where} · "
                                     f"{len(hits)} results")
        elif question:
            self.query_label.setText(f"{len(hits)} results for <b>“{question}”</b>{where} "
                                     f"<span style='color:#7d8590'>({ms:.0f} ms)</span>")
        else:
            self.query_label.setText(f"All sounds{where} · {len(hits):,}" + (
                " (first 10,000; type to search)" if len(hits) >= 10000 else ""))
        self._update_stack()

    def _update_stack(self) -> None:
        if self.stats and not self.stats.get("indexed") and not self.results.hits:
            if self.live.busy:
                self.empty.show_message("Listening to your samples…", "Results appear as soon as the first "
                                        "files are indexed; progress is on the left.", False)
            elif self.stats.get("folders"):
                self.empty.show_message("No sounds yet", "Audio files copied into your sample folders appear "
                                        "here as soon as they are indexed.", True)
            else:
                self.empty.show_message("Your library is empty", EMPTY_HINT, True)
            self.stack.setCurrentIndex(EMPTY)
            self.query_label.setText("")
        else:
            self.stack.setCurrentIndex(RESULTS)

    # -- selection and audition ----------------------------------------------------------

    def current_path(self) -> str | None:
        index = self.view.currentIndex()
        return index.data(PathRole) if index.isValid() else None

    def _current_changed(self, current, previous) -> None:
        path = current.data(PathRole) if current.isValid() else None
        self.waveform.show_file(path)
        if path is None:
            self.now_playing.setText("")
            return
        rec = self.results.hits[current.row()].record
        dur = f" · {rec.duration:.2f} s" if rec.duration else ""
        self.now_playing.setText(f"{os.path.basename(path)}{dur}")
        if self.search_bar.autoplay.isChecked() and not self._restoring:
            self.player.play(path)

    def _seek(self, seconds: float) -> None:
        if self.current_path() and self.player.path != self.current_path():
            self.player.play(self.current_path())
        self.player.seek(seconds)

    def focus_search(self) -> None:
        self.search_bar.edit.setFocus()
        self.search_bar.edit.selectAll()

    def focus_results(self) -> None:
        if self.results.rowCount():
            self.view.setFocus()
            if not self.view.currentIndex().isValid():
                self.view.selectRow(0)

    # -- library -------------------------------------------------------------------------

    def index_folders(self, folders: list[str]) -> None:
        self.library_actions.add_folders(folders)

    # -- drops from outside --------------------------------------------------------------

    def dragEnterEvent(self, event) -> None:
        if event.source() is None and actions.dropped_paths(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        folders, files = actions.dropped_paths(event.mimeData())
        event.setDropAction(Qt.DropAction.CopyAction)  # we only read what is dropped
        event.accept()
        self.handle_drop(folders, files)

    def handle_drop(self, folders: list[str], files: list[str]) -> None:
        if folders:
            self.index_folders(folders)
        if files:
            self.find_similar(files[0])

    # -- closing -------------------------------------------------------------------------

    def closeEvent(self, event) -> None:
        s = window_settings()
        s.setValue("geometry", self.saveGeometry())
        s.setValue("splitter", self.splitter.saveState())
        s.sync()
        self.player.stop()
        self.tags.tagger.shutdown()
        self.map.shutdown()
        self.live.stop()  # the watcher and the indexing worker end before the library closes
        self.bridge.close()
        super().closeEvent(event)

