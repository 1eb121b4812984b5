"""The window's query pieces: parsed chips, why-matched tooltips, the steer panel."""

from __future__ import annotations

from PySide6.QtCore import Qt

from soundfinder.gui.query_panel import QueryChips, SteerPanel
from soundfinder.gui.results_model import NAME, TAGS, ResultsModel
from soundfinder.library import FileRecord
from soundfinder.query.parse import parse_query
from soundfinder.query.search import Hit


def test_chips_show_parsed_parts_and_remove_their_words(qtbot):
    chips = QueryChips()
    qtbot.addWidget(chips)
    chips.show_query(parse_query("128 bpm dark kick in F minor -reverb"))
    assert chips.labels() == ["not reverb  ×", "128 bpm  ×", "F minor  ×"]
    with qtbot.waitSignal(chips.queryEdited) as edited:
        chips._layout.itemAt(1).widget().click()
    assert edited.args == ["dark kick in F minor -reverb"]
    chips.show_query(parse_query("plain words"))
    assert chips.isHidden()


def test_results_tooltip_says_why_a_hit_matched(qtbot):
    rec = FileRecord(1, "/s/Drums/Kick_808.wav", 1, 1, "h", 1.0, 48000, 1, "WAV", "PCM_16", "indexed", None, 0)
    model = ResultsModel()
    model.set_hits([Hit(1.2, rec, {"name": ["kick", "808"], "sound": 0.31})])
    tip = model.data(model.index(0, NAME), Qt.ItemDataRole.ToolTipRole)
    assert "kick, 808" in tip and "0.31" in tip
    model.set_hits([Hit(0.9, rec)])  # a similar search: no explanation, the path as before
    assert model.data(model.index(0, NAME), Qt.ItemDataRole.ToolTipRole) == rec.path
    assert model.data(model.index(0, TAGS), Qt.ItemDataRole.ToolTipRole) == rec.path


def test_steer_panel_emits_direction_and_amount(qtbot):
    panel = SteerPanel()
    qtbot.addWidget(panel)
    panel.reset(["/s/a.wav", "/s/b.wav"])
    assert "a.wav, b.wav" in panel.title.text()
    with qtbot.waitSignal(panel.steerChanged, timeout=3000) as got:
        panel.more.setText("dark")
        panel.amount.setValue(80)
    assert got.args == ["dark", "", 0.8]


def test_thumbs_are_remembered_per_query_and_rerun_it(qtbot):
    from types import SimpleNamespace

    from soundfinder.gui.query_panel import SearchExtras

    ran = []
    window = SimpleNamespace(search_bar=SimpleNamespace(text=lambda: "kick"), run_query=ran.append)
    extras = SearchExtras(window)
    qtbot.addWidget(extras.chips)
    qtbot.addWidget(extras.steer)
    assert extras.text_query("kick") is None
    extras.thumb(["/s/a.wav"], up=True)
    extras.thumb(["/s/b.wav"], up=False)
    extras.thumb(["/s/a.wav"], up=False)  # changed its mind
    assert ran == ["kick"] * 3
    fb = extras.text_query("kick")
    assert fb.liked == () and fb.disliked == ("/s/b.wav", "/s/a.wav")
    assert extras.text_query("snare") is None
