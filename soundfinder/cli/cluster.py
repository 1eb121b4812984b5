"""`soundfinder index --cluster ADDRESS`: the flags and the handler (Ray is imported only here,
and only when the flag is given; `soundfinder --help` never loads it).

Not a command module of its own: `cli/library.py` adds these flags to `index`.
"""

from __future__ import annotations

import os
import sys

from soundfinder import config
from soundfinder.cli.common import CliError, ProgressPrinter, open_library


def add_cluster_flags(s) -> None:
    g = s.add_argument_group("on a Ray cluster (pip install \"soundfinder[cluster]\")")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="decode and embed on Ray: 'local' (a Ray on this machine's cores), HOST:PORT of a "
                        "running cluster, or ray://HOST:10001; this machine stays the only writer")
    g.add_argument("--actors", metavar="MIN:MAX", default="1:1",
                   help="model actors (each loads the model once), e.g. 1:8 (default 1:1)")
    g.add_argument("--gpus-per-actor", metavar="N", type=float, default=0.0,
                   help="GPUs per model actor (e.g. 1, or 0.5 to share one); default 0: on the CPU")
    g.add_argument("--path-map", metavar="LOCAL=REMOTE", action="append", default=[],
                   help="the same files under another mount on the workers (repeatable); applies to a "
                        "local --model folder too")


def cmd_index_cluster(args, print_summary) -> int:
    """Connect (or start a local Ray), check every node, then index with this process as the writer.

    The order matters for the 'library untouched' promise: connecting and the pre-flight
    checks run before the library is opened for writing.
    """
    from soundfinder.cli.common import _quiet_transformers
    from soundfinder.indexing.cluster import (
        ClusterError,
        ClusterOptions,
        connect,
        disconnect,
        index_on_cluster,
        parse_actors,
        parse_path_map,
        preflight,
    )
    from soundfinder.model import ClapEmbedder

    try:
        opts = ClusterOptions(address=args.cluster, actors=parse_actors(args.actors),
                              gpus_per_actor=args.gpus_per_actor, path_map=parse_path_map(args.path_map))
    except ClusterError as e:
        raise CliError(str(e)) from None
    if opts.gpus_per_actor < 0:
        raise CliError("--gpus-per-actor must be 0 or more")
    model = str(config.get("model", args.model))
    precision = str(config.get("precision", getattr(args, "precision", None)))
    _quiet_transformers()
    roots = [os.path.abspath(os.path.expanduser(p)) for p in args.paths]
    printer = ProgressPrinter()
    try:
        connect(opts.address)
        # The driver's copy gives the embedding space and the feature recipe, on the CPU in
        # float32 (the space does not depend on either): the model runs on the workers.
        embedder = ClapEmbedder.load(model, device="cpu", precision="float32")
        preflight(roots, model, opts)
        with open_library(args, embedder) as lib:
            summary = index_on_cluster(lib, embedder, roots, opts, model=model, precision=precision,
                                       progress=printer, warn=_note)
    except ClusterError as e:
        raise CliError(str(e)) from None
    finally:
        printer.close()
        disconnect()
    print_summary(args, summary)
    return 0


def _note(message: str) -> None:
    print(f"soundfinder: note: {message}", file=sys.stderr)
