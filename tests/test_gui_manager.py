"""The browser side panel: folder chip narrows search, F stars, H hides, drop onto a collection."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests.test_gui import WAIT_MS, open_window  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("user_settings")


def _ready(qtbot, w):
    qtbot.waitUntil(lambda: w.live.live is not None and not w.live.busy, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.manager.panel.folders.childCount() > 0, timeout=WAIT_MS)


def _first_row_selected(qtbot, w):
    """The window once indexed and listed, its first row selected with the focus on the list."""
    _ready(qtbot, w)
    qtbot.waitUntil(lambda: w.results.rowCount() > 2, timeout=WAIT_MS)
    w.view.setFocus()
    w.view.selectRow(0)
    return w, w.current_path()


def test_folder_chip_narrows_search_and_clears(qtbot, open_window, indexed_library, sample_folder):  # noqa: F811
    w = open_window(indexed_library)
    _ready(qtbot, w)
    drums = str(sample_folder / "Drums")
    w.manager.show_view("folder", drums)
    qtbot.waitUntil(lambda: w.results.rowCount() and all(p.startswith(drums) for p in w.results.paths()),
                    timeout=WAIT_MS)
    assert w.manager.chip.isVisible() and "Drums" in w.manager.chip.text()
    qtbot.keyClicks(w.search_bar.edit, "tone")
    qtbot.waitUntil(lambda: w.question.text == "tone", timeout=WAIT_MS)
    assert w.results.paths() and all(p.startswith(drums) for p in w.results.paths())
    w.manager.chip.click()
    qtbot.waitUntil(lambda: any(not p.startswith(drums) for p in w.results.paths()), timeout=WAIT_MS)
    assert not w.manager.chip.isVisible()


def test_f_stars_h_hides_and_drop_adds_to_collection(qtbot, open_window, indexed_library):  # noqa: F811
    from soundfinder.gui.results_model import mime_for_paths

    w, first = _first_row_selected(qtbot, open_window(indexed_library))
    qtbot.keyClick(w.view, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: w.results.data(w.results.index(w.results.row_of(first), 0)).startswith("★"),
                    timeout=WAIT_MS)
    w.manager.show_view("favourites", None)
    qtbot.waitUntil(lambda: w.results.paths() == [first], timeout=WAIT_MS)

    w.run_query("")
    qtbot.waitUntil(lambda: w.question.kind == "browse" and w.results.rowCount() > 2, timeout=WAIT_MS)
    w.view.setFocus()
    w.view.selectRow(1)
    second = w.current_path()
    qtbot.keyClick(w.view, Qt.Key.Key_H)
    qtbot.waitUntil(lambda: second not in w.results.paths() and w.results.rowCount() > 0, timeout=WAIT_MS)

    with w.bridge.library.lock:
        w.bridge.library.collections.create("Kit")
    w.manager.refresh()
    qtbot.waitUntil(lambda: w.manager.panel.collections.childCount() == 1, timeout=WAIT_MS)
    row = w.results.row_of(first)
    w.view.setFocus()
    w.view.selectRow(row)
    qtbot.keyClick(w.view, Qt.Key.Key_C)  # key C: a menu of collections
    kit = next(a for a in w.manager.menu.actions() if a.text() == "Kit")
    kit.trigger()
    w.manager.menu.close()
    qtbot.waitUntil(lambda: "1" in w.manager.panel.collections.child(0).text(0), timeout=WAIT_MS)

    # rows dropped onto the collection in the panel
    from PySide6.QtCore import QPoint
    from PySide6.QtGui import QDropEvent

    tree = w.manager.panel.tree
    item = w.manager.panel.collections.child(0)
    pos = tree.visualItemRect(item).center()
    mime = mime_for_paths([second])
    event = QDropEvent(QPoint(pos).toPointF(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    tree.dropEvent(event)
    qtbot.waitUntil(lambda: "2" in w.manager.panel.collections.child(0).text(0), timeout=WAIT_MS)


def test_collapse_copies_and_smart_view_updates_live(qtbot, open_window, indexed_library, sample_folder):  # noqa: F811
    import shutil

    w = open_window(indexed_library)
    _ready(qtbot, w)
    kick = sample_folder / "Drums" / "Kick_808.wav"
    shutil.copy(kick, sample_folder / "Synth" / "kick copy.wav")  # byte-identical: one recording
    w.library_actions.rescan([str(sample_folder)])
    qtbot.waitUntil(lambda: any(p.endswith("kick copy.wav") for p in w.results.paths()), timeout=WAIT_MS)
    rows = w.results.rowCount()
    w.manager.collapse.setChecked(True)
    qtbot.waitUntil(lambda: w.results.rowCount() == rows - 1, timeout=WAIT_MS)
    names = [w.results.data(w.results.index(r, 0)) for r in range(w.results.rowCount())]
    assert any(n.endswith("×2") for n in names)
    w.manager.collapse.setChecked(False)
    qtbot.waitUntil(lambda: w.results.rowCount() == rows, timeout=WAIT_MS)

    from soundfinder.library.collections import SmartDefinition

    with w.bridge.library.lock:
        w.bridge.library.collections.create("Loud", SmartDefinition(tags=["loud"]))
    w.manager.show_view("smart", "Loud")
    qtbot.waitUntil(lambda: w.question.view == "smart" and w.results.rowCount() == 0, timeout=WAIT_MS)
    with w.bridge.library.lock:
        w.bridge.library.set_user_tags(str(kick), ["loud"])
    w.refresh_results()  # what a library change triggers
    qtbot.waitUntil(lambda: w.results.paths() == [str(kick)], timeout=WAIT_MS)


def test_keys_rate_and_history_shows_when(qtbot, open_window, indexed_library):  # noqa: F811
    """Keys 1-5 rate the selection (stars in the Rating column), 0 clears; the history views
    show when each sound was auditioned, in the Match column titled "When"."""
    import re

    from soundfinder.gui.results_model import RATING, SCORE

    w, first = _first_row_selected(qtbot, open_window(indexed_library))

    def stars():
        return w.results.data(w.results.index(w.results.row_of(first), RATING))

    qtbot.keyClick(w.view, Qt.Key.Key_4)
    qtbot.waitUntil(lambda: stars() == "★★★★☆", timeout=WAIT_MS)
    with w.bridge.library.lock:
        assert list(w.bridge.library.userdata.ratings().values()) == [4]
    qtbot.keyClick(w.view, Qt.Key.Key_0)
    qtbot.waitUntil(lambda: stars() == "", timeout=WAIT_MS)

    with w.bridge.library.lock:
        w.bridge.library.userdata.record("auditioned", first)
    w.manager.show_view("auditioned", None)
    qtbot.waitUntil(lambda: w.results.paths() == [first], timeout=WAIT_MS)
    assert w.results.headerData(SCORE, Qt.Orientation.Horizontal) == "When"
    assert re.fullmatch(r"\d\d:\d\d", w.results.data(w.results.index(0, SCORE)))


def test_when_reads_today_yesterday_or_the_date():
    import time

    from soundfinder.gui.results_model import format_when

    now = time.mktime((2026, 11, 30, 15, 0, 0, 0, 0, -1))
    assert format_when(now - 3600, now) == "14:00"
    assert format_when(now - 86400, now) == "yesterday 15:00"
    assert format_when(now - 3 * 86400, now) == "Fri 15:00"  # within the week: the day
    assert format_when(now - 40 * 86400, now) == "21 Oct"  # this year: the date, short enough for the column
    assert format_when(now - 400 * 86400, now) == "2025-10-26"
