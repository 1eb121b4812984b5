"""The musical filter bar above the results: tempo range (with half/double time), key (with
compatible keys), loop or one-shot, and length. It only builds a `SoundFilter`; the window
re-asks its current question when the filter changes, so filters combine with text and tags.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSpinBox,
    QWidget,
)

from soundfinder.analysis.notation import MODES, NOTE_NAMES
from soundfinder.query.filters import SoundFilter

KEYS = [f"{n} {m}" for m in MODES for n in NOTE_NAMES]


class FilterBar(QWidget):
    changed = Signal(object)  # the new SoundFilter

    def __init__(self, parent=None):
        super().__init__(parent)
        h = QHBoxLayout(self)
        h.setContentsMargins(0, 0, 0, 0)
        h.setSpacing(6)
        self.bpm_lo, self.bpm_hi = QSpinBox(), QSpinBox()
        for box, tip in ((self.bpm_lo, "lowest tempo (0: any)"), (self.bpm_hi, "highest tempo (0: any)")):
            box.setRange(0, 300)
            box.setSpecialValueText("any")
            box.setToolTip(tip)
        self.octave = QCheckBox("½×/2×")
        self.octave.setToolTip("also half and double the tempo (half-time, double-time)")
        self.key = QComboBox()
        self.key.addItem("Any key", None)
        for k in KEYS:
            self.key.addItem(k, k)
        self.compatible = QCheckBox("compatible")
        self.compatible.setToolTip("also the relative key and its Camelot neighbours")
        self.kind = QComboBox()
        for label, value in (("Loops & one-shots", None), ("Loops", "loop"), ("One-shots", "one-shot")):
            self.kind.addItem(label, value)
        self.length = QDoubleSpinBox()
        self.length.setRange(0, 600)
        self.length.setDecimals(1)
        self.length.setSingleStep(0.5)
        self.length.setSpecialValueText("any")
        self.length.setSuffix(" s")
        self.length.setToolTip("longest length (0: any)")
        for w in (QLabel("BPM"), self.bpm_lo, QLabel("–"), self.bpm_hi, self.octave, self.key, self.compatible,
                  self.kind, QLabel("max length"), self.length):
            h.addWidget(w)
        h.addStretch(1)
        # Never widen the window: on a narrow one the bar's right end is cut instead.
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        for box in (self.bpm_lo, self.bpm_hi, self.length):
            box.valueChanged.connect(self._emit)
        for box in (self.octave, self.compatible):
            box.toggled.connect(self._emit)
        for box in (self.key, self.kind):
            box.currentIndexChanged.connect(self._emit)

    @property
    def filter(self) -> SoundFilter:
        lo, hi = self.bpm_lo.value(), self.bpm_hi.value()
        bpm = None
        if lo or hi:
            lo, hi = (lo or hi), (hi or lo)
            bpm = (float(min(lo, hi)), float(max(lo, hi)))
            if bpm[0] == bpm[1]:  # one number means ±2 %, as on the command line
                bpm = (bpm[0] * 0.98, bpm[1] * 1.02)
        key = self.key.currentData()
        length = (0.0, self.length.value()) if self.length.value() > 0 else None
        return SoundFilter(bpm=bpm, bpm_octave=self.octave.isChecked() and bpm is not None, key=key,
                           key_compatible=self.compatible.isChecked() and key is not None,
                           kind=self.kind.currentData(), length=length)

    def set_filter(self, flt: SoundFilter) -> None:
        """Show `flt` (emits `changed` once)."""
        widgets = (self.bpm_lo, self.bpm_hi, self.octave, self.key, self.compatible, self.kind, self.length)
        for w in widgets:
            w.blockSignals(True)
        self.bpm_lo.setValue(int(round(flt.bpm[0])) if flt.bpm else 0)
        self.bpm_hi.setValue(int(round(flt.bpm[1])) if flt.bpm else 0)
        self.octave.setChecked(flt.bpm_octave)
        self.key.setCurrentIndex(max(0, self.key.findData(flt.key)) if flt.key else 0)
        self.compatible.setChecked(flt.key_compatible)
        self.kind.setCurrentIndex(max(0, self.kind.findData(flt.kind)))
        self.length.setValue(flt.length[1] if flt.length and flt.length[1] != float("inf") else 0)
        for w in widgets:
            w.blockSignals(False)
        self._emit()

    def _emit(self, *_) -> None:
        self.changed.emit(self.filter)


def describe_hit(hit) -> str:
    """" · Loop · 124 BPM · A minor · -9.8 LUFS" for the waveform header ('' without values)."""
    d = getattr(hit, "descriptors", None)
    if d is None:
        return ""
    parts = [{"loop": "Loop", "one-shot": "One-shot"}.get(d.kind or ""), f"{d.bpm:g} BPM" if d.bpm else None,
             d.key, d.pitch, f"{d.lufs:.1f} LUFS" if d.lufs is not None else None,
             f"peak {d.peak_db:.1f} dBTP" if d.peak_db is not None else None]
    text = " · ".join(p for p in parts if p)
    return f" · {text}" if text else ""
