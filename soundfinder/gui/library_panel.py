"""The library panel: followed folders, indexing progress with cancel, and failed files."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

PHASES = {"scanning": "Scanning folders…", "hashing": "Checking for changes", "embedding": "Listening",
          "done": "Done"}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class LibraryPanel(QWidget):
    addRequested = Signal(str)  # folder
    removeRequested = Signal(str)
    rescanRequested = Signal(list)
    cancelRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("libraryPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)

        title = QLabel("Sample folders")
        title.setObjectName("panelTitle")
        layout.addWidget(title)
        self.folders = QListWidget()
        self.folders.setTextElideMode(Qt.TextElideMode.ElideLeft)
        layout.addWidget(self.folders, 2)

        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.setObjectName("primary")
        self.remove_button = QPushButton("Remove")
        self.rescan_button = QPushButton("Rescan")
        for b in (self.add_button, self.remove_button, self.rescan_button):
            buttons.addWidget(b)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self._choose_folder)
        self.remove_button.clicked.connect(self._remove)
        self.rescan_button.clicked.connect(self._rescan)
        self.folders.itemSelectionChanged.connect(self._update_buttons)

        self.progress_box = QWidget()
        box = QVBoxLayout(self.progress_box)
        box.setContentsMargins(0, 6, 0, 0)
        self.phase_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setTextVisible(True)
        self.detail_label = QLabel()
        self.detail_label.setObjectName("dim")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancelRequested)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        box.addWidget(self.phase_label)
        box.addLayout(row)
        box.addWidget(self.detail_label)
        layout.addWidget(self.progress_box)
        self.progress_box.hide()

        self.errors_title = QLabel("Problems")
        self.errors_title.setObjectName("panelTitle")
        layout.addWidget(self.errors_title)
        self.errors = QTreeWidget()
        self.errors.setHeaderLabels(["File", "Reason"])
        self.errors.setRootIsDecorated(False)
        self.errors.setColumnWidth(0, 120)
        self.errors.setTextElideMode(Qt.TextElideMode.ElideRight)
        layout.addWidget(self.errors, 1)
        self._error_paths: set[str] = set()
        self._show_errors()
        self._update_buttons()

    # -- folders -------------------------------------------------------------------------

    def set_folders(self, folders: list[str]) -> None:
        self.folders.clear()
        for f in folders:
            item = QListWidgetItem(os.path.basename(f.rstrip(os.sep)) or f)
            item.setToolTip(f)
            item.setData(Qt.ItemDataRole.UserRole, f)
            self.folders.addItem(item)
        self._update_buttons()

    def selected_folder(self) -> str | None:
        item = self.folders.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item and item.isSelected() else None

    def all_folders(self) -> list[str]:
        return [self.folders.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.folders.count())]

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a sample folder", os.path.expanduser("~"))
        if folder:
            self.addRequested.emit(folder)

    def _remove(self) -> None:
        if folder := self.selected_folder():
            self.removeRequested.emit(folder)

    def _rescan(self) -> None:
        folder = self.selected_folder()
        targets = [folder] if folder else self.all_folders()
        if targets:
            self.rescanRequested.emit(targets)

    def _update_buttons(self) -> None:
        self.remove_button.setEnabled(self.selected_folder() is not None)
        self.rescan_button.setEnabled(self.folders.count() > 0)

    # -- indexing ------------------------------------------------------------------------

    def show_progress(self, p) -> None:
        self.progress_box.show()
        self.phase_label.setText(PHASES.get(p.phase, p.phase))
        if p.phase == "scanning" or p.total == 0:
            self.progress.setRange(0, 0)  # busy indicator until the size of the job is known
        else:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done} / {p.total}")
        if p.phase == "embedding" and p.total:
            self.detail_label.setText(f"{p.rate:.1f} files/s · {format_eta(p.eta)} left")
        else:
            self.detail_label.setText(os.path.basename(p.current or ""))
        for path, reason in p.errors:
            self.add_error(path, reason)

    def finish(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.phase_label.setText(message)
        self.detail_label.setText("")
        self.cancel_button.hide()

    def start(self) -> None:
        self.cancel_button.show()
        self.progress_box.show()

    def add_error(self, path: str, reason: str) -> None:
        if path in self._error_paths:
            return
        self._error_paths.add(path)
        item = QTreeWidgetItem([os.path.basename(path), reason])
        item.setToolTip(0, path)
        item.setToolTip(1, reason)
        item.setData(0, Qt.ItemDataRole.UserRole, path)
        self.errors.addTopLevelItem(item)
        self._show_errors()

    def set_errors(self, failures: list[tuple[str, str]]) -> None:
        self.errors.clear()
        self._error_paths.clear()
        self._show_errors()
        for path, reason in failures:
            self.add_error(path, reason)

    def _show_errors(self) -> None:
        """The problems list only takes room when there is something in it."""
        n = len(self._error_paths)
        self.errors_title.setText(f"Problems ({n})")
        self.errors_title.setToolTip("Files that could not be read; they are skipped until they change")
        self.errors_title.setVisible(n > 0)
        self.errors.setVisible(n > 0)

    def error_paths(self) -> list[str]:
        return [self.errors.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole)
                for i in range(self.errors.topLevelItemCount())]
