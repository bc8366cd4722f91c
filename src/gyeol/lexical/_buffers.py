"""A numpy array that grows by doubling and copies a read-only (memory-mapped) base on first write."""

from __future__ import annotations

from typing import Any

import numpy as np


class GrowableArray:
    """A 1-D array with amortised O(1) appends; `view()` is the live prefix."""

    def __init__(self, dtype: Any, initial: np.ndarray | None = None) -> None:
        self._dtype = np.dtype(dtype)
        self._data = np.empty(0, self._dtype) if initial is None else initial
        self._size = 0 if initial is None else len(initial)

    def __len__(self) -> int:
        return self._size

    def view(self) -> np.ndarray:
        return self._data[: self._size]

    def _reserve(self, size: int) -> None:
        """Make the buffer writable (own it) with room for size elements."""
        if size <= len(self._data) and self._data.flags.writeable and not isinstance(self._data, np.memmap):
            return
        capacity = max(size, 2 * len(self._data), 1024) if size > len(self._data) else len(self._data)
        data = np.empty(capacity, self._dtype)
        data[: self._size] = self._data[: self._size]
        self._data = data

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=self._dtype)
        end = self._size + len(values)
        self._reserve(end)
        self._data[self._size : end] = values
        self._size = end

    def resize(self, size: int, fill: Any) -> None:
        """Grow to size elements, the new ones set to fill (never shrinks)."""
        if size > self._size:
            self.extend(np.full(size - self._size, fill, dtype=self._dtype))

    def add_at(self, index: np.ndarray, values: np.ndarray) -> None:
        """Add values at unique positions index."""
        self._reserve(self._size)
        self._data[index] += values

    def set_at(self, index: np.ndarray, value: Any) -> None:
        self._reserve(self._size)
        self._data[index] = value
