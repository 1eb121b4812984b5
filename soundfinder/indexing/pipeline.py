"""scan → compare with the catalog → hash → decode (threads) → embed (batches) → commit.

Cheap changes (moves, removals, files whose content the library already has, failures)
commit first in one batch; new audio is then decoded on worker threads while the model
embeds the previous batch, and each batch commits as soon as it is embedded, so a
cancelled or killed run keeps everything finished before it and the next run resumes.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable

from soundfinder.indexing.embedding import embed_new
from soundfinder.indexing.plan import IndexSummary, Progress, ProgressFn, run_index
from soundfinder.library import Library

__all__ = ["IndexSummary", "Progress", "index_paths"]  # the planning types live in plan.py


def index_paths(library: Library, embedder, roots: Iterable[str], *, progress: ProgressFn | None = None,
                cancel: threading.Event | None = None, files_per_batch: int = 32,
                decode_workers: int | None = None, commit_seconds: float = 2.0,
                analysis: bool = True) -> IndexSummary:
    """Bring the library up to date with the files under `roots` (folders or single files)."""

    def embed(plan, summary, report, cancel):
        # 3. Embed new content, one file per distinct hash; byte-identical copies reuse its vector.
        embed_new(library, embedder, plan.groups, plan.changed, summary, plan.prog, report, cancel,
                  files_per_batch, decode_workers or max(2, min(4, (os.cpu_count() or 2))), commit_seconds,
                  analysis)

    return run_index(library, roots, progress, cancel, embed)
