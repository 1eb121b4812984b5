"""The sample-manager side of the window: browser panel, folder chip, favourites (key F), hide
(key H), collections, history, duplicates and export. Wiring only; the work is in the core
(`library.userdata`, `library.collections`, `query.smart`, `query.duplicates`, `export`).

Every library call runs on the bridge's query thread under the library's lock.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QCheckBox, QInputDialog, QMenu, QMessageBox, QPushButton, QSplitter

from soundfinder.gui.browser_panel import ArgRole, BrowserPanel, KindRole, folder_tree
from soundfinder.gui.threads import run_task
from soundfinder.query.request import Query

TITLES = {"favourites": "★ Favourites", "hidden": "Hidden sounds", "auditioned": "Recently auditioned",
          "dragged": "Recently dragged", "duplicates": "Duplicates (the copy to keep is listed first)"}


class ManagerController:
    def __init__(self, window):
        self.w = window
        self.bridge = window.bridge
        self.panel = BrowserPanel()
        left = QSplitter(Qt.Orientation.Vertical)
        sizes = window.splitter.sizes()
        window.splitter.insertWidget(0, left)
        left.addWidget(window.panel)  # moves the library panel into the new column
        window.splitter.setSizes(sizes)
        left.addWidget(self.panel)
        left.setSizes([420, 380])
        self.chip = QPushButton()
        self.chip.setObjectName("folderChip")
        self.chip.setToolTip("Searching only this folder; click to search everything again")
        self.chip.hide()
        self.chip.clicked.connect(lambda: self.set_folder(None))
        window.centre.layout().insertWidget(1, self.chip, 0, Qt.AlignmentFlag.AlignLeft)
        self.view_title = ""
        self.current_view: tuple[str, object] | None = None
        self.panel.viewRequested.connect(self.show_view)
        self.panel.filesDropped.connect(self.add_to_collection)
        self.panel.contextRequested.connect(self._context)
        self.bridge.resultsReady.connect(self._results_shown)
        window.player.played.connect(lambda p: self._record("auditioned", p))
        window.view.dragStarted.connect(lambda ps: [self._record("dragged", p) for p in ps[:20]])
        self._actions()

    def _collapse_toggle(self) -> None:
        self.collapse = act = QAction("Collapse copies", self.w.view, shortcut=QKeySequence("D"), checkable=True)
        act.setToolTip("One row per recording: copies (same or re-encoded audio) show as ×N (key D)")
        act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        act.toggled.connect(self.set_collapse)
        self.w.view.addAction(act)
        box = QCheckBox("Collapse copies")
        box.setToolTip(act.toolTip())
        box.toggled.connect(act.setChecked)
        act.toggled.connect(box.setChecked)
        self.w.statusBar().addPermanentWidget(box)

    def set_collapse(self, on: bool) -> None:
        """Collapse copies in results; the first time, find the duplicate groups in the background."""
        self.bridge.collapse = on
        if on and not self._groups_known:
            self.w.statusBar().showMessage("Looking for copies (decoding candidates)…", 5000)
            self._run(self._find_groups, self._groups_found)
        else:
            self.w.refresh_results()

    @staticmethod
    def _find_groups(lib) -> dict[str, int]:
        from soundfinder.query.duplicates import find_duplicates

        return {r.hash: n for n, g in enumerate(find_duplicates(lib)) for r in g.files if r.hash}

    def _groups_found(self, groups: dict[str, int]) -> None:
        self.bridge.copy_groups = groups
        self._groups_known = True
        self.w.refresh_results()

    def _actions(self) -> None:
        self._groups_known = False
        self._collapse_toggle()
        for text, key, slot in (("Toggle favourite", "F", self.toggle_favourite),
                                ("Hide sound", "H", self.hide_selected),
                                ("Add to collection…", "C", self.collection_menu),
                                ("Export selection…", "Ctrl+E", self.export_selection),
                                *((f"Rate {n} ★", str(n), lambda *_, n=n: self.rate(n)) for n in range(1, 6)),
                                ("Clear rating", "0", lambda: self.rate(None))):
            act = QAction(text, self.w.view, shortcut=QKeySequence(key))
            act.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
            act.triggered.connect(slot)
            self.w.view.addAction(act)

    # -- background calls ----------------------------------------------------------------

    def _run(self, fn, done=None) -> None:
        lib = self.bridge.library
        if lib is None:
            return

        def job():
            with lib.lock:
                return fn(lib)

        def finished(result=None, error=None):
            if error is not None:
                self.w.statusBar().showMessage(str(error), 8000)
            elif done is not None:
                done(result)

        run_task(job, finished, self.bridge._queries)

    def refresh(self) -> None:
        """Folder tree with counts, collections, counts of favourites/hidden/history, stars."""
        from soundfinder.library import INDEXED, OFFLINE

        def job(lib):
            roots = lib.folders()
            records = list(lib.files())
            tree = folder_tree([r.path for r in records if r.status == INDEXED], roots)
            offline = {r for r in roots if not os.path.isdir(r) or (
                any(x.status == OFFLINE for x in records if x.path.startswith(r))
                and not any(x.status == INDEXED for x in records if x.path.startswith(r)))}
            ud = lib.userdata
            return (tree, offline, lib.collections.list(), ud.favourite_hashes(), len(ud.hidden()),
                    len(ud.history("auditioned")), len(ud.history("dragged")), ud.ratings())

        def done(result):
            tree, offline, collections, favs, hidden, heard, dragged, ratings = result
            self.w.results.ratings = ratings
            self.panel.set_folders(tree, offline)
            self.panel.set_collections(collections)
            self.panel.set_counts(len(favs), hidden, heard, dragged)
            self.w.results.favourites = favs
            self._repaint()

        self._run(job, done)

    def _repaint(self) -> None:
        m = self.w.results
        if m.rowCount():
            m.dataChanged.emit(m.index(0, 0), m.index(m.rowCount() - 1, m.columnCount() - 1))

    def _record(self, kind: str, path: str) -> None:
        if self.bridge.readonly or not path:
            return
        self._run(lambda lib: lib.userdata.record(kind, path) if lib.get(path) else None)

    # -- views ---------------------------------------------------------------------------

    def set_folder(self, folder: str | None) -> None:
        self.bridge.within = folder
        if folder:
            self.chip.setText(f"in: {self.w.results.folder_label(os.path.join(folder, 'x'))}  ✕")
        self.chip.setVisible(bool(folder))
        self.w.run_query(self.w.search_bar.text())

    def refresh_view(self) -> bool:
        """Show the current side-panel view again (the library changed); False if none is shown.
        A smart collection's contents come from its search, so a new sound that fits appears."""
        if not self.w.question.view or self.current_view is None:
            return False
        if self.current_view[0] != "duplicates":  # decoding again on every change costs too much
            self.show_view(*self.current_view)
        self.refresh()
        return True

    def show_view(self, kind: str, arg) -> None:
        if kind == "folder":
            self.set_folder(arg)
            return
        if self.bridge.library is None or (kind == "smart" and not self.bridge.ready()):
            return  # favourites, history, collections need the library only; a smart one, sound
        from soundfinder.query.search import Hit

        self.bridge.within = None  # a view lists its own sounds; the next search is library-wide
        self.chip.hide()
        self.current_view = (kind, arg)

        embedder = self.bridge.embedder

        when: dict[str, float] = {}

        def records(lib):
            nan = float("nan")
            if kind == "favourites":
                recs = lib.userdata.favourite_records()
            elif kind == "hidden":
                recs = [lib.get(m.path) for m in lib.userdata.hidden()]
            elif kind in ("auditioned", "dragged"):
                recs = []
                for e in lib.userdata.history(kind):
                    if e.path not in when:
                        when[e.path] = e.at  # the latest time: shown in the Match column, as "When"
                        recs.append(lib.get(e.path))
            elif kind == "collection":
                recs = lib.collections.member_records(arg)
            elif kind == "smart":
                from soundfinder.query.smart import evaluate

                return evaluate(lib, embedder, lib.collections.smart(arg))
            elif kind == "duplicates":
                from soundfinder.query.duplicates import find_duplicates

                recs, groups = [], find_duplicates(lib)
                for g in groups:
                    recs += sorted(g.files, key=lambda r: r.path != g.keep)
                self.bridge.copy_groups = {r.hash: n for n, g in enumerate(groups) for r in g.files if r.hash}
                self._groups_known = True
            else:
                return []
            recs = [r for r in recs if r is not None]
            lib.attach_tags(recs)
            hits = [Hit(nan, r) for r in recs]
            for h in hits if when else ():
                h.when = when[h.path]
            return hits

        self.view_title = TITLES.get(kind) or (f"⚡ {arg}" if kind == "smart" else f"Collection “{arg}”")
        if kind == "duplicates":
            self.w.statusBar().showMessage("Looking for duplicates (decoding candidates)…", 5000)
        lib = self.bridge.library
        self.bridge._ask(Query(view=kind), lambda: _locked(lib, records), collapse=kind != "duplicates")

    def _results_shown(self, seq: int, question: Query, hits: list) -> None:
        if question.view:
            self.w.query_label.setText(f"{self.view_title} · {len(hits):,}")

    # -- favourites, hide, collections ---------------------------------------------------

    def _selected(self) -> list[str]:
        return [p for p in self.w.view.selected_paths() if p]

    def toggle_favourite(self) -> None:
        paths = self._selected()
        if not paths or not self.w.writable():
            return
        hashes = {self.w.results.hits[self.w.results.row_of(p)].record.hash for p in paths}
        on = not hashes <= self.w.results.favourites
        self._run(lambda lib: lib.userdata.set_favourite(paths, on), lambda _: self.refresh())

    def rate(self, rating: int | None) -> None:
        """Keys 1-5 rate the selected sounds, 0 clears (shown as stars in the Rating column)."""
        paths = self._selected()
        if paths and self.w.writable():
            self._run(lambda lib: lib.userdata.set_rating(paths, rating), lambda _: self.refresh())

    def hide_selected(self) -> None:
        paths = self._selected()
        if not paths or not self.w.writable():
            return
        undo = self.w.question.view == "hidden"  # in the Hidden view, H brings them back
        self._run(lambda lib: lib.userdata.set_hidden(paths, not undo),
                  lambda _: (self.refresh(), self.w.statusBar().showMessage(
                      f"{'unhid' if undo else 'hid'} {len(paths)} sound(s); the Hidden view lists them", 5000),
                      self.show_view("hidden", None) if undo else self.w.refresh_results()))

    def add_to_collection(self, name: str, paths: list[str]) -> None:
        if self.w.writable():
            self._run(lambda lib: lib.collections.add(name, paths), lambda n: (
                self.refresh(), self.w.statusBar().showMessage(f"added {n} sound(s) to “{name}”", 4000)))

    def collection_menu(self) -> None:
        """Key C: pick a collection for the selected rows (or make a new one) from a menu."""
        paths = self._selected()
        if not paths:
            return
        menu = QMenu(self.w)
        items = self.panel.collections
        for i in range(items.childCount()):
            item = items.child(i)
            if item.data(0, KindRole) == "collection":
                name = item.data(0, ArgRole)
                menu.addAction(name, lambda name=name: self.add_to_collection(name, paths))
        menu.addSeparator()
        menu.addAction("New collection…", lambda: self.new_collection(paths))
        rect = self.w.view.visualRect(self.w.view.currentIndex())
        menu.popup(self.w.view.viewport().mapToGlobal(rect.bottomLeft()))
        self.menu = menu  # kept for tests and so it is not collected while open

    def _context(self, kind: str, arg, pos) -> None:
        menu = QMenu(self.w)
        if kind in ("collections", "collection", "smart"):
            menu.addAction("New collection…", lambda: self.new_collection())
        if kind == "collection":
            menu.addAction("Add selected sounds", lambda: self.add_to_collection(arg, self._selected()))
        if kind in ("collection", "smart"):
            menu.addAction("Export…", lambda: self.export_collection(arg))
            menu.addAction("Rename…", lambda: self.rename_collection(arg))
            menu.addAction("Delete", lambda: self.delete_collection(arg))
        if not menu.isEmpty():
            menu.exec(pos)

    def new_collection(self, paths: list[str] | None = None) -> None:
        name, ok = QInputDialog.getText(self.w, "New collection", "Name:")
        if ok and name.strip() and self.w.writable():
            def job(lib):
                created = lib.collections.create(name)
                if paths:
                    lib.collections.add(created, paths)

            self._run(job, lambda _: self.refresh())

    def rename_collection(self, old: str) -> None:
        new, ok = QInputDialog.getText(self.w, "Rename collection", "New name:", text=old)
        if ok and new.strip() and self.w.writable():
            self._run(lambda lib: lib.collections.rename(old, new), lambda _: self.refresh())

    def delete_collection(self, name: str) -> None:
        if QMessageBox.question(self.w, "Delete collection", f"Delete “{name}”? Its sounds stay in the "
                                "library and on disk.") == QMessageBox.StandardButton.Yes and self.w.writable():
            self._run(lambda lib: lib.collections.delete(name), lambda _: self.refresh())

    # -- export --------------------------------------------------------------------------

    def export_selection(self) -> None:
        paths = self._selected()
        if paths:
            self._export(paths)

    def export_collection(self, name: str) -> None:
        embedder = self.bridge.embedder

        def paths(lib):
            defs = {i.name: i for i in lib.collections.list()}
            if defs.get(name) and defs[name].smart:
                from soundfinder.query.smart import evaluate

                return [h.path for h in evaluate(lib, embedder, defs[name].smart)]
            return [m.path for m in lib.collections.members(name) if m.present]

        self._run(paths, lambda ps: self._export(ps, name))

    def _export(self, paths: list[str], title: str | None = None) -> None:
        from soundfinder.gui.export_dialog import ExportDialog

        roots = self.w.stats.get("folders", [])
        ExportDialog(paths, roots, self.w, title=title).exec()


def _locked(lib, fn):
    with lib.lock:
        return fn(lib)
