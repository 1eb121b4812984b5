"""`soundfinder render`: a sample fitted to a tempo and key, written as a new WAV.

    soundfinder render loop.wav --bpm 124 --key "A minor" --out fitted.wav

What is known of the file (its tempo, key, loop or one-shot, note) comes from the library's
analysis when the file is in the library; `--source-bpm` / `--source-key` override it. Asking
for a tempo or key the file has none of is a usage error (exit 2): guessing would deliver a
loop that drifts against the song. Light at import: numpy and pedalboard load in the handler.
"""

from __future__ import annotations

import os

from soundfinder.cli.common import EXIT_USAGE, CliError, print_json


def register(sub) -> None:
    s = sub.add_parser("render", help="write a copy of a sample fitted to a tempo and key (the file is untouched)")
    s.add_argument("file")
    s.add_argument("--bpm", help="target tempo (beats per minute)")
    s.add_argument("--key", help='target key, e.g. "A minor", "F# major", "Am"')
    s.add_argument("--out", required=True, help="the WAV file to write (never the source)")
    s.add_argument("--source-bpm", help="the file's own tempo (overrides what the library knows)")
    s.add_argument("--source-key", help="the file's own key (overrides what the library knows)")
    s.add_argument("--to-key", action="store_true", help="also move a pitched one-shot to the key's root")
    s.add_argument("--quality", choices=("high", "fast"), default="high",
                   help="Rubber Band engine: high (default) or fast (what auditioning in the app uses)")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_render)


def known_facts(args, path: str) -> dict:
    """What the library knows of `path`: bpm, key, kind, pitch (each may be None).

    An absent or unreadable library is not an error here: the flags may say all that is needed.
    """
    from soundfinder import config
    from soundfinder.library import Library, LibraryError

    facts = {"bpm": None, "key": None, "kind": None, "pitch": None}
    try:
        with Library.open(str(config.get("library", args.library)), readonly=True) as lib:
            record = lib.get(path)
            desc = lib.descriptors.get(record.hash) if record is not None else None
    except (LibraryError, OSError):
        return facts
    return {name: getattr(desc, name, None) for name in facts}


def cmd_render(args) -> int:
    from soundfinder.render import FitError, RenderError, parse_bpm, parse_key, plan_fit, render_file

    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        raise CliError(f"no such file: {args.file}")
    if args.bpm is None and args.key is None:
        raise CliError("say what to fit to: --bpm and/or --key", EXIT_USAGE)
    try:
        target_bpm = parse_bpm(args.bpm) if args.bpm is not None else None
        target_key = parse_key(args.key).name if args.key is not None else None
        facts = known_facts(args, path)
        if args.source_bpm is not None:
            facts["bpm"] = parse_bpm(args.source_bpm)
        if args.source_key is not None:
            facts["key"] = parse_key(args.source_key).name
    except FitError as e:
        raise CliError(str(e), EXIT_USAGE) from None
    if target_bpm is not None and facts["bpm"] is None:
        raise CliError(f"the tempo of {args.file} is unknown; give it with --source-bpm", EXIT_USAGE)
    if target_key is not None and facts["key"] is None and not (args.to_key and facts["pitch"]):
        raise CliError(f"the key of {args.file} is unknown; give it with --source-key", EXIT_USAGE)
    kind = facts["kind"] or ("loop" if facts["bpm"] is not None else None)
    plan = plan_fit(source_bpm=facts["bpm"], source_key=facts["key"], kind=kind, target_bpm=target_bpm,
                    target_key=target_key, pitch=facts["pitch"], to_key=args.to_key)
    try:
        render_file(path, plan, args.out, percussive=facts["key"] is None, quality=args.quality)
    except RenderError as e:
        raise CliError(str(e)) from None
    result = {"source": path, "out": os.path.abspath(args.out), "stretch": plan.stretch,
              "semitones": plan.semitones, "warnings": list(plan.warnings)}
    if args.json:
        print_json(result)
    else:
        for w in plan.warnings:
            print(f"warning: {w}")
        print(f"{args.out}: {plan.stretch:.4f}x speed, {plan.semitones:+d} semitones")
    return 0
