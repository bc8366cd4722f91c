"""String id -> int64 label lookups held in numpy arrays, not Python dicts.

Each id is hashed (64-bit FNV-1a over its UTF-8 bytes, vectorised over the
batch); the map is a sorted array of hashes beside the labels. A lookup is a
searchsorted, and a candidate is confirmed by comparing the stored id string,
so a hash collision never returns a wrong label.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def hash_ids(ids: pa.Array | list[str]) -> np.ndarray:
    """Give back the 64-bit FNV-1a hash of each id's UTF-8 bytes."""
    arr = ids if isinstance(ids, pa.Array) else pa.array(ids, pa.large_string())
    if arr.type != pa.large_string():
        arr = arr.cast(pa.large_string())
    n = len(arr)
    hashes = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    if n == 0:
        return hashes
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset : arr.offset + n + 1]
    data = np.frombuffer(buffers[2], dtype=np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    starts = offsets[:-1]
    lengths = np.diff(offsets)
    order = np.argsort(-lengths, kind="stable")  # longest first: active rows are a prefix
    sorted_lengths = lengths[order]
    sorted_starts = starts[order]
    h = hashes[order]
    with np.errstate(over="ignore"):
        for j in range(int(sorted_lengths[0]) if n else 0):
            active = int(np.searchsorted(-sorted_lengths, -j, side="left"))  # lengths > j
            if active == 0:
                break
            byte = data[sorted_starts[:active] + j].astype(np.uint64)
            h[:active] = (h[:active] ^ byte) * _FNV_PRIME
    hashes[order] = h
    return hashes


class IdMap:
    """Live ids -> labels. `id_of` gives the id string of any label (live or not)."""

    def __init__(self) -> None:
        self._hashes = np.empty(0, dtype=np.uint64)
        self._labels = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self._labels)

    def rebuild(self, hashes: np.ndarray, labels: np.ndarray) -> None:
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._labels = labels[order].astype(np.int64, copy=False)

    def add(self, hashes: np.ndarray, labels: np.ndarray) -> None:
        self.rebuild(np.concatenate([self._hashes, hashes]), np.concatenate([self._labels, labels]))

    def remove(self, labels: np.ndarray) -> None:
        if len(labels) == 0:
            return
        keep = ~np.isin(self._labels, labels)
        self._hashes = self._hashes[keep]
        self._labels = self._labels[keep]

    def lookup(self, ids: list[str], hashes: np.ndarray, all_ids: pa.ChunkedArray) -> np.ndarray:
        """Give back the label of each id, -1 where it is not live.

        all_ids: the id string of every label, to confirm a hash match.
        """
        out = np.full(len(ids), -1, dtype=np.int64)
        if len(self._hashes) == 0 or len(ids) == 0:
            return out
        left = np.searchsorted(self._hashes, hashes, side="left")
        right = np.searchsorted(self._hashes, hashes, side="right")
        single = np.flatnonzero(right - left == 1)
        if len(single):
            cand = self._labels[left[single]]
            stored = all_ids.take(pa.array(cand)).to_pylist()
            match = np.fromiter((stored[i] == ids[q] for i, q in enumerate(single)), bool, len(single))
            out[single[match]] = cand[match]
        for q in np.flatnonzero(right - left > 1):  # hash collisions: rare, checked one by one
            cands = self._labels[left[q] : right[q]]
            stored = all_ids.take(pa.array(cands)).to_pylist()
            for label, sid in zip(cands, stored):
                if sid == ids[q]:
                    out[q] = label
        return out

    def tied_labels(self) -> np.ndarray:
        """Labels whose id hash another live label shares (the same id twice, or a rare collision)."""
        same = np.flatnonzero(self._hashes[1:] == self._hashes[:-1])
        if not len(same):
            return np.empty(0, np.int64)
        return self._labels[np.unique(np.concatenate([same, same + 1]))]

    def live_labels(self) -> np.ndarray:
        return np.sort(self._labels)
