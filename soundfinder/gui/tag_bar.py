"""The row above the results: tag filter chips, the "Tags" menu and the auto-tag button."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QMenu, QSizePolicy, QToolButton, QWidget

MENU_TAGS = 40  # the "Tags" menu lists this many tags, most used first


class TagBar(QWidget):
    """Filters are AND-ed: a sound must carry every chip's tag. `filtersChanged` says which."""

    filtersChanged = Signal(list)  # the chosen tags, in the order they were added
    autoTagRequested = Signal()
    addLabelSetRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("tagBar")
        self.tags: list[str] = []
        self.counts: list = []  # [TagCount] from the library
        self._chips: dict[str, QToolButton] = {}
        h = QHBoxLayout(self)
        h.setContentsMargins(2, 6, 0, 0)
        h.setSpacing(6)
        self.menu_button = QToolButton()
        self.menu_button.setText("Tags ▾")
        self.menu_button.setObjectName("tagsMenu")
        self.menu_button.setToolTip("Filter the results by tag")
        self.menu_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.menu = QMenu(self.menu_button)
        self.menu.aboutToShow.connect(self._fill_menu)
        self.menu_button.setMenu(self.menu)
        h.addWidget(self.menu_button)
        self.chips = QHBoxLayout()
        self.chips.setSpacing(6)
        h.addLayout(self.chips)
        self.hint = QLabel("Click a tag in the results, or pick one from Tags, to filter")
        self.hint.setObjectName("dim")
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)  # never widens the window
        h.addWidget(self.hint)
        h.addStretch(1)
        self.auto_button = QToolButton()
        self.auto_button.setText("Auto-tag library")
        self.auto_button.setToolTip("Label every sound with the vocabularies (kick, pad, dark, loop…); "
                                    "your own tags are never changed")
        self.auto_button.clicked.connect(self.autoTagRequested)
        h.addWidget(self.auto_button)
        self._update()

    def set_counts(self, counts: list) -> None:
        self.counts = counts

    def add(self, tag: str) -> None:
        tag = " ".join(tag.split()).casefold()
        if not tag or tag in self.tags:
            return
        self.tags.append(tag)
        chip = QToolButton()
        chip.setObjectName("chip")
        chip.setText(f"{tag}  ✕")
        chip.setToolTip(f"Showing only sounds tagged “{tag}”; click to remove this filter")
        chip.clicked.connect(lambda: self.remove(tag))
        self._chips[tag] = chip
        self.chips.addWidget(chip)
        self._update()
        self.filtersChanged.emit(list(self.tags))

    def remove(self, tag: str) -> None:
        if tag not in self.tags:
            return
        self.tags.remove(tag)
        chip = self._chips.pop(tag)
        self.chips.removeWidget(chip)
        chip.deleteLater()
        self._update()
        self.filtersChanged.emit(list(self.tags))

    def clear(self) -> None:
        for tag in list(self.tags):
            self.remove(tag)

    def _update(self) -> None:
        self.hint.setVisible(not self.tags)

    def _fill_menu(self) -> None:
        self.menu.clear()
        shown = [c for c in self.counts if c.tag not in self.tags][:MENU_TAGS]
        if not shown:
            none = self.menu.addAction("No tags yet: run Auto-tag, or tag sounds yourself" if not self.counts
                                       else "Every tag is already a filter")
            none.setEnabled(False)
        for c in shown:
            mark = " ●" if c.user else ""  # the user set it on some files
            action = self.menu.addAction(f"{c.tag}  ({c.files:,}){mark}")
            action.triggered.connect(lambda _=False, t=c.tag: self.add(t))
        if self.tags:
            self.menu.addSeparator()
            self.menu.addAction("Clear tag filters", self.clear)
        self.menu.addSeparator()
        self.menu.addAction("Auto-tag library", self.autoTagRequested.emit)
        self.menu.addAction("Add label set…", self.addLabelSetRequested.emit)
