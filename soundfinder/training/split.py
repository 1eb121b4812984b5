"""The held-out split: whole packs (groups) aside, close to the asked fraction, no class lost.

Files of one pack are near-duplicates, so they never sit on both sides. Two failures of the
plain "shuffle groups, take until the fraction is reached" rule are avoided: with few large
groups (the default `top` grouping makes every top folder one group) it held out half the
library for a 5 % request, so groups that would move the held-out size away from the target
are skipped, and when the groups are too coarse to come near it they are refined to the files'
own folders; and it could hold out every file of a caption class, so that class was never
trained, so a group is never taken when it holds the last training files of a class.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

from soundfinder.training.captions import Pair
from soundfinder.training.templates import coarse_class

MIN_GROUPS_FOR_SPLIT = 2


def group_split(pairs: list[Pair], holdout_fraction: float, seed: int = 0) -> tuple[list[Pair], list[Pair]]:
    """Split into (train, held_out) by whole groups, near `holdout_fraction` of the files.

    At least one group is held out when the fraction is > 0, at least one stays for training,
    and every caption class (coarse word) keeps training files.
    """
    if holdout_fraction <= 0:
        return list(pairs), []
    if len({p.group for p in pairs}) < MIN_GROUPS_FOR_SPLIT:
        raise ValueError(f"a held-out split needs at least {MIN_GROUPS_FOR_SPLIT} groups (packs or folders); "
                         f"found {len({p.group for p in pairs})}. Add another folder or set the held-out "
                         "fraction to 0.")
    target = holdout_fraction * len(pairs)
    held = _choose(pairs, lambda p: p.group, target, seed)
    count = sum(1 for p in pairs if p.group in held)
    if count > 2 * target or count == 0:  # groups too coarse: try the files' own folders
        finer = _choose(pairs, _folder_group, target, seed)
        finer_count = sum(1 for p in pairs if _folder_group(p) in finer)
        if finer_count and abs(finer_count - target) < abs(count - target):
            return ([p for p in pairs if _folder_group(p) not in finer], [p for p in pairs if _folder_group(p) in finer])
    return [p for p in pairs if p.group not in held], [p for p in pairs if p.group in held]


def _folder_group(p: Pair) -> str:
    return f"{p.group}|{p.path.parent}"


def _choose(pairs: list[Pair], key: Callable[[Pair], str], target: float, seed: int) -> set[str]:
    """Groups to hold out: shuffled, each taken when it brings the count nearer the target and
    leaves every class some training files."""
    sizes: Counter = Counter()
    per_group: dict[str, Counter] = {}
    totals: Counter = Counter()
    for p in pairs:
        g, cls = key(p), coarse_class(p.caption)
        sizes[g] += 1
        per_group.setdefault(g, Counter())
        if cls:
            per_group[g][cls] += 1
            totals[cls] += 1
    groups = sorted(sizes)
    random.Random(seed).shuffle(groups)
    held: set[str] = set()
    held_cls: Counter = Counter()
    count = 0

    def allowed(g: str) -> bool:
        return all(held_cls[c] + n < totals[c] for c, n in per_group[g].items())

    for g in groups:
        if count >= target or len(held) + 1 >= len(groups):
            break
        if abs(count + sizes[g] - target) < abs(count - target) and allowed(g):
            held.add(g)
            held_cls.update(per_group[g])
            count += sizes[g]
    if not held:  # every group overshoots: the smallest one that loses no class
        fits = [g for g in sorted(groups, key=lambda g: sizes[g]) if allowed(g)]
        held = {fits[0]} if fits else set()
    return held
