"""The library panel: followed folders, live indexing (progress, pause, cancel), auto-tagging
progress, and failed files."""

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
          "done": "Saving"}
JOBS = {"reconcile": "Checking folders for changes", "changes": "Applying changes",
        "remove_folder": "Removing a folder"}


def format_eta(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 1:
        return "< 1 s"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"


class LibraryPanel(QWidget):
    addRequested = Signal(str)  # folder
    removeRequested = Signal(str)
    rescanRequested = Signal(list)
    cancelRequested = Signal()
    pauseRequested = Signal(bool)  # True: pause, False: resume
    cancelTaggingRequested = Signal()

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
        self.pause_button = QPushButton("Pause")
        self.pause_button.setToolTip("Hold indexing; what is indexed stays searchable")
        self.pause_button.clicked.connect(lambda: self.pauseRequested.emit(self.pause_button.text() == "Pause"))
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop indexing now; Rescan picks up the rest later")
        self.cancel_button.clicked.connect(self.cancelRequested)
        row = QHBoxLayout()
        row.addWidget(self.progress, 1)
        row.addWidget(self.pause_button)
        row.addWidget(self.cancel_button)
        box.addWidget(self.phase_label)
        box.addLayout(row)
        box.addWidget(self.detail_label)
        layout.addWidget(self.progress_box)
        self.watch_label = QLabel()
        self.watch_label.setObjectName("dim")
        self.watch_label.setWordWrap(True)
        layout.addWidget(self.watch_label)

        layout.addWidget(self._build_tag_box())

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
        self._watching = False
        self._show_errors()
        self._update_buttons()

    def _build_tag_box(self) -> QWidget:
        """The auto-tagging progress row (hidden until a tagging run starts)."""
        self.tag_box = QWidget()
        tbox = QVBoxLayout(self.tag_box)
        tbox.setContentsMargins(0, 6, 0, 0)
        self.tag_label = QLabel()
        self.tag_progress = QProgressBar()
        self.tag_progress.setRange(0, 1000)
        self.tag_cancel = QPushButton("Cancel")
        self.tag_cancel.clicked.connect(self.cancelTaggingRequested)
        trow = QHBoxLayout()
        trow.addWidget(self.tag_progress, 1)
        trow.addWidget(self.tag_cancel)
        tbox.addWidget(self.tag_label)
        tbox.addLayout(trow)
        self.tag_box.hide()
        return self.tag_box

    # -- folders -------------------------------------------------------------------------

    def set_folders(self, folders: list[str]) -> None:
        self.folders.clear()
        for f in folders:
            item = QListWidgetItem(os.path.basename(f.rstrip(os.sep)) or f)
            item.setToolTip(f)
            item.setData(Qt.ItemDataRole.UserRole, f)
            self.folders.addItem(item)
        self._update_buttons()
        if self.progress_box.isHidden() and self._watching:
            self.set_watching(True)

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
        """A `WorkerProgress` of the live library: working, paused or idle (watching)."""
        if p.state == "idle":
            self.progress_box.hide()
            self.set_watching(True)
            return
        self.watch_label.hide()
        self.progress_box.show()
        self.pause_button.setText("Resume" if p.state == "paused" else "Pause")
        queued = f" · {p.queued:,} queued" if p.queued else ""
        if p.state == "paused":
            self.phase_label.setText("Paused")
            self.detail_label.setText(f"Resume to go on{queued}")
            return
        self.phase_label.setText(PHASES[p.phase] if p.phase in ("embedding", "done")
                                 else JOBS.get(p.job or "", "Working…"))
        if p.phase == "scanning" or p.total == 0:
            self.progress.setRange(0, 0)  # busy indicator until the size of the job is known
            self.progress.setFormat("")
        else:
            self.progress.setRange(0, p.total)
            self.progress.setValue(p.done)
            self.progress.setFormat(f"{p.done:,} / {p.total:,}")
        if p.phase == "embedding" and p.total:
            self.detail_label.setText(f"{p.rate:.1f} files/s · {format_eta(p.eta)} left{queued}")
        else:
            self.detail_label.setText((os.path.basename(p.current or "") or "") + queued)

    def idle_text(self) -> str:
        n = self.folders.count()
        return f"Watching {n} folder{'s' if n != 1 else ''}: new, changed and deleted files are picked up " \
               f"as they happen." if n else ""

    def set_watching(self, watching: bool, reason: str = "") -> None:
        self._watching = watching
        self.watch_label.setText(self.idle_text() if watching else reason)
        self.watch_label.setVisible(bool(self.watch_label.text()))

    def show_tagging(self, p) -> None:
        """A `TagProgress` of auto-tagging."""
        self.tag_box.show()
        self.tag_cancel.setEnabled(True)
        where = f"({p.set_index + 1}/{p.sets})"
        self.tag_label.setText(f"Auto-tagging: {p.label_set} {where}" if p.total
                               else f"Preparing labels: {p.label_set} {where}")
        self.tag_progress.setValue(int(p.fraction * 1000))
        self.tag_progress.setFormat(f"{p.fraction:.0%}")

    def tagging_finished(self) -> None:
        self.tag_box.hide()

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
