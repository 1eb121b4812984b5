"""The window's tag features: filter chips, auto-tagging, editing a sound's tags, adding a label set.

Wiring only: the rules (user tags win, removals are remembered) live in the core's tag API.
Dialogs open non-modally (`open`, then `accepted`), so nothing nests an event loop.
"""

from __future__ import annotations

from PySide6.QtCore import QObject

from soundfinder.gui.tag_bar import TagBar
from soundfinder.gui.tag_dialogs import EditTagsDialog, LabelSetDialog
from soundfinder.gui.worker import AutoTagger


class TagController(QObject):
    def __init__(self, window):
        super().__init__(window)
        self.window = window
        self.bar = TagBar()
        self.tagger = AutoTagger(self)
        self.editor: EditTagsDialog | None = None  # the open dialogs (tests drive them)
        self.label_set_dialog: LabelSetDialog | None = None
        self.bar.filtersChanged.connect(lambda _: window.refresh_results())
        self.bar.autoTagRequested.connect(lambda: self.auto_tag())
        self.bar.addLabelSetRequested.connect(self.add_label_set)
        window.view.tagClicked.connect(self.bar.add)
        window.bridge.tagsChanged.connect(self.bar.set_counts)
        window.panel.cancelTaggingRequested.connect(self._cancel)
        self.tagger.progress.connect(window.panel.show_tagging)
        self.tagger.finished.connect(self._finished)
        self.tagger.failed.connect(self._failed)

    @property
    def filters(self) -> list[str]:
        return list(self.bar.tags)

    # -- auto-tagging --------------------------------------------------------------------

    def auto_tag(self, set_names: list[str] | None = None) -> None:
        if self.tagger.busy or not self.window.writable(sound=True):
            return
        from soundfinder.query.autotag import TagProgress

        self.bar.auto_button.setEnabled(False)
        self.window.panel.show_tagging(TagProgress("label sets", 0, 1, 0, 0))
        self.tagger.start(self.window.bridge.library, self.window.bridge.embedder, set_names)

    def _cancel(self) -> None:
        self.tagger.cancel()
        self.window.panel.tag_cancel.setEnabled(False)
        self.window.panel.tag_label.setText("Stopping…")

    def _finished(self, summary) -> None:
        self._done()
        if summary.cancelled:
            message = f"Auto-tagging cancelled ({len(summary.sets)} label sets were finished and kept)"
        else:
            tagged = max((s.tagged_files for s in summary.sets), default=0)
            message = (f"Auto-tagged {summary.files:,} sounds with {len(summary.sets)} label sets "
                       f"in {summary.seconds:.1f} s ({tagged:,} got tags from the busiest set)")
        self.window.statusBar().showMessage(message, 10000)

    def _failed(self, message: str) -> None:
        self._done()
        self.window._problem(f"Auto-tagging failed: {message}")

    def _done(self) -> None:
        self.bar.auto_button.setEnabled(True)
        self.window.panel.tagging_finished()
        self.window.bridge.refresh_tags()
        self.window.refresh_results()

    # -- editing -------------------------------------------------------------------------

    def edit_tags(self, paths: list[str]) -> None:
        """Open the tag editor for `paths` once their tags are read (off the UI thread)."""
        if paths and self.window.writable():
            self.window.bridge.tags_of(paths, lambda result=None, error=None: self._open_editor(result, error))

    def _open_editor(self, tags_by_path, error) -> None:
        if error is not None:
            self.window._problem(str(error))
            return
        self.editor = dialog = EditTagsDialog(tags_by_path, self.window)
        paths = list(tags_by_path)
        dialog.accepted.connect(lambda: self.apply(paths, dialog.added, dialog.removed))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def apply(self, paths: list[str], add: list[str], remove: list[str]) -> None:
        if not add and not remove:
            return

        def done(result=None, error=None):
            if error is not None:
                self.window._problem(f"Tags not saved: {error}")
            self.window.bridge.refresh_tags()
            self.window.refresh_results()

        self.window.bridge.edit_tags(paths, add, remove, done)

    # -- label sets ----------------------------------------------------------------------

    def add_label_set(self) -> None:
        if not self.window.writable():
            return
        self.label_set_dialog = dialog = LabelSetDialog(self.window)
        dialog.accepted.connect(lambda: self._save_label_set(dialog.label_set(), dialog.tag_now.isChecked()))
        dialog.finished.connect(dialog.deleteLater)
        dialog.open()

    def _save_label_set(self, label_set, tag_now: bool) -> None:
        def done(result=None, error=None):
            if error is not None:
                self.window._problem(f"Label set not saved: {error}")
                return
            self.window.statusBar().showMessage(f"Label set “{label_set.name}” saved to {result}", 8000)
            if tag_now:
                self.auto_tag([label_set.name])

        self.window.bridge.save_label_set(label_set, done)
