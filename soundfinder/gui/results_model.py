"""The results table's item model: one row per hit, in the core's ranking order.

Thousands of rows stay cheap: data is computed per visible cell from the hit list; sorting
reorders the list in place. Custom roles expose the path, score and record to views,
delegates and drags.
"""

from __future__ import annotations

import math
import os

from PySide6.QtCore import QAbstractTableModel, QMimeData, QModelIndex, Qt, QUrl

from soundfinder.gui.query_panel import why_tooltip

PathRole = Qt.ItemDataRole.UserRole + 1  # absolute path of the row's file
ScoreRole = Qt.ItemDataRole.UserRole + 2  # float in [-1, 1], NaN when browsing without a query
RecordRole = Qt.ItemDataRole.UserRole + 3  # the FileRecord
RankRole = Qt.ItemDataRole.UserRole + 4  # position in the core's ranking
TagsRole = Qt.ItemDataRole.UserRole + 5  # [(tag, set by the user?)], the user's first

NAME, SCORE, DURATION, FORMAT, TAGS, FOLDER, BPM, KEY, KIND, RATING = range(10)
HEADERS = ("Name", "Match", "Length", "Format", "Tags", "Folder", "BPM", "Key", "Type", "Rating")

_ROLES = frozenset({Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.ToolTipRole, Qt.ItemDataRole.TextAlignmentRole,
                    PathRole, ScoreRole, RecordRole, RankRole, TagsRole})
_RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)


def _same(a, b) -> bool:
    """Two hits show the same row (a refresh that changed nothing need not repaint)."""
    ra, rb = a.record, b.record
    return (ra.path == rb.path and ra.hash == rb.hash and ra.tags == rb.tags and ra.duration == rb.duration
            and getattr(a, "user_tags", None) == getattr(b, "user_tags", None)
            and getattr(a, "copies", 1) == getattr(b, "copies", 1)
            and (a.score == b.score or (math.isnan(a.score) and math.isnan(b.score))))


# LMMS ignores text/uri-list; it accepts its own "key:value" string pair.
LMMS_MIME = "application/x-lmms-stringpair"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    m, s = divmod(int(round(seconds)), 60)
    return f"{m}:{s:02d}"


def format_audio(record) -> str:
    parts = [record.format or os.path.splitext(record.path)[1].lstrip(".").upper()]
    if record.sample_rate:
        parts.append(f"{record.sample_rate / 1000:g} kHz")
    if record.channels:
        parts.append({1: "mono", 2: "stereo"}.get(record.channels, f"{record.channels} ch"))
    return " · ".join(p for p in parts if p)


def format_rating(rating: int | None) -> str:
    return "★" * rating + "☆" * (5 - rating) if rating else ""


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # not strftime's: the locale's may be long
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def format_when(at: float, now: float | None = None) -> str:
    """When a sound was auditioned or dragged, as short as the When column: the time today,
    'yesterday 14:03', 'Fri 14:03' within the week, '27 Oct' this year, else the date.
    (A full date and time did not fit the column: the screenshot showed '2026-1… 04:47'.)"""
    import time

    t, today = time.localtime(at), time.localtime(now)
    days = round((time.mktime(today[:3] + (0, 0, 0, 0, 0, -1)) - time.mktime(t[:3] + (0, 0, 0, 0, 0, -1))) / 86400)
    if days <= 0:
        return time.strftime("%H:%M", t)
    if days == 1:
        return time.strftime("yesterday %H:%M", t)
    if days < 7:
        return f"{_DAYS[t.tm_wday]} {time.strftime('%H:%M', t)}"
    if t.tm_year == today.tm_year:
        return f"{t.tm_mday} {_MONTHS[t.tm_mon - 1]}"
    return time.strftime("%Y-%m-%d", t)


def descriptor_text(desc, col: int) -> str:
    """A cell of the BPM, Key or Type column ('' when the file has no value)."""
    if desc is None:
        return ""
    if col == BPM:
        return f"{desc.bpm:.1f}".rstrip("0").rstrip(".") if desc.bpm else ""  # "118.1", "128"
    if col == KEY:
        return desc.key or (desc.pitch or "")  # a one-shot shows its note
    return {"loop": "Loop", "one-shot": "One-shot"}.get(desc.kind or "", "")


def descriptor_sort_key(col: int):
    """Sort by tempo, by Camelot position (neighbours on the wheel sit together), or by type;
    files without a value go last in ascending order."""
    from soundfinder.query.filters import sort_value

    by = {BPM: "bpm", KEY: "key"}.get(col)
    if by is None:
        return lambda h: (getattr(getattr(h, "descriptors", None), "kind", None) is None,
                          getattr(getattr(h, "descriptors", None), "kind", None) or "")
    return lambda h: sort_value(by, h.record, getattr(h, "descriptors", None))


def mime_for_paths(paths: list[str]) -> QMimeData:
    """File URLs for DAWs and file managers, plus LMMS's sample-file pair for the first file."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(p) for p in paths])
    if paths:
        mime.setData(LMMS_MIME, f"samplefile:{paths[0]}".encode())
    return mime


class ResultsModel(QAbstractTableModel):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.hits: list = []
        self._ranks: dict[int, int] = {}
        self.roots: list[str] = []  # library folders: the Folder column is shown relative to them
        self._flags = None  # every row has the same flags
        self.favourites: set[str] = set()  # content hashes starred by the user (gui/manager.py)
        self.ratings: dict[str, int] = {}  # content hash -> the user's 1-5 rating

    def set_roots(self, folders: list[str]) -> None:
        self.roots = sorted(folders, key=len, reverse=True)

    def folder_label(self, path: str) -> str:
        folder = os.path.dirname(path)
        for root in self.roots:
            if folder == root or folder.startswith(root.rstrip(os.sep) + os.sep):
                rel = os.path.relpath(folder, root)
                name = os.path.basename(root.rstrip(os.sep)) or root
                return name if rel == "." else os.path.join(name, rel)
        return folder

    # -- contents ------------------------------------------------------------------------

    def set_hits(self, hits: list) -> bool:
        """Show `hits`; False (and no reset, no repaint) when they are what is shown already."""
        if len(hits) == len(self.hits) and all(_same(a, b) for a, b in zip(hits, self.hits, strict=True)):
            return False
        self.beginResetModel()
        self.hits = list(hits)
        self._ranks = {id(h): i for i, h in enumerate(self.hits)}
        self.endResetModel()
        return True

    def paths(self) -> list[str]:
        return [h.path for h in self.hits]

    def row_of(self, path: str) -> int:
        return next((i for i, h in enumerate(self.hits) if h.path == path), -1)

    # -- QAbstractTableModel -------------------------------------------------------------

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.hits)

    def columnCount(self, parent=QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(HEADERS)

    def headerData(self, section, orientation, role=Qt.ItemDataRole.DisplayRole):
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            if section == SCORE and self.hits and getattr(self.hits[0], "when", None) is not None:
                return "When"  # a history view: when each sound was auditioned or dragged
            return HEADERS[section]
        return None

    def data(self, index, role=Qt.ItemDataRole.DisplayRole):
        # Qt asks each visible cell for a dozen roles per repaint: unused roles leave at once
        # (enum comparisons cost microseconds each in Python, and a repaint makes thousands).
        if role not in _ROLES or not index.isValid() or index.row() >= len(self.hits):
            return None
        hit = self.hits[index.row()]
        rec, col = hit.record, index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if col == NAME:
                copies = f"  ×{hit.copies}" if getattr(hit, "copies", 1) > 1 else ""  # collapsed copies
                return ("★ " if rec.hash in self.favourites else "") + os.path.basename(rec.path) + copies
            if col == SCORE:
                if getattr(hit, "when", None) is not None:
                    return format_when(hit.when)
                return "" if math.isnan(hit.score) else f"{hit.score:.2f}"
            if col == DURATION:
                return format_duration(rec.duration)
            if col == FORMAT:
                return format_audio(rec)
            if col == TAGS:
                return ", ".join(rec.tags)
            if col == FOLDER:
                return self.folder_label(rec.path)
            if col in (BPM, KEY, KIND):
                return descriptor_text(getattr(hit, "descriptors", None), col)
            if col == RATING:
                return format_rating(self.ratings.get(rec.hash))
        elif role == Qt.ItemDataRole.ToolTipRole:
            if col in (NAME, SCORE) and getattr(hit, "why", None):
                return why_tooltip(hit.why, rec.path)  # why a text search matched it (names, sound)
            if col == TAGS and rec.tags:
                return "Tags (click one to filter): " + ", ".join(
                    f"{t} ({'yours' if user else 'auto'})" for t, user in self.tags_of(hit))
            return rec.path
        elif role == Qt.ItemDataRole.TextAlignmentRole and col in (SCORE, DURATION, BPM):
            return _RIGHT
        elif role == PathRole:
            return rec.path
        elif role == ScoreRole:
            return hit.score
        elif role == RecordRole:
            return rec
        elif role == RankRole:
            return self._ranks.get(id(hit), 0)
        elif role == TagsRole:
            return self.tags_of(hit)
        return None

    @staticmethod
    def tags_of(hit) -> list[tuple[str, bool]]:
        mine = getattr(hit, "user_tags", frozenset())
        return [(t, True) for t in hit.record.tags if t in mine] + [(t, False) for t in hit.record.tags
                                                                    if t not in mine]

    def flags(self, index):
        if not index.isValid():
            return super().flags(index)
        if self._flags is None:
            self._flags = super().flags(index) | Qt.ItemFlag.ItemIsDragEnabled
        return self._flags

    def sort(self, column: int, order=Qt.SortOrder.AscendingOrder) -> None:
        keys = {
            NAME: lambda h: os.path.basename(h.path).lower(),
            SCORE: lambda h: -self._ranks.get(id(h), 0),  # best match first when descending
            RATING: lambda h: self.ratings.get(h.record.hash, 0),
            DURATION: lambda h: h.record.duration or 0.0,
            FORMAT: lambda h: (h.record.format or "", h.record.sample_rate or 0),
            TAGS: lambda h: ", ".join(h.record.tags),
            FOLDER: lambda h: h.path.lower(),
            **{c: descriptor_sort_key(c) for c in (BPM, KEY, KIND)},
        }
        self.layoutAboutToBeChanged.emit()
        old = self.persistentIndexList()
        by_hit = {id(h): i for i, h in enumerate(self.hits)}
        self.hits.sort(key=keys[column], reverse=order == Qt.SortOrder.DescendingOrder)
        new_row = {by_hit[id(h)]: r for r, h in enumerate(self.hits)}
        self.changePersistentIndexList(old, [self.index(new_row[i.row()], i.column()) for i in old])
        self.layoutChanged.emit()

    # -- drag ----------------------------------------------------------------------------

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", LMMS_MIME]

    def mimeData(self, indexes) -> QMimeData:
        rows = sorted({i.row() for i in indexes if i.isValid()})
        return mime_for_paths([self.hits[r].path for r in rows])

    def supportedDragActions(self):
        return Qt.DropAction.CopyAction  # never Move: the user's files stay where they are
