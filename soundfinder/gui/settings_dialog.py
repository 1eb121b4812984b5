"""Settings: one row per option declared in `soundfinder.config.OPTIONS`, saved by name."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from soundfinder import config

# Options whose values come from a fixed list (the core declares them as free strings).
FOLDER_OPTIONS = {"library": "Choose the library folder", "model": "Choose a local CLAP model folder"}
LABELS = {"results": "Results per search"}


class SettingsDialog(QDialog):
    def __init__(self, parent=None, user: dict | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(560)
        self.user = config.load_user_settings() if user is None else dict(user)
        self.editors: dict[str, QWidget] = {}
        layout = QVBoxLayout(self)
        form = QFormLayout()
        layout.addLayout(form)
        for name, opt in config.OPTIONS.items():
            if not opt.dialog:
                continue
            value = config.get(name, user=self.user)
            editor = self._editor(name, opt, value)
            editor.setToolTip(opt.description)
            form.addRow(LABELS.get(name, name.capitalize()), self._with_browse(name, editor))
            self.editors[name] = editor
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def _editor(self, name: str, opt, value) -> QWidget:
        if opt.choices:
            w = QComboBox()
            w.addItems(list(opt.choices))
            w.setCurrentText(str(value))
        elif isinstance(opt.default, bool):
            w = QCheckBox()
            w.setChecked(bool(value))
        elif isinstance(opt.default, float):
            w = QDoubleSpinBox()
            w.setRange(0.0, 1.0)
            w.setSingleStep(0.05)
            w.setValue(float(value))
        elif isinstance(opt.default, int):
            w = QSpinBox()
            w.setRange(1, 100000)
            w.setValue(int(value))
        else:
            w = QLineEdit("" if value is None else str(value))
        return w

    def _with_browse(self, name: str, editor: QWidget) -> QWidget:
        if name not in FOLDER_OPTIONS:
            return editor
        row = QWidget()
        h = QHBoxLayout(row)
        h.setContentsMargins(0, 0, 0, 0)
        h.addWidget(editor, 1)
        button = QPushButton("Browse…")
        button.clicked.connect(lambda: self._browse(name))
        h.addWidget(button)
        return row

    def _browse(self, name: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, FOLDER_OPTIONS[name], self.editors[name].text())
        if folder:
            self.editors[name].setText(folder)

    def values(self) -> dict:
        """What the dialog shows, as setting values."""
        out = {}
        for name, w in self.editors.items():
            if isinstance(w, QComboBox):
                out[name] = w.currentText()
            elif isinstance(w, QCheckBox):
                out[name] = w.isChecked()
            elif isinstance(w, QDoubleSpinBox | QSpinBox):
                out[name] = w.value()
            else:
                out[name] = w.text().strip() or None
        return out

    def save(self) -> dict:
        """Store the values that differ from what would be used anyway; returns all values."""
        values = self.values()
        user = dict(self.user)
        for name, value in values.items():
            if value != config.get(name, user={}) or name in user:
                user[name] = value
        config.save_user_settings(user)
        return values
