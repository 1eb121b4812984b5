"""The browser side panel: library folders as a tree with counts, Favourites, Hidden, History,
Duplicates and Collections (rows from the results table can be dropped onto a collection).

A view only: it shows what `gui/manager.py` hands it and emits what the user picked.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

KindRole = Qt.ItemDataRole.UserRole + 20  # "folder", "favourites", "hidden", "auditioned", ...
ArgRole = Qt.ItemDataRole.UserRole + 21  # the folder path or the collection name
OFFLINE = QColor("#6e7681")


def folder_tree(paths: list[str], roots: list[str]) -> dict:
    """{root: {"count": n, "sub": {name: {...}}}} of the indexed `paths` under each root."""
    tree: dict = {r: {"count": 0, "sub": {}} for r in roots}
    ordered = sorted(roots, key=len, reverse=True)
    for p in paths:
        root = next((r for r in ordered if p.startswith(r.rstrip(os.sep) + os.sep)), None)
        if root is None:
            continue
        node = tree[root]
        node["count"] += 1
        for part in os.path.relpath(os.path.dirname(p), root).split(os.sep):
            if part in (".", ""):
                break
            node = node["sub"].setdefault(part, {"count": 0, "sub": {}})
            node["count"] += 1
    return tree


class _Tree(QTreeWidget):
    filesDropped = Signal(str, list)  # collection name, paths

    def __init__(self):
        super().__init__()
        self.setHeaderHidden(True)
        self.setAcceptDrops(True)
        self.setDragDropMode(QAbstractItemView.DragDropMode.DropOnly)
        self.setDropIndicatorShown(True)

    def _collection_at(self, pos) -> str | None:
        item = self.itemAt(pos)
        return item.data(0, ArgRole) if item is not None and item.data(0, KindRole) == "collection" else None

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasUrls():
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if event.mimeData().hasUrls() and self._collection_at(event.position().toPoint()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        name = self._collection_at(event.position().toPoint())
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if name and paths:
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
            self.filesDropped.emit(name, paths)
        else:
            event.ignore()


class BrowserPanel(QWidget):
    viewRequested = Signal(str, object)  # kind, argument (folder path, collection name or None)
    filesDropped = Signal(str, list)
    contextRequested = Signal(str, object, object)  # kind, argument, global position

    def __init__(self, parent=None):
        super().__init__(parent)
        self.tree = _Tree()
        self.tree.filesDropped.connect(self.filesDropped)
        self.tree.itemClicked.connect(self._clicked)
        self.tree.itemActivated.connect(self._clicked)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context)
        title = QLabel("Browse")
        title.setObjectName("panelTitle")
        v = QVBoxLayout(self)
        v.setContentsMargins(10, 6, 10, 10)
        self.setObjectName("libraryPanel")  # the same look as the folders panel above
        v.addWidget(title)
        v.addWidget(self.tree)
        self.folders = self._section("Folders", "folders")
        self.favourites = self._section("★ Favourites", "favourites")
        self.hidden = self._section("Hidden", "hidden")
        self.heard = self._section("Recently auditioned", "auditioned")
        self.dragged = self._section("Recently dragged", "dragged")
        self.duplicates = self._section("Duplicates", "duplicates")
        self.collections = self._section("Collections", "collections")
        self.folders.setExpanded(True)
        self.collections.setExpanded(True)

    def _section(self, text: str, kind: str) -> QTreeWidgetItem:
        item = QTreeWidgetItem(self.tree, [text])
        item.setData(0, KindRole, kind)
        return item

    def _clicked(self, item: QTreeWidgetItem, _column: int = 0) -> None:
        kind = item.data(0, KindRole)
        if kind not in ("folders", "collections"):
            self.viewRequested.emit(kind, item.data(0, ArgRole))

    def _context(self, pos) -> None:
        item = self.tree.itemAt(pos)
        if item is not None:
            self.contextRequested.emit(item.data(0, KindRole), item.data(0, ArgRole),
                                       self.tree.viewport().mapToGlobal(pos))

    # -- contents ------------------------------------------------------------------------

    def set_counts(self, favourites: int, hidden: int, heard: int, dragged: int) -> None:
        self.favourites.setText(0, f"★ Favourites  {favourites}")
        self.hidden.setText(0, f"Hidden  {hidden}")
        self.heard.setText(0, f"Recently auditioned  {heard}")
        self.dragged.setText(0, f"Recently dragged  {dragged}")

    def set_folders(self, tree: dict, offline_roots: set[str]) -> None:
        expanded = self._expanded_paths()
        self.folders.takeChildren()
        for root in sorted(tree):
            node = tree[root]
            name = os.path.basename(root.rstrip(os.sep)) or root
            off = root in offline_roots
            item = self._folder_item(self.folders, name + ("  (offline)" if off else ""), root, node["count"])
            if off:
                item.setForeground(0, QBrush(OFFLINE))
                item.setToolTip(0, f"{root} is not reachable now; its sounds, tags and collections "
                                   f"come back when it is")
            self._add_sub(item, root, node["sub"], expanded)
            item.setExpanded(root in expanded)

    def _add_sub(self, parent: QTreeWidgetItem, path: str, sub: dict, expanded: set[str]) -> None:
        for name in sorted(sub, key=str.lower):
            child_path = os.path.join(path, name)
            item = self._folder_item(parent, name, child_path, sub[name]["count"])
            self._add_sub(item, child_path, sub[name]["sub"], expanded)
            item.setExpanded(child_path in expanded)

    @staticmethod
    def _folder_item(parent, name: str, path: str, count: int) -> QTreeWidgetItem:
        item = QTreeWidgetItem(parent, [f"{name}  {count:,}"])
        item.setData(0, KindRole, "folder")
        item.setData(0, ArgRole, path)
        item.setToolTip(0, path)
        return item

    def _expanded_paths(self) -> set[str]:
        out, stack = set(), [self.folders]
        while stack:
            item = stack.pop()
            for i in range(item.childCount()):
                child = item.child(i)
                if child.isExpanded():
                    out.add(child.data(0, ArgRole))
                stack.append(child)
        return out

    def set_collections(self, infos: list) -> None:
        self.collections.takeChildren()
        for info in infos:
            text = f"⚡ {info.name}" if info.smart else f"{info.name}  {info.count}"
            item = QTreeWidgetItem(self.collections, [text])
            item.setData(0, KindRole, "smart" if info.smart else "collection")
            item.setData(0, ArgRole, info.name)
            item.setToolTip(0, "A saved search: updates by itself" if info.smart else
                            "Drop sounds here to add them")
