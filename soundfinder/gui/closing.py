"""Closing the window without freezing it.

Ending the background work can take a while: the indexing worker finishes the batch it is
embedding, the auto-tagger its label set, and the library saves its search graph. Done on the
UI thread that froze the closing window for up to a minute. `close_in_background` runs the steps
in order on a thread of its own and waits only `CLOSE_WAIT_S` for them (enough for the usual
case, so a closed window has released its library). The thread is not a daemon: if a step is
still running when the window is gone, the process ends after it, with the library closed
properly. A model download, by contrast, runs on a daemon thread and never holds up the exit.
"""

from __future__ import annotations

import sys
import threading
import traceback
from collections.abc import Callable, Iterable

CLOSE_WAIT_S = 3.0  # the longest the UI thread waits for the background work to end


def close_in_background(steps: Iterable[Callable[[], object]], wait_s: float = CLOSE_WAIT_S) -> threading.Thread:
    """Run `steps` in order on a new thread (each runs even if one before it failed); return it after
    waiting at most `wait_s` for it to finish."""
    steps = list(steps)

    def run() -> None:
        for step in steps:
            try:
                step()
            except Exception:  # noqa: BLE001 - the next step (closing the library) must still run
                print("soundfinder: while closing:", file=sys.stderr)
                traceback.print_exc()

    thread = threading.Thread(target=run, name="sf-close", daemon=False)
    thread.start()
    thread.join(wait_s)
    return thread
