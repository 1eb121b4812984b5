"""The map view: empty state, search highlight, arrow-key walk, hover/click audition, the Map tab."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QPointF, Qt  # noqa: E402
from PySide6.QtGui import QColor  # noqa: E402

from soundfinder.gui.map_view import MapCanvas, inside_polygon, neighbour_in_direction  # noqa: E402
from soundfinder.query.mapdata import MapData  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")
WAIT_MS = 60000


def make_data(xy, names=("kick", "snare")) -> MapData:
    xy = np.asarray(xy, dtype=np.float32)
    n = len(xy)
    return MapData(np.arange(10, 10 + n), xy, np.zeros(n, bool), [f"/s/{i}.wav" for i in range(n)],
                   np.arange(n) % len(names), list(names))


@pytest.fixture
def canvas(qtbot):
    c = MapCanvas()
    qtbot.addWidget(c)
    c.resize(400, 300)
    c.show()
    return c


def test_fewer_than_three_sounds_show_the_empty_state(canvas):
    canvas.set_data(make_data([[0, 0], [1, 1]]), "The map needs at least 3 sounds")
    assert canvas.scene is None
    image = canvas.grab().toImage()  # paints the message, no crash
    assert image.width() == 400
    assert canvas.pick(200, 150) is None


def test_search_results_light_up_and_the_rest_dims(canvas):
    xy = [[-1, 0], [1, 0], [0, 1], [0, -1]]
    canvas.set_data(make_data(xy, names=("kick",)))
    canvas.highlight([11])  # vector id of row 1
    assert canvas.scene.lit.tolist() == [False, True, False, False]
    image = canvas.grab().toImage()
    lit_at, dim_at = canvas.screen_of(1), canvas.screen_of(0)
    lit = QColor(image.pixel(int(lit_at.x()), int(lit_at.y())))
    dim = QColor(image.pixel(int(dim_at.x()), int(dim_at.y())))
    assert lit.lightness() > dim.lightness() + 40
    canvas.highlight(None)
    assert canvas.scene.lit is None


def test_arrow_keys_walk_to_the_nearest_neighbour_in_that_direction(qtbot, canvas):
    # screen axes: y grows downwards, so "up" is negative y
    xy = [[0, 0], [1, 0.2], [3, 0], [0, -1], [-2, 0.1], [0.3, 2.5]]
    assert neighbour_in_direction(np.array(xy), 0, (1, 0)) == 1
    assert neighbour_in_direction(np.array(xy), 0, (0, -1)) == 3
    assert neighbour_in_direction(np.array(xy), 0, (-1, 0)) == 4
    assert neighbour_in_direction(np.array(xy), 0, (0, 1)) == 5
    assert neighbour_in_direction(np.array(xy), 2, (1, 0)) is None
    canvas.set_data(make_data(xy))
    canvas.activate(0)
    with qtbot.waitSignal(canvas.activated) as played:
        qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert canvas.scene.current == 1 and played.args == ["/s/1.wav"]
    qtbot.keyClick(canvas, Qt.Key.Key_Right)
    assert canvas.scene.current == 2


def test_hover_auditions_after_a_pause_and_click_plays(qtbot, canvas):
    canvas.set_data(make_data([[0, 0], [1, 0], [0, 1]]))
    pos = canvas.screen_of(1)
    with qtbot.waitSignal(canvas.auditionRequested, timeout=3000) as heard:
        qtbot.mouseMove(canvas, pos.toPoint())
    assert heard.args == ["/s/1.wav"]
    with qtbot.waitSignal(canvas.activated) as clicked:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=canvas.screen_of(2).toPoint())
    assert clicked.args == ["/s/2.wav"] and canvas.current_path == "/s/2.wav"


def test_lasso_selects_what_it_encloses(qtbot, canvas):
    square = np.array([[0, 0], [10, 0], [10, 10], [0, 10]], float)
    assert inside_polygon(np.array([[5, 5], [15, 5], [-1, 3]], float), square).tolist() == [True, False, False]
    canvas.set_data(make_data([[0, 0], [0.1, 0.1], [3, 3], [3, 2.9]]))
    a, b = canvas.screen_of(0), canvas.screen_of(1)
    canvas._lasso = [QPointF(a.x() - 10, a.y() - 10), QPointF(b.x() + 10, a.y() - 10),
                     QPointF(b.x() + 10, b.y() + 10), QPointF(a.x() - 10, b.y() + 10)]
    with qtbot.waitSignal(canvas.selectionChanged) as chosen:
        canvas._finish_lasso()
    assert chosen.args == [["/s/0.wav", "/s/1.wav"]]


@pytest.fixture
def indexed_library(tmp_path, embedder, sample_folder):
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    root = tmp_path / "library"
    with Library.open(root, space=embedder.space) as lib:
        index_paths(lib, embedder, [str(sample_folder)])
    return root


def test_map_tab_computes_shows_and_highlights_a_search(qtbot, tiny_model_dir, embedder, indexed_library):
    from soundfinder.gui.main_window import MainWindow

    w = MainWindow({"library": str(indexed_library), "model": str(tiny_model_dir), "device": "cpu"},
                   embedder=embedder)
    qtbot.addWidget(w)
    w.show()
    try:
        qtbot.waitUntil(lambda: w.bridge.ready() and bool(w.stats), timeout=WAIT_MS)
        w.map.tabs.setCurrentIndex(1)
        qtbot.waitUntil(lambda: w.map.panel.compute.isEnabled() and "no map" in w.map.panel.status.text(),
                        timeout=WAIT_MS)
        qtbot.mouseClick(w.map.panel.compute, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: w.map.canvas.scene is not None, timeout=WAIT_MS)
        assert len(w.map.canvas.scene.xy) == 8 and (indexed_library / "map.npz").exists()
        qtbot.keyClicks(w.search_bar.edit, "kick")
        qtbot.waitUntil(lambda: w.question.text == "kick", timeout=WAIT_MS)
        lit = w.map.canvas.scene.lit
        assert lit is not None and lit.sum() == len(w.results.hits)
        w.map.canvas.activate(0)
        assert w.player.requests[-1] == w.map.canvas.data.paths[0]
    finally:
        w.close()


def test_dragging_the_selection_out_carries_its_files(qtbot, canvas, monkeypatch):
    from PySide6.QtGui import QDrag

    carried = []
    monkeypatch.setattr(QDrag, "exec", lambda self, *a: carried.append(
        [u.toLocalFile() for u in self.mimeData().urls()]))
    canvas.set_data(make_data([[0, 0], [0.1, 0.1], [3, 3]]))
    canvas.scene.selected = {0, 1}
    canvas.start_drag(0)
    canvas.activate(2)
    canvas.start_drag(2)  # the current dot alone, outside the selection
    assert carried == [["/s/0.wav", "/s/1.wav"], ["/s/2.wav"]]
