"""Small widgets of the main window: the search bar, the model banner, the empty state."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

DEBOUNCE_MS = 180  # typing pauses shorter than this do not start a search


class SearchBar(QWidget):
    """The query box (debounced), the autoplay toggle, the volume and the settings button."""

    queryChanged = Signal(str)  # after the debounce, or at once on Enter
    downPressed = Signal()
    settingsRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("searchBar")
        h = QHBoxLayout(self)
        h.setContentsMargins(12, 10, 12, 10)
        h.setSpacing(10)
        self.edit = QLineEdit()
        self.edit.setObjectName("search")
        self.edit.setPlaceholderText("Describe a sound: “dusty vinyl kick”, “bright metallic hit”…")
        self.edit.setClearButtonEnabled(True)
        h.addWidget(self.edit, 1)
        self.autoplay = QCheckBox("Autoplay")
        self.autoplay.setToolTip("Play a sound as soon as it is selected")
        h.addWidget(self.autoplay)
        vol = QLabel("Volume")
        vol.setObjectName("dim")
        h.addWidget(vol)
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setFixedWidth(110)
        h.addWidget(self.volume)
        self.settings_button = QToolButton()
        self.settings_button.setText("Settings")
        self.settings_button.setIcon(QIcon.fromTheme("preferences-system"))
        self.settings_button.clicked.connect(self.settingsRequested)
        h.addWidget(self.settings_button)

        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(DEBOUNCE_MS)
        self.timer.timeout.connect(lambda: self.queryChanged.emit(self.text()))
        self.edit.textChanged.connect(lambda _: self.timer.start())
        self.edit.returnPressed.connect(self.submit)
        self.edit.installEventFilter(self)

    def text(self) -> str:
        return self.edit.text().strip()

    def submit(self) -> None:
        self.timer.stop()
        self.queryChanged.emit(self.text())

    def eventFilter(self, obj, event) -> bool:
        if obj is self.edit and event.type() == event.Type.KeyPress and event.key() == Qt.Key.Key_Down:
            self.downPressed.emit()
            return True
        return super().eventFilter(obj, event)


class ModelBanner(QFrame):
    """Says what the model is doing: loading (with cancel) or failed (with a way out)."""

    cancelRequested = Signal()
    chooseFolderRequested = Signal()
    retryRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("banner")
        h = QHBoxLayout(self)
        h.setContentsMargins(12, 8, 12, 8)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        h.addWidget(self.label, 1)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setFixedWidth(140)
        h.addWidget(self.busy)
        self.cancel = QPushButton("Cancel")
        self.choose = QPushButton("Choose local model folder…")
        self.choose.setObjectName("primary")
        self.retry = QPushButton("Retry")
        for b in (self.cancel, self.choose, self.retry):
            h.addWidget(b)
        self.cancel.clicked.connect(self.cancelRequested)
        self.choose.clicked.connect(self.chooseFolderRequested)
        self.retry.clicked.connect(self.retryRequested)
        self.hide()

    def loading(self, model: str) -> None:
        self.setProperty("state", "loading")
        self.label.setText(f"Loading the sound model <b>{model}</b>… (the first use of a hub model "
                           f"downloads it; searching starts when it is ready)")
        self._show(busy=True)

    def failed(self, message: str, model: str = "") -> None:
        self.setProperty("state", "error")
        cause = message.rsplit("(", 1)[-1].lower()  # the core puts the underlying error last
        if model.startswith(("/", "~", ".")) or ":\\" in model[:3]:
            lead = "The model folder was not found or is incomplete."
        elif any(w in cause for w in ("connect", "offline", "resolve", "network", "timed out", "internet")):
            lead = "The sound model could not be downloaded: no internet connection."
        else:
            lead = "The sound model could not be loaded."
        self.label.setText(f"<b>{lead}</b> Choose a folder holding a downloaded CLAP checkpoint, or retry."
                           f"<br><span style='color:#9aa4ae'>{message}</span>")
        self._show(busy=False)

    def _show(self, busy: bool) -> None:
        self.busy.setVisible(busy)
        self.cancel.setVisible(busy)
        self.choose.setVisible(not busy)
        self.retry.setVisible(not busy)
        self.style().unpolish(self)
        self.style().polish(self)
        self.show()


class EmptyState(QWidget):
    """What a new user sees instead of an empty table."""

    addRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        v = QVBoxLayout(self)
        v.addStretch(1)
        self.title = QLabel("Your library is empty")
        self.title.setObjectName("emptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.body = QLabel()
        self.body.setObjectName("dim")
        self.body.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.button = QPushButton("Add a sample folder…")
        self.button.setObjectName("primary")
        self.button.clicked.connect(self.addRequested)
        v.addWidget(self.title)
        v.addWidget(self.body)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.button)
        row.addStretch(1)
        v.addSpacing(8)
        v.addLayout(row)
        v.addStretch(2)
        self.show_message("Opening your library…", "Loading the sound model; this takes a few seconds.", False)

    def show_message(self, title: str, body: str, button: bool) -> None:
        self.title.setText(title)
        self.body.setText(body)
        self.button.setVisible(button)
