"""Subcommands for tags: `tag`, `describe`, `tags set|unset|clear|show|list|export`, `labelsets`.

Registered by `soundfinder.cli` (see EXTENSIONS there); only argparse is imported up front, the
model, numpy and the library are imported inside the handlers so `soundfinder --help` stays fast.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys

EXPORT_COLUMNS = ("path", "tag", "source", "label_set", "score", "tagger")


def _cli():
    from soundfinder.cli import common

    return common


def _label_set_error(e: Exception):
    return _cli().CliError(str(e))


# -- tag ----------------------------------------------------------------------------------

class _TagProgressPrinter:
    """A bar on a terminal (whole job, all sets), a line per set otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.bar = None
        self.last_set = None

    def __call__(self, p) -> None:
        if self.tty:
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=max(p.total, 1) * p.sets, unit="vec", file=self.stream,
                                dynamic_ncols=True, unit_scale=True)
            self.bar.n = p.set_index * max(p.total, 1) + p.done
            self.bar.set_postfix_str(p.label_set, refresh=False)
            self.bar.refresh()
        elif p.label_set != self.last_set:
            self.last_set = p.label_set
            self.stream.write(f"tagging {p.label_set} ({p.set_index + 1}/{p.sets}, {p.total} vectors)\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_tag(args) -> int:
    from soundfinder.query.autotag import tag_library
    from soundfinder.query.vocabularies import LabelSetError

    cli = _cli()
    embedder = cli.load_embedder(args)
    printer = _TagProgressPrinter()
    with cli.open_library(args, embedder) as lib:
        try:
            summary = tag_library(lib, embedder, set_names=args.set or None, progress=printer)
        except LabelSetError as e:
            raise _label_set_error(e) from None
        finally:
            printer.close()
    if args.json:
        cli._print_json(summary.to_json())
        return 0
    if not summary.files:
        print("the library has no indexed files yet (soundfinder index FOLDER)")
        return 0
    for s in summary.sets:
        top = ", ".join(f"{label} {n}" for label, n in list(s.labels.items())[:5]) or "-"
        print(f"{s.name:12} {s.mode:6} {s.tagged_files:>7} of {s.files} files tagged, {s.tags} tags "
              f"({s.seconds:.2f} s)  top: {top}")
    for name in summary.removed_sets:
        print(f"removed the auto tags of label set {name!r}, which no longer exists")
    print(f"tagged {summary.files} files ({summary.vectors} distinct sounds) in {summary.seconds:.1f} s"
          + ("; cancelled, the sets not listed are unchanged" if summary.cancelled else ""))
    return 0


# -- describe -----------------------------------------------------------------------------

def cmd_describe(args) -> int:
    from soundfinder.audio import DecodeError
    from soundfinder.library import LibraryError
    from soundfinder.query.autotag import describe_file
    from soundfinder.query.vocabularies import LabelSetError

    cli = _cli()
    if not os.path.isfile(args.file):
        raise cli.CliError(f"no such file: {args.file}")
    embedder = cli.load_embedder(args)
    try:
        lib = cli.open_library(args, readonly=True)
    except LibraryError:
        lib = None  # no library yet: describe with the single-choice sets only
    try:
        desc = describe_file(lib, embedder, args.file)
    except DecodeError as e:
        raise cli.CliError(str(e)) from None
    except LabelSetError as e:
        raise _label_set_error(e) from None
    finally:
        if lib is not None:
            lib.close()
    if args.json:
        cli._print_json(desc.to_json())
        return 0
    print(f"{cli._display(desc.path)}: {desc.text or '(no label is confident enough)'}")
    for p in desc.parts:
        print(f"  {p.tag.label:18} {p.label_set:12} confidence {p.tag.confidence:.2f}  cosine {p.tag.score:+.3f}")
    if not desc.calibrated:
        print("  (no library vectors to calibrate on: multi-label sets such as character and mood were skipped)")
    if desc.tags:
        print("  stored tags: " + ", ".join(t.tag + ("" if t.source == "auto" else f" ({t.source})")
                                            for t in desc.tags))
    return 0


# -- tags ---------------------------------------------------------------------------------

def _target_paths(lib, path: str) -> list[str]:
    """A file of the library, or every file under a folder of it."""
    cli = _cli()
    full = os.path.abspath(os.path.expanduser(path))
    if lib.get(full) is not None:
        return [full]
    under = [r.path for r in lib.files_under(full)]
    if not under:
        raise cli.CliError(f"not in the library: {path}")
    return under


def cmd_tags_set(args) -> int:
    cli = _cli()
    with cli.open_library(args) as lib:
        paths = _target_paths(lib, args.path)
        names = lib.set_user_tags(paths, args.tags)
    print(f"tagged {len(paths)} file(s) with {', '.join(names)}")
    return 0


def cmd_tags_unset(args) -> int:
    cli = _cli()
    with cli.open_library(args) as lib:
        paths = _target_paths(lib, args.path)
        names = lib.unset_user_tags(paths, args.tags)
    print(f"removed {', '.join(names)} from {len(paths)} file(s); auto-tagging will not add them back "
          f"(soundfinder tags clear PATH TAG undoes that)")
    return 0


def cmd_tags_clear(args) -> int:
    cli = _cli()
    with cli.open_library(args) as lib:
        paths = _target_paths(lib, args.path)
        n = lib.clear_user_tags(paths, args.tags or None)
    print(f"forgot {n} user tag(s) and removal(s) on {len(paths)} file(s); auto tags come back on the next "
          f"`soundfinder tag`")
    return 0


def cmd_tags_show(args) -> int:
    cli = _cli()
    with cli.open_library(args, readonly=True) as lib:
        path = os.path.abspath(os.path.expanduser(args.path))
        if lib.get(path) is None:
            raise cli.CliError(f"not a file of the library: {args.path}")
        records = lib.tags_of(path, include_rejected=True)
    if args.json:
        cli._print_json([{k: v for k, v in r.to_json().items() if k != "path"} for r in records])
        return 0
    for r in records:
        detail = f"{r.label_set} {r.score:.2f}" if r.source == "auto" else ""
        print(f"{r.source:8} {r.tag:20} {detail}")
    if not records:
        print("no tags")
    return 0


def cmd_tags_list(args) -> int:
    cli = _cli()
    with cli.open_library(args, readonly=True) as lib:
        counts = lib.tag_counts()
    if args.json:
        cli._print_json([c.to_json() for c in counts])
        return 0
    for c in counts:
        print(f"{c.files:7}  {c.tag:24} (user {c.user}, auto {c.auto})")
    if not counts:
        print("no tags yet (soundfinder tag, or soundfinder tags set PATH TAG)")
    return 0


def export_csv(records) -> str:
    """CSV text of tag records; an empty cell is a missing value, scores are written exactly."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(EXPORT_COLUMNS)
    for r in records:
        w.writerow(["" if v is None else repr(v) if isinstance(v, float) else v
                    for v in (r.path, r.tag, r.source, r.label_set, r.score, r.tagger)])
    return buf.getvalue()


def parse_csv(text: str) -> list[dict]:
    """The rows of `export_csv` as dicts (the inverse, for scripts and tests)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:
        for key in ("label_set", "tagger"):
            row[key] = row[key] or None
        row["score"] = float(row["score"]) if row["score"] else None
    return rows


def cmd_tags_export(args) -> int:
    cli = _cli()
    with cli.open_library(args, readonly=True) as lib:
        records = list(lib.export_tags())
    if args.format == "json":
        # ASCII with escapes keeps any path (even one that is not valid UTF-8) exact.
        text = json.dumps([r.to_json() for r in records], indent=2, ensure_ascii=True) + "\n"
    else:
        text = export_csv(records)
    # Paths that are not valid UTF-8 are written back as the bytes they were.
    payload = text.encode("utf-8", "surrogateescape")
    if args.out:
        with open(args.out, "wb") as fh:
            fh.write(payload)
        print(f"wrote {len(records)} tag rows to {args.out}", file=sys.stderr)
    elif hasattr(sys.stdout, "buffer"):
        sys.stdout.flush()
        sys.stdout.buffer.write(payload)
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(text)
    return 0


# -- labelsets ----------------------------------------------------------------------------

def cmd_labelsets_add(args) -> int:
    from soundfinder.query.autotag import label_sets_for
    from soundfinder.query.vocabularies import (
        LabelSetError,
        load_label_set,
        load_label_sets,
        save_user_label_set,
    )

    cli = _cli()
    try:
        ls = load_label_set(args.file)
        with cli.open_library(args) as lib:
            mine = {s.name.casefold(): s for s in load_label_sets([lib.root / "labelsets"])}
            shipped = {s.name.casefold() for s in label_sets_for(None)}
            path = save_user_label_set(lib.root, ls)
            old = mine.get(ls.name.casefold())
            if old is not None and old.source is not None and old.source.resolve() != path.resolve():
                old.source.unlink()  # the set was installed under another file name: one file per set
            label_sets_for(lib.root)  # all sets still load together
    except LabelSetError as e:
        raise _label_set_error(e) from None
    what = "replaces the shipped set" if ls.name.casefold() in shipped else (
        "replaces your earlier version" if old is not None else "new")
    print(f"installed label set {ls.name!r} ({ls.mode}, {len(ls.labels)} labels; {what}) as {path}\n"
          f"run `soundfinder tag --set {ls.name!r}` to tag the library with it")
    return 0


def cmd_labelsets_list(args) -> int:
    from soundfinder.library import LibraryError
    from soundfinder.query.autotag import label_sets_for
    from soundfinder.query.vocabularies import LabelSetError
    from soundfinder.query.zeroshot import tagger_version

    cli = _cli()
    try:
        lib = cli.open_library(args, readonly=True)
    except LibraryError:
        lib = None
    try:
        sets = label_sets_for(lib.root if lib else None)
        versions = lib.auto_tag_versions() if lib else {}
        space = lib.space_id if lib else None
    except LabelSetError as e:
        raise _label_set_error(e) from None
    finally:
        if lib is not None:
            lib.close()
    out = []
    for ls in sets:
        made = versions.get(ls.name)
        if made is None:
            state = "not tagged"
        elif space is not None and made == tagger_version(space, ls):
            state = "up to date"
        else:
            state = "out of date (run soundfinder tag)"
        out.append({"name": ls.name, "mode": ls.mode, "labels": ls.label_names, "description": ls.description,
                    "file": str(ls.source) if ls.source else None,
                    "user": bool(lib and ls.source and lib.root in ls.source.parents),
                    "state": state})
    if args.json:
        cli._print_json(out)
        return 0
    for d in out:
        origin = "user" if d["user"] else "shipped"
        print(f"{d['name']:14} {d['mode']:6} {len(d['labels']):3} labels  {origin:7}  {d['state']}"
              f"  - {d['description']}")
    return 0


# -- parser -------------------------------------------------------------------------------

def register(sub) -> None:
    s = sub.add_parser("tag", help="auto-tag the library with the label sets (zero-shot)")
    s.add_argument("--set", action="append", metavar="NAME", help="only this label set (repeatable)")
    s.add_argument("--json", action="store_true", help="print the summary as JSON")
    s.set_defaults(func=cmd_tag)

    s = sub.add_parser("describe", help="describe a sound in a few words (inside or outside the library)")
    s.add_argument("file")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_describe)

    tags = sub.add_parser("tags", help="add, remove, list and export tags")
    tsub = tags.add_subparsers(dest="tags_command", metavar="ACTION", required=True)
    s = tsub.add_parser("set", help="add your tags to a file, or to every file under a folder")
    s.add_argument("path")
    s.add_argument("tags", nargs="+", metavar="TAG")
    s.set_defaults(func=cmd_tags_set)
    s = tsub.add_parser("unset", help="remove tags (yours or auto); auto-tagging will not add them back")
    s.add_argument("path")
    s.add_argument("tags", nargs="+", metavar="TAG")
    s.set_defaults(func=cmd_tags_unset)
    s = tsub.add_parser("clear", help="forget your tags and removals on a file or folder (all or TAGs)")
    s.add_argument("path")
    s.add_argument("tags", nargs="*", metavar="TAG")
    s.set_defaults(func=cmd_tags_clear)
    s = tsub.add_parser("show", help="a file's tags with where they came from")
    s.add_argument("path")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_tags_show)
    s = tsub.add_parser("list", help="every tag with the number of files carrying it")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_tags_list)
    s = tsub.add_parser("export", help="every tag row (path, tag, source, label set, score, tagger)")
    s.add_argument("--format", choices=["csv", "json"], default="csv")
    s.add_argument("--out", metavar="FILE", help="write here instead of standard output")
    s.set_defaults(func=cmd_tags_export)

    sets = sub.add_parser("labelsets", help="vocabularies for auto-tagging")
    lsub = sets.add_subparsers(dest="labelsets_command", metavar="ACTION", required=True)
    s = lsub.add_parser("add", help="validate a label set file and install it into the library")
    s.add_argument("file")
    s.set_defaults(func=cmd_labelsets_add)
    s = lsub.add_parser("list", help="shipped and installed label sets, and whether their tags are current")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_labelsets_list)

