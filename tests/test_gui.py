"""The desktop app, driven through its widgets with pytest-qt (offscreen, tiny model)."""

from __future__ import annotations

import shutil
from concurrent.futures import Executor, Future

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from soundfinder import config  # noqa: E402
from soundfinder.gui.main_window import MainWindow  # noqa: E402
from soundfinder.gui.results_model import LMMS_MIME  # noqa: E402
from soundfinder.gui.threads import ImmediateExecutor  # noqa: E402
from soundfinder.query.request import Query  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")  # never the real user's settings

WAIT_MS = 30000


@pytest.fixture
def open_window(qtbot, tiny_model_dir, embedder):
    windows = []

    def make(library) -> MainWindow:
        w = MainWindow({"library": str(library), "model": str(tiny_model_dir), "device": "cpu"},
                       embedder=embedder)
        qtbot.addWidget(w)
        windows.append(w)
        w.show()
        qtbot.waitUntil(lambda: w.bridge.ready() and bool(w.stats), timeout=WAIT_MS)
        return w

    yield make
    for w in windows:
        w.close()


def _search(qtbot, window, text: str) -> None:
    qtbot.keyClicks(window.search_bar.edit, text)
    qtbot.waitUntil(lambda: window.question.text == text, timeout=WAIT_MS)


def test_typing_fills_table_in_core_order(qtbot, open_window, indexed_library, embedder):
    from soundfinder.query.search import search_text

    window = open_window(indexed_library)
    _search(qtbot, window, "deep kick")
    expected = [h.path for h in search_text(window.bridge.library, embedder, "deep kick", k=200)]
    assert window.results.paths() == expected
    assert len(expected) == 8
    assert "8 sounds" in window.counts_label.text()


class StepExecutor(Executor):
    """Queues tasks until the test runs them, on the test's thread (Picard's fake thread pool)."""

    def __init__(self):
        self.queue: list = []
        self.immediate = False

    def submit(self, fn, /, *args, **kwargs) -> Future:
        if self.immediate:
            return ImmediateExecutor().submit(fn, *args, **kwargs)
        fut: Future = Future()
        self.queue.append((fut, lambda: fn(*args, **kwargs)))
        return fut

    def run_next(self) -> None:
        fut, fn = self.queue.pop(0)
        fut.set_result(fn())

    def run_all(self) -> None:
        while self.queue:
            self.run_next()


@pytest.fixture
def stepped_bridge(qtbot, tiny_model_dir, embedder, indexed_library):
    """A CoreBridge on the indexed library whose queries run only when the test says so."""
    from soundfinder.gui.bridge import CoreBridge

    steps = StepExecutor()
    bridge = CoreBridge(executor=steps, model_executor=ImmediateExecutor(), preloaded=embedder)
    bridge.start(str(tiny_model_dir), "cpu", "auto", str(indexed_library))
    qtbot.waitUntil(lambda: steps.run_all() or bridge.ready(), timeout=WAIT_MS)
    steps.run_all()
    shown = []
    bridge.resultsReady.connect(lambda seq, q, hits: shown.append(q.text))
    yield bridge, steps, shown
    steps.immediate = True
    bridge.close()


def test_stale_query_never_overwrites_newer(qtbot, stepped_bridge, monkeypatch):
    """A query whose search was already running when a newer one was asked is dropped on arrival."""
    import soundfinder.query.search as search

    bridge, steps, shown = stepped_bridge
    real_search, searched = search.search_text, []

    def search_while_user_types(library, embedder, text, k, **kw):
        searched.append(text)
        if text == "ab":
            bridge.search("abc snare", 50)  # typed while "ab" was being searched
        return real_search(library, embedder, text, k, **kw)

    monkeypatch.setattr(search, "search_text", search_while_user_types)
    bridge.search("ab", 50)
    steps.run_next()  # "ab" is searched, and finishes after "abc snare" was asked
    steps.run_all()
    assert searched == ["ab", "abc snare"] and shown == ["abc snare"]


def test_queued_stale_queries_are_skipped_unsearched(qtbot, stepped_bridge, monkeypatch):
    import soundfinder.query.search as search

    bridge, steps, shown = stepped_bridge
    real_search, searched = search.search_text, []
    monkeypatch.setattr(search, "search_text", lambda lib, emb, text, k, **kw: (
        searched.append(text), real_search(lib, emb, text, k, **kw))[1])
    for text in ("a", "ab", "abc snare"):  # typed faster than the queries run
        bridge.search(text, 50)
    steps.run_all()
    assert searched == ["abc snare"] and shown == ["abc snare"]


def test_typed_similar_prefix_is_a_text_search(qtbot, open_window, indexed_library, embedder):
    """Only a dropped file or "Find similar" asks for sounds like a file; typed text stays text."""
    from soundfinder.query.search import search_text

    window = open_window(indexed_library)
    failures = []
    window.bridge.queryFailed.connect(lambda seq, msg: failures.append(msg))
    _search(qtbot, window, "similar:kick")
    assert window.question == Query(text="similar:kick")
    expected = [h.path for h in search_text(window.bridge.library, embedder, "similar:kick", k=200)]
    assert window.results.paths() == expected
    assert "results for" in window.query_label.text() and "Sounds like" not in window.query_label.text()
    shown = []
    window.bridge.resultsReady.connect(lambda seq, q, hits: shown.append(q))
    window.refresh_results()  # what a commit of the live library does: asks the same question again
    qtbot.waitUntil(lambda: bool(shown), timeout=WAIT_MS)
    assert shown == [Query(text="similar:kick")] and failures == []


def test_model_and_search_graph_warm_up_off_the_ui_thread(qtbot, tiny_model_dir, embedder, indexed_library,
                                                          monkeypatch):
    """The first query by sound must not pay for the text tower's or the graph's one-time start-up
    (names may answer before both are warm: bridge_start.py)."""
    import threading

    from soundfinder.library.vectorindex import VectorIndex

    calls = []
    warm_up, warm = type(embedder).warm_up, VectorIndex.warm
    monkeypatch.setattr(type(embedder), "warm_up",
                        lambda self, *a, **k: (calls.append(("model", threading.get_ident())), warm_up(self, *a, **k)))
    monkeypatch.setattr(VectorIndex, "warm", lambda self: (calls.append(("graph", threading.get_ident())), warm(self)))
    window = MainWindow({"library": str(indexed_library), "model": str(tiny_model_dir), "device": "cpu"},
                        embedder=embedder)
    qtbot.addWidget(window)
    window.search_bar.edit.setText("kick")
    seen = {}
    window.bridge.modelReady.connect(lambda _: seen.setdefault("model ready", list(calls)))
    window.bridge.resultsReady.connect(lambda *a: window.bridge.answered == "fused" and q_text(a) == "kick"
                                       and seen.setdefault("sound results", list(calls)))
    qtbot.waitUntil(lambda: "sound results" in seen, timeout=WAIT_MS)
    ui = threading.get_ident()
    assert [kind for kind, _ in seen["model ready"]] in (["model"], ["graph", "model"])
    assert sorted(kind for kind, _ in seen["sound results"]) == ["graph", "model"]
    assert all(thread != ui for _, thread in seen["sound results"])
    window.close()


def q_text(signal_args) -> str:
    return signal_args[1].text


def test_arrow_keys_select_and_play(qtbot, open_window, indexed_library):
    window = open_window(indexed_library)
    _search(qtbot, window, "hat")
    window.search_bar.autoplay.setChecked(True)
    qtbot.keyClick(window.search_bar.edit, Qt.Key.Key_Down)  # from the search box into the table
    assert window.view.currentIndex().row() == 0
    assert window.player.requests[-1] == window.results.hits[0].path
    qtbot.keyClick(window.view, Qt.Key.Key_Down)
    qtbot.keyClick(window.view, Qt.Key.Key_Down)
    assert window.view.currentIndex().row() == 2
    assert window.player.requests[-1] == window.results.hits[2].path
    qtbot.keyClick(window.view, Qt.Key.Key_Up)
    assert window.player.requests[-1] == window.results.hits[1].path
    qtbot.waitUntil(lambda: window.waveform.path == window.results.hits[1].path
                    and window.waveform.peaks is not None, timeout=WAIT_MS)


def test_drag_carries_selected_files(qtbot, open_window, indexed_library):
    window = open_window(indexed_library)
    _search(qtbot, window, "pad")
    view = window.view
    view.selectRow(0)
    view.selectionModel().select(window.results.index(2, 0), view.selectionModel().SelectionFlag.Select
                                 | view.selectionModel().SelectionFlag.Rows)
    mime = window.results.mimeData(view.selectionModel().selectedRows())
    paths = [window.results.hits[0].path, window.results.hits[2].path]
    assert [u.toLocalFile() for u in mime.urls()] == paths
    assert "text/uri-list" in mime.formats()
    assert bytes(mime.data(LMMS_MIME)).decode() == f"samplefile:{paths[0]}"
    assert window.results.supportedDragActions() == Qt.DropAction.CopyAction  # never Move


def test_dropped_file_searches_similar(qtbot, open_window, indexed_library, sample_folder, tmp_path):
    window = open_window(indexed_library)
    outside = tmp_path / "dropped" / "my_kick.wav"
    outside.parent.mkdir()
    shutil.copy(sample_folder / "Drums" / "Kick_808.wav", outside)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(outside))])
    event = QDropEvent(QPointF(50, 50), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    qtbot.waitUntil(lambda: window.question.like == str(outside), timeout=WAIT_MS)
    assert window.results.hits[0].path == str(sample_folder / "Drums" / "Kick_808.wav")
    assert event.dropAction() == Qt.DropAction.CopyAction
    assert outside.exists()


def test_adding_folder_indexes_in_background(qtbot, open_window, tmp_path, sample_folder):
    window = open_window(tmp_path / "new-library")
    assert window.stack.currentWidget() is window.empty  # a new user is told to add a folder
    progress, jobs = [], []
    window.live.progress.connect(progress.append)
    window.live.jobDone.connect(jobs.append)
    window.panel.addRequested.emit(str(sample_folder))
    qtbot.waitUntil(lambda: any(j.summary.new for j in jobs), timeout=WAIT_MS)
    assert any(p.phase == "embedding" for p in progress)
    assert jobs[-1].summary.new == 8 and jobs[-1].summary.failed == 1
    qtbot.waitUntil(lambda: window.results.rowCount() == 8, timeout=WAIT_MS)
    assert window.stack.currentWidget() is window.view
    qtbot.waitUntil(lambda: window.panel.all_folders() == [str(sample_folder)], timeout=WAIT_MS)
    assert str(sample_folder / "FX" / "broken.wav") in window.panel.error_paths()
    qtbot.waitUntil(lambda: not window.live.busy, timeout=WAIT_MS)
    assert "Watching 1 folder" in window.panel.watch_label.text()


def test_decoding_error_listed(qtbot, open_window, indexed_library, sample_folder):
    window = open_window(indexed_library)
    broken = str(sample_folder / "FX" / "broken.wav")
    qtbot.waitUntil(lambda: broken in window.panel.error_paths(), timeout=WAIT_MS)
    item = window.panel.errors.topLevelItem(0)
    assert item.text(0) == "broken.wav" and "not audio" in item.text(1)


def test_settings_persist_across_restart(qtbot, open_window, tmp_path, user_settings):
    first = open_window(tmp_path / "lib")
    first.search_bar.autoplay.setChecked(False)
    first.search_bar.volume.setValue(35)
    # The offscreen screen is 800x800; the window cannot be narrower than its bars need.
    want = (max(780, first.minimumSizeHint().width()), max(560, first.minimumSizeHint().height()))
    first.resize(*want)
    size = (first.width(), first.height())
    first.close()
    assert config.load_user_settings()["volume"] == 0.35
    second = open_window(tmp_path / "lib")
    assert not second.search_bar.autoplay.isChecked()
    assert second.search_bar.volume.value() == 35
    assert size == want
    # Restored (the default is 1320x820); Qt may round the restored frame by a pixel.
    assert abs(second.width() - want[0]) <= 2 and abs(second.height() - want[1]) <= 2, (second.size(), want)


def test_volume_drag_writes_settings_once_off_the_ui_thread(qtbot, open_window, tmp_path, monkeypatch):
    import threading

    window = open_window(tmp_path / "lib")
    window.settings_saver.flush(wait=True)  # what restoring the window queued
    writes, real_save = [], config.save_user_settings

    def counting_save(values):
        writes.append((threading.get_ident(), values.get("volume")))
        real_save(values)

    monkeypatch.setattr(config, "save_user_settings", counting_save)
    for value in range(20, 70):  # a drag: 50 ticks
        window.search_bar.volume.setValue(value)
    qtbot.waitUntil(lambda: config.load_user_settings().get("volume") == 0.69, timeout=WAIT_MS)
    assert 1 <= len(writes) <= 2 and writes[-1][1] == 0.69
    assert threading.get_ident() not in {t for t, _ in writes}  # never on the UI thread
    window.search_bar.volume.setValue(42)
    window.close()  # closing writes what is still pending
    assert config.load_user_settings()["volume"] == 0.42


def test_settings_dialog_saves_declared_options(qtbot, user_settings):
    from soundfinder.gui.settings_dialog import SettingsDialog

    dialog = SettingsDialog()
    qtbot.addWidget(dialog)
    assert set(dialog.editors) == {n for n, o in config.OPTIONS.items() if o.dialog}
    dialog.editors["results"].setValue(77)
    dialog.editors["device"].setCurrentText("cpu")
    dialog.save()
    assert config.get("results") == 77 and config.get("device") == "cpu"


def test_model_failure_offers_local_folder(qtbot, tmp_path):
    window = MainWindow({"library": str(tmp_path / "lib"), "model": str(tmp_path / "no-such-model"),
                         "device": "cpu"})
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(lambda: window.banner.choose.isVisible(), timeout=WAIT_MS)
    assert "model folder" in window.banner.label.text()
    window.close()
