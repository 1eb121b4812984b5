"""Vocabularies for zero-shot tagging: label sets (JSON files shipped under resources/ and the
user's own under `<library>/labelsets/`), parsed and validated here.

    sets = load_label_sets(label_set_dirs(library_dir))

Reading only: writing a user's label set into the library folder is `library.labelsets`' job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal, NewType

import numpy as np

from soundfinder.resources import vocabularies_dir

TAGGER_VERSION = 1  # bump when the decision rules or prompt handling change: auto tags are redone
DEFAULT_TEMPLATES: tuple[str, ...] = (
    "the sound of a {}",
    "a recording of a {}",
    "{}",
    "a {} sample",
    "{} sound",
)
# Stand-ins for "any sound", put through the label set's own templates so the template wording
# cancels out of the margin.
NEUTRAL_WORDS: tuple[str, ...] = ("sound", "audio recording", "sound sample", "audio clip")
USER_SETS_FOLDER = "labelsets"

EncodeText = Callable[[list[str]], np.ndarray]
Mode = Literal["single", "multi"]
TaggerVersion = NewType("TaggerVersion", str)


class LabelSetError(ValueError):
    """A label set file is unreadable or invalid; the message starts with the file's path."""


@dataclass(frozen=True)
class Label:
    """One class of a label set; `prompts` are synonyms a CLAP text tower understands."""

    name: str
    prompts: tuple[str, ...] = ()

    @property
    def texts(self) -> tuple[str, ...]:
        return self.prompts or (self.name,)


@dataclass(frozen=True)
class LabelSet:
    """A vocabulary: labels, how they combine (`mode`) and how they are phrased (`templates`)."""

    name: str
    mode: Mode
    labels: tuple[Label, ...]
    description: str = ""
    templates: tuple[str, ...] | None = None  # None: DEFAULT_TEMPLATES
    applies_to: str | None = None  # a note for people, e.g. "drum one-shots"
    order: int = 50  # position in `describe` text: what it is (10) before form (30) before mood
    source: Path | None = field(default=None, compare=False)

    @property
    def label_names(self) -> list[str]:
        return [label.name for label in self.labels]

    @property
    def effective_templates(self) -> tuple[str, ...]:
        return self.templates or DEFAULT_TEMPLATES

    @cached_property
    def content_hash(self) -> str:
        """Hash of everything that changes the label matrix or the decisions (not the wording
        of `description`, not `order`), so caches and tagger versions follow real changes."""
        content = {"mode": self.mode, "templates": list(self.effective_templates),
                   "labels": [[label.name, list(label.texts)] for label in self.labels]}
        blob = json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "description": self.description, "mode": self.mode}
        if self.applies_to is not None:
            out["applies_to"] = self.applies_to
        out["order"] = self.order
        if self.templates is not None:
            out["templates"] = list(self.templates)
        out["labels"] = [{"name": lb.name, **({"prompts": list(lb.prompts)} if lb.prompts else {})}
                         for lb in self.labels]
        return out

    @classmethod
    def from_dict(cls, data: object, source: Path | None = None) -> LabelSet:
        """Validate and build; every problem raises LabelSetError naming `source`."""
        return _parse_label_set(data, source)


# --- loading, validation, saving -------------------------------------------------------------

_KEYS = {"name", "description", "mode", "applies_to", "order", "templates", "labels"}


def _parse_label_set(data: object, source: Path | None) -> LabelSet:
    where = str(source) if source else "<label set>"

    def fail(problem: str) -> LabelSetError:
        return LabelSetError(f"{where}: {problem}")

    def text(value: object, what: str) -> str:
        if not isinstance(value, str) or not value.strip():
            raise fail(f"{what} must be a non-empty string, got {value!r}")
        return value.strip()

    def texts(value: object, what: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not value:
            raise fail(f"{what} must be a non-empty list of strings")
        return tuple(text(v, f"{what}[{i}]") for i, v in enumerate(value))

    if not isinstance(data, dict):
        raise fail("expected a JSON object at the top level")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise fail(f"unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    name = text(data.get("name"), "'name'")
    mode = data.get("mode")
    if mode not in ("single", "multi"):
        raise fail(f"'mode' must be \"single\" or \"multi\", got {mode!r}")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise fail("'description' must be a string")
    applies_to = data.get("applies_to")
    if applies_to is not None:
        applies_to = text(applies_to, "'applies_to'")
    order = data.get("order", 50)
    if not isinstance(order, int) or isinstance(order, bool):
        raise fail(f"'order' must be an integer, got {order!r}")
    templates = None
    if data.get("templates") is not None:
        templates = texts(data["templates"], "'templates'")
        for t in templates:
            if t.count("{}") != 1 or t.replace("{}", "").count("{") or t.replace("{}", "").count("}"):
                raise fail(f"template {t!r} must contain exactly one '{{}}' and no other braces")
    raw_labels = data.get("labels")
    if not isinstance(raw_labels, list) or not raw_labels:
        raise fail("'labels' must be a non-empty list")
    labels: list[Label] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_labels):
        if isinstance(raw, str):  # shorthand: a bare label name
            raw = {"name": raw}
        if not isinstance(raw, dict) or set(raw) - {"name", "prompts"}:
            raise fail(f"labels[{i}] must be a string or an object with 'name' and optional 'prompts'")
        label_name = text(raw.get("name"), f"labels[{i}].name")
        if label_name.casefold() in seen:
            raise fail(f"duplicate label {label_name!r}")
        seen.add(label_name.casefold())
        prompts = texts(raw["prompts"], f"labels[{i}].prompts") if raw.get("prompts") is not None else ()
        labels.append(Label(label_name, prompts))
    if mode == "single" and len(labels) < 2:
        raise fail("a single-choice set needs at least two labels")
    return LabelSet(name=name, mode=mode, labels=tuple(labels), description=description,
                    templates=templates, applies_to=applies_to, order=order, source=source)


def load_label_set(path: Path) -> LabelSet:
    """Read and validate one label set file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise LabelSetError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelSetError(f"{path}: not valid JSON: {exc}") from exc
    return _parse_label_set(data, path)


def label_set_dirs(library_dir: Path | None = None) -> list[Path]:
    """Where label sets come from: the shipped vocabularies, then the library's own sets."""
    dirs = [vocabularies_dir()]
    if library_dir is not None:
        dirs.append(Path(library_dir) / USER_SETS_FOLDER)
    return dirs


def load_label_sets(dirs: Iterable[Path]) -> list[LabelSet]:
    """All `*.json` sets in `dirs` (missing folders are skipped).

    A set in a later folder replaces an earlier one of the same name, so a user can override
    a shipped vocabulary; two sets of one name in the same folder are an error.
    """
    by_name: dict[str, LabelSet] = {}
    for folder in dirs:
        folder = Path(folder)
        if not folder.is_dir():
            continue
        here: dict[str, Path] = {}
        for path in sorted(folder.glob("*.json")):
            ls = load_label_set(path)
            key = ls.name.casefold()
            if key in here:
                raise LabelSetError(f"{path}: label set name {ls.name!r} is already used by {here[key]}")
            here[key] = path
            by_name[key] = ls  # dict keeps the first position, later folders override content
    return list(by_name.values())


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.casefold()).strip("-") or "labelset"


def save_user_label_set(library_dir: Path, label_set: LabelSet) -> Path:
    """Validate and write `label_set` to `<library>/labelsets/<slug>.json`; returns the path."""
    from soundfinder.library.labelsets import write_label_set_file

    data = label_set.to_dict()
    _parse_label_set(data, None)  # refuse to write what we could not read back
    return write_label_set_file(Path(library_dir), USER_SETS_FOLDER, f"{_slug(label_set.name)}.json",
                                (json.dumps(data, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


