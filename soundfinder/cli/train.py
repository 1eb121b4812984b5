"""`soundfinder tune` and `soundfinder eval`: teach the model a library, and measure search quality.

Registered by `soundfinder.cli` (EXTENSIONS); only argparse is imported up front, torch and
transformers inside the handlers, so `soundfinder --help` stays fast. A tuned model is used
like any other with `--model DIR`; it is a new embedding space, so libraries re-embed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path


def add_tune_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("tune", help="fine-tune the model on your named samples (contrastive, resumable)",
                       description="Captions come from file and folder names (and --captions); a held-out "
                                   "set of whole packs measures recall before and after.")
    s.add_argument("folders", nargs="*", type=Path, metavar="FOLDER",
                   help="sample folders to learn from (default: the library's folders, with your tags)")
    s.add_argument("--out", required=True, type=Path, help="folder for the tuned model (and its checkpoints)")
    s.add_argument("--from", dest="base", help="model to start from (default: --model or the configured model)")
    s.add_argument("--captions", type=Path, help="CSV of path,caption rows (wins over file names)")
    s.add_argument("--train", choices=["projection", "top", "all"], default="top",
                   help="what to update (default top: projections and the last layers)")
    s.add_argument("--epochs", type=int, default=5)
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--grad-accum", type=int, default=1, help="forward passes per optimizer step")
    s.add_argument("--lr", type=float, help="peak learning rate (default from the mode: 5e-4 from scratch, "
                                            "1e-4 projection, 1e-5 top/all)")
    s.add_argument("--holdout", type=float, default=0.1, help="fraction of files held out, by pack (default 0.1)")
    s.add_argument("--group-by", choices=["top", "parent"], default="top", help="what counts as a pack")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--minutes", type=float, default=0.0,
                   help="time box: train this long, whatever --epochs says (0: none)")
    s.add_argument("--fixed-captions", action="store_true",
                   help="always the file's name caption (the old design) instead of sampled captions")
    s.add_argument("--from-scratch", action="store_true", help="re-initialise the weights first")
    s.add_argument("--no-resume", action="store_true", help="ignore checkpoints already in --out")
    s.add_argument("--json", action="store_true", help="print the training record as JSON")
    s.set_defaults(func=cmd_tune)
    return s


def add_eval_parser(sub) -> argparse.ArgumentParser:
    s = sub.add_parser("eval", help="measure search quality: zero-shot accuracy and text->audio recall",
                       description="Without --pairs, a tuned model is evaluated on the packs it held out.")
    s.add_argument("--labels", type=Path, help="CSV of path,label rows for zero-shot classification")
    s.add_argument("--pairs", type=Path, help="CSV of path,caption rows for text->audio recall")
    s.add_argument("--model", default=argparse.SUPPRESS, help="model to evaluate (default: the configured one)")
    s.add_argument("--baseline", help="a second model shown side by side (e.g. the one you tuned from)")
    s.add_argument("--template", action="append", help="prompt template for labels, e.g. 'the sound of a {}'")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_eval)
    return s


def register(sub) -> None:
    add_tune_parser(sub)
    add_eval_parser(sub)


def _model_arg(value) -> str:
    from soundfinder import config

    return str(config.get("model", value))


def _progress(step: int, total: int, loss: float, eta: float) -> None:
    end = "\n" if step == total or not sys.stderr.isatty() else ""
    print(f"\rstep {step}/{total}  loss {loss:.4f}  eta {eta / 60:.1f} min", end=end, file=sys.stderr, flush=True)


def cmd_tune(args) -> int:
    from soundfinder.cli.common import CliError, _quiet_transformers
    from soundfinder.training.trainer import TooFewPairsError, TrainConfig, TrainingCancelled
    from soundfinder.training.tune import heldout_table, tune

    _quiet_transformers()
    folders, tags = args.folders, None
    if not folders and not args.captions:
        folders, tags = _library_sources(args)  # "teach it my library"
    device = args.device if getattr(args, "device", None) in ("cpu", "cuda") else "auto"
    cfg = TrainConfig(train=args.train, from_scratch=args.from_scratch, epochs=args.epochs,
                      batch_size=args.batch_size, grad_accum=args.grad_accum, lr=args.lr, seed=args.seed,
                      holdout_fraction=args.holdout, group_by=args.group_by, max_minutes=args.minutes,
                      resume=not args.no_resume, device=device,
                      captions="fixed" if args.fixed_captions else "sampled")
    cancel = threading.Event()

    def on_interrupt(signum, frame):  # first Ctrl-C: finish the step and save; second: stop now
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        print("\nsoundfinder: stopping after this step (Ctrl-C again to abort)", file=sys.stderr)

    previous = signal.signal(signal.SIGINT, on_interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        out = tune(args.base or _model_arg(getattr(args, "model", None)), args.out, folders, args.captions,
                   cfg, _progress, cancel, tags=tags)
    except TooFewPairsError as e:
        raise CliError(str(e)) from None
    except TrainingCancelled as e:
        print(f"soundfinder: cancelled; checkpoint {e.checkpoint}. Run the same command to resume.", file=sys.stderr)
        return 130
    except (ValueError, FileNotFoundError, OSError) as e:
        raise CliError(str(e)) from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    if args.json:
        print((out / "training.json").read_text())
    else:
        table = heldout_table(out)
        print(table or "(nothing held out: add more packs to measure recall)")
        print(_speed_line(out))
        print(f"tuned model: {out}\nuse it with: soundfinder --model {out} index ...  (a new embedding space: "
              "libraries re-embed)")
    return 0


def _speed_line(out: Path) -> str:
    """steps/s and the share of step time in the model's forward/backward (the rest is data)."""
    speed = json.loads((out / "training.json").read_text()).get("speed", {})
    return (f"speed: {speed.get('steps_per_s', 0):.2f} steps/s, {100 * speed.get('model_share', 0):.0f} % of step "
            "time in the model (forward, backward, optimizer)")


def _library_sources(args) -> tuple[list[Path], dict[str, list[str]]]:
    """The library's own folders, and the user's tags by path (appended to the captions that
    file and folder names give)."""
    from soundfinder.cli.common import CliError, open_library
    from soundfinder.library import LibraryError
    from soundfinder.library.tags import USER

    try:
        with open_library(args, readonly=True) as lib:
            folders = [Path(f) for f in lib.folders()]
            tags: dict[str, list[str]] = {}
            for t in lib.export_tags(include_rejected=False):
                if t.source == USER:
                    tags.setdefault(t.path, []).append(t.tag)
    except LibraryError as e:
        raise CliError(f"no sample folders given, and the library cannot be read ({e}); give sample folders "
                       "and/or --captions CSV to learn from") from None
    if not folders:
        raise CliError("no sample folders given and the library follows none: index some first "
                       "(soundfinder index FOLDER), or give sample folders and/or --captions CSV")
    return folders, tags


def cmd_eval(args) -> int:
    from soundfinder.cli.common import CliError, _quiet_transformers
    from soundfinder.training.captions import Pair, read_captions_csv
    from soundfinder.training.tune import evaluate_cli

    _quiet_transformers()
    pairs = None
    if args.pairs:
        pairs = [Pair(p, c, "") for p, c in read_captions_csv(args.pairs).items()]
    try:
        result = evaluate_cli(_model_arg(getattr(args, "model", None)), args.labels, pairs, args.baseline,
                              tuple(args.template or ["the sound of a {}"]))
    except (ValueError, FileNotFoundError) as e:
        raise CliError(str(e)) from None
    if args.json:
        print(json.dumps(result["results"], indent=2))
    else:
        print(result["table"])
    return 0
