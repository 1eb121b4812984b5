"""The library folder: the only code that writes it."""

from soundfinder.library.library import (
    Library,
    LibraryError,
    LibraryLockedError,
    LibraryWriteError,
    SpaceMismatchError,
)
from soundfinder.library.records import FAILED, INDEXED, OFFLINE, Batch, FileInfo, FileRecord

__all__ = ["FAILED", "INDEXED", "OFFLINE", "Batch", "FileInfo", "FileRecord", "Library", "LibraryError",
           "LibraryLockedError", "LibraryWriteError", "SpaceMismatchError"]
