"""`soundfinder doctor [--repair] [--json]`: check a library's consistency, repair what can be.

Checks: catalog integrity (SQLite), catalog ↔ vector log (records pointing past the log, log
rows past the catalog, partial rows, vector ids contiguous, content hashes), the
embedding-space id and the log's dimension, the hnsw snapshot loads, temporary files of
interrupted writes, files missing on disk, documents.json parses. `--repair` fixes what it
can (see `soundfinder.library.integrity` for what each repair does: files missing on disk
are marked offline, never forgotten). Exit status: 0 when the library is healthy (or every
problem was repaired), 1 when a problem remains.

Light at import: `soundfinder --help` loads this module for its `register`.
"""

from __future__ import annotations

import json
import sys


def register(subparsers) -> None:
    s = subparsers.add_parser("doctor", help="check the library's consistency (and --repair it)")
    s.add_argument("--repair", action="store_true", help="fix what can be fixed (takes the writer lock)")
    s.add_argument("--json", action="store_true", help="print the report as JSON")
    s.add_argument("--no-files", action="store_true", help="skip looking for files missing on disk")
    s.set_defaults(func=cmd_doctor)


def cmd_doctor(args) -> int:
    from soundfinder import config
    from soundfinder.library import LibraryError
    from soundfinder.library.integrity import IntegrityError, check, repair

    root = str(config.get("library", args.library))
    try:
        if args.repair:
            report = repair(root, files=not args.no_files)
        else:
            report = check(root, files=not args.no_files)
    except IntegrityError as e:
        raise LibraryError(str(e)) from None
    except OSError as e:
        from soundfinder.library.library import write_error

        raise write_error(root, e) from None
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2, ensure_ascii=True)
        sys.stdout.write("\n")
    else:
        _print(report)
    return 0 if report.ok else 1


def _print(report) -> None:
    f = report.facts
    print(f"library  {report.library}")
    print(f"files    {f.get('files', '?')}, vectors {f.get('catalog_vectors', '?')} in the catalog, "
          f"{f.get('log_rows', '?')} in the log ({f.get('log_dim') or '?'}-d)")
    if u := f.get("userdata"):
        print(f"user     {u['favourites']} favourites, {u['hidden']} hidden, {u['collections']} collections, "
              f"{u['history']} history entries; {u['marks_without_file'] + u['members_without_file']} "
              f"waiting for their file to come back")
    if f.get("writer"):
        w = f["writer"]
        print(f"writer   process {w.get('pid')} on {w.get('host')} is writing the library now")
    if not report.problems:
        print("ok       no problems found")
        return
    for p in report.problems:
        state = "repaired" if p.repaired else ("repairable" if p.repairable and not report.repair else "PROBLEM")
        print(f"{state:9}{p.code}: {p.message}")
        for ex in p.examples:
            print(f"           {ex.encode('utf-8', 'backslashreplace').decode('utf-8')}")
    if not report.ok:
        hint = "" if report.repair else " (run `soundfinder doctor --repair`)"
        print(f"{sum(not p.repaired for p in report.problems)} problem(s) remain{hint}")
