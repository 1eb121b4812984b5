"""Dialogs for tags: edit a sound's tags, add a label set (a user vocabulary)."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
)


def _describe(rec) -> str:
    if rec.source == "user":
        return f"{rec.tag}   — yours"
    score = f", {rec.score:.2f}" if rec.score is not None else ""
    return f"{rec.tag}   — auto ({rec.label_set or 'tagger'}{score})"


class EditTagsDialog(QDialog):
    """Add and remove tags of one or more sounds. After `exec`, `added` and `removed` say what
    to apply; removing an auto tag is remembered so auto-tagging does not bring it back."""

    def __init__(self, tags_by_path: dict, parent=None):
        super().__init__(parent)
        paths = list(tags_by_path)
        name = os.path.basename(paths[0]) if len(paths) == 1 else f"{len(paths)} sounds"
        self.setWindowTitle(f"Tags of {name}")
        self.setMinimumWidth(420)
        self.original: dict[str, object] = {}
        for records in tags_by_path.values():
            for rec in records:
                if rec.tag not in self.original or rec.source == "user":
                    self.original[rec.tag] = rec
        self.added: list[str] = []
        self.removed: list[str] = []

        layout = QVBoxLayout(self)
        note = QLabel("Your tags are kept whatever auto-tagging says. Removing an auto tag "
                      "tells auto-tagging not to add it again." + (" Changes apply to every selected sound."
                                                                  if len(paths) > 1 else ""))
        note.setWordWrap(True)
        note.setObjectName("dim")
        layout.addWidget(note)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        for rec in self.original.values():
            self._add_item(rec.tag, _describe(rec))
        layout.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("New tag (commas for several)")
        self.edit.returnPressed.connect(self._add_typed)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self._add_typed)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        row.addWidget(self.edit, 1)
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.edit.setFocus()

    def _add_item(self, tag: str, text: str) -> None:
        item = QListWidgetItem(text)
        item.setData(Qt.ItemDataRole.UserRole, tag)
        self.list.addItem(item)

    def current_tags(self) -> list[str]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def add_tags(self, text: str) -> None:
        have = set(self.current_tags())
        for raw in text.split(","):
            tag = " ".join(raw.split()).casefold()
            if tag and tag not in have:
                have.add(tag)
                self._add_item(tag, f"{tag}   — yours (new)")

    def remove_tags(self, tags: list[str]) -> None:
        for i in reversed(range(self.list.count())):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) in tags:
                self.list.takeItem(i)

    def _add_typed(self) -> None:
        self.add_tags(self.edit.text())
        self.edit.clear()

    def _remove_selected(self) -> None:
        self.remove_tags([i.data(Qt.ItemDataRole.UserRole) for i in self.list.selectedItems()])

    def accept(self) -> None:
        if self.edit.text().strip():
            self._add_typed()  # typed but not added yet: the user meant it
        now = set(self.current_tags())
        self.added = [t for t in self.current_tags() if t not in self.original]
        self.removed = [t for t in self.original if t not in now]
        super().accept()


class LabelSetDialog(QDialog):
    """A new vocabulary: name, single or multi choice, one label a line. `label_set()` builds it."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("Add label set")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. my drum machines")
        self.description = QLineEdit()
        self.description.setPlaceholderText("What the labels describe (optional)")
        self.mode = QComboBox()
        self.mode.addItem("Several labels can apply (multi-label)", "multi")
        self.mode.addItem("At most one label applies (single choice)", "single")
        self.labels = QPlainTextEdit()
        self.labels.setPlaceholderText("one label a line, e.g.\n808\n909\nlinndrum")
        self.tag_now = QCheckBox("Tag the library with it now")
        self.tag_now.setChecked(True)
        form.addRow("Name", self.name)
        form.addRow("Description", self.description)
        form.addRow("Labels apply", self.mode)
        form.addRow("Labels", self.labels)
        layout.addLayout(form)
        layout.addWidget(self.tag_now)
        self.error = QLabel()
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def label_set(self):
        """The label set as entered; raises LabelSetError with a readable message when invalid."""
        from soundfinder.query.vocabularies import LabelSet

        labels = list(dict.fromkeys(line.strip() for line in self.labels.toPlainText().splitlines()
                                    if line.strip()))
        return LabelSet.from_dict({"name": self.name.text().strip(), "description": self.description.text().strip(),
                                   "mode": self.mode.currentData(), "labels": [{"name": n} for n in labels]})

    def accept(self) -> None:
        from soundfinder.query.vocabularies import LabelSetError

        try:
            self.label_set()
        except LabelSetError as e:
            self.error.setText(str(e).replace("<label set>: ", ""))
            self.error.show()
            return
        super().accept()
