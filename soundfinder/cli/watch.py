"""`soundfinder watch [PATH...]`: keep the library current from the command line until Ctrl+C.

Light at import (the CLI imports every extension to build its parser): watchdog, torch and
the library are imported inside the handler.

Output, one line per applied change on stdout (flushed, so it can be piped or logged):
    + path            added (searchable now)
    ~ path            changed content, re-indexed
    - path            removed from the library (deleted from disk)
    > old -> new      moved or renamed (vector and tags kept, nothing re-embedded)
    o path            offline: its folder disappeared; the record is kept
    = path            back online, not re-embedded
    ! path: reason    could not be indexed
Status and per-job summaries go to stderr.
"""

from __future__ import annotations

import os
import sys


def register(subparsers) -> None:
    s = subparsers.add_parser("watch", help="follow folders and keep the library current until Ctrl+C",
                              description="Index the folders, then follow them: files added, changed, "
                                          "deleted or moved are applied as they settle.")
    s.add_argument("paths", nargs="*", metavar="PATH",
                   help="folders to add to the library and follow (default: every library folder)")
    s.add_argument("--polling", action="store_true",
                   help="poll for changes instead of OS events (network shares)")
    s.add_argument("--debounce", type=float, default=1.0, metavar="SECONDS",
                   help="how long a file must stay unchanged before it is indexed (default 1.0)")
    s.set_defaults(func=cmd_watch)


class _ChangePrinter:
    def __init__(self, stream):
        self.stream = stream

    def __call__(self, changes) -> None:
        from soundfinder.cli.common import display as d

        lines = [f"+ {d(p)}" for p in changes.added] + [f"~ {d(p)}" for p in changes.changed]
        lines += [f"- {d(p)}" for p in changes.removed] + [f"> {d(a)} -> {d(b)}" for a, b in changes.moved]
        lines += [f"o {d(p)}" for p in changes.offline] + [f"= {d(p)}" for p in changes.restored]
        lines += [f"! {d(p)}: {reason}" for p, reason in changes.failed]
        if lines:
            self.stream.write("\n".join(lines) + "\n")
            self.stream.flush()


def _job_done(result) -> None:
    s = result.summary
    if result.error:
        print(f"soundfinder: error: {result.error}", file=sys.stderr, flush=True)
        return
    parts = [f"{k} {getattr(s, k)}" for k in ("new", "changed", "moved", "removed", "offline", "failed", "embedded")
             if getattr(s, k)]
    if parts or result.job.kind == "reconcile":
        print(f"{result.job.kind}: {', '.join(parts) or 'up to date'} ({result.seconds:.1f} s)"
              + (" (cancelled)" if s.cancelled else ""), file=sys.stderr, flush=True)


def cmd_watch(args) -> int:
    import signal
    import threading

    from soundfinder.cli.common import CliError, load_embedder, open_library
    from soundfinder.indexing.watch import LiveLibrary

    for p in args.paths:
        if not os.path.isdir(p):
            raise CliError(f"no such folder: {p}")
    if args.debounce < 0:
        raise CliError("--debounce must be 0 or more seconds")
    embedder = load_embedder(args)
    with open_library(args, embedder) as lib:
        if not args.paths and not lib.folders():
            raise CliError("no folders to watch: give one (soundfinder watch FOLDER)")
        live = LiveLibrary(lib, embedder, on_change=_ChangePrinter(sys.stdout), on_job_done=_job_done,
                           debounce=args.debounce, polling=args.polling)
        for p in args.paths:
            live.add_folder(p)
        stop = threading.Event()
        previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                previous[sig] = signal.signal(sig, lambda *_: stop.set())
        try:
            live.start()
            print(f"watching {len(live.watcher.folders)} folder(s); Ctrl+C to stop", file=sys.stderr, flush=True)
            shown = 0
            while not stop.wait(0.5):
                problems = live.watcher.problems[shown:]
                shown += len(problems)
                for where, problem in problems:
                    print(f"soundfinder: warning: {where}: {problem}", file=sys.stderr, flush=True)
        finally:
            live.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        t = live.worker.totals
        print(f"stopped; this session: new {t.new}, changed {t.changed}, moved {t.moved}, removed {t.removed}, "
              f"embedded {t.embedded}; everything applied is committed", file=sys.stderr, flush=True)
    return 0
