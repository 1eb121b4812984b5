"""The export dialog: destination, flat or with sub-folders, conversion, normalisation; progress
and cancel while `soundfinder.export.export_files` copies on a background thread."""

from __future__ import annotations

import os
import threading

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from soundfinder.gui.threads import run_task, serial_executor

FORMATS = (("Keep as is (copy)", None), ("WAV 16-bit", "wav16"), ("WAV 24-bit", "wav24"))
RATES = (("Keep", None), ("44.1 kHz", 44100), ("48 kHz", 48000))
NORMALIZE = (("Off", None), ("Peak (-1 dBFS)", "peak"), ("-14 LUFS", "-14LUFS"), ("-18 LUFS", "-18LUFS"))


class _Progress(QObject):
    step = Signal(int, int, str)


class ExportDialog(QDialog):
    def __init__(self, paths: list[str], roots: list[str], parent=None, title: str | None = None):
        super().__init__(parent)
        self.paths, self.roots = paths, roots
        self.cancel = threading.Event()
        self.running = False
        self.result_ = None
        self.setWindowTitle(f"Export “{title}”" if title else "Export sounds")
        self.dest = QLineEdit(os.path.expanduser("~/soundfinder export"))
        browse = QPushButton("Choose…")
        browse.clicked.connect(self._choose)
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(self.dest, 1)
        h.addWidget(browse)
        self.keep = QCheckBox("Keep sub-folders")
        self.format, self.rate, self.normalize = (self._combo(c) for c in (FORMATS, RATES, NORMALIZE))
        form = QFormLayout()
        form.addRow("To folder", row)
        form.addRow("", self.keep)
        form.addRow("Format", self.format)
        form.addRow("Sample rate", self.rate)
        form.addRow("Normalise", self.normalize)
        self.progress = QProgressBar()
        self.progress.setRange(0, max(len(paths), 1))
        self.status = QLabel(f"{len(paths)} sound(s); the originals are never changed")
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.go = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.go.clicked.connect(self.start)
        self.buttons.rejected.connect(self._cancel)
        v = QVBoxLayout(self)
        v.addLayout(form)
        v.addWidget(self.progress)
        v.addWidget(self.status)
        v.addWidget(self.buttons)
        self._signals = _Progress()
        self._signals.step.connect(self._step)
        self.resize(560, 0)

    @staticmethod
    def _combo(choices) -> QComboBox:
        box = QComboBox()
        for text, value in choices:
            box.addItem(text, value)
        return box

    def _choose(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export to", self.dest.text())
        if folder:
            self.dest.setText(folder)

    def start(self) -> None:
        from soundfinder.export import ConvertOptions, ExportOptions, export_files, inside_folders

        to = self.dest.text().strip()
        if not to:
            return
        inside = inside_folders(to, self.roots)
        if inside and QMessageBox.question(
                self, "Export into the library?", f"{to} is inside the library folder {inside}: the copies "
                "would be indexed as new sounds. Export there anyway?") != QMessageBox.StandardButton.Yes:
            return
        options = ExportOptions(keep_folders=self.keep.isChecked(), convert=ConvertOptions(
            format=self.format.currentData(), rate=self.rate.currentData(), normalize=self.normalize.currentData()))
        self.running = True
        self.go.setEnabled(False)
        emit = self._signals.step.emit
        run_task(lambda: export_files(self.paths, to, options, roots=self.roots, progress=emit, cancel=self.cancel),
                 self._finished, serial_executor("export"))

    def _step(self, done: int, total: int, current: str) -> None:
        self.progress.setValue(done)
        if current:
            self.status.setText(f"{done}/{total} · {os.path.basename(current)}")

    def _finished(self, result=None, error=None) -> None:
        self.running = False
        self.result_ = result
        if error is not None:
            self.status.setText(f"Export stopped: {error}")
            self.go.setEnabled(True)
            return
        failed = sum(i.status == "failed" for i in result.items)
        word = "Cancelled" if result.cancelled else "Done"
        self.status.setText(f"{word}: {result.done} exported to {result.folder}" +
                            (f", {failed} failed (see manifest.csv)" if failed else ""))
        self.buttons.clear()
        self.buttons.addButton(QDialogButtonBox.StandardButton.Close).clicked.connect(self.accept)

    def _cancel(self) -> None:
        if self.running:
            self.cancel.set()
            self.status.setText("Cancelling after the current file…")
        else:
            self.reject()
