"""Full-precision vectors of labels 0..n-1: a growable RAM array, or a float32 file memory-mapped.

The file form is what the hybrid tier rescores from and what the disk tier's
delta lives in: rows are written through the map as they are added (the OS
page cache holds them, not the Python heap), flushed and fsynced on save. The
file is preallocated in growing chunks, so its size can exceed n; the meta
file's row count is the truth. A process that cannot write the file (a
read-only reader) keeps rows it adds in a RAM tail instead.
"""

from __future__ import annotations

import logging
import mmap
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from .._arrays import GrowableArray
from .._checksum import crc_array
from .._fileset import fresh_name, fsync_file, register_open_file, write_atomic
from ..errors import CorruptionError

log = logging.getLogger(__name__)

ROW_DTYPE = np.float32


class VectorStore:
    """Rows of float32 vectors addressed by label; in RAM (path None) or in a memory-mapped file."""

    def __init__(self, dim: int, *, path: Path | None = None, n: int = 0, writable: bool = True) -> None:
        self.dim = dim
        self.path = path
        self._n = n  # rows in the file (path set)
        self._writable = writable
        self._tail = GrowableArray(ROW_DTYPE, row_shape=(dim,))  # rows past the file when it cannot be written
        self._map: np.ndarray | None = None
        self._memmap: np.memmap | None = None
        self._ram = GrowableArray(ROW_DTYPE, row_shape=(dim,))  # every row, when there is no file
        if path is not None:
            self._remap(max(n, 1))
            register_open_file(self, path)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def in_ram(cls, vectors: np.ndarray) -> "VectorStore":
        """A store of a copy of these rows."""
        store = cls(vectors.shape[1])
        store.append(vectors)
        return store

    @classmethod
    def create_file(cls, directory: Path, prefix: str, vectors: np.ndarray, dim: int) -> "VectorStore":
        """A new file of these rows in directory, under a fresh name."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / fresh_name(prefix, ".f32")
        with open(path, "wb") as handle:
            np.ascontiguousarray(vectors, dtype=ROW_DTYPE).tofile(handle)
        return cls(dim, path=path, n=len(vectors))

    @classmethod
    def open_file(cls, path: Path, dim: int, n: int, *, writable: bool = True) -> "VectorStore":
        """Map an existing file holding at least n rows; OSError when it holds fewer."""
        size = path.stat().st_size
        if size < n * dim * 4:
            raise OSError(f"{path.name} holds {size // (dim * 4)} vectors, the index meta says {n}")
        return cls(dim, path=path, n=n, writable=writable and os.access(path, os.W_OK))

    @classmethod
    def load_ram(cls, path: Path, dim: int, n: int) -> "VectorStore":
        """Read the first n rows of a file into RAM."""
        rows = np.fromfile(path, dtype=ROW_DTYPE, count=n * dim)
        if len(rows) < n * dim:
            raise OSError(f"{path.name} holds {len(rows) // dim} vectors, the index meta says {n}")
        store = cls(dim)
        store._ram = GrowableArray(ROW_DTYPE, row_shape=(dim,), initial=rows.reshape(n, dim))
        return store

    # -- rows -------------------------------------------------------------------------------

    @property
    def n(self) -> int:
        if self.path is None:
            return len(self._ram)
        return self._n + len(self._tail)

    @property
    def in_file(self) -> bool:
        return self.path is not None

    def _remap(self, capacity_rows: int) -> None:
        assert self.path is not None
        mode: Literal["r+", "r"] = "r+" if self._writable else "r"
        if self._writable and self.path.stat().st_size < capacity_rows * self.dim * 4:
            os.truncate(self.path, capacity_rows * self.dim * 4)
        rows = capacity_rows if self._writable else max(self._n, 1)
        if self.path.stat().st_size == 0:  # numpy cannot map an empty file
            self._map = np.empty((0, self.dim), ROW_DTYPE)
            return
        self._memmap = np.memmap(self.path, dtype=ROW_DTYPE, mode=mode, shape=(rows, self.dim))
        self._map = self._memmap.view(np.ndarray)  # plain ndarray: memmap's __getitem__ is slow
        raw_map = getattr(self._memmap, "_mmap", None)
        if raw_map is not None and hasattr(mmap, "MADV_RANDOM"):
            # rescoring reads scattered rows: no read-ahead, so RSS grows only by the rows read
            raw_map.madvise(mmap.MADV_RANDOM)

    def append(self, vectors: np.ndarray) -> None:
        """Add rows as labels n, n+1, ..."""
        vectors = np.ascontiguousarray(vectors, dtype=ROW_DTYPE).reshape(-1, self.dim)
        count = len(vectors)
        if not count:
            return
        if self.path is None:
            self._ram.extend(vectors)
            return
        if self._writable and not len(self._tail):
            try:
                needed = self._n + count
                if self._map is None or len(self._map) < needed:
                    self._remap(max(needed, int(len(self._map) * 1.5) if self._map is not None else needed, 1024))
                assert self._map is not None  # _remap always sets it
                self._map[self._n : needed] = vectors
                self._n = needed
                return
            except OSError as exc:
                log.info("cannot write %s (%s): keeping new vectors in RAM", self.path, exc)
                self._writable = False
        self._tail.extend(vectors)

    def view(self) -> np.ndarray:
        """All n rows as one (n, dim) array (a map slice when nothing sits in a RAM tail)."""
        if self.path is None:
            return self._ram.view()
        base = self._map[: self._n] if self._map is not None else np.empty((0, self.dim), ROW_DTYPE)
        if len(self._tail):
            return np.concatenate([base, self._tail.view()])
        return base

    def contiguous(self) -> np.ndarray | None:
        """All n rows as one C-contiguous float32 array without copying, or None (a RAM tail exists)."""
        if len(self._tail):
            return None
        if self.path is None:
            return self._ram.view()
        return self._map[: self._n] if self._map is not None else np.empty((0, self.dim), ROW_DTYPE)

    def rows(self, labels: np.ndarray) -> np.ndarray:
        """Rows for labels (any shape of labels; each must be in [0, n))."""
        labels = np.asarray(labels, dtype=np.int64)
        if self.path is None:
            return self._ram.view()[labels]
        file_rows = self._map
        assert file_rows is not None  # _remap sets it whenever path is set
        if not len(self._tail):
            return file_rows[labels]
        out = np.empty(labels.shape + (self.dim,), ROW_DTYPE)
        in_file = labels < self._n
        out[in_file] = file_rows[labels[in_file]]
        out[~in_file] = self._tail.view()[labels[~in_file] - self._n]
        return out

    # -- persistence ------------------------------------------------------------------------

    def save(self, directory: Path, prefix: str) -> str:
        """Make the rows durable in directory; give back the file name that holds them."""
        if self.path is not None and self.path.parent == directory and not len(self._tail):
            if self._memmap is not None and self._writable:
                self._memmap.flush()
                fsync_file(self.path)
            return self.path.name
        name = fresh_name(prefix, ".f32")
        rows = self.view()
        write_atomic(directory / name, lambda tmp: np.ascontiguousarray(rows).tofile(str(tmp)))
        if self.path is not None:  # the rows now live in the new file: map that one
            self.path, self._n, self._writable = directory / name, len(rows), os.access(directory / name, os.W_OK)
            self._tail = GrowableArray(ROW_DTYPE, row_shape=(self.dim,))
            self._remap(max(self._n, 1))
            register_open_file(self, self.path)
        return name

    def checksum(self) -> int:
        """crc32 of the n rows' bytes (what the index meta records for the file that holds them)."""
        return crc_array(self.view())

    def verify(self, expected: Any, path: Path, where: Path) -> None:
        """CorruptionError naming path (the rows' file) unless the rows match the crc32 that where records.

        expected None: the meta was written before checksums; nothing to check.
        """
        if expected is None:
            return
        if type(expected) is not int or self.checksum() != expected:
            raise CorruptionError(f"vector file {path} is damaged: its rows do not match the crc32 {where} records")

    def ram_bytes(self) -> int:
        return (len(self._ram) + len(self._tail)) * self.dim * 4

    def state(self) -> dict[str, Any]:
        return {"file": self.path.name if self.path is not None else None, "n": self.n}

