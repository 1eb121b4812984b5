"""The results table: score bars, keyboard audition keys, and drags out to DAWs."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QPainter
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QTableView

from soundfinder.gui.results_model import DURATION, FOLDER, FORMAT, NAME, SCORE, TAGS, ScoreRole

ACCENT = QColor("#4fb3a9")


class ScoreDelegate(QStyledItemDelegate):
    """The match score as a bar: cosine scores of a query mostly span [0, 0.6], so the bar
    is scaled to the best score of the list to keep differences visible."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.top = 1.0

    def paint(self, painter: QPainter, option, index) -> None:
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        option.text = ""
        if style:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        score = index.data(ScoreRole)
        if score is None or math.isnan(score):
            return
        r = QRectF(option.rect).adjusted(6, option.rect.height() * 0.34, -40, -option.rect.height() * 0.34)
        frac = max(0.04, min(1.0, score / self.top)) if self.top > 0 else 0.0
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(255, 255, 255, 28))
        painter.drawRoundedRect(r, 3, 3)
        painter.setBrush(ACCENT)
        painter.drawRoundedRect(QRectF(r.left(), r.top(), r.width() * frac, r.height()), 3, 3)
        painter.setPen(option.palette.color(option.palette.ColorRole.Text))
        text_rect = QRectF(r.right() + 4, option.rect.top(), 34, option.rect.height())
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                         f"{score:.2f}")
        painter.restore()


class ResultsView(QTableView):
    """Keys: arrows move (and the window plays), Space plays/stops, Enter plays, Esc back to search."""

    playToggled = Signal()
    playRequested = Signal()
    backToSearch = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.score_delegate = ScoreDelegate(self)
        self.setItemDelegateForColumn(SCORE, self.score_delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setDragEnabled(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.setAlternatingRowColors(True)
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.verticalHeader().hide()
        self.verticalHeader().setDefaultSectionSize(26)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setSortingEnabled(False)  # enabled once a model is set, see setModel

    def setModel(self, model) -> None:
        super().setModel(model)
        header = self.horizontalHeader()
        header.setSortIndicator(SCORE, Qt.SortOrder.DescendingOrder)
        header.setSortIndicatorShown(True)
        header.setSectionsClickable(True)
        header.sortIndicatorChanged.connect(model.sort)
        header.setHighlightSections(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(NAME, QHeaderView.ResizeMode.Stretch)  # never a horizontal scrollbar
        header.setStretchLastSection(False)
        for col, width in ((SCORE, 130), (DURATION, 72), (FORMAT, 190), (TAGS, 140), (FOLDER, 170)):
            self.setColumnWidth(col, width)
        model.modelReset.connect(self._on_reset)

    def _on_reset(self) -> None:
        # New results arrive in ranking order: show that, not a stale sort of the old list.
        header = self.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(SCORE, Qt.SortOrder.DescendingOrder)
        header.blockSignals(False)
        scores = [h.score for h in self.model().hits if not math.isnan(h.score)]
        self.score_delegate.top = max(scores) if scores and max(scores) > 0 else 1.0

    def selected_paths(self) -> list[str]:
        from soundfinder.gui.results_model import PathRole

        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.model().index(r, 0).data(PathRole) for r in rows]

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key == Qt.Key.Key_Space:
            self.playToggled.emit()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.playRequested.emit()
        elif key == Qt.Key.Key_Escape:
            self.backToSearch.emit()
        elif key == Qt.Key.Key_Up and self.currentIndex().row() <= 0:
            self.backToSearch.emit()
        else:
            super().keyPressEvent(event)

    def startDrag(self, supported_actions) -> None:
        indexes = self.selectionModel().selectedRows()
        if not indexes:
            return
        drag = QDrag(self)
        drag.setMimeData(self.model().mimeData(indexes))
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)
