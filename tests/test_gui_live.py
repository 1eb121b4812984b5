"""The app following the disk (a real watchdog observer) and tags in the GUI (offscreen, tiny model)."""

from __future__ import annotations

import os
import shutil

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from soundfinder.gui.main_window import MainWindow  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")  # never the real user's settings

WAIT_MS = 30000
LIVE = {"debounce": 0.2, "folder_check": 0.5}  # settle quickly: tests wait for conditions, not times


@pytest.fixture
def live_window(qtbot, tmp_path, tiny_model_dir, embedder, sample_folder):
    """A window over a library indexed from `sample_folder`, watching it, settled."""
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    root = tmp_path / "library"
    with Library.open(root, space=embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
    w = MainWindow({"library": str(root), "model": str(tiny_model_dir), "device": "cpu"}, embedder=embedder,
                   live_options=LIVE)
    qtbot.addWidget(w)
    w.show()
    qtbot.waitUntil(lambda: w.live.live is not None and not w.live.busy and w.results.rowCount() == 8,
                    timeout=WAIT_MS)
    yield w
    w.close()


def names(window) -> list[str]:
    return sorted(os.path.basename(p) for p in window.results.paths())


def test_copied_file_appears_deleted_disappears(qtbot, live_window, sample_folder):
    w = live_window
    new = sample_folder / "Drums" / "Kick_copy.wav"
    shutil.copy(sample_folder / "Drums" / "Kick_808.wav", new)
    qtbot.waitUntil(lambda: "Kick_copy.wav" in names(w), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: "9 sounds" in w.counts_label.text(), timeout=WAIT_MS)
    (sample_folder / "Synth" / "Pad_Warm.wav").unlink()
    qtbot.waitUntil(lambda: "Pad_Warm.wav" not in names(w), timeout=WAIT_MS)
    assert len(names(w)) == 8


def test_pause_holds_new_files_until_resume_and_remove_folder(qtbot, live_window, sample_folder):
    w = live_window
    w.panel.pause_button.click()  # nothing runs yet: the next job holds at its start
    shutil.copy(sample_folder / "Drums" / "Kick_808.wav", sample_folder / "Drums" / "Kick_held.wav")
    qtbot.waitUntil(lambda: w.live.paused and w.panel.pause_button.text() == "Resume", timeout=WAIT_MS)
    assert "Kick_held.wav" not in names(w) and w.panel.phase_label.text() == "Paused"
    w.panel.pause_button.click()
    qtbot.waitUntil(lambda: "Kick_held.wav" in names(w), timeout=WAIT_MS)
    w.panel.removeRequested.emit(str(sample_folder))
    qtbot.waitUntil(lambda: w.results.rowCount() == 0 and w.panel.all_folders() == [], timeout=WAIT_MS)
    assert sample_folder.joinpath("Drums", "Kick_held.wav").exists()  # files on disk are never touched


def test_renamed_file_shows_new_name_and_keeps_selection(qtbot, live_window, sample_folder):
    w = live_window
    w.search_bar.edit.setText("snare")
    w.search_bar.submit()
    qtbot.waitUntil(lambda: w.question.text == "snare", timeout=WAIT_MS)
    old = str(sample_folder / "Drums" / "Snare_Dusty.flac")
    w.view.selectRow(w.results.row_of(old))
    new = sample_folder / "Drums" / "Snare_Renamed.flac"
    os.rename(old, new)
    qtbot.waitUntil(lambda: "Snare_Renamed.flac" in names(w), timeout=WAIT_MS)
    assert "Snare_Dusty.flac" not in names(w)
    assert w.current_path() == str(new)  # the selection followed the rename


def test_tag_chips_filter_and_combine_with_text(qtbot, live_window, sample_folder):
    w = live_window
    lib = w.bridge.library
    drums = [str(p) for p in sorted((sample_folder / "Drums").iterdir())]
    lib.set_user_tags(drums, ["drums"])
    lib.set_user_tags(drums[:1], ["favourite"])
    w.bridge.refresh_tags()
    w.tags.bar.add("drums")
    qtbot.waitUntil(lambda: sorted(w.results.paths()) == drums, timeout=WAIT_MS)
    assert "tagged" in w.query_label.text()
    w.search_bar.edit.setText("bright noise")
    w.search_bar.submit()
    qtbot.waitUntil(lambda: w.question.text == "bright noise" and len(w.results.paths()) == 3, timeout=WAIT_MS)
    w.tags.bar.add("Favourite")  # AND: both tags
    qtbot.waitUntil(lambda: w.results.paths() == drums[:1], timeout=WAIT_MS)
    assert [t for t, mine in w.results.tags_of(w.results.hits[0]) if mine] == ["drums", "favourite"]
    w.tags.bar.remove("drums")
    w.tags.bar.remove("favourite")
    qtbot.waitUntil(lambda: len(w.results.paths()) == 8, timeout=WAIT_MS)
    assert not w.tags.bar.hint.isHidden()


def test_clicking_a_tag_pill_adds_a_filter(qtbot, live_window, sample_folder):
    from soundfinder.gui.results_model import TAGS

    w = live_window
    kick = str(sample_folder / "Drums" / "Kick_808.wav")
    w.bridge.library.set_user_tags([kick], ["boom"])
    w.bridge.refresh_tags()
    w.refresh_results()
    qtbot.waitUntil(lambda: w.results.row_of(kick) >= 0
                    and bool(w.results.hits[w.results.row_of(kick)].record.tags), timeout=WAIT_MS)
    rect = w.view.visualRect(w.results.index(w.results.row_of(kick), TAGS))
    from PySide6.QtCore import QPoint, Qt

    qtbot.mouseClick(w.view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(rect.left() + 10, rect.center().y()))
    assert w.tags.filters == ["boom"]
    qtbot.waitUntil(lambda: w.results.paths() == [kick], timeout=WAIT_MS)


def test_editing_tags_persists(qtbot, live_window, sample_folder):
    w = live_window
    kick = str(sample_folder / "Drums" / "Kick_808.wav")
    w.bridge.library.replace_auto_tags("drums", "test-tagger", [(w.bridge.library.get(kick).id,
                                                                  [("kick", 0.9, 0.9)])])
    w.tags.edit_tags([kick])
    qtbot.waitUntil(lambda: w.tags.editor is not None and w.tags.editor.isVisible(), timeout=WAIT_MS)
    editor = w.tags.editor
    assert editor.current_tags() == ["kick"] and "auto" in editor.list.item(0).text()
    editor.add_tags("dusty, Vintage")
    editor.remove_tags(["kick"])
    editor.accept()
    qtbot.waitUntil(lambda: {t.tag for t in w.bridge.library.tags_of(kick)} == {"dusty", "vintage"},
                    timeout=WAIT_MS)
    assert {t.source for t in w.bridge.library.tags_of(kick)} == {"user"}
    rejected = [t for t in w.bridge.library.tags_of(kick, include_rejected=True) if t.source == "rejected"]
    assert [t.tag for t in rejected] == ["kick"]  # auto-tagging will not bring it back
    qtbot.waitUntil(lambda: {c.tag for c in w.tags.bar.counts} >= {"dusty", "vintage"}, timeout=WAIT_MS)


def test_auto_tag_runs_with_progress_and_tags_appear(qtbot, live_window):
    w = live_window
    progress = []
    w.tags.tagger.progress.connect(progress.append)
    with qtbot.waitSignal(w.tags.tagger.finished, timeout=WAIT_MS) as done:
        w.tags.bar.autoTagRequested.emit()
        assert not w.panel.tag_box.isHidden() and not w.tags.bar.auto_button.isEnabled()
    summary = done.args[0]
    assert not summary.cancelled and len(summary.sets) >= 6
    assert any(p.total for p in progress) and progress[-1].fraction == pytest.approx(1.0)
    assert w.panel.tag_box.isHidden() and w.tags.bar.auto_button.isEnabled()
    qtbot.waitUntil(lambda: any(h.record.tags for h in w.results.hits), timeout=WAIT_MS)
    qtbot.waitUntil(lambda: len(w.tags.bar.counts) > 0, timeout=WAIT_MS)
    assert "Auto-tagged 8 sounds" in w.statusBar().currentMessage()


def test_add_label_set_saves_and_tags(qtbot, live_window):
    w = live_window
    w.tags.add_label_set()
    dialog = w.tags.label_set_dialog
    dialog.accept()  # empty: refused with a message, stays open
    assert dialog.isVisible() and not dialog.error.isHidden()
    dialog.name.setText("machines")
    dialog.labels.setPlainText("808\n909\n\nlinndrum\n")
    with qtbot.waitSignal(w.tags.tagger.finished, timeout=WAIT_MS) as done:
        dialog.accept()
    assert [s.name for s in done.args[0].sets] == ["machines"]
    saved = w.bridge.library.root / "labelsets" / "machines.json"
    assert saved.is_file() and "linndrum" in saved.read_text()
