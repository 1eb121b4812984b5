"""The desktop app: a thin Qt face over the core.

    from soundfinder.gui.app import run
    run(args)  # args with .library, .model, .device (None: use the settings)

Modules: `threads` (the one thread helper), `bridge` (serialised library access and the
model, off the UI thread), `worker` (the live library and auto-tagging as Qt signals), Qt
item models beside their views (`results_model`/`results_view`), `player` and `waveform`
(audition), `library_panel`, `tag_bar` and `tag_dialogs`, the window's controllers
(`live_actions`: folders and live refresh; `tag_actions`: filters, auto-tag, tag editing),
`settings_dialog`, `main_window`, `app` (startup and `--screenshot`).
"""

from soundfinder.gui.refcount import protect_none

protect_none()  # PySide6 6.12 leaks a None reference per void call on Python 3.11 (refcount.py)
