"""Library commands: index, search, similar, status, list, forget.

Light at import: the model, numpy and the library are imported inside the handlers so
`soundfinder --help` stays fast.
"""

from __future__ import annotations

import os

from soundfinder import config
from soundfinder.cli.analysis import add_filter_args
from soundfinder.cli.cluster import add_cluster_flags
from soundfinder.cli.common import (
    CliError,
    ProgressPrinter,
    check_space,
    display,
    load_embedder,
    open_library,
    print_json,
)


def cmd_index(args) -> int:
    from soundfinder.indexing import index_paths

    for p in args.paths:
        if not os.path.exists(p):
            raise CliError(f"no such file or folder: {p}")
    if args.cluster:
        from soundfinder.cli.cluster import cmd_index_cluster

        return cmd_index_cluster(args, print_index_summary)
    embedder = load_embedder(args)
    printer = ProgressPrinter()
    with open_library(args, embedder) as lib:
        try:
            summary = index_paths(lib, embedder, args.paths, progress=printer)
        finally:
            printer.close()
    print_index_summary(args, summary)
    return 0


def print_index_summary(args, summary) -> None:
    if args.json:
        print_json(summary.to_json())
    else:
        s = summary
        print(f"new {s.new}, changed {s.changed}, moved {s.moved}, removed {s.removed}, "
              f"unchanged {s.unchanged}, failed {s.failed}" + (f", offline {s.offline}" if s.offline else "")
              + f" ({s.seconds:.1f} s)")
        for path, reason in s.failures[:50]:
            print(f"  failed: {display(path)}: {reason}")
        if len(s.failures) > 50:
            print(f"  ... and {len(s.failures) - 50} more (soundfinder list --failed)")
        for path, reason in s.problems:
            print(f"  skipped folder: {display(path)}: {reason} (its files are kept as they were)")


def _print_hits(hits, as_json: bool, descs=None) -> None:
    from soundfinder.cli.analysis import describe_line, with_descriptors

    descs = descs or {}
    if as_json:
        print_json([with_descriptors(h.to_json(), descs.get(h.record.hash)) for h in hits])
        return
    if not hits:
        print("no results")
    for h in hits:
        tags = f"  [{', '.join(h.record.tags)}]" if h.record.tags else ""
        about = describe_line(descs.get(h.record.hash))
        why = ""
        if h.why is not None:
            name = ", ".join(h.why["name"])
            why = f"  ({'name: ' + name + '; ' if name else ''}sound {h.why['sound']:.2f})"
        print(f"{h.score:6.3f}  {display(h.path)}{tags}{why}" + (f"  ({about})" if about else ""))


def _hits_with_descriptors(lib, hits, sort: str):
    from soundfinder.cli.analysis import sort_items

    descs = lib.descriptors.get_many(h.record.hash for h in hits)
    return sort_items(hits, sort, descs, record=lambda h: h.record, score=lambda h: h.score), descs


def cmd_search(args) -> int:
    import sys

    from soundfinder.cli.analysis import filters_from_args
    from soundfinder.query.parse import parse_query
    from soundfinder.query.search import search_text

    flt, sort = filters_from_args(args)
    if not args.text.strip():
        raise CliError("the search text is empty")
    parsed = parse_query(args.text)
    for notice in parsed.notices:
        print(f"soundfinder: note: {notice}", file=sys.stderr)
    if parsed.empty:
        raise CliError("nothing left to search for once the filters were read "
                       f"({', '.join(p.label for p in parsed.chips()) or 'no words'}); add a description")
    embedder = load_embedder(args)
    with open_library(args, embedder, readonly=True) as lib:
        check_space(lib, embedder)
        hits = search_text(lib, embedder, args.text, k=args.k, tags=args.tag, not_tags=args.not_tag, filters=flt,
                           mode=args.mode)
        hits, descs = _hits_with_descriptors(lib, hits, sort)
        _print_hits(hits, args.json, descs)
    return 0


def cmd_similar(args) -> int:
    from soundfinder.audio import DecodeError
    from soundfinder.cli.analysis import filters_from_args
    from soundfinder.query.search import embed_file, search_vector
    from soundfinder.query.steer import centroid, steer

    for f in args.files:
        if not os.path.isfile(f):
            raise CliError(f"no such file: {f}")
    if not 0.0 <= args.amount <= 2.0:
        raise CliError("--amount must be between 0 and 2")
    flt, sort = filters_from_args(args)
    embedder = load_embedder(args)
    with open_library(args, embedder, readonly=True) as lib:
        check_space(lib, embedder)
        try:
            vec = centroid([embed_file(lib, embedder, f) for f in args.files])
        except DecodeError as e:
            raise CliError(str(e)) from None
        if args.more or args.less:
            more = embedder.encode_text([args.more])[0] if args.more else None
            less = embedder.encode_text([args.less])[0] if args.less else None
            vec = steer(vec, more, less, args.amount)
        exclude = {os.path.abspath(f) for f in args.files} if len(args.files) > 1 or args.more or args.less else None
        hits = search_vector(lib, vec, k=args.k, exclude_paths=exclude, tags=args.tag, not_tags=args.not_tag,
                             filters=flt)
        hits, descs = _hits_with_descriptors(lib, hits, sort)
        _print_hits(hits, args.json, descs)
    return 0


def cmd_status(args) -> int:
    from soundfinder.library import LibraryError

    try:
        lib = open_library(args, readonly=True)
    except LibraryError:
        stats = {"files": 0, "indexed": 0, "failed": 0, "offline": 0, "vectors": 0, "model": None,
                 "library": str(config.get("library", args.library)), "folders": []}
    else:
        with lib:
            stats = lib.stats()
    from soundfinder.model.runtime import status_report

    stats["runtime"] = status_report(str(config.get("precision", getattr(args, "precision", None))))
    if args.json:
        print_json(stats)
    else:
        print(f"library  {stats['library']}\nmodel    {stats['model']}\nfiles    {stats['files']} "
              f"({stats['indexed']} indexed, {stats['failed']} failed, {stats['offline']} offline)\n"
              f"vectors  {stats['vectors']}\nruntime  {stats['runtime']['summary']}")
        for f in stats["folders"]:
            print(f"folder   {f}")
    return 0


def cmd_list(args) -> int:
    from soundfinder.cli.analysis import describe_line, filters_from_args, sort_items, with_descriptors
    from soundfinder.query.filters import filter_records

    flt, sort = filters_from_args(args)
    with open_library(args, readonly=True) as lib:
        records = list(lib.files("failed" if args.failed else None))
        descs = lib.descriptors.get_many(r.hash for r in records)
        records = sort_items(filter_records(records, descs, flt), sort, descs)
        lib.attach_tags(records)
    if args.json:
        print_json([with_descriptors(r.to_json(), descs.get(r.hash)) for r in records])
    else:
        for r in records:
            extra = f"  warning: {r.warning}" if r.warning else f"  {r.error}" if r.error else ""
            about = describe_line(descs.get(r.hash))
            print(f"{r.status:8} {display(r.path)}{extra}" + (f"  ({about})" if about else ""))
    return 0


def cmd_forget(args) -> int:
    paths = [os.path.abspath(p) for p in args.paths]
    with open_library(args) as lib:
        n = 0
        for p in paths:
            under = [r.path for r in lib.files_under(p)]
            n += lib.forget(under + [p])
    print(f"forgot {n} file(s); nothing on disk was touched")
    return 0



def register(sub) -> None:

    s = sub.add_parser("index", help="add folders or files to the library and embed new sounds")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_cluster_flags(s)
    s.set_defaults(func=cmd_index)

    s = sub.add_parser("search", help="find sounds matching a description")
    s.add_argument("text", help='words, tempo, key and exclusions: "128 bpm dark kick in F minor -reverb"')
    s.add_argument("-k", type=int, default=20, help="number of results (default 20)")
    s.add_argument("--json", action="store_true", help='print hits as JSON, each with "why" it matched')
    s.add_argument("--mode", choices=("fused", "names", "sound"), default="fused",
                   help="rank by file names and sound together (default), or by one of them")
    add_tag_filters(s)
    add_filter_args(s)
    s.set_defaults(func=cmd_search)

    s = sub.add_parser("similar", help="find sounds like a file, or like several (inside or outside the library)")
    s.add_argument("files", nargs="+", metavar="FILE", help="one sound, or several: more like these")
    s.add_argument("--more", metavar="TEXT", help='steer toward a description: "darker"')
    s.add_argument("--less", metavar="TEXT", help='steer away from a description: "bright"')
    s.add_argument("--amount", type=float, default=0.5, help="how far to steer, 0-2 (default 0.5)")
    s.add_argument("-k", type=int, default=20)
    s.add_argument("--json", action="store_true")
    add_tag_filters(s)
    add_filter_args(s)
    s.set_defaults(func=cmd_similar)

    s = sub.add_parser("status", help="library counts and model")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)

    s = sub.add_parser("list", help="every file in the catalog")
    s.add_argument("--failed", action="store_true", help="only files that could not be indexed")
    s.add_argument("--json", action="store_true")
    add_filter_args(s, sort_default=None)
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("forget", help="remove files or folders from the library (not from disk)")
    s.add_argument("paths", nargs="+", metavar="PATH")
    s.set_defaults(func=cmd_forget)



def add_tag_filters(s) -> None:
    s.add_argument("--tag", action="append", default=[], metavar="TAG",
                   help="only sounds with this tag (repeat: all of them)")
    s.add_argument("--not-tag", action="append", default=[], metavar="TAG", help="no sounds with this tag")


