"""Captions for training, from the names producers already gave their samples.

"Drums/Kicks/Kick_808_Deep_03.wav" is a caption waiting to be used: "kick 808 deep". This
module turns paths into what a person would write (split camelCase and separators, expand
abbreviations, drop take numbers and velocity layers), adds user tags, lets an explicit
`path,caption` CSV override everything, and names each file's group (pack or folder) so the
held-out split (split.py) never puts near-duplicate files of one pack on both sides.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from soundfinder.audio import is_audio_path

# The naming rules live in one place, shared with name search; re-exported for callers of this module.
from soundfinder.library.nametokens import (  # noqa: F401
    ABBREVIATIONS,
    CATEGORY_WORDS,
    DRUM_TYPES,
    PHRASES,
    STOPWORDS,
    dedupe,
    words_from_name,
)


@dataclass(frozen=True)
class Pair:
    """One training example: an audio file, what it sounds like, and its pack/folder group."""

    path: Path
    caption: str
    group: str


def _tidy(words: list[str]) -> list[str]:
    """Drop a generic "drum" next to a specific drum word; "open hi-hat" already says "hi-hat"."""
    if "drum" in words and DRUM_TYPES.intersection(words):
        words = [w for w in words if w != "drum"]
    if "hi-hat" in words and ("open hi-hat" in words or "closed hi-hat" in words):
        words = [w for w in words if w != "hi-hat"]
    return words


def caption_from_path(path: str | os.PathLike, root: str | os.PathLike | None = None) -> str:
    """What a person would write for this file, from its name and the folders under `root`.

    The file name leads; folder names add the category words the name lacks; when the name
    says nothing ("01.wav"), every folder word is used, deepest folder first ("Pads/Warm" ->
    "warm pad"). Returns "" when nothing meaningful is left.
    """
    p = Path(path)
    folders = list(p.relative_to(root).parent.parts) if root is not None else list(p.parent.parts[-2:])
    file_words = words_from_name(p.stem)
    folder_words = [w for part in reversed(folders) for w in words_from_name(part)]
    if file_words:
        words = file_words + [w for w in folder_words if w in CATEGORY_WORDS]
    else:
        words = folder_words
    return " ".join(_tidy(dedupe(words)))


def group_of(path: Path, root: Path, group_by: str = "top") -> str:
    """The pack a file belongs to: its top folder under `root` ("top") or its own folder ("parent")."""
    rel = path.relative_to(root)
    if group_by == "parent" or len(rel.parts) == 1:
        return str(root / rel.parent)
    return str(root / rel.parts[0])


def read_captions_csv(csv_path: str | os.PathLike) -> dict[Path, str]:
    """`path,caption` rows (header optional); relative paths are relative to the CSV's folder."""
    base = Path(csv_path).parent
    out: dict[Path, str] = {}
    with open(csv_path, newline="", encoding="utf-8") as f:
        for row in csv.reader(f):
            if len(row) < 2 or not row[0].strip() or row[0].strip().lower() == "path":
                continue
            p = Path(row[0].strip()).expanduser()
            out[(p if p.is_absolute() else base / p).resolve()] = row[1].strip()
    return out


def collect_pairs(folders: Iterable[str | os.PathLike], captions_csv: str | os.PathLike | None = None,
                  tags: Mapping[str | os.PathLike, Iterable[str]] | None = None,
                  group_by: str = "top") -> list[Pair]:
    """Every audio file under `folders` with a caption; files with no usable caption are skipped.

    An explicit caption from `captions_csv` wins over the path; user `tags` are appended.
    CSV rows for files outside `folders` are included too (grouped by their own folder).
    """
    explicit = read_captions_csv(captions_csv) if captions_csv else {}
    user_tags = {Path(k).resolve(): list(v) for k, v in (tags or {}).items()}
    pairs: dict[Path, Pair] = {}  # by resolved path: CSV rows, tags and walked files all compare resolved
    for folder in folders:
        root = Path(folder).expanduser().resolve()
        for path in _walk_audio(root):
            key = path.resolve()
            if key not in pairs:
                caption = explicit.get(key) or caption_from_path(path, root)
                pairs[key] = Pair(path, caption, group_of(path, root, group_by))
    for path, caption in explicit.items():
        if path not in pairs and path.is_file():
            pairs[path] = Pair(path, caption, str(path.parent))
    out = []
    for key, pair in pairs.items():
        extra = [t.strip().lower() for t in user_tags.get(key, []) if t.strip()]
        caption = " ".join(dedupe(pair.caption.split() + extra)) if extra else pair.caption
        if caption:
            out.append(Pair(pair.path, caption, pair.group))
    return out


def _walk_audio(root: Path):
    """Audio files under `root` in a stable order, following symlinked folders as indexing does
    (each real folder once, so a link loop cannot recurse forever)."""
    seen: set[Path] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
        real = Path(dirpath).resolve()
        if real in seen:
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames.sort()
        for name in sorted(filenames):
            if not name.startswith(".") and is_audio_path(name):
                yield Path(dirpath) / name
