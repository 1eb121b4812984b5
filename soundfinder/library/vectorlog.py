"""The durable record of every vector: an append-only file of float32 rows.

Vector id = row number. A batch of vectors is appended and fsynced before the catalog
commit that refers to it; rows past the catalog's count (a crash between the two) are cut
off when the library opens. Appending costs the size of the batch, whatever the library
size, which keeps a single-file commit cheap at a million files.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

MAGIC = b"SFVECLOG"
HEADER = struct.Struct("<8sII")  # magic, dim, version


class VectorLogError(Exception):
    pass


class VectorLog:
    def __init__(self, path: str | os.PathLike, dim: int, readonly: bool = False):
        self.path = Path(path)
        self.dim = dim
        self.readonly = readonly
        self.row_bytes = 4 * dim
        if not self.path.exists():
            if readonly:
                self._count = 0
                return
            with open(self.path, "wb") as f:
                f.write(HEADER.pack(MAGIC, dim, 1))
                f.flush()
                os.fsync(f.fileno())
        with open(self.path, "rb") as f:
            head = f.read(HEADER.size)
        if len(head) < HEADER.size:
            raise VectorLogError(f"{self.path}: vector file header is damaged")
        magic, fdim, _ = HEADER.unpack(head)
        if magic != MAGIC:
            raise VectorLogError(f"{self.path}: not a soundfinder vector file")
        if fdim != dim:
            raise VectorLogError(f"{self.path}: holds {fdim}-d vectors, the model makes {dim}-d")
        size = self.path.stat().st_size - HEADER.size
        self._count = size // self.row_bytes

    def __len__(self) -> int:
        return self._count

    def truncate(self, count: int) -> None:
        """Drop rows past `count` (uncommitted after a crash, or a failed catalog commit)."""
        if count > self._count:
            raise VectorLogError(
                f"{self.path}: the catalog refers to {count} vectors but the file holds {self._count}")
        if self.readonly:
            self._count = count
            return
        with open(self.path, "r+b") as f:
            f.truncate(HEADER.size + count * self.row_bytes)
            f.flush()
            os.fsync(f.fileno())
        self._count = count

    def append(self, vectors: np.ndarray) -> int:
        """Append rows durably; returns the id of the first one."""
        if self.readonly:
            raise PermissionError("library opened read-only")
        v = np.ascontiguousarray(vectors, dtype="<f4").reshape(-1, self.dim)
        first = self._count
        with open(self.path, "r+b") as f:
            try:
                f.seek(HEADER.size + first * self.row_bytes)
                f.write(v.tobytes())
                f.flush()
                os.fsync(f.fileno())
            except BaseException:
                # A full disk or an I/O error part way: cut the partial rows off (best effort;
                # rows past the catalog's count are cut again on the next open anyway).
                try:
                    f.truncate(HEADER.size + first * self.row_bytes)
                except (OSError, ValueError):
                    pass
                raise
        self._count += v.shape[0]
        return first

    def read(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        stop = self._count if stop is None else min(stop, self._count)
        if stop <= start:
            return np.zeros((0, self.dim), dtype=np.float32)
        with open(self.path, "rb") as f:
            f.seek(HEADER.size + start * self.row_bytes)
            data = f.read((stop - start) * self.row_bytes)
        return np.frombuffer(data, dtype="<f4").reshape(-1, self.dim).astype(np.float32)

    def matrix(self) -> np.ndarray:
        """All rows as a read-only memory map (pages load on demand, shared with the OS cache)."""
        if self._count == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.memmap(self.path, dtype="<f4", mode="r", offset=HEADER.size,
                         shape=(self._count, self.dim))

    def take(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self.matrix()[ids], dtype=np.float32)
