"""The results table: score bars, keyboard audition keys, and drags out to DAWs."""

from __future__ import annotations

import math

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QColor, QDrag, QFontMetrics, QPainter
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QStyle, QStyledItemDelegate, QTableView

from soundfinder.gui.results_model import (
    BPM,
    DURATION,
    FOLDER,
    FORMAT,
    KEY,
    KIND,
    NAME,
    RATING,
    SCORE,
    TAGS,
    PathRole,
    ScoreRole,
    TagsRole,
    mime_for_paths,
)

ACCENT = QColor("#4fb3a9")
USER_TAG = QColor("#2f6f69")  # the user's tags: filled with the accent
AUTO_TAG = QColor("#4a545f")  # auto tags: outlined, quieter
PILL_PAD, PILL_GAP = 6, 4


def tag_pills(rect, tags: list[tuple[str, bool]], metrics: QFontMetrics) -> list[tuple[QRectF, str, bool]]:
    """Where each tag's pill goes in a cell (the painting and the click test share this)."""
    out = []
    x = rect.left() + 4
    h = min(rect.height() - 6, metrics.height() + 4)
    top = rect.top() + (rect.height() - h) / 2
    for tag, user in tags:
        w = metrics.horizontalAdvance(tag) + 2 * PILL_PAD
        if x + w > rect.right() - 2:
            break
        out.append((QRectF(x, top, w, h), tag, user))
        x += w + PILL_GAP
    return out


class TagsDelegate(QStyledItemDelegate):
    """Tags as pills: the user's filled, auto tags outlined; what does not fit is left out."""

    def paint(self, painter: QPainter, option, index) -> None:
        tags = index.data(TagsRole)
        if not tags:  # the plain (C++) paint of an empty cell is cheaper
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        option.text = ""
        style = option.widget.style() if option.widget else None
        if style:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        fill = USER_TAG.darker(160) if selected else USER_TAG  # still a pill on the selection's teal
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for r, tag, user in tag_pills(option.rect, tags, option.fontMetrics):
            painter.setPen(fill.lighter(130) if user else (QColor("#8fc9c3") if selected else AUTO_TAG))
            painter.setBrush(fill if user else Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(r.adjusted(0.5, 0.5, -0.5, -0.5), r.height() / 2, r.height() / 2)
            painter.setPen(QColor("#ffffff") if user else QColor("#b8c1ca"))
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, tag)
        painter.restore()


class TailDelegate(QStyledItemDelegate):
    """Elide on the left: "…/Kits/ElectricEmpireKit" says more than "Kits/Ele…Kit"."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideLeft


class ScoreDelegate(QStyledItemDelegate):
    """The match score as a bar: cosine scores of a query mostly span [0, 0.6], so the bar
    is scaled to the best score of the list to keep differences visible."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.top = 1.0

    def paint(self, painter: QPainter, option, index) -> None:
        score = index.data(ScoreRole)
        if score is None or math.isnan(score):  # browsing: no bar, and the plain (C++) paint is cheaper
            super().paint(painter, option, index)
            return
        self.initStyleOption(option, index)
        style = option.widget.style() if option.widget else None
        option.text = ""
        if style:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, option, painter, option.widget)
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
    tagClicked = Signal(str)
    dragStarted = Signal(list)  # paths dragged out (history of drags)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.score_delegate = ScoreDelegate(self)
        self.setItemDelegateForColumn(SCORE, self.score_delegate)
        self.tags_delegate = TagsDelegate(self)
        self.setItemDelegateForColumn(TAGS, self.tags_delegate)
        self.folder_delegate = TailDelegate(self)
        self.setItemDelegateForColumn(FOLDER, self.folder_delegate)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.drag_paths = None  # optional: paths -> the files a drag delivers (see SyncController)
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
        for i, col in enumerate((BPM, KEY, KIND)):  # musical columns right after Length
            header.moveSection(header.visualIndex(col), header.visualIndex(DURATION) + 1 + i)
        self._fit_columns()
        model.modelReset.connect(self._on_reset)

    # Preferred widths; on a narrow window Tags and Folder give way first so the sample's name
    # (what a musician reads) keeps at least NAME_MIN pixels.
    FIXED_WIDTHS = ((SCORE, 130), (DURATION, 72), (BPM, 64), (KEY, 84), (KIND, 76), (FORMAT, 170), (RATING, 84))
    FLEXIBLE_WIDTHS = ((TAGS, 200), (FOLDER, 190))
    NAME_MIN = 240

    def _fit_columns(self) -> None:
        room = self.viewport().width() - sum(w for _, w in self.FIXED_WIDTHS) - self.NAME_MIN
        scale = max(0.35, min(1.0, room / sum(w for _, w in self.FLEXIBLE_WIDTHS)))
        for col, width in self.FIXED_WIDTHS:
            self.setColumnWidth(col, width)
        for col, width in self.FLEXIBLE_WIDTHS:
            self.setColumnWidth(col, int(width * scale))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.model() is not None:
            self._fit_columns()

    def _on_reset(self) -> None:
        # New results arrive in ranking order: show that, not a stale sort of the old list.
        header = self.horizontalHeader()
        header.blockSignals(True)
        header.setSortIndicator(SCORE, Qt.SortOrder.DescendingOrder)
        header.blockSignals(False)
        scores = [h.score for h in self.model().hits if not math.isnan(h.score)]
        self.score_delegate.top = max(scores) if scores and max(scores) > 0 else 1.0

    def selected_paths(self) -> list[str]:
        rows = sorted({i.row() for i in self.selectionModel().selectedRows()})
        return [self.model().index(r, 0).data(PathRole) for r in rows]

    def tag_at(self, pos) -> str | None:
        """The tag pill under `pos` (viewport coordinates), if any."""
        index = self.indexAt(pos)
        if not index.isValid() or index.column() != TAGS:
            return None
        for r, tag, _ in tag_pills(self.visualRect(index), index.data(TagsRole) or [], self.fontMetrics()):
            if r.contains(pos.toPointF() if hasattr(pos, "toPointF") else pos):
                return tag
        return None

    def mouseReleaseEvent(self, event) -> None:
        super().mouseReleaseEvent(event)
        if event.button() == Qt.MouseButton.LeftButton and (tag := self.tag_at(event.position().toPoint())):
            self.tagClicked.emit(tag)

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
        mime = self.model().mimeData(indexes)
        if self.drag_paths is not None:  # e.g. fitted renders instead of the originals (Sync)
            mime = mime_for_paths(self.drag_paths([i.data(PathRole) for i in indexes]))
        drag.setMimeData(mime)
        self.dragStarted.emit([i.data(PathRole) for i in indexes])
        drag.exec(Qt.DropAction.CopyAction, Qt.DropAction.CopyAction)
