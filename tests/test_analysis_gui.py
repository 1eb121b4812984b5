"""The musical columns of the results table and the filter bar (no main window needed)."""

from __future__ import annotations

from PySide6.QtCore import Qt

from soundfinder.gui.bridge import TaggedHit
from soundfinder.gui.filter_bar import FilterBar, describe_hit
from soundfinder.gui.results_model import BPM, HEADERS, KEY, KIND, ResultsModel
from soundfinder.library import FileRecord
from soundfinder.library.descriptors import DescriptorRow
from soundfinder.query.filters import SoundFilter


def _hit(name: str, score: float, desc: DescriptorRow | None) -> TaggedHit:
    rec = FileRecord(1, f"/s/{name}", 1, 1, name, 2.0, 44100, 2, "WAV", "PCM_16", "indexed", None, 0)
    return TaggedHit(score, rec, user_tags=frozenset(), descriptors=desc)


def test_bpm_key_and_type_columns_show_and_sort(qtbot):
    model = ResultsModel()
    hits = [_hit("a.wav", 0.9, DescriptorRow(bpm=128.0, key="A minor", kind="loop")),
            _hit("b.wav", 0.8, DescriptorRow(pitch="C2", kind="one-shot")),
            _hit("c.wav", 0.7, None),
            _hit("d.wav", 0.6, DescriptorRow(bpm=90.5, key="C major", kind="loop"))]
    model.set_hits(hits)
    assert (HEADERS[BPM], HEADERS[KEY], HEADERS[KIND]) == ("BPM", "Key", "Type")
    cell = lambda r, c: model.index(r, c).data(Qt.ItemDataRole.DisplayRole)  # noqa: E731
    assert [cell(r, BPM) for r in range(4)] == ["128", "", "", "90.5"]
    assert [cell(r, KEY) for r in range(4)] == ["A minor", "C2", "", "C major"]
    assert [cell(r, KIND) for r in range(4)] == ["Loop", "One-shot", "", "Loop"]
    model.sort(BPM, Qt.SortOrder.AscendingOrder)
    assert [h.path[-5:] for h in model.hits[:2]] == ["d.wav", "a.wav"]  # files without a tempo last
    assert " · 128 BPM · A minor" in describe_hit(hits[0])


def test_filter_bar_builds_the_filter(qtbot):
    bar = FilterBar()
    qtbot.addWidget(bar)
    seen = []
    bar.changed.connect(seen.append)
    assert not bar.filter.active
    bar.bpm_lo.setValue(118)
    bar.bpm_hi.setValue(122)
    bar.octave.setChecked(True)
    bar.key.setCurrentIndex(bar.key.findData("A minor"))
    bar.compatible.setChecked(True)
    bar.kind.setCurrentIndex(bar.kind.findData("loop"))
    bar.length.setValue(4.0)
    assert bar.filter == SoundFilter(bpm=(118.0, 122.0), bpm_octave=True, key="A minor", key_compatible=True,
                                     kind="loop", length=(0.0, 4.0))
    assert seen and seen[-1] == bar.filter
    bar.set_filter(SoundFilter())
    assert not bar.filter.active
