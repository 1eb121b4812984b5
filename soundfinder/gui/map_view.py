"""The map view: every sound a dot; hover to hear, click to play, Shift+drag to lasso, drag out.

`MapCanvas` draws a `MapData` (query/mapdata.py) with `map_paint` and turns the mouse and the
keyboard into a few signals; what they do (play, select in the list, compute) is wired by
`map_actions.MapController`. Mouse: drag pans, the wheel zooms at the cursor, hovering a dot
auditions it after a short pause, a click selects and plays, Shift+drag draws a lasso, and
dragging the current or a selected dot carries it (or the selection) out (to a DAW or the
file manager). Keys: the arrows walk to the nearest sound in that direction, Enter plays,
Escape clears the selection.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtCore import QPointF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QPainter, QPen, QPolygonF
from PySide6.QtWidgets import QApplication, QMenu, QSizePolicy, QWidget

from soundfinder.gui.map_paint import Camera, MapScene, paint_map

HOVER_MS = 180  # pause on a dot before it plays: sweeping across the map stays quiet
PICK_PX = 9  # how close (screen pixels) the cursor must be to a dot to pick it
DIRECTIONS = {Qt.Key.Key_Left: (-1.0, 0.0), Qt.Key.Key_Right: (1.0, 0.0),
              Qt.Key.Key_Up: (0.0, -1.0), Qt.Key.Key_Down: (0.0, 1.0)}


def neighbour_in_direction(xy: np.ndarray, row: int, direction: tuple[float, float],
                           min_cos: float = 0.5) -> int | None:
    """The dot to walk to from `row` in `direction` (screen axes: y grows downwards): the nearest
    one within 60 degrees of it, closer alignment winning ties of distance."""
    d = xy - xy[row]
    dist = np.hypot(d[:, 0], d[:, 1])
    dist[row] = np.inf
    cos = (d @ np.asarray(direction, dtype=np.float64)) / np.maximum(dist, 1e-12)
    ok = (cos >= min_cos) & np.isfinite(dist)
    if not ok.any():
        return None
    score = np.where(ok, dist * (2.0 - cos), np.inf)
    return int(np.argmin(score))


def inside_polygon(points: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Which points lie inside a closed polygon (even-odd rule), for the lasso; vectorised."""
    x, y = points[:, 0], points[:, 1]
    inside = np.zeros(len(points), dtype=bool)
    px, py = polygon[:, 0], polygon[:, 1]
    for i in range(len(polygon)):
        x1, y1, x2, y2 = px[i - 1], py[i - 1], px[i], py[i]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < at)
    return inside


class MapCanvas(QWidget):
    auditionRequested = Signal(str)  # hovered long enough
    activated = Signal(str)  # clicked, or walked to with the arrows: select and play
    selectionChanged = Signal(list)  # paths chosen with the lasso

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(True)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(200, 150)
        self.data = None
        self.scene: MapScene | None = None
        self.camera = Camera()
        self.fit_scale = 1.0
        self.message = ""
        self._fitted = False
        self._press: QPointF | None = None
        self._press_row: int | None = None
        self._lasso: list[QPointF] | None = None
        self._hover_timer = QTimer(self, singleShot=True, interval=HOVER_MS)
        self._hover_timer.timeout.connect(self._hover_settled)
        # Set by #15 (collections): called with the selected paths from the context menu.
        self.add_to_collection: Callable[[list[str]], None] | None = None

    # -- data ----------------------------------------------------------------------------

    def set_data(self, data, message: str = "") -> None:
        """Show a `MapData` (None or < 3 sounds: the empty state with `message`). Keeps the
        camera, the current dot and the selection where the same sounds are still on the map."""
        old = self.scene
        self.data, self.message = data, message
        if data is None or len(data) < 3:
            self.scene = None
        else:
            self.scene = MapScene(data.xy, data.vector_ids, data.codes, data.names, labels=data.labels,
                                  placed=data.placed, stale_hint=data.hint)
            if old is not None:
                self._carry_over(old)
            if not self._fitted:
                self.fit()
        self.update()

    def _carry_over(self, old: MapScene) -> None:
        """Current dot and selection follow their sounds (vector ids) into new data."""
        at = {int(v): i for i, v in enumerate(self.scene.vector_ids)}
        if old.current is not None:
            self.scene.current = at.get(int(old.vector_ids[old.current]))
        self.scene.selected = {at[int(old.vector_ids[r])] for r in old.selected if int(old.vector_ids[r]) in at}

    def fit(self) -> None:
        if self.scene is not None:
            self.camera = Camera.fit(self.scene.xy, max(1, self.width()), max(1, self.height()))
            self.fit_scale = self.camera.scale
            self._fitted = True
            self.update()

    def highlight(self, vector_ids) -> None:
        """Light up these sounds (a search's results) and dim the rest; None lights everything."""
        if self.scene is None:
            return
        self.scene.lit = None if vector_ids is None else np.isin(
            self.scene.vector_ids, np.fromiter(vector_ids, dtype=np.int64))
        self.scene.pixels = None
        self.update()

    def path_of(self, row: int | None) -> str | None:
        if row is None or self.data is None or not (0 <= row < len(self.data.paths)):
            return None
        return self.data.paths[row] or None

    @property
    def current_path(self) -> str | None:
        return self.path_of(self.scene.current) if self.scene else None

    def selected_paths(self) -> list[str]:
        if self.scene is None:
            return []
        return [p for r in sorted(self.scene.selected) if (p := self.path_of(r))]

    def select_path(self, path: str | None) -> None:
        """Make the dot of `path` current (from the results list), without playing it."""
        if self.scene is None or path is None or path not in self.data.paths:
            return
        self.scene.current = self.data.paths.index(path)
        self.update()

    # -- geometry ------------------------------------------------------------------------

    def pick(self, x: float, y: float) -> int | None:
        """The dot under screen point (x, y), within PICK_PX, or None."""
        if self.scene is None:
            return None
        screen = self.camera.to_screen(self.scene.xy, self.width(), self.height())
        d2 = (screen[:, 0] - x) ** 2 + (screen[:, 1] - y) ** 2
        row = int(np.argmin(d2))
        return row if d2[row] <= PICK_PX ** 2 else None

    def screen_of(self, row: int) -> QPointF:
        (x, y), = self.camera.to_screen(self.scene.xy[[row]], self.width(), self.height())
        return QPointF(float(x), float(y))

    # -- painting ------------------------------------------------------------------------

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        paint_map(p, self.width(), self.height(), self.scene, self.camera, self.fit_scale,
                  message=self.message)
        if self._lasso and len(self._lasso) > 1:
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            p.setPen(QPen(QColor("#ffd166"), 1.5, Qt.PenStyle.DashLine))
            p.setBrush(QColor(255, 209, 102, 30))
            p.drawPolygon(QPolygonF(self._lasso))
        p.end()

    def resizeEvent(self, event) -> None:
        if not self._fitted or event.oldSize().width() <= 0:
            self.fit()
        super().resizeEvent(event)

    # -- mouse ---------------------------------------------------------------------------

    def mousePressEvent(self, event) -> None:
        self.setFocus()
        if event.button() != Qt.MouseButton.LeftButton or self.scene is None:
            return super().mousePressEvent(event)
        pos = event.position()
        self._press, self._press_row = pos, self.pick(pos.x(), pos.y())
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self._lasso = [pos]

    def mouseMoveEvent(self, event) -> None:
        pos = event.position()
        if self._press is None:
            self._hover(pos)
            return
        if self._lasso is not None:
            self._lasso.append(pos)
            self.update()
            return
        moved = (pos - self._press).manhattanLength()
        row = self._press_row
        if row is not None and (row in self.scene.selected or row == self.scene.current) and \
                moved >= QApplication.startDragDistance():
            self._press = None
            self.start_drag(row)
            return
        delta = pos - self._press
        self.camera.pan(delta.x(), delta.y())
        self._press = pos
        self._press_row = None
        self.update()

    def mouseReleaseEvent(self, event) -> None:
        if self._lasso is not None:
            self._finish_lasso()
        elif self._press is not None and self._press_row is not None:
            self.activate(self._press_row)
        self._press = self._press_row = self._lasso = None
        self.update()

    def wheelEvent(self, event) -> None:
        if self.scene is None:
            return
        pos = event.position()
        self.camera.zoom(1.0015 ** event.angleDelta().y(), pos.x(), pos.y(), self.width(), self.height())
        self.update()

    def _hover(self, pos: QPointF) -> None:
        row = self.pick(pos.x(), pos.y())
        if self.scene is not None and row != self.scene.hover:
            self.scene.hover = row
            self.setToolTip(self._tip(row))
            if row is None:
                self._hover_timer.stop()
            else:
                self._hover_timer.start()
            self.update()

    def _tip(self, row: int | None) -> str:
        path = self.path_of(row)
        if path is None:
            return ""
        import os

        name = self.data.names[int(self.data.codes[row])]
        return f"{os.path.basename(path)} · {name}"

    def _hover_settled(self) -> None:
        path = self.path_of(self.scene.hover) if self.scene else None
        if path:
            self.auditionRequested.emit(path)

    def leaveEvent(self, event) -> None:
        self._hover_timer.stop()
        if self.scene is not None and self.scene.hover is not None:
            self.scene.hover = None
            self.update()

    def _finish_lasso(self) -> None:
        if len(self._lasso) < 3:
            return
        poly = np.array([[p.x(), p.y()] for p in self._lasso], dtype=np.float64)
        screen = self.camera.to_screen(self.scene.xy, self.width(), self.height()).astype(np.float64)
        rows = np.flatnonzero(inside_polygon(screen, poly))
        self.scene.selected = {int(r) for r in rows}
        self.selectionChanged.emit(self.selected_paths())

    def activate(self, row: int) -> None:
        """Make `row` the current dot and ask for it to play."""
        self.scene.current = row
        if row not in self.scene.selected:
            self.scene.selected = set()
        self.update()
        if path := self.path_of(row):
            self.activated.emit(path)

    def start_drag(self, row: int | None = None) -> None:
        """Drag the selection out (copies, like the results list), or the dot `row` alone when
        it is not part of the selection."""
        from soundfinder.gui.results_model import mime_for_paths

        paths = self.selected_paths() if row is None or row in self.scene.selected else \
            [p for p in [self.path_of(row)] if p]
        if not paths:
            return
        drag = QDrag(self)
        drag.setMimeData(mime_for_paths(paths))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)

    def contextMenuEvent(self, event) -> None:
        paths = self.selected_paths() or ([self.current_path] if self.current_path else [])
        if not paths:
            return
        menu = QMenu(self)
        add = menu.addAction(f"Add {len(paths)} sound(s) to a collection…")
        add.setEnabled(self.add_to_collection is not None)
        add.triggered.connect(lambda: self.add_to_collection(paths))
        menu.addAction("Clear selection", self.clear_selection)
        menu.exec(event.globalPos())

    def clear_selection(self) -> None:
        if self.scene is not None:
            self.scene.selected = set()
            self.update()

    # -- keys ----------------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if self.scene is None:
            return super().keyPressEvent(event)
        if key in DIRECTIONS:
            self.walk(DIRECTIONS[key])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space) and self.scene.current is not None:
            self.activate(self.scene.current)
        elif key == Qt.Key.Key_Escape:
            self.clear_selection()
        else:
            super().keyPressEvent(event)

    def walk(self, direction: tuple[float, float]) -> None:
        """Arrow keys: step to the nearest sound in that direction and play it."""
        s = self.scene
        if s.current is None:  # start from the dot nearest the middle of the view
            row = self.pick_nearest(self.width() / 2, self.height() / 2)
        else:
            row = neighbour_in_direction(s.xy.astype(np.float64), s.current, direction)
        if row is None:
            return
        self.activate(row)
        pos = self.screen_of(row)
        if not self.rect().adjusted(20, 20, -20, -20).contains(pos.toPoint()):
            self.camera.pan(self.width() / 2 - pos.x(), self.height() / 2 - pos.y())  # keep it in view

    def pick_nearest(self, x: float, y: float) -> int | None:
        if self.scene is None:
            return None
        screen = self.camera.to_screen(self.scene.xy, self.width(), self.height())
        return int(np.argmin((screen[:, 0] - x) ** 2 + (screen[:, 1] - y) ** 2))
