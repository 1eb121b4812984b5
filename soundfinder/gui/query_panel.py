"""The window's view of a query: parsed chips, why a result matched, steering and feedback.

* `QueryChips`: what the parser read from the search box ("128 bpm", "F minor", "not reverb")
  as chips; clicking one's × takes those words out of the query.
* `SteerPanel`: under a similar search, "more like" / "less like" text boxes and an amount
  slider move the search along a text direction (`query.steer`).
* `SearchExtras`: owns both, remembers thumbs up/down per query for the session (Rocchio
  feedback re-ranks the current search at once) and adds the context-menu actions
  ("More like these", thumbs). The main window calls it from a few lines.
* `why_tooltip`: the results model's tooltip for a fused hit.
"""

from __future__ import annotations

import html
import os

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QPushButton, QSlider, QWidget

STEER_DEBOUNCE_MS = 300


def why_tooltip(why: dict, path: str) -> str:
    """"Name matched: kick, 808 · sound 0.31" and the path, for a fused text-search hit."""
    name = ", ".join(why.get("name") or [])
    parts = [f"<b>Name matched:</b> {html.escape(name)}" if name else "<b>Name:</b> no query word in it",
             f"<b>Sound:</b> {why['sound']:.2f} (similarity to the words)" if "sound" in why
             else "<b>Sound:</b> not yet (the sound model is loading)"]
    return "<br>".join(parts) + f"<br><span style='color:#7d8590'>{html.escape(path)}</span>"


class QueryChips(QWidget):
    """Removable chips for the filters, negatives and phrases read from the query text."""

    queryEdited = Signal(str)  # the query text with a chip's words taken out

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("queryChips")
        self._layout = QHBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(6)
        self.parsed = None
        self.hide()

    def show_query(self, parsed) -> None:
        self.parsed = parsed
        while self._layout.count():
            item = self._layout.takeAt(0)
            if item.widget():
                item.widget().deleteLater()
        chips = parsed.chips() if parsed is not None else []
        for part in chips:
            button = QPushButton(f"{part.label}  ×")
            button.setObjectName("chip")
            button.setProperty("chipKind", part.kind)
            button.setToolTip(f"Read from “{part.source}” as {part.kind}; click to remove it from the query")
            button.clicked.connect(lambda _=False, p=part: self.queryEdited.emit(self.parsed.without(p)))
            self._layout.addWidget(button)
        for notice in parsed.notices if parsed is not None else ():
            label = QLabel(notice)
            label.setObjectName("dim")
            self._layout.addWidget(label)
        self._layout.addStretch(1)
        self.setVisible(bool(chips) or bool(parsed is not None and parsed.notices))

    def labels(self) -> list[str]:
        return [self._layout.itemAt(i).widget().text() for i in range(self._layout.count())
                if self._layout.itemAt(i).widget() is not None]


class SteerPanel(QWidget):
    """"Like this, but…": more/less text and an amount, shown under a similar search."""

    steerChanged = Signal(str, str, float)  # more, less, amount (0..1)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("steerPanel")
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(6)
        self.title = QLabel("Like this, but")
        h.addWidget(self.title)
        self.more = QLineEdit()
        self.more.setPlaceholderText("more… (darker, punchier)")
        self.less = QLineEdit()
        self.less.setPlaceholderText("less… (bright, reverb)")
        h.addWidget(self.more, 1)
        h.addWidget(self.less, 1)
        h.addWidget(QLabel("Amount"))
        self.amount = QSlider(Qt.Orientation.Horizontal)
        self.amount.setRange(0, 100)
        self.amount.setValue(50)
        self.amount.setFixedWidth(120)
        self.amount.setToolTip("How far to move from the sound toward the words (0: the sound itself)")
        h.addWidget(self.amount)
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(STEER_DEBOUNCE_MS)
        self.timer.timeout.connect(self._emit)
        for signal in (self.more.textChanged, self.less.textChanged, self.amount.valueChanged):
            signal.connect(lambda *_: self.timer.start())
        self.hide()

    def reset(self, paths: list[str]) -> None:
        names = ", ".join(os.path.basename(p) for p in paths[:3]) + ("…" if len(paths) > 3 else "")
        self.title.setText(f"Like <b>{html.escape(names)}</b>, but")
        for box in (self.more, self.less):
            box.blockSignals(True)
            box.clear()
            box.blockSignals(False)
        self.show()

    def _emit(self) -> None:
        self.steerChanged.emit(self.more.text().strip(), self.less.text().strip(), self.amount.value() / 100)


class SearchExtras:
    """Chips, steering and feedback for one main window (wired by a few lines there)."""

    def __init__(self, window):
        from soundfinder.query.ranking import Feedback

        self.window = window
        self.chips = QueryChips()
        self.steer = SteerPanel()
        self.feedback: dict[str, Feedback] = {}  # query text -> thumbs, for this session
        self.similar_paths: list[str] = []
        self.chips.queryEdited.connect(self._edit_query)
        self.steer.steerChanged.connect(self._steer)

    def install(self, layout, index: int) -> None:
        layout.insertWidget(index, self.chips)
        layout.insertWidget(index + 1, self.steer)

    # -- text queries --------------------------------------------------------------------

    def text_query(self, text: str):
        """A text search starts: show its chips, hide steering; returns its session feedback."""
        from soundfinder.query.parse import parse_query

        self.steer.hide()
        self.similar_paths = []
        self.chips.show_query(parse_query(text) if text else None)
        return self.feedback.get(text.strip())

    def _edit_query(self, text: str) -> None:
        self.window.search_bar.edit.setText(text)

    def thumb(self, paths: list[str], up: bool) -> None:
        """Thumbs up/down on results of the current text search: re-rank it now."""
        from soundfinder.query.ranking import Feedback

        text = self.window.search_bar.text().strip()
        if not text or self.similar_paths:
            return
        fb = self.feedback.get(text, Feedback())
        liked = [p for p in fb.liked if p not in paths] + (paths if up else [])
        disliked = [p for p in fb.disliked if p not in paths] + ([] if up else paths)
        self.feedback[text] = Feedback(tuple(liked), tuple(disliked))
        self.window.run_query(self.window.search_bar.text())

    # -- similar searches ----------------------------------------------------------------

    def similar(self, paths: list[str]) -> None:
        """Sounds like one file or several (their centroid); the steer panel appears."""
        if list(paths) == self.similar_paths and self.steer.isVisible():
            return  # a refresh of the same search keeps what was typed
        self.similar_paths = list(paths)
        self.chips.hide()
        self.steer.reset(self.similar_paths)
        if len(paths) > 1:
            self._steer("", "", 0.0)

    def _steer(self, more: str, less: str, amount: float) -> None:
        w = self.window
        if not self.similar_paths or not w.bridge.ready():
            return
        import time

        w._asked_at = time.monotonic()
        w.bridge.similar_steered(self.similar_paths, more, less, amount, int(w.setting("results")), w.tags.filters,
                                 w.filter_bar.filter)

    def add_menu_actions(self, menu, paths: list[str]) -> None:
        if len(paths) > 1:
            menu.addAction(f"Find sounds like these {len(paths)}", lambda: self.similar(paths))
        if self.window.search_bar.text().strip() and not self.similar_paths:
            menu.addAction("👍 More like this (re-rank)", lambda: self.thumb(paths, True))
            menu.addAction("👎 Less like this (re-rank)", lambda: self.thumb(paths, False))
