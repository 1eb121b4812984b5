"""The project bar: the song's tempo (typed or tapped) and key, and the Sync toggle.

With Sync on, auditioned loops play at the project's tempo and in its key (see `audition.py`).
The bar only holds and reports the musician's choices; rendering happens elsewhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from soundfinder.render.fit import NOTE_NAMES
from soundfinder.render.link import LinkTempo, LinkUnavailable

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
        # Never sets the window's minimum width: in a very narrow window the last toggles clip.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.tapper = TapTempo()
        self.sync = QCheckBox("Sync")
        self.sync.setToolTip("Play loops at the project's tempo and in its key; drags deliver the fitted file")
        self.bpm = QDoubleSpinBox()
        self.bpm.setRange(20.0, 400.0)
        self.bpm.setDecimals(1)
        self.bpm.setSuffix(" BPM")
        self.bpm.setToolTip("The project tempo loops are fitted to")
        self.bpm.setKeyboardTracking(False)
        self.tap = QPushButton("Tap")
        self.tap.setToolTip("Tap along to set the tempo")
        self.tap.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.key = QComboBox()
        self.key.addItems([NO_KEY, *KEYS])
        self.key.setToolTip("The project key loops are moved to")
        self.key.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.key.setMinimumContentsLength(8)
        self.to_key = QCheckBox("To key")
        self.to_key.setToolTip("Also move pitched one-shots to the key's root (drums are never transposed)")
        self.link_box = QCheckBox("Link")
        self.link_box.setToolTip("Follow the tempo of your DAW over Ableton Link")
        self.link = LinkTempo()
        self.link_timer = QTimer(self)
        self.link_timer.setInterval(250)
        self.link_timer.timeout.connect(self._poll_link)
        self.hint = QLabel()
        self.hint.setObjectName("dim")
        # The hint never widens the window: it takes what room is left and is clipped.
        self.hint.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 2, 8, 2)
        for w in (self.bpm, self.tap, self.link_box, self.key, self.sync, self.to_key):
            row.addWidget(w)
        row.addWidget(self.hint, 1)
        self.set_project(project)
        self.bpm.valueChanged.connect(self._emit)
        self.key.currentIndexChanged.connect(self._emit)
        self.sync.toggled.connect(self._emit)
        self.to_key.toggled.connect(self._emit)
        self.tap.clicked.connect(self._tapped)
        self.link_box.toggled.connect(self._link_toggled)

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

    def _link_toggled(self, on: bool) -> None:
        if not on:
            self.link_timer.stop()
            self.link.stop()
            self.show_hint("")
            return
        try:
            self.link.start()
        except LinkUnavailable as e:
            self.link_box.setChecked(False)
            self.show_hint(str(e))
            return
        self.link_timer.start()
        self._poll_link()

    def _poll_link(self) -> None:
        tempo = self.link.tempo
        if tempo is not None and abs(tempo - self.bpm.value()) >= 0.05:
            self.bpm.setValue(round(tempo, 1))
        peers = self.link.peers
        self.hint.setText(f"Link: {peers} peer{'s' if peers != 1 else ''}" if peers else "Link: waiting for a DAW")

    def close_link(self) -> None:
        self.link_timer.stop()
        self.link.stop()

    def _emit(self, *_):
        self.changed.emit(self.project())
