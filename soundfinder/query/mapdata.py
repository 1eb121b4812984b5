"""Everything a picture of the map needs, gathered from the library in one call (no Qt here).

    data = map_data(library, color="tag")    # None when no map was computed yet
    data.xy, data.paths, data.codes, data.names, data.labels, data.stale

Used by the app's map view (on a background thread) and by `soundfinder map --png`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soundfinder.query.mapcolors import COLOR_BY, MapLabel, categorise, cluster_labels, vector_tags
from soundfinder.query.maplayout import MIN_SOUNDS, Staleness, current_map


@dataclass
class MapData:
    vector_ids: np.ndarray  # int64 (n,)
    xy: np.ndarray  # float32 (n, 2)
    placed: np.ndarray  # bool (n,): placed since the layout
    paths: list[str]  # a file per dot (the first by path when several share the content)
    codes: np.ndarray  # colour category per dot, index into names
    names: list[str]
    labels: list[MapLabel] = field(default_factory=list)
    stale: Staleness | None = None
    info: dict = field(default_factory=dict)
    color: str = "tag"

    def __len__(self) -> int:
        return len(self.vector_ids)

    @property
    def hint(self) -> str:
        """The "refresh map" line shown over a stale map ("" when the map is current enough)."""
        s = self.stale
        if s is None or not s.stale:
            return ""
        new = s.placed + s.missing
        return (f"{new:,} sound(s) placed since the map was made, {s.gone:,} gone · refresh the map "
                f"for a fresh layout")


def first_paths(library, vector_ids: np.ndarray) -> list[str]:
    """One path per vector id: the first file (by path) holding that content."""
    best: dict[int, str] = {}
    for r in library.files("indexed"):
        vid = r.vector_id
        if vid is not None and (vid not in best or r.path < best[vid]):
            best[vid] = r.path
    return [best.get(int(v), "") for v in vector_ids]


def map_data(library, color: str = "tag", save: bool = True, labels: bool = True) -> MapData | None:
    """The stored map brought up to date (new sounds placed), coloured and labelled; None when
    no map was computed yet. A library of fewer than MIN_SOUNDS sounds gives an empty MapData."""
    if color not in COLOR_BY:
        raise ValueError(f"unknown colouring {color!r}; choose one of {', '.join(COLOR_BY)}")
    stored, stale = current_map(library, save=save)
    if stored is None:
        return None
    ids = stored.vector_ids
    tags = vector_tags(library)
    codes, names = categorise(ids, COLOR_BY[color](library, ids, tags))
    data = MapData(ids, stored.xy, stored.placed, first_paths(library, ids), codes, names, stale=stale,
                   info=stored.info, color=color)
    if labels and len(ids) >= MIN_SOUNDS:
        data.labels = cluster_labels(stored.xy, ids, tags)
    return data
