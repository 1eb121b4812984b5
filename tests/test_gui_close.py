"""Closing the window while background work is stuck: the UI thread waits only a bounded time,
the library is still closed properly afterwards, and a model download never keeps the process alive."""

from __future__ import annotations

import subprocess
import threading
import time

import pytest

pytest.importorskip("PySide6.QtWidgets")
pytest.importorskip("pytestqt")

from soundfinder.gui.closing import CLOSE_WAIT_S  # noqa: E402
from soundfinder.gui.main_window import MainWindow  # noqa: E402
from soundfinder.indexing import IndexSummary  # noqa: E402
from soundfinder.library import Library  # noqa: E402
from tests.test_gui import WAIT_MS  # noqa: E402

pytestmark = pytest.mark.usefixtures("user_settings")


def test_close_returns_promptly_while_an_index_job_is_stuck(qtbot, tiny_model_dir, embedder, indexed_library):
    started, release = threading.Event(), threading.Event()

    def stuck_index(library, embedder, roots, progress=None, cancel=None):
        started.set()
        release.wait(WAIT_MS / 1000)  # a batch that does not look at `cancel` for a long while
        return IndexSummary()

    window = MainWindow({"library": str(indexed_library), "model": str(tiny_model_dir), "device": "cpu"},
                        embedder=embedder, live_options={"index": stuck_index})
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(started.is_set, timeout=WAIT_MS)  # the startup reconcile is running
    t0 = time.monotonic()
    window.close()
    assert time.monotonic() - t0 < CLOSE_WAIT_S + 2
    assert window.closing.is_alive()  # still waiting for the job: the library is not closed under it
    assert window.bridge.library is not None
    release.set()
    qtbot.waitUntil(lambda: not window.closing.is_alive(), timeout=WAIT_MS)
    assert window.bridge.library is None
    with Library.open(indexed_library, space=embedder.space):  # its writer lock was released
        pass


DOWNLOAD_SCRIPT = """
import sys, threading
from soundfinder.model import ClapEmbedder

started = threading.Event()

def download(*args, **kwargs):
    started.set()
    threading.Event().wait()  # a download that has not ended when the user closes the window

ClapEmbedder.load = download
from soundfinder.gui.app import make_app
from soundfinder.gui.main_window import MainWindow

app = make_app()
window = MainWindow({"library": sys.argv[1], "model": "some/remote-model", "device": "cpu"})
window.show()
while not started.wait(0.01):
    app.processEvents()
window.close()
print("closed", flush=True)
"""


def test_closing_during_a_model_download_ends_the_process(tmp_path, python_exe):
    proc = subprocess.run([python_exe, "-c", DOWNLOAD_SCRIPT, str(tmp_path / "lib")], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0 and "closed" in proc.stdout, proc.stderr[-2000:]
