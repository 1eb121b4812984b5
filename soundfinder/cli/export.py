"""Commands that take sounds or user data out of (or back into) the library:

    soundfinder export (--collection NAME | PATH…) --to DIR [--keep-folders] [--format wav16|wav24]
                       [--rate 44100|48000] [--normalize peak|-14LUFS] [--into-library]
    soundfinder duplicates [--json]
    soundfinder backup --out FILE
    soundfinder restore FILE [--merge]

Light at import: everything heavy is imported inside the handlers.
"""

from __future__ import annotations

import json
import os
import sys

from soundfinder.cli.common import CliError, display, open_library, print_json


def cmd_export(args) -> int:
    from soundfinder.export import ConvertOptions, ExportError, ExportOptions, export_files, inside_folders

    if bool(args.collection) == bool(args.paths):
        raise CliError("give either --collection NAME or PATHs to export")
    with open_library(args, readonly=True) as lib:
        roots = lib.folders()
        if args.collection:
            infos = {i.name.casefold(): i for i in lib.collections.list()}
            info = infos.get(args.collection.casefold())
            if info is not None and info.smart is not None:
                sources = _smart_paths(args, lib, info.smart)
            else:
                sources = [m.path for m in lib.collections.members(args.collection) if m.present]
        else:
            sources = [os.path.abspath(p) for p in args.paths]
            for p in sources:
                if not os.path.isfile(p):
                    raise CliError(f"no such file: {p}")
    if not sources:
        raise CliError("nothing to export (the collection is empty)")
    inside = inside_folders(args.to, roots)
    if inside and not args.into_library:
        raise CliError(f"{args.to} is inside the library folder {inside}: the copies would be indexed too. "
                       f"Pick another folder, or pass --into-library if that is what you want")
    options = ExportOptions(keep_folders=args.keep_folders,
                            convert=ConvertOptions(format=args.format, rate=args.rate, normalize=args.normalize))
    progress = None if args.json or not sys.stderr.isatty() else _progress
    try:
        result = export_files(sources, args.to, options, roots=roots, progress=progress)
    except ExportError as e:
        raise CliError(str(e)) from None
    if args.json:
        print_json(result.to_json())
    else:
        print(f"exported {result.done} of {len(result.items)} file(s) to {display(result.folder)}; "
              f"manifest {display(result.manifest or '-')}")
        for i in result.items:
            if i.status == "failed":
                print(f"  failed: {display(i.source)}: {i.error}")
    return 0 if all(i.status != "failed" for i in result.items) else 1


def _progress(done: int, total: int, current: str) -> None:
    sys.stderr.write(f"\rexporting {done}/{total} {os.path.basename(current)[-40:]:40}")
    if done == total:
        sys.stderr.write("\n")


def _smart_paths(args, lib, definition) -> list[str]:
    from soundfinder.cli.common import check_space, load_embedder
    from soundfinder.query.smart import evaluate

    embedder = None
    if definition.query or definition.like:
        embedder = load_embedder(args)
        check_space(lib, embedder)
    return [h.path for h in evaluate(lib, embedder, definition)]


def cmd_duplicates(args) -> int:
    import time

    from soundfinder.query.duplicates import find_duplicates

    t = time.perf_counter()
    with open_library(args, readonly=True) as lib:
        groups = find_duplicates(lib)
    seconds = time.perf_counter() - t
    if args.json:
        print_json([g.to_json() for g in groups])
        return 0
    if not groups:
        print(f"no duplicates ({seconds:.1f} s)")
    for g in groups:
        print(f"{g.kind} ({len(g.files)} files):")
        for r in g.files:
            mark = "keep " if r.path == g.keep else "     "
            print(f"  {mark}{display(r.path)}  [{r.format or '?'} {r.subtype or ''} {r.sample_rate or '?'} Hz]")
    return 0


def cmd_backup(args) -> int:
    from soundfinder.library.atomic import atomic_write_text
    from soundfinder.library.backup import dump

    with open_library(args, readonly=True) as lib:
        data = dump(lib)
    out = os.path.abspath(args.out)
    try:
        atomic_write_text(out, json.dumps(data, indent=1, ensure_ascii=True))
    except OSError as e:
        raise CliError(f"cannot write {out}: {e.strerror or e}") from None
    counts = {"marks": len(data["marks"]), "history": len(data["history"]), "collections": len(data["collections"])}
    if args.json:
        print_json({"out": out, **counts})
    else:
        print(f"saved {counts['marks']} marks, {counts['history']} history entries and "
              f"{counts['collections']} collections to {display(out)}")
    return 0


def cmd_restore(args) -> int:
    from soundfinder.library.backup import restore

    try:
        with open(args.file, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as e:
        raise CliError(f"cannot read {args.file}: {e.strerror or e}") from None
    except ValueError as e:
        raise CliError(f"{args.file} is not valid JSON ({e})") from None
    with open_library(args) as lib:
        counts = restore(lib, data, merge=args.merge)
    if args.json:
        print_json(counts)
    else:
        print(f"restored {counts['marks']} marks, {counts['history']} history entries and "
              f"{counts['collections']} collections" + (" (merged)" if args.merge else ""))
    return 0


def register(sub) -> None:
    s = sub.add_parser("export", help="copy sounds (or a collection) to a folder, optionally converted")
    s.add_argument("paths", nargs="*", metavar="PATH")
    s.add_argument("--collection", metavar="NAME", help="export this collection's sounds")
    s.add_argument("--to", required=True, metavar="DIR", help="the destination folder")
    s.add_argument("--keep-folders", action="store_true", help="recreate the sub-folders (default: flat)")
    s.add_argument("--format", choices=("wav16", "wav24"), help="convert to WAV of this bit depth")
    s.add_argument("--rate", type=int, choices=(44100, 48000), help="convert to this sample rate")
    s.add_argument("--normalize", metavar="peak|-14LUFS", help="peak (-1 dBFS) or a loudness target")
    s.add_argument("--into-library", action="store_true", help="allow a destination inside a library folder")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_export)

    s = sub.add_parser("duplicates", help="groups of the same recording, with the copy to keep")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_duplicates)

    s = sub.add_parser("backup", help="save favourites, ratings, hidden, history and collections as JSON")
    s.add_argument("--out", required=True, metavar="FILE")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_backup)

    s = sub.add_parser("restore", help="restore user data from a `backup` file (replaces it, or --merge)")
    s.add_argument("file", metavar="FILE")
    s.add_argument("--merge", action="store_true", help="add to the current user data instead of replacing it")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_restore)
