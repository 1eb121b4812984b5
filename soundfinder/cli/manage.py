"""Sample-manager commands: fav, hide, collection, smart, history.

    soundfinder fav add|remove|list [PATH…] [--rating N]
    soundfinder hide add|remove|list [PATH…]
    soundfinder collection create|rename|delete|add|remove|list|show NAME [PATH…]
    soundfinder smart create NAME [--query TEXT] [--like FILE] [--tag T] [--limit N] [--threshold S]
    soundfinder smart list|show|delete [NAME]
    soundfinder history [--dragged]

Paths are resolved like the other commands (relative to the working folder). A path the
library does not know, a name that exists or does not: one line on stderr, exit 1, nothing
changed. Light at import: the library is imported inside the handlers.
"""

from __future__ import annotations

import os
import time

from soundfinder.cli.common import CliError, display, open_library, print_json


def _paths(args) -> list[str]:
    paths = [os.path.abspath(os.path.expanduser(p)) for p in getattr(args, "paths", [])]
    if getattr(args, "need_paths", False) and not paths:
        raise CliError("give at least one PATH")
    return paths


def _print_marks(marks, as_json: bool) -> None:
    if as_json:
        print_json([m.to_json() for m in marks])
        return
    for m in marks:
        stars = f"  {'★' * m.rating}" if m.rating else ""
        print(f"{display(m.path)}{stars}" + ("" if m.present else "  (not in the library now)"))


# -- fav / hide ------------------------------------------------------------------------------

def cmd_fav(args) -> int:
    paths = _paths(args)
    if args.action == "list":
        with open_library(args, readonly=True) as lib:
            _print_marks(lib.userdata.favourites(), args.json)
        return 0
    if not paths:
        raise CliError(f"fav {args.action}: give at least one PATH")
    with open_library(args) as lib:
        ud = lib.userdata
        n = ud.set_favourite(paths, args.action == "add")
        if args.rating is not None:
            ud.set_rating(paths, args.rating or None)
    return _done(args, {"changed": n, "paths": paths},
                 f"{'starred' if args.action == 'add' else 'unstarred'} {n} sound(s)")


def cmd_hide(args) -> int:
    paths = _paths(args)
    if args.action == "list":
        with open_library(args, readonly=True) as lib:
            _print_marks(lib.userdata.hidden(), args.json)
        return 0
    if not paths:
        raise CliError(f"hide {args.action}: give at least one PATH")
    with open_library(args) as lib:
        n = lib.userdata.set_hidden(paths, args.action == "add")
    return _done(args, {"changed": n, "paths": paths},
                 f"{'hid' if args.action == 'add' else 'unhid'} {n} sound(s)")


def _done(args, obj: dict, line: str) -> int:
    if args.json:
        print_json(obj)
    else:
        print(line)
    return 0


# -- collections -----------------------------------------------------------------------------

def cmd_collection(args) -> int:
    a, paths = args.action, _paths(args)
    if a in ("list", "show"):
        with open_library(args, readonly=True) as lib:
            if a == "list":
                return _print_collections(lib.collections.list(), args.json)
            _need(args, 1)
            members = lib.collections.members(args.names[0])
        if args.json:
            print_json({"name": args.names[0], "files": [m.to_json() for m in members]})
        else:
            for m in members:
                print(display(m.path) + ("" if m.present else "  (not in the library now)"))
        return 0
    with open_library(args) as lib:
        c = lib.collections
        if a == "create":
            _need(args, 1)
            name = c.create(args.names[0])
            out, line = {"name": name}, f"created collection {name!r}"
            if paths:
                c.add(name, paths)
        elif a == "rename":
            _need(args, 2)
            name = c.rename(args.names[0], args.names[1])
            out, line = {"name": name}, f"renamed {args.names[0]!r} to {name!r}"
        elif a == "delete":
            _need(args, 1)
            c.delete(args.names[0])
            out, line = {"deleted": args.names[0]}, f"deleted collection {args.names[0]!r} (no file was touched)"
        elif a in ("add", "remove"):
            _need(args, 1)
            if not paths:
                raise CliError(f"collection {a}: give at least one PATH")
            n = (c.add if a == "add" else c.remove)(args.names[0], paths)
            out = {"name": args.names[0], "changed": n}
            line = f"{'added' if a == 'add' else 'removed'} {n} sound(s) {'to' if a == 'add' else 'from'} " \
                   f"{args.names[0]!r}"
        else:  # pragma: no cover - argparse limits the choices
            raise CliError(f"unknown action {a}")
    return _done(args, out, line)


def _need(args, n: int) -> None:
    if len(args.names) != n:
        what = "OLD NEW" if n == 2 else "NAME"
        raise CliError(f"collection {args.action} needs {what}")


def _print_collections(infos, as_json: bool) -> int:
    if as_json:
        print_json([i.to_json() for i in infos])
        return 0
    for i in infos:
        print(f"{i.name}  ({'smart' if i.smart else f'{i.count} sounds'})")
    return 0


# -- smart collections -----------------------------------------------------------------------

def cmd_smart(args) -> int:
    from soundfinder.library.collections import SmartDefinition

    a = args.action
    if a == "list":
        with open_library(args, readonly=True) as lib:
            return _print_collections([i for i in lib.collections.list() if i.smart], args.json)
    if not args.name:
        raise CliError(f"smart {a} needs NAME")
    if a == "create":
        like = os.path.abspath(args.like) if args.like else None
        if like and not os.path.isfile(like):
            raise CliError(f"no such file: {args.like}")
        filters = {k: v for k, v in (("bpm", args.bpm), ("key", args.key), ("kind", args.kind)) if v}
        d = SmartDefinition(query=args.query, like=like, tags=args.tag, not_tags=args.not_tag, filters=filters,
                            limit=args.limit, threshold=args.threshold)
        with open_library(args) as lib:
            name = lib.collections.create(args.name, d)
        return _done(args, {"name": name, "definition": d.to_json()}, f"created smart collection {name!r}")
    if a == "delete":
        with open_library(args) as lib:
            lib.collections.smart(args.name)  # refuses a hand-made collection of that name
            lib.collections.delete(args.name)
        return _done(args, {"deleted": args.name}, f"deleted smart collection {args.name!r}")
    return _smart_show(args)


def _smart_show(args) -> int:
    import sys

    from soundfinder.cli.common import check_space, load_embedder
    from soundfinder.query.smart import evaluate, filters_applied

    with open_library(args, readonly=True) as lib:
        d = lib.collections.smart(args.name)
        embedder = None
        if d.query or d.like:
            embedder = load_embedder(args)
            check_space(lib, embedder)
        t = time.perf_counter()
        hits = evaluate(lib, embedder, d)
        ms = (time.perf_counter() - t) * 1000
    if not filters_applied(d.filters):
        print(f"soundfinder: note: filters {d.filters} are stored but not applied by this version",
              file=sys.stderr)
    if args.json:
        print_json({"name": args.name, "definition": d.to_json(), "ms": round(ms, 1),
                    "files": [h.to_json() for h in hits]})
    else:
        for h in hits:
            print(f"{h.score:6.3f}  {display(h.path)}")
    return 0


# -- history ---------------------------------------------------------------------------------

def cmd_history(args) -> int:
    from soundfinder.library.userdata import AUDITIONED, DRAGGED

    with open_library(args, readonly=True) as lib:
        entries = lib.userdata.history(DRAGGED if args.dragged else AUDITIONED, args.limit)
    if args.json:
        print_json([e.to_json() for e in entries])
    else:
        for e in entries:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.at))
            print(f"{when}  {display(e.path)}" + ("" if e.present else "  (not in the library now)"))
    return 0


def register(sub) -> None:
    s = sub.add_parser("fav", help="star sounds: fav add|remove|list [PATH…]")
    s.add_argument("action", choices=("add", "remove", "list"))
    s.add_argument("paths", nargs="*", metavar="PATH")
    s.add_argument("--rating", type=int, choices=range(0, 6), metavar="0-5",
                   help="also rate them 1-5 stars (0 clears the rating)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_fav)

    s = sub.add_parser("hide", help="hide sounds from every search: hide add|remove|list [PATH…]")
    s.add_argument("action", choices=("add", "remove", "list"))
    s.add_argument("paths", nargs="*", metavar="PATH")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_hide)

    s = sub.add_parser("collection", help="collections: create|rename|delete|add|remove|list|show NAME [PATH…]")
    s.add_argument("action", choices=("create", "rename", "delete", "add", "remove", "list", "show"))
    s.add_argument("names", nargs="*", metavar="NAME", help="the collection (rename: OLD NEW)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=_collection_entry)

    s = sub.add_parser("smart", help="smart collections (saved searches): create|list|show|delete NAME")
    s.add_argument("action", choices=("create", "list", "show", "delete"))
    s.add_argument("name", nargs="?")
    s.add_argument("--query", help="text describing the sounds")
    s.add_argument("--like", metavar="FILE", help="an example sound")
    s.add_argument("--tag", action="append", default=[], help="only sounds with this tag (repeat)")
    s.add_argument("--not-tag", action="append", default=[], help="no sounds with this tag")
    s.add_argument("--bpm", help="tempo filter, e.g. 120-130 (stored; see README)")
    s.add_argument("--key", help="key filter, e.g. 'A minor' (stored; see README)")
    s.add_argument("--kind", help="loop or one-shot (stored; see README)")
    s.add_argument("--limit", type=int, default=50, help="at most this many sounds (default 50)")
    s.add_argument("--threshold", type=float, help="only sounds scoring at least this (cosine, -1..1)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_smart)

    s = sub.add_parser("history", help="recently auditioned (or --dragged) sounds, newest first")
    s.add_argument("--dragged", action="store_true", help="the sounds dragged out to other programs")
    s.add_argument("--limit", type=int, default=200)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_history)


def _collection_entry(args) -> int:
    """`collection add NAME PATH…`: argparse hands every word to `names`; split NAME from PATHs."""
    if args.action in ("add", "remove", "create") and len(args.names) > 1:
        args.paths = args.names[1:]
        args.names = args.names[:1]
    return cmd_collection(args)
