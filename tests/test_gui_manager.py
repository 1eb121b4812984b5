"""The browser side panel: folder chip narrows search, F stars, H hides, drop onto a collection."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from tests.test_gui import WAIT_MS, indexed_library, open_window  # noqa: E402,F401

pytestmark = pytest.mark.usefixtures("user_settings")


def _ready(qtbot, w):
    qtbot.waitUntil(lambda: w.live.live is not None and not w.live.busy, timeout=WAIT_MS)
    qtbot.waitUntil(lambda: w.manager.panel.folders.childCount() > 0, timeout=WAIT_MS)


def test_folder_chip_narrows_search_and_clears(qtbot, open_window, indexed_library, sample_folder):  # noqa: F811
    w = open_window(indexed_library)
    _ready(qtbot, w)
    drums = str(sample_folder / "Drums")
    w.manager.show_view("folder", drums)
    qtbot.waitUntil(lambda: w.results.rowCount() and all(p.startswith(drums) for p in w.results.paths()),
                    timeout=WAIT_MS)
    assert w.manager.chip.isVisible() and "Drums" in w.manager.chip.text()
    qtbot.keyClicks(w.search_bar.edit, "tone")
    qtbot.waitUntil(lambda: w.question == "tone", timeout=WAIT_MS)
    assert w.results.paths() and all(p.startswith(drums) for p in w.results.paths())
    w.manager.chip.click()
    qtbot.waitUntil(lambda: any(not p.startswith(drums) for p in w.results.paths()), timeout=WAIT_MS)
    assert not w.manager.chip.isVisible()


def test_f_stars_h_hides_and_drop_adds_to_collection(qtbot, open_window, indexed_library):  # noqa: F811
    from soundfinder.gui.results_model import mime_for_paths

    w = open_window(indexed_library)
    _ready(qtbot, w)
    qtbot.waitUntil(lambda: w.results.rowCount() > 2, timeout=WAIT_MS)
    w.view.setFocus()
    w.view.selectRow(0)
    first = w.current_path()
    qtbot.keyClick(w.view, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: w.results.data(w.results.index(w.results.row_of(first), 0)).startswith("★"),
                    timeout=WAIT_MS)
    w.manager.show_view("favourites", None)
    qtbot.waitUntil(lambda: w.results.paths() == [first], timeout=WAIT_MS)

    w.run_query("")
    qtbot.waitUntil(lambda: w.question == "" and w.results.rowCount() > 2, timeout=WAIT_MS)
    w.view.setFocus()
    w.view.selectRow(1)
    second = w.current_path()
    qtbot.keyClick(w.view, Qt.Key.Key_H)
    qtbot.waitUntil(lambda: second not in w.results.paths() and w.results.rowCount() > 0, timeout=WAIT_MS)

    with w.bridge.library.lock:
        w.bridge.library._library.collections.create("Kit")
    w.manager.refresh()
    qtbot.waitUntil(lambda: w.manager.panel.collections.childCount() == 1, timeout=WAIT_MS)
    w.manager.add_to_collection("Kit", mime_for_paths([first]).urls() and [first])
    qtbot.waitUntil(lambda: "1" in w.manager.panel.collections.child(0).text(0), timeout=WAIT_MS)
