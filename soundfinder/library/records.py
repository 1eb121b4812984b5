"""Plain records that cross the library's boundary (no SQL or file layout leaks out)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

INDEXED = "indexed"
FAILED = "failed"
OFFLINE = "offline"


@dataclass
class FileInfo:
    """What the scanner learned about a file on disk."""

    path: str
    size: int
    mtime_ns: int
    hash: str | None = None
    duration: float | None = None
    sample_rate: int | None = None
    channels: int | None = None
    format: str | None = None
    subtype: str | None = None
    warning: str | None = None  # indexed, but something was repaired on the way (decode.py)


@dataclass
class FileRecord:
    id: int
    path: str
    size: int
    mtime_ns: int
    hash: str | None
    duration: float | None
    sample_rate: int | None
    channels: int | None
    format: str | None
    subtype: str | None
    status: str
    error: str | None
    vector_id: int | None
    tags: list[str] = field(default_factory=list)

    @property
    def warning(self) -> str | None:
        """An indexed file's warning: the catalog's `error` column holds a failed file's reason
        and an indexed file's warning (one note per file)."""
        return self.error if self.status == INDEXED else None

    def to_json(self) -> dict:
        return {"path": self.path, "status": self.status, "error": None if self.warning else self.error,
                "warning": self.warning,
                "duration": self.duration, "sample_rate": self.sample_rate,
                "channels": self.channels, "format": self.format, "size": self.size,
                "hash": self.hash, "tags": list(self.tags)}


@dataclass
class Batch:
    """One atomic change to the library: committed together or not at all."""

    embedded: list[tuple[FileInfo, np.ndarray]] = field(default_factory=list)  # new vectors
    reused: list[tuple[FileInfo, int]] = field(default_factory=list)  # existing vector id
    failed: list[tuple[FileInfo, str]] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    moved: list[tuple[str, FileInfo]] = field(default_factory=list)  # old path, new file
    offline: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return (len(self.embedded) + len(self.reused) + len(self.failed) + len(self.removed)
                + len(self.moved) + len(self.offline))
