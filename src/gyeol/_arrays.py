"""Array plumbing shared by the indexes: a growable array."""

from __future__ import annotations

from typing import Any

import numpy as np

_MIN_CAPACITY = 64  # rows allocated by the first append
_GROWTH = 1.5


class GrowableArray:
    """An array that grows along its first axis with amortised O(1) appends; view() is the filled part.

    row_shape: the shape of one row (() for a 1-D array, (dim,) for a matrix of vectors).
    initial: an array to start from, adopted without a copy; a read-only one (a memory map of
    a saved file) is copied on the first write.
    """

    __slots__ = ("_data", "_size")

    def __init__(self, dtype: Any, *, row_shape: tuple[int, ...] = (), initial: np.ndarray | None = None) -> None:
        dtype = np.dtype(dtype)
        if initial is None:
            self._data = np.empty((0, *row_shape), dtype)
        else:
            self._data = initial if initial.dtype == dtype else initial.astype(dtype)
        self._size = len(self._data)

    def __len__(self) -> int:
        return self._size

    def view(self) -> np.ndarray:
        """The filled rows, read-only. Appends never move them under an existing view."""
        out = self._data[: self._size]
        out.flags.writeable = False
        return out

    def _reserve(self, size: int) -> None:
        """Own a writable buffer with room for size rows."""
        data = self._data
        if size <= len(data) and data.flags.writeable and not isinstance(data, np.memmap):
            return
        capacity = max(size, int(len(data) * _GROWTH), _MIN_CAPACITY) if size > len(data) else len(data)
        grown = np.empty((capacity, *data.shape[1:]), data.dtype)
        grown[: self._size] = data[: self._size]
        self._data = grown

    def extend(self, values: Any) -> None:
        """Append rows (an array-like of row_shape rows)."""
        values = np.asarray(values, dtype=self._data.dtype)
        end = self._size + len(values)
        self._reserve(end)
        self._data[self._size : end] = values
        self._size = end

    def resize(self, size: int, fill: Any) -> None:
        """Grow to size rows, the new ones set to fill (never shrinks)."""
        if size > self._size:
            self.extend(np.full((size - self._size, *self._data.shape[1:]), fill, dtype=self._data.dtype))

    def add_at(self, index: np.ndarray, values: np.ndarray) -> None:
        """Add values at unique positions index."""
        self._reserve(self._size)
        self._data[index] += values

    def set_at(self, index: np.ndarray, value: Any) -> None:
        self._reserve(self._size)
        self._data[index] = value
