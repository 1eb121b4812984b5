"""The main window: search, results, audition, library panel. Wiring only; work is in the core."""

from __future__ import annotations

import os
import time

from PySide6.QtCore import QByteArray, QSettings, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
)

from soundfinder import config
from soundfinder.gui import actions
from soundfinder.gui.bridge import CoreBridge
from soundfinder.gui.closing import close_in_background
from soundfinder.gui.filter_bar import FilterBar, describe_hit
from soundfinder.gui.live_actions import LiveController
from soundfinder.gui.map_actions import MapController
from soundfinder.gui.player import Player
from soundfinder.gui.query_panel import SearchExtras
from soundfinder.gui.results_model import PathRole
from soundfinder.gui.settings_saver import SettingsSaver
from soundfinder.gui.sync_controller import SyncController
from soundfinder.gui.tag_actions import TagController
from soundfinder.gui.window_layout import build
from soundfinder.gui.worker import LiveBridge
from soundfinder.query.request import Query

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
        self.question = Query()  # the question whose results are shown
        self._asked_at = 0.0
        self._restoring = False  # re-selecting the current file after a refresh: do not replay it
        self.bridge = CoreBridge(self, executor=executor, preloaded=embedder)
        self.live = LiveBridge(self, options=live_options)
        self.player = Player(self)
        self.settings_saver = SettingsSaver(self)
        self._build()
        self.tags = TagController(self)
        self.library_actions = LiveController(self)
        self.sync = SyncController(self)
        self.map = MapController(self)  # a Map tab beside the results list
        self.centre.layout().insertWidget(0, self.tags.bar)
        self.centre.layout().insertWidget(0, self.sync.bar)
        self.view.drag_paths = self.sync.drag_paths
        self.filter_bar = FilterBar()  # tempo, key, loop/one-shot, length (gui/filter_bar.py)
        self.centre.layout().insertWidget(2, self.filter_bar)
        self.filter_bar.changed.connect(lambda _f: self.refresh_results())
        self.extras = SearchExtras(self)  # parsed chips, steering, thumbs (query_panel.py)
        self.extras.install(self.centre.layout(), 3)
        self._connect()
        from soundfinder.gui.manager import ManagerController

        self.manager = ManagerController(self)  # browser panel, favourites, collections, export
        self._restore()
        self.start_core()

    # -- construction --------------------------------------------------------------------

    def _build(self) -> None:
        build(self)  # widgets and layout: window_layout.py

    def _connect(self) -> None:
        b = self.bridge
        b.modelLoading.connect(self._model_loading)
        b.modelDownloading.connect(self._model_downloading)
        b.modelReady.connect(self._model_ready)
        b.soundReady.connect(self._sound_ready)
        b.textReady.connect(self._text_ready)
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
        self.view.playToggled.connect(lambda: self.player.stop() if self.player.playing
                                      else self.sync.play(self.current_path()))
        self.view.playRequested.connect(lambda: self.sync.play(self.current_path()))
        self.view.backToSearch.connect(self.focus_search)
        self.view.customContextMenuRequested.connect(lambda pos: actions.context_menu(self, pos))
        self.view.doubleClicked.connect(lambda _: self.sync.play(self.current_path()))
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

    def _save_setting(self, name: str, value, now: bool = False) -> None:
        """Saved once the changes pause (a slider drag is one write); `now`: on disk when this returns."""
        self.settings_saver.set(name, value)
        if now:
            self.settings_saver.flush(wait=True)

    def _volume_changed(self, value: int) -> None:
        self.player.set_volume(value / 100)
        self._save_setting("volume", round(value / 100, 2))

    # -- model and library ---------------------------------------------------------------

    def start_core(self) -> None:
        self.bridge.start(str(self.setting("model")), str(self.setting("device")),
                          str(self.setting("precision")), str(self.setting("library")))

    def _model_loading(self, model: str) -> None:
        self.model_label.setText("sound search loading…")  # names answer queries meanwhile (bridge_start)

    def _model_downloading(self, text: str) -> None:
        if not self.banner.isVisible():  # the first start's download: a banner with Cancel
            self.banner.loading(str(self.setting("model")))
        self.model_label.setText(f"downloading model: {text}")

    def _model_ready(self, model: str) -> None:
        self.banner.hide()
        name = os.path.basename(model.rstrip("/\\")) if os.path.isdir(model) else model
        rt = getattr(self.bridge.embedder, "runtime", None)  # which precision runs, and why
        self.model_label.setText(f"model: {name}" + (f" · {rt.audio.precision}" if rt else ""))
        if rt is not None:
            self.model_label.setToolTip(rt.fallback or rt.note or f"{rt.audio.precision}, {rt.audio.backend}")

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
            self._save_setting("model", folder, now=True)
            self.overrides.pop("model", None)
            self.start_core()

    def _library_ready(self, stats: dict) -> None:
        if self.bridge.closed:
            return
        self._show_stats(stats)
        self.bridge.failures(self.panel.set_errors)
        self.bridge.refresh_tags()
        if self.bridge.readonly:
            self.panel.set_watching(False, "Read-only: another soundfinder is writing this library, "
                                           "so changes on disk are not followed here.")
        self.run_query(self.search_bar.text())  # by names until the sound model is ready
        self.manager.refresh()

    def _text_ready(self) -> None:
        """The cached ONNX text tower answers typed queries by names and sound before the model
        (bridge_start.py): ask the shown question again."""
        self.model_label.setText("text search ready · model loading…")
        self.refresh_results()

    def _sound_ready(self) -> None:
        """Model and library agree: follow the folders, and answer the question shown again
        with sound (the same question: the selected row stays selected, nothing replays)."""
        if not self.bridge.readonly:
            self.live.start(self.bridge.library, self.bridge.embedder)  # reconcile, then watch
        self.refresh_results()

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

    def writable(self, sound: bool = False) -> bool:
        """Whether library edits can run now (`sound`: ones that need the model, like indexing);
        if not, say why in the status bar."""
        if self.bridge.library is None or (sound and not self.bridge.ready()):
            self._problem("the sound model is still loading; try again in a moment" if self.bridge.library
                          else "the library is not open yet; try again in a moment")
        elif self.bridge.readonly:
            self._problem("another soundfinder is writing this library; it is open read-only here")
        else:
            return True
        return False

    # -- search --------------------------------------------------------------------------

    def run_query(self, text: str) -> None:
        if self.bridge.library is None:
            return  # the query runs once the library is ready (_library_ready)
        self._asked_at = time.monotonic()
        feedback = self.extras.text_query(text)
        self.bridge.ask(Query(text=text, tags=self.tags.filters, filters=self.filter_bar.filter),
                        int(self.setting("results")), feedback=feedback)

    def refresh_results(self) -> None:
        """Ask the current question again (files came or went, tags or filters changed)."""
        if self.manager.refresh_view():  # a side-panel view (smart collection, favourites…)
            return
        if self.question.like:
            self.find_similar(self.question.like)
        else:
            self.run_query(self.search_bar.text())

    def find_similar(self, path: str) -> None:
        if not self.bridge.ready():
            self._problem("the model is not loaded yet")
            return
        self._asked_at = time.monotonic()
        self.extras.similar([path])
        self.bridge.ask(Query(like=path, tags=self.tags.filters, filters=self.filter_bar.filter),
                        int(self.setting("results")))

    def _show_results(self, seq: int, question: Query, hits: list) -> None:
        same = question.unfiltered() == self.question.unfiltered()  # a refresh, or only the filters changed
        keep = self.current_path() if same else None
        keep = self.library_actions.renamed.pop(keep, keep)
        self.library_actions.renamed.clear()
        self.question = question
        if self.results.set_hits(hits) and keep and (row := self.results.row_of(keep)) >= 0:
            self._restoring = True
            self.view.selectRow(row)
            self._restoring = False
        ms = (time.monotonic() - self._asked_at) * 1000
        where = f" tagged <b>{' + '.join(self.tags.filters)}</b>" if self.tags.filters else ""
        if question.like:
            self.query_label.setText(f"Sounds like <b>{os.path.basename(question.like)}</b>{where} · "
                                     f"{len(hits)} results")
        elif question.kind == "text":
            names = " · by name; sound search loading…" if self.bridge.answered == "names" else ""
            self.query_label.setText(f"{len(hits)} results for <b>“{question.text}”</b>{where} "
                                     f"<span style='color:#7d8590'>({ms:.0f} ms{names})</span>")
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
        about = describe_hit(self.results.hits[current.row()])
        self.now_playing.setText(f"{os.path.basename(path)}{dur}{about}")
        if self.search_bar.autoplay.isChecked() and not self._restoring:
            self.sync.play(path)

    def _seek(self, seconds: float) -> None:
        if self.current_path() and self.sync.auditioner.source != self.current_path():
            self.sync.play(self.current_path())
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
        self.settings_saver.close()
        self.player.stop()
        self.sync.close()
        self.tags.tagger.cancel()
        self.map.shutdown()
        self.bridge.closed = True  # results or a library still on their way must not start anything
        # The watcher and the indexing worker end before the library closes (off the UI thread).
        self.closing = close_in_background([self.tags.tagger.shutdown, self.live.stop, self.bridge.close])
        super().closeEvent(event)

