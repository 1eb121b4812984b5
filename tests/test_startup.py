"""Start-up: the window answers from names before the model has loaded, then upgrades to sound.

The model load (imports of torch and transformers: seconds on a laptop) must not stand between
launching the app and the first results; the window, the library and a names search need none
of it.
"""

from __future__ import annotations

import subprocess
import threading

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from soundfinder.gui.main_window import MainWindow  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")

WAIT_MS = 30000


def test_main_window_imports_no_model_code(python_exe):
    """What the window needs to show and search names must not pull torch or transformers in."""
    code = ("import sys; import soundfinder.gui.app, soundfinder.gui.main_window, soundfinder.query.search, "
            "soundfinder.library; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))")
    out = subprocess.run([python_exe, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**__import__("os").environ, "QT_QPA_PLATFORM": "offscreen"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]"


@pytest.fixture
def gated_window(qtbot, monkeypatch, tiny_model_dir, embedder, indexed_library):
    """A window whose model load waits for `gate` (as if torch were still importing)."""
    gate = threading.Event()
    warm_up = type(embedder).warm_up
    monkeypatch.setattr(type(embedder), "warm_up",
                        lambda self, *a, **k: (gate.wait(WAIT_MS / 1000), warm_up(self, *a, **k))[1])
    window = MainWindow({"library": str(indexed_library), "model": str(tiny_model_dir), "device": "cpu"},
                        embedder=embedder)
    qtbot.addWidget(window)
    window.show()
    yield window, gate
    gate.set()
    window.close()


def test_query_answered_by_names_before_the_model_then_by_sound(qtbot, gated_window, embedder, monkeypatch):
    from soundfinder.query.search import search_text

    window, gate = gated_window
    shown = []
    window.bridge.resultsReady.connect(lambda seq, q, hits: shown.append((q.text, window.bridge.answered,
                                                                         [h.path for h in hits])))
    played = []
    monkeypatch.setattr(window.sync, "play", lambda path: played.append(path))
    window.search_bar.autoplay.setChecked(True)
    qtbot.waitUntil(lambda: window.bridge.library is not None and bool(window.stats), timeout=WAIT_MS)
    qtbot.keyClicks(window.search_bar.edit, "kick")
    qtbot.waitUntil(lambda: window.question.text == "kick", timeout=WAIT_MS)
    # 1. names alone, while the model is still loading
    assert not gate.is_set() and not window.bridge.ready() and window.bridge.embedder is None
    text, ranked, paths = shown[-1]
    assert ranked == "names" and [p.rsplit("/", 1)[-1] for p in paths] == ["Kick_808.wav"]
    assert paths == [h.path for h in search_text(window.bridge.library, None, "kick", k=200)]
    assert "sound search loading" in window.model_label.text() and "by name" in window.query_label.text()
    # Library edits (tags, favourites, collections) work already; indexing waits for the model.
    assert window.writable() and not window.writable(sound=True)
    window.view.selectRow(0)
    assert played == paths[:1]
    # 2. the model arrives: the same question, answered by names and sound, selection kept
    gate.set()
    qtbot.waitUntil(lambda: window.bridge.ready() and shown[-1][1] == "fused", timeout=WAIT_MS)
    fused = [h.path for h in search_text(window.bridge.library, embedder, "kick", k=200)]
    assert shown[-1][0] == "kick" and shown[-1][2] == fused and len(fused) > 1
    assert window.current_path() == paths[0]
    assert played == paths[:1]  # the selected sound did not play again
    assert "by name" not in window.query_label.text()


def test_favourites_and_views_work_before_the_model(qtbot, gated_window):
    """An empty query lists every file, a favourite is marked and its view opens while the model loads."""
    window, gate = gated_window
    shown = []
    window.bridge.resultsReady.connect(lambda seq, q, hits: shown.append((q, [h.path for h in hits])))
    qtbot.waitUntil(lambda: window.bridge.library is not None and bool(shown), timeout=WAIT_MS)
    assert shown[-1][0].kind == "browse" and len(shown[-1][1]) == 8
    window.view.selectRow(2)
    favourite = window.current_path()
    window.manager.toggle_favourite()
    qtbot.waitUntil(lambda: bool(window.results.favourites), timeout=WAIT_MS)
    window.manager.show_view("favourites", None)
    qtbot.waitUntil(lambda: shown[-1][0].view == "favourites", timeout=WAIT_MS)
    assert shown[-1][1] == [favourite]
    assert not gate.is_set() and not window.bridge.ready()


def test_a_new_library_is_created_with_the_models_space(qtbot, tmp_path, tiny_model_dir, embedder):
    """No library yet: it is created once the model's space is known, and sound search works."""
    lib = tmp_path / "new-library"
    window = MainWindow({"library": str(lib), "model": str(tiny_model_dir), "device": "cpu"}, embedder=embedder)
    qtbot.addWidget(window)
    qtbot.waitUntil(window.bridge.ready, timeout=WAIT_MS)
    assert window.bridge.library.space_id == embedder.space.id
    window.close()


def test_a_library_of_another_model_searches_names_only(qtbot, tmp_path, tiny_model_dir, embedder,
                                                        indexed_library):
    """A library indexed with another model opens (names work) and says why sound does not."""
    from soundfinder.library import Library

    with Library.open(indexed_library) as lib, lib.catalog.transaction():
        lib.catalog.set_meta("space", "another-model@0000")
    window = MainWindow({"library": str(indexed_library), "model": str(tiny_model_dir), "device": "cpu"},
                        embedder=embedder)
    qtbot.addWidget(window)
    problems = []
    window.bridge.libraryFailed.connect(problems.append)
    qtbot.waitUntil(lambda: bool(problems), timeout=WAIT_MS)
    assert "another-model@0000" in problems[0] and "names only" in problems[0]
    assert window.bridge.library is not None and not window.bridge.ready()
    window.close()


def test_model_load_starts_after_the_first_answer(qtbot, tiny_model_dir, indexed_library):
    """Importing torch holds the GIL for long stretches: it starts once the window's first
    question (asked when the library opens) is answered, not before."""
    from concurrent.futures import Executor, Future

    from soundfinder.gui.bridge import CoreBridge
    from soundfinder.gui.threads import ImmediateExecutor

    events = []

    class ModelThread(Executor):  # records the load, never runs it
        def submit(self, fn, /, *args, **kwargs) -> Future:
            events.append("model load")
            return Future()

    bridge = CoreBridge(executor=ImmediateExecutor(), model_executor=ModelThread())
    bridge.libraryReady.connect(lambda stats: (events.append("library"), bridge.search("kick", 20)))
    bridge.resultsReady.connect(lambda seq, q, hits: events.append(f"{bridge.answered} results"))
    bridge.start(str(tiny_model_dir), "cpu", "auto", str(indexed_library))
    assert events == ["library", "names results", "model load"]
    bridge.close()
