"""Follow the song's tempo from the DAW over Ableton Link (Live, Bitwig, Reason, FL Studio, Logic…).

Link peers on this machine or the local network share one tempo. `aalink` (a maintained
binding of Ableton's Link library with wheels for Linux, macOS and Windows) needs an asyncio
loop; it runs on a small daemon thread of its own so neither the UI thread nor the caller
ever waits on the network. The GUI polls `tempo` and `peers` a few times a second.
"""

from __future__ import annotations

import asyncio
import threading


class LinkUnavailable(RuntimeError):
    """Ableton Link cannot run here (the binding is missing or the network refused it)."""


class LinkTempo:
    def __init__(self, bpm: float = 120.0):
        self._initial = float(bpm)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._link = None

    @property
    def running(self) -> bool:
        return self._link is not None

    def start(self) -> None:
        """Join the Link session (idempotent); raises LinkUnavailable with the reason."""
        if self._link is not None:
            return
        try:
            import aalink
        except ImportError as e:
            raise LinkUnavailable(f"Ableton Link needs the 'aalink' package ({e})") from None
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="ableton-link", daemon=True)
        thread.start()

        async def join():
            link = aalink.Link(self._initial)
            link.enabled = True
            return link

        try:
            self._link = asyncio.run_coroutine_threadsafe(join(), loop).result(timeout=5)
        except Exception as e:
            loop.call_soon_threadsafe(loop.stop)
            raise LinkUnavailable(f"could not join Ableton Link: {e}") from None
        self._loop, self._thread = loop, thread

    @property
    def tempo(self) -> float | None:
        return float(self._link.tempo) if self._link is not None else None

    @tempo.setter
    def tempo(self, bpm: float) -> None:
        if self._link is not None:
            self._link.tempo = float(bpm)

    @property
    def peers(self) -> int:
        return int(self._link.num_peers) if self._link is not None else 0

    def stop(self) -> None:
        if self._link is not None:
            self._link.enabled = False
            self._link = None
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        self._thread = None
