"""Audition: one QMediaPlayer for previews, quiet when the machine has no audio output."""

from __future__ import annotations

from PySide6.QtCore import QObject, QUrl, Signal
from PySide6.QtMultimedia import QAudioOutput, QMediaDevices, QMediaPlayer


class Player(QObject):
    positionChanged = Signal(float)  # seconds
    stateChanged = Signal(bool)  # playing
    problem = Signal(str)
    played = Signal(str)  # a file started from the top (history of auditions)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.path: str | None = None
        self.requests: list[str] = []  # every file asked for, oldest first (tests, diagnostics)
        self.output_available = bool(QMediaDevices.audioOutputs())
        self._player = QMediaPlayer(self)
        self._output = QAudioOutput(self)
        self._player.setAudioOutput(self._output)
        self._player.positionChanged.connect(lambda ms: self.positionChanged.emit(ms / 1000))
        self._player.playbackStateChanged.connect(
            lambda s: self.stateChanged.emit(s == QMediaPlayer.PlaybackState.PlayingState))
        self._player.errorOccurred.connect(self._on_error)

    @property
    def playing(self) -> bool:
        return self._player.playbackState() == QMediaPlayer.PlaybackState.PlayingState

    def play(self, path: str) -> None:
        """Play `path` from the start (restarts it when it is already the current file)."""
        self.requests.append(path)
        if path != self.path:
            self.path = path
            self._player.setSource(QUrl.fromLocalFile(path))
        else:
            self._player.setPosition(0)
        self._player.play()
        self.played.emit(path)

    def stop(self) -> None:
        self._player.stop()

    def toggle(self, path: str | None) -> None:
        if self.playing:
            self.stop()
        elif path:
            self.play(path)

    def seek(self, seconds: float) -> None:
        self._player.setPosition(int(seconds * 1000))
        if not self.playing and self.path:
            self._player.play()

    def set_volume(self, volume: float) -> None:
        self._output.setVolume(max(0.0, min(1.0, volume)))

    def _on_error(self, error, message: str) -> None:
        if error != QMediaPlayer.Error.NoError:
            self.problem.emit(f"cannot play {self.path}: {message or error.name}")
