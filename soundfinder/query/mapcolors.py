"""What the map's dots mean: a colour category per sound, and readable labels for clusters.

    tags = vector_tags(library)                       # {vector id: [(tag, score, label set)]}
    cats = COLOR_BY["tag"](library, vector_ids, tags) # {vector id: "kick"}
    codes, names = categorise(vector_ids, cats)       # small ints for a palette + legend names
    labels = cluster_labels(xy, vector_ids, tags)     # [MapLabel("snare", x, y, 240)]

Colourings are functions returning a plain {vector id: category} mapping, registered in
`COLOR_BY`; another one (loop/one-shot "kind") is one more entry. Everything reads the catalog
through `Library`'s public verbs; nothing here writes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# The "what is it" label sets: a sound's category is its most confident tag among these.
CATEGORY_SETS = ("drums", "instrument", "fx")
CONFIDENT = 0.5  # an auto tag's stored confidence at least this counts for cluster labels
MAX_COLORS = 11  # the most common categories get a colour; the rest share "other"
OTHER, UNTAGGED = "other", "untagged"
# Distinct on the dark theme, roughly in order of how much they stand out.
PALETTE = ("#4cc9f0", "#f72585", "#ffd166", "#06d6a0", "#f8961e", "#9b5de5", "#e63946",
           "#90be6d", "#4895ef", "#ff99c8", "#c9ada7")
OTHER_COLOR, UNTAGGED_COLOR = "#b1bac4", "#7d8590"

VectorTags = dict[int, list[tuple[str, float, str]]]


def vector_tags(library) -> VectorTags:
    """Every sound's visible tags as (tag, confidence, label set), best first. User tags count
    as confidence 1 with label set "user". One pass over the catalog's tag export."""
    vector_of = {r.path: r.vector_id for r in library.files("indexed") if r.vector_id is not None}
    out: VectorTags = {}
    for t in library.export_tags(include_rejected=False):
        vid = vector_of.get(t.path)
        if vid is None:
            continue
        score = 1.0 if t.source == "user" else float(t.score or 0.0)
        out.setdefault(vid, []).append((t.tag, score, t.label_set or "user"))
    for tags in out.values():
        tags.sort(key=lambda x: (-x[1], x[0]))
    return out


def by_tag(library, vector_ids, tags: VectorTags | None = None) -> dict[int, str]:
    """The most confident tag of the category sets (drums, instrument, fx) or a user tag."""
    tags = vector_tags(library) if tags is None else tags
    out = {}
    for vid in vector_ids:
        best = [t for t, _, s in tags.get(int(vid), ()) if s in CATEGORY_SETS or s == "user"]
        out[int(vid)] = best[0] if best else UNTAGGED
    return out


def by_folder(library, vector_ids, tags: VectorTags | None = None) -> dict[int, str]:
    """The first folder below the library folder a sound sits in (its kit or pack)."""
    roots = sorted(library.folders(), key=len, reverse=True)
    wanted = {int(v) for v in vector_ids}
    out = {}
    for r in library.files("indexed"):
        if r.vector_id in wanted and r.vector_id not in out:
            out[r.vector_id] = _top_folder(r.path, roots)
    return out


def _top_folder(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root.rstrip(os.sep) + os.sep):
            rel = os.path.relpath(path, root).split(os.sep)
            if len(rel) > 1:
                return rel[0]
            # loose files in the library folder itself: "sonic-pi/samples" says more than "samples"
            return "/".join(root.rstrip(os.sep).split(os.sep)[-2:]).lstrip("/")
    return os.path.basename(os.path.dirname(path))


Colouring = Callable[..., dict[int, str]]
# "kind" (loop / one-shot, #13) joins here as one more entry.
COLOR_BY: dict[str, Colouring] = {"tag": by_tag, "folder": by_folder}


def categorise(vector_ids, categories: dict[int, str], max_colors: int = MAX_COLORS
               ) -> tuple[np.ndarray, list[str]]:
    """(a code per vector: an index into `names`, names): the most common categories first,
    then "other" and "untagged" when present. Codes index `palette(names)`."""
    cats = [categories.get(int(v), UNTAGGED) for v in vector_ids]
    counts = Counter(c for c in cats if c != UNTAGGED)
    top = [name for name, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:max_colors]]
    names = list(top)
    if len(counts) > len(top):
        names.append(OTHER)
    if UNTAGGED in cats:
        names.append(UNTAGGED)
    index = {n: i for i, n in enumerate(names)}
    codes = np.array([index.get(c, index.get(OTHER, 0)) if c != UNTAGGED else index[UNTAGGED]
                      for c in cats], dtype=np.int16)
    return codes, names


def palette(names: list[str]) -> list[str]:
    """A colour (#rrggbb) per category name, "other" and "untagged" in greys."""
    out, i = [], 0
    for name in names:
        if name == OTHER:
            out.append(OTHER_COLOR)
        elif name == UNTAGGED:
            out.append(UNTAGGED_COLOR)
        else:
            out.append(PALETTE[i % len(PALETTE)])
            i += 1
    return out


@dataclass(frozen=True)
class MapLabel:
    text: str
    x: float
    y: float
    size: int  # sounds in the cluster
    share: float  # of them carrying the tag


def cluster_labels(xy: np.ndarray, vector_ids, tags: VectorTags, clusters: int | None = None,
                   min_share: float = 0.3) -> list[MapLabel]:
    """Group the dots (k-means on the layout, seeded) and name each group by the most common
    confident tag of its members, when at least `min_share` of them carry it."""
    n = len(xy)
    if n < 3:
        return []
    k = clusters or int(np.clip(np.sqrt(n) / 3, 2, 24))
    from sklearn.cluster import KMeans

    assign = KMeans(n_clusters=min(k, n), n_init=1, random_state=0).fit_predict(np.asarray(xy, dtype=np.float64))
    labels = []
    for c in range(assign.max() + 1):
        members = np.flatnonzero(assign == c)
        if not len(members):
            continue
        counts = Counter()
        for i in members:
            counts.update({t for t, s, _ in tags.get(int(vector_ids[i]), ()) if s >= CONFIDENT})
        if not counts:
            continue
        tag, hits = min(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        if hits / len(members) >= min_share:
            x, y = np.median(xy[members], axis=0)
            labels.append(MapLabel(tag, float(x), float(y), len(members), hits / len(members)))
    return _one_per_place(labels)


def _one_per_place(labels: list[MapLabel], near: float = 0.35) -> list[MapLabel]:
    """k-means may cut one island in two: a tag is named once per neighbourhood (layouts are
    scaled to about [-1, 1], so `near` is a sixth of the map), by its biggest cluster."""
    kept: list[MapLabel] = []
    for lab in sorted(labels, key=lambda lb: -lb.size):
        if not any(k.text == lab.text and np.hypot(k.x - lab.x, k.y - lab.y) < near for k in kept):
            kept.append(lab)
    return kept
