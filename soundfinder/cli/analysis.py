"""`soundfinder analyze` and the musical filter flags of `search` and `list`.

    soundfinder analyze                       fill tempo/key/pitch/kind/loudness where missing
    soundfinder search "warm pad" --key Am --key-compatible --loop --sort bpm
    soundfinder list --bpm 118-122 --bpm-octave --one-shot --length 0-2 --json

A bad filter value ("--bpm fast", "--key H major") prints one line and exits with status 2,
before any model or library is opened.
"""

from __future__ import annotations

import sys

from soundfinder.cli.common import open_library, print_json

EXIT_USAGE = 2


def add_filter_args(s, sort_default: str | None = "score") -> None:
    g = s.add_argument_group("musical filters")
    g.add_argument("--bpm", metavar="BPM", help="tempo: 120 (±2%%) or a range 118-122")
    g.add_argument("--bpm-octave", action="store_true", help="also match half and double the tempo")
    g.add_argument("--key", metavar="KEY", help='key: "A minor", "F#maj", "Am" or Camelot "8A"')
    g.add_argument("--key-compatible", action="store_true",
                   help="also the relative key and its Camelot neighbours")
    kind = g.add_mutually_exclusive_group()
    kind.add_argument("--loop", dest="kind", action="store_const", const="loop", help="only loops")
    kind.add_argument("--one-shot", dest="kind", action="store_const", const="one-shot", help="only one-shots")
    g.add_argument("--length", metavar="SECONDS", help="length in seconds: 2 (at most) or a range 0.5-4")
    g.add_argument("--sort", default=sort_default, metavar="BY",
                   help="score, name, bpm, key (Camelot order), length or loudness "
                        f"(default {sort_default or 'path'})")


def filters_from_args(args):
    """(SoundFilter, sort key) from the flags; a bad value prints one line and exits 2."""
    from soundfinder.query.filters import (
        FilterError,
        SoundFilter,
        parse_bpm,
        parse_key,
        parse_length,
        parse_sort,
    )

    try:
        flt = SoundFilter(
            bpm=parse_bpm(args.bpm) if args.bpm is not None else None,
            bpm_octave=bool(args.bpm_octave),
            key=parse_key(args.key) if args.key is not None else None,
            key_compatible=bool(args.key_compatible),
            kind=getattr(args, "kind", None),
            length=parse_length(args.length) if args.length is not None else None)
        sort = parse_sort(args.sort) if args.sort is not None else None
    except FilterError as e:
        print(f"soundfinder: error: {e}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE) from None
    if (args.bpm_octave and flt.bpm is None) or (args.key_compatible and flt.key is None):
        print("soundfinder: error: --bpm-octave needs --bpm and --key-compatible needs --key", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)
    return flt, sort


def sort_items(items, by: str, descs, record=lambda x: x, score=lambda x: None):
    from soundfinder.query.filters import sort_value

    if by is None:
        return list(items)
    return sorted(items, key=lambda x: sort_value(by, record(x), descs.get(record(x).hash), score(x)))


def describe_line(desc) -> str:
    """"loop · 124 BPM · A minor" / "one-shot · C2 · -12.3 LUFS" ('' without descriptors)."""
    if desc is None:
        return ""
    parts = [desc.kind, f"{desc.bpm:g} BPM" if desc.bpm else None, desc.key, desc.pitch,
             f"{desc.lufs:.1f} LUFS" if desc.lufs is not None else None]
    return " · ".join(p for p in parts if p)


def with_descriptors(d: dict, desc) -> dict:
    """A record's JSON plus every descriptor field (null where there is none)."""
    from soundfinder.library.descriptors import FIELDS

    for f in FIELDS:
        d[f if f not in ("version", "error") else f"analysis_{f}"] = getattr(desc, f, None)
    return d


def _fill_fingerprints(lib) -> int:
    """Signal fingerprints (for `duplicates`) of content indexed before they existed: without
    one, `duplicates` decodes the file on every run. Returns how many were made."""
    from soundfinder.analysis import fingerprint as fp
    from soundfinder.audio import DecodeError, decode
    from soundfinder.indexing.describe import fingerprint

    rows, made = [], 0
    for content_hash, path in lib.fingerprints.missing(fp.VERSION):
        try:
            row = fingerprint(decode(path, sample_rate=22050, max_seconds=fp.SCAN_SECONDS))
        except DecodeError:
            continue  # offline or broken now: `duplicates` will not decode it either
        if row is not None:
            rows.append((content_hash, *row))
            made += 1
        if len(rows) >= 256:  # committed as we go: an interrupted run keeps them
            lib.fingerprints.put_many(rows)
            rows = []
    lib.fingerprints.put_many(rows)
    return made


def cmd_analyze(args) -> int:
    """Fill missing or outdated descriptors of an existing library, resumably (no re-embedding)."""
    import time

    from soundfinder.analysis import ANALYZER_VERSION
    from soundfinder.indexing.describe import describe_file

    with open_library(args) as lib:
        printed = _fill_fingerprints(lib)
        todo = lib.descriptors.missing(ANALYZER_VERSION)
        if not todo:
            if args.json:
                print_json({"analyzed": 0, "left": 0, "version": ANALYZER_VERSION, "fingerprinted": printed})
            else:
                print(f"every file is analysed (analyzer {ANALYZER_VERSION})")
            return 0
        done, failed, rows, last = 0, 0, [], time.monotonic()
        try:
            for content_hash, path in todo:
                row = describe_file(path)
                failed += bool(row.get("error") and row.get("lufs") is None)
                rows.append((content_hash, row))
                done += 1
                if len(rows) >= 32 or time.monotonic() - last > 2:  # commit as we go: resumable
                    lib.descriptors.put_many(rows)
                    rows, last = [], time.monotonic()
                    if not args.json:
                        print(f"analysed {done}/{len(todo)}", file=sys.stderr)
        except KeyboardInterrupt:
            lib.descriptors.put_many(rows)
            print(f"soundfinder: interrupted after {done}/{len(todo)}; run `soundfinder analyze` again "
                  f"to continue", file=sys.stderr)
            return 130
        lib.descriptors.put_many(rows)
    if args.json:
        print_json({"analyzed": done, "failed": failed, "left": 0, "version": ANALYZER_VERSION,
                    "fingerprinted": printed})
    else:
        print(f"analysed {done} file(s){f', {failed} without audio' if failed else ''} "
              f"(analyzer {ANALYZER_VERSION})")
    return 0


def register(sub) -> None:
    s = sub.add_parser("analyze", help="fill tempo, key, pitch, loop/one-shot, loudness and the duplicates "
                                       "fingerprint of indexed files (resumable; nothing is re-embedded)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_analyze)
