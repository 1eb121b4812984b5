"""The project bar: the song's tempo (typed or tapped) and key, and the Sync toggle.

With Sync on, auditioned loops play at the project's tempo and in its key (see `audition.py`).
The bar only holds and reports the musician's choices; rendering happens elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QPushButton, QWidget

from soundfinder.render.fit import NOTE_NAMES

NO_KEY = "Any key"
KEYS = tuple(f"{n} {m}" for m in ("minor", "major") for n in NOTE_NAMES)
TAP_RESET_SECONDS = 2.0  # a pause this long starts a new tap sequence


@dataclass(frozen=True)
class Project:
    bpm: float = 120.0
    key: str | None = None
    sync: bool = False
    to_key: bool = False


class TapTempo:
    """Beats per minute from the last taps (mean interval of up to 8); a long pause starts over."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.taps: list[float] = []

    def tap(self) -> float | None:
        now = self.clock()
        if self.taps and now - self.taps[-1] > TAP_RESET_SECONDS:
            self.taps = []
        self.taps = (self.taps + [now])[-8:]
        if len(self.taps) < 2:
            return None
        interval = (self.taps[-1] - self.taps[0]) / (len(self.taps) - 1)
        return round(60.0 / interval, 1) if interval > 0 else None


class ProjectBar(QWidget):
    changed = Signal(object)  # Project

    def __init__(self, project: Project = Project(), parent=None):  # noqa: B008
        super().__init__(parent)
        self.setObjectName("projectBar")
        self.tapper = TapTempo()
        self.sync = QCheckBox("Sync")
        self.sync.setToolTip("Play loops at the project's tempo and in its key; drags deliver the fitted file")
        self.bpm = QDoubleSpinBox()
        self.bpm.setRange(20.0, 400.0)
        self.bpm.setDecimals(1)
        self.bpm.setSuffix(" BPM")
        self.bpm.setKeyboardTracking(False)
        self.tap = QPushButton("Tap")
        self.tap.setToolTip("Tap along to set the tempo")
        self.tap.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.key = QComboBox()
        self.key.addItems([NO_KEY, *KEYS])
        self.to_key = QCheckBox("One-shots to key")
        self.to_key.setToolTip("Also move pitched one-shots to the key's root (drums are never transposed)")
        self.hint = QLabel()
        self.hint.setObjectName("dim")
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 8, 2)
        row.addWidget(QLabel("Project"))
        for w in (self.bpm, self.tap, self.key, self.sync, self.to_key, self.hint):
            row.addWidget(w)
        row.addStretch(1)
        self.set_project(project)
        self.bpm.valueChanged.connect(self._emit)
        self.key.currentIndexChanged.connect(self._emit)
        self.sync.toggled.connect(self._emit)
        self.to_key.toggled.connect(self._emit)
        self.tap.clicked.connect(self._tapped)

    def project(self) -> Project:
        key = self.key.currentText()
        return Project(bpm=float(self.bpm.value()), key=None if key == NO_KEY else key,
                       sync=self.sync.isChecked(), to_key=self.to_key.isChecked())

    def set_project(self, project: Project) -> None:
        for w in (self.bpm, self.key, self.sync, self.to_key):
            w.blockSignals(True)
        self.bpm.setValue(project.bpm)
        self.key.setCurrentText(project.key if project.key in KEYS else NO_KEY)
        self.sync.setChecked(project.sync)
        self.to_key.setChecked(project.to_key)
        for w in (self.bpm, self.key, self.sync, self.to_key):
            w.blockSignals(False)

    def show_hint(self, text: str) -> None:
        self.hint.setText(text)

    def _tapped(self) -> None:
        bpm = self.tapper.tap()
        if bpm is not None and 20.0 <= bpm <= 400.0:
            self.bpm.setValue(bpm)

    def _emit(self, *_):
        self.changed.emit(self.project())
