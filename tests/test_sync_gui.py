"""Tempo/key sync in the app: the project bar, fitted audition (cached, off the UI thread), drags."""

from __future__ import annotations

import hashlib
from concurrent.futures import Future

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from soundfinder.gui.audition import Auditioner  # noqa: E402
from soundfinder.gui.project_bar import Project, ProjectBar, TapTempo  # noqa: E402
from soundfinder.render import RenderCache  # noqa: E402
from tests.test_render import click_loop  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")


class FakePlayer:
    def __init__(self):
        self.played: list[str] = []
        self.playing = False

    def play(self, path):
        self.played.append(path)
        self.playing = True

    def stop(self):
        self.playing = False


class ManualExecutor:
    """Runs submitted work only when the test says so: forces 'selection moved on' races."""

    def __init__(self):
        self.jobs = []

    def submit(self, fn):
        self.jobs.append(fn)
        f = Future()
        f.set_result(None)
        return f

    def run_all(self):
        jobs, self.jobs = self.jobs, []
        for fn in jobs:
            fn()

    def shutdown(self, **_):
        pass


@pytest.fixture
def loops(tmp_path):
    a, b = tmp_path / "Groove A.wav", tmp_path / "Groove B.wav"
    click_loop(a, bpm=120, bars=1)
    click_loop(b, bpm=100, bars=1)
    return str(a), str(b)


def make_auditioner(tmp_path, facts, executor=None):
    player = FakePlayer()
    aud = Auditioner(player, RenderCache(tmp_path / "renders"), facts, executor=executor)
    return aud, player


def test_sync_off_plays_the_original(qtbot, tmp_path, loops):
    aud, player = make_auditioner(tmp_path, lambda p: {"bpm": 120.0, "kind": "loop"})
    aud.set_project(Project(bpm=95, sync=False))
    aud.play(loops[0])
    assert player.played == [loops[0]]


def test_sync_plays_the_fitted_render_and_drags_it(qtbot, tmp_path, loops):
    ex = ManualExecutor()
    aud, player = make_auditioner(tmp_path, lambda p: {"bpm": 120.0, "kind": "loop"}, executor=ex)
    aud.set_project(Project(bpm=95.0, sync=True))
    before = hashlib.sha256(open(loops[0], "rb").read()).hexdigest()
    aud.play(loops[0])
    assert player.played == []  # nothing plays until the render is ready; the UI did not wait
    ex.run_all()
    qtbot.waitUntil(lambda: len(player.played) == 1)
    assert player.played[0].endswith("Groove A (95 BPM).wav")
    aud.play(loops[0])  # heard before: from the cache at once, no new job
    assert not ex.jobs and player.played[-1] == player.played[0]
    assert aud.drag_path(loops[0]) == player.played[0]
    assert aud.drag_path(loops[0], original=True) == loops[0]
    assert hashlib.sha256(open(loops[0], "rb").read()).hexdigest() == before


def test_a_stale_render_is_not_played(qtbot, tmp_path, loops):
    ex = ManualExecutor()
    aud, player = make_auditioner(tmp_path, lambda p: {"bpm": 120.0 if "A" in p else 100.0, "kind": "loop"},
                                  executor=ex)
    aud.set_project(Project(bpm=110.0, sync=True))
    aud.play(loops[0])
    aud.play(loops[1])  # the arrow key moved on before the first render finished
    ex.run_all()
    qtbot.waitUntil(lambda: len(player.played) >= 1)
    qtbot.wait(20)
    assert len(player.played) == 1 and "Groove B" in player.played[0]


def test_unknown_tempo_plays_unsynced_with_a_hint(qtbot, tmp_path, loops):
    aud, player = make_auditioner(tmp_path, lambda p: {"bpm": None, "kind": "loop"})
    hints = []
    aud.hint.connect(hints.append)
    aud.set_project(Project(bpm=124.0, sync=True))
    aud.play(loops[0])
    assert player.played == [loops[0]] and "tempo unknown" in hints[-1]


def test_render_failure_falls_back_to_the_original(qtbot, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_text("not audio")
    ex = ManualExecutor()
    aud, player = make_auditioner(tmp_path, lambda p: {"bpm": 120.0, "kind": "loop"}, executor=ex)
    problems = []
    aud.problem.connect(problems.append)
    aud.set_project(Project(bpm=100.0, sync=True))
    aud.play(str(broken))
    ex.run_all()
    qtbot.waitUntil(lambda: bool(player.played))
    assert player.played == [str(broken)] and "playing the original" in problems[0]


def test_tap_tempo():
    t = iter([0.0, 0.5, 1.0, 1.5, 10.0, 10.4])
    tap = TapTempo(clock=lambda: next(t))
    assert tap.tap() is None
    assert [tap.tap(), tap.tap(), tap.tap()] == [120.0, 120.0, 120.0]
    assert tap.tap() is None  # a long pause starts over
    assert tap.tap() == 150.0


def test_project_bar_reports_choices(qtbot):
    bar = ProjectBar(Project(bpm=120.0))
    qtbot.addWidget(bar)
    seen = []
    bar.changed.connect(seen.append)
    bar.key.setCurrentText("A minor")
    bar.sync.setChecked(True)
    bar.bpm.setValue(124.0)
    assert seen[-1] == Project(bpm=124.0, key="A minor", sync=True, to_key=False)


def test_window_remembers_the_project_and_syncs_audition(qtbot, tmp_path, tiny_model_dir, embedder,
                                                         monkeypatch):
    from soundfinder.gui import sync_controller
    from soundfinder.gui.main_window import MainWindow
    from soundfinder.indexing import index_paths
    from soundfinder.library import Library

    samples = tmp_path / "samples"
    samples.mkdir()
    click_loop(samples / "Groove.wav", bpm=120, bars=1)
    root = tmp_path / "library"
    with Library.open(root, space=embedder.space) as lib:
        index_paths(lib, embedder, [str(samples)])
    monkeypatch.setattr(sync_controller, "hit_facts", lambda h: {"bpm": 120.0, "kind": "loop"})

    def open_window():
        w = MainWindow({"library": str(root), "model": str(tiny_model_dir), "device": "cpu"}, embedder=embedder)
        qtbot.addWidget(w)
        w.show()
        qtbot.waitUntil(lambda: w.bridge.ready() and bool(w.stats), timeout=30000)
        return w

    w = open_window()
    w.sync.bar.bpm.setValue(96.0)
    w.sync.bar.sync.setChecked(True)
    qtbot.keyClicks(w.search_bar.edit, "groove")
    qtbot.waitUntil(lambda: w.results.rowCount() == 1, timeout=30000)
    w.search_bar.autoplay.setChecked(True)
    w.view.setFocus()
    w.view.selectRow(0)
    qtbot.waitUntil(lambda: any("(96 BPM)" in p for p in w.player.requests), timeout=30000)
    w.close()
    again = open_window()
    assert again.sync.bar.project() == Project(bpm=96.0, key=None, sync=True, to_key=False)
    again.close()


def test_link_follows_a_peer_tempo(qtbot):
    pytest.importorskip("aalink")
    from soundfinder.render.link import LinkTempo

    bar = ProjectBar(Project(bpm=120.0))
    qtbot.addWidget(bar)
    daw = LinkTempo(120.0)  # a second Link peer in this process stands in for the DAW
    daw.start()
    try:
        bar.link_box.setChecked(True)
        try:
            qtbot.waitUntil(lambda: bar.link.peers > 0, timeout=8000)
        except AssertionError:
            pytest.skip("Link peers cannot see each other here (no loopback multicast)")
        daw.tempo = 97.0
        qtbot.waitUntil(lambda: abs(bar.bpm.value() - 97.0) < 0.1, timeout=8000)
        assert "peer" in bar.hint.text()
    finally:
        bar.close_link()
        daw.stop()


def test_result_rows_give_their_analysis_to_the_auditioner():
    from soundfinder.gui.bridge import TaggedHit
    from soundfinder.gui.sync_controller import hit_facts
    from soundfinder.library import FileRecord
    from soundfinder.library.descriptors import DescriptorRow

    rec = FileRecord(1, "/s/a.wav", 1, 1, "a", 2.0, 44100, 2, "WAV", "PCM_16", "indexed", None, 0)
    hit = TaggedHit(0.5, rec, descriptors=DescriptorRow(bpm=124.0, key="A minor", kind="loop"))
    assert hit_facts(hit) == {"bpm": 124.0, "key": "A minor", "kind": "loop", "pitch": None}
    assert hit_facts(TaggedHit(0.5, rec)) == {"bpm": None, "key": None, "kind": None, "pitch": None}
