"""Array plumbing shared by the indexes: a growable array, top-k selection, strings as arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .errors import CorruptionError

_MIN_CAPACITY = 64  # rows allocated by the first append
_GROWTH = 1.5
_TOPK_BLOCK = 128  # largest block of the block-maximum prefilter of long rows (at least 4k blocks)
_TOPK_MIN_BLOCK = 16  # below, the prefilter costs more than a partition of the row


class GrowableArray:
    """An array that grows along its first axis with amortised O(1) appends; view() is the filled part.

    row_shape: the shape of one row (() for a 1-D array, (dim,) for a matrix of vectors).
    initial: an array to start from, adopted without a copy; a read-only one (a memory map of
    a saved file) is copied on the first write.
    """

    __slots__ = ("_data", "_size", "_view")

    def __init__(self, dtype: Any, *, row_shape: tuple[int, ...] = (), initial: np.ndarray | None = None) -> None:
        dtype = np.dtype(dtype)
        if initial is None:
            self._data = np.empty((0, *row_shape), dtype)
        else:
            self._data = initial if initial.dtype == dtype else initial.astype(dtype)
        self._size = len(self._data)
        self._view: np.ndarray | None = None  # view() of the current buffer and size, made once

    def __len__(self) -> int:
        return self._size

    def view(self) -> np.ndarray:
        """The filled rows, read-only. Appends never move them under an existing view."""
        view = self._view
        if view is None:  # the search path calls this often: make it once per change of size
            view = self._view = self._data[: self._size]
            view.flags.writeable = False
        return view

    def _reserve(self, size: int) -> None:
        """Own a writable buffer with room for size rows."""
        data = self._data
        if size <= len(data) and data.flags.writeable and not isinstance(data, np.memmap):
            return
        capacity = max(size, int(len(data) * _GROWTH), _MIN_CAPACITY) if size > len(data) else len(data)
        grown = np.empty((capacity, *data.shape[1:]), data.dtype)
        grown[: self._size] = data[: self._size]
        self._data = grown
        self._view = None

    def extend(self, values: Any) -> None:
        """Append rows (an array-like of row_shape rows)."""
        values = np.asarray(values, dtype=self._data.dtype)
        end = self._size + len(values)
        self._reserve(end)
        self._data[self._size : end] = values
        self._size = end
        self._view = None

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


def top_k(scores: np.ndarray, labels: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Give back the k best (scores, labels), best first; equal scores keep their order in the row.

    So a row in label order (as every row gyeol ranks is) breaks ties to the smaller label.
    A score of -inf marks an empty slot (no hit). Labels come back int64, scores keep their dtype.

    - one row: 1-d scores and labels (None: the positions 0..n-1); gives back the at most k
      hits, empty slots left out;
    - rows: 2-d (nq, width) scores and labels, where empty slots already have label -1; gives
      back (nq, k) arrays, empty slots last, padded where a row has fewer than k.
    """
    if scores.ndim == 1:
        return _top_k_row(scores, labels, k)
    assert labels is not None
    nq, width = scores.shape
    long_rows = width > 4 * k and width > 256
    if nq == 1:  # one query: plain 1-d indexing is several times cheaper
        if long_rows:
            row_scores, row_labels = _top_k_row(scores[0], labels[0], k)
            return _padded(row_scores[None], row_labels[None], k)
        order = np.argsort(-scores[0], kind="stable")[:k]
        return _padded(scores[:, order], labels[:, order], k)
    rows = np.arange(nq)[:, None]
    ragged = np.empty(0, np.int64)
    if long_rows:  # partial selection first, put back in row order
        part = np.sort(np.argpartition(-scores, k - 1, axis=1)[:, :k], axis=1)
        cut_scores = scores[rows, part]
        kth = cut_scores.min(axis=1)
        # rows where a tie of the k-th score was left out: the selection may not be the first ones
        ragged = np.flatnonzero((kth > -np.inf) & ((scores >= kth[:, None]).sum(axis=1) > k))
        all_scores, all_labels = scores, labels
        scores, labels = cut_scores, labels[rows, part]
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    best_scores, best_labels = _padded(scores[rows, order], labels[rows, order], k)
    for row in ragged:
        best_scores[row], best_labels[row] = _top_k_row(all_scores[row], all_labels[row], k)
    return best_scores, best_labels


def _padded(scores: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(nq, <=k) results widened to (nq, k) with empty slots (-inf, -1)."""
    nq, width = scores.shape
    labels = labels.astype(np.int64, copy=False)
    if width == k:
        return scores, labels
    wide_scores = np.full((nq, k), -np.inf, dtype=scores.dtype)
    wide_labels = np.full((nq, k), -1, dtype=np.int64)
    wide_scores[:, :width] = scores
    wide_labels[:, :width] = labels
    return wide_scores, wide_labels


def _top_k_row(scores: np.ndarray, labels: np.ndarray | None, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The at most k entries of one row scoring above -inf, best first, ties in row order."""
    n = len(scores)
    block = min(_TOPK_BLOCK, n // (4 * k))
    if block >= _TOPK_MIN_BLOCK:
        # The k-th largest of the block maxima bounds the k-th largest score from below:
        # at least k blocks reach it, so at least k scores do. One cheap pass keeps only
        # the few candidates at or above it (reduceat: several times faster than a reshaped max).
        maxima = np.maximum.reduceat(scores, np.arange(0, n, block))
        bound = np.partition(maxima, len(maxima) - k)[len(maxima) - k]
        keep = np.flatnonzero(scores >= bound)
        scores, labels = scores[keep], keep if labels is None else labels[keep]
    kth = np.partition(scores, len(scores) - k)[len(scores) - k] if len(scores) > k else -np.inf
    # keep every tie of the k-th score, so the tie-break is exact; with at most k hits, every hit
    above = np.flatnonzero(scores >= kth if kth > -np.inf else scores > -np.inf)
    scores, labels = scores[above], above if labels is None else labels[above]
    order = np.argsort(-scores, kind="stable")[:k]
    return scores[order], labels[order].astype(np.int64, copy=False)


def concat_ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Give back the concatenation of arange(s, e) for each (s, e), vectorised."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, dtype=np.int64)
    offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    return np.arange(total, dtype=np.int64) + offsets


def strings_to_arrays(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Give back (offsets int64 of length n + 1, utf-8 bytes uint8) of the strings, in order."""
    if not strings:
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    buffers = pa.array(strings, pa.large_string()).buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[: len(strings) + 1].copy()
    end = int(offsets[-1])
    if buffers[2] is None or end == 0:  # every string is empty
        return offsets, np.empty(0, np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)[:end].copy()


def strings_from_arrays(offsets: np.ndarray, data: np.ndarray) -> list[str]:
    """The strings strings_to_arrays gave (offsets, data) for; CorruptionError when they do not decode."""
    try:
        arr = pa.LargeStringArray.from_buffers(
            len(offsets) - 1, pa.py_buffer(np.ascontiguousarray(offsets)), pa.py_buffer(np.ascontiguousarray(data))
        )
        arr.validate(full=True)  # offsets in range, valid UTF-8
    except (pa.ArrowException, ValueError) as exc:
        raise CorruptionError(f"stored strings do not decode: {exc}") from None
    return arr.to_pylist()
