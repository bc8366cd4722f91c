"""String id -> int64 label lookups held in numpy arrays, not Python dicts.

Each id is hashed (64-bit FNV-1a over its UTF-8 bytes, vectorised over the
batch); the map is a sorted array of hashes beside the labels. A lookup is a
searchsorted, and a candidate is confirmed by comparing the stored id string,
so a hash collision never returns a wrong label.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa

from . import saved_arrays

log = logging.getLogger(__name__)

# index/ids/: the base run of a collection's id map, saved by the writer (storage/saved_arrays.py)
IDS_FILES = saved_arrays.fileset("ids")

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


def hash_chunks(chunks: list[pa.Array], start: int, stop: int) -> np.ndarray:
    """hash_ids of rows start..stop-1 of the string chunks (rows counted across them), one chunk at a time."""
    parts, first = [], 0
    for chunk in chunks:
        end = first + len(chunk)
        if end > start and first < stop:
            parts.append(hash_ids(chunk.slice(max(start - first, 0), min(stop, end) - max(start, first))))
        first = end
    return np.concatenate(parts) if parts else np.empty(0, np.uint64)


class IdMap:
    """Ids -> labels: a large sorted run (labels below `covered`, loadable from a saved file) and a
    small sorted tail of the labels added since. Runs keep dead labels until the map is reset or
    saved again; every lookup keeps only live ones, so a delete changes nothing here."""

    def __init__(self) -> None:
        empty_h, empty_l = np.empty(0, np.uint64), np.empty(0, np.int64)
        self._base = (empty_h, empty_l)
        self._tail = (empty_h, empty_l)
        self.covered = 0  # the base run holds the (live, when saved) labels below this

    @property
    def tail_size(self) -> int:
        return len(self._tail[1])

    def reset(self, hashes: np.ndarray, labels: np.ndarray, covered: int) -> None:
        """Hold exactly these (hash, label) pairs as the base run, covering labels below covered."""
        order = np.argsort(hashes, kind="stable")
        self._base = (hashes[order], labels[order].astype(np.int64, copy=False))
        self._tail = (np.empty(0, np.uint64), np.empty(0, np.int64))
        self.covered = covered

    def adopt(self, hashes: np.ndarray, labels: np.ndarray, covered: int) -> None:
        """Take a saved base run (sorted by hash; may be memory-mapped) as it is; the tail empties."""
        self._base = (hashes, labels)
        self._tail = (np.empty(0, np.uint64), np.empty(0, np.int64))
        self.covered = covered

    def add(self, hashes: np.ndarray, labels: np.ndarray) -> None:
        """Add new labels (all at or above every label held) to the tail."""
        th, tl = self._tail
        merged_h = np.concatenate([th, hashes])
        order = np.argsort(merged_h, kind="stable")
        self._tail = (merged_h[order], np.concatenate([tl, labels.astype(np.int64, copy=False)])[order])

    def folded(self, live: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Both runs as one sorted run of live labels (what a save writes)."""
        h = np.concatenate([self._base[0], self._tail[0]])
        l = np.concatenate([self._base[1], self._tail[1]])
        keep = live[l]
        h, l = h[keep], l[keep]
        order = np.argsort(h, kind="stable")
        return h[order], l[order]

    def _candidates(self, hashes: np.ndarray, live: np.ndarray,
                    runs: tuple | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(query index, live label) of every stored pair (of runs: default both) whose hash equals a query's."""
        queries, labels = [], []
        for run_h, run_l in runs or (self._base, self._tail):
            if not len(run_h):
                continue
            left = np.searchsorted(run_h, hashes, side="left")
            counts = np.searchsorted(run_h, hashes, side="right") - left
            total = int(counts.sum())
            if not total:
                continue
            q = np.repeat(np.arange(len(hashes)), counts)
            offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
            cand = run_l[np.repeat(left, counts) + offsets]
            alive = live[cand]
            queries.append(q[alive])
            labels.append(cand[alive])
        if not queries:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(queries), np.concatenate(labels)

    def lookup(self, ids: list[str], hashes: np.ndarray, id_of: Callable[[np.ndarray], list[str]],
               live: np.ndarray) -> np.ndarray:
        """Give back the live label of each id, -1 where it has none.

        id_of: the id strings of labels, to confirm a hash match (a collision never returns a wrong label).
        """
        out = np.full(len(ids), -1, dtype=np.int64)
        if len(ids) == 0:
            return out
        queries, cands = self._candidates(hashes, live)
        if len(cands):
            stored = id_of(cands)
            match = np.fromiter((s == ids[q] for s, q in zip(stored, queries.tolist())), bool, len(cands))
            out[queries[match]] = cands[match]
        return out

    def tied_labels(self, live: np.ndarray) -> np.ndarray:
        """Live labels whose id hash another live label shares (the same id twice, or a rare collision)."""
        pairs_h, pairs_l = [], []
        for run_h, run_l in (self._base, self._tail):
            same = np.flatnonzero(run_h[1:] == run_h[:-1])
            if len(same):
                at = np.unique(np.concatenate([same, same + 1]))
                pairs_h.append(run_h[at])
                pairs_l.append(run_l[at])
        base_h, (tail_h, tail_l) = self._base[0], self._tail
        if len(tail_h) and len(base_h):  # a tail hash the base holds too (live ones only)
            queries, cands = self._candidates(tail_h, live, (self._base,))
            pairs_h += [tail_h[queries], tail_h[queries]]
            pairs_l += [cands, tail_l[queries]]
        if not pairs_h:
            return np.empty(0, np.int64)
        h, l = np.concatenate(pairs_h), np.concatenate(pairs_l)
        alive = live[l]
        h, l = h[alive], np.asarray(l[alive], np.int64)
        l, first = np.unique(l, return_index=True)
        h = h[first]
        values, counts = np.unique(h, return_counts=True)
        return l[np.isin(h, values[counts > 1])]


def load_saved_map(folder: Path, generation: int, n_labels: int) -> tuple[np.ndarray, np.ndarray, int] | None:
    """The saved base run in folder (hashes, labels, covered), mapped, when it is of generation and
    fits n_labels; None otherwise (a damaged or inconsistent one with a WARNING)."""
    saved = saved_arrays.load(folder, IDS_FILES, generation, n_labels)
    if saved is None:
        return None
    arrays, meta = saved
    covered = meta["covered"]
    hashes, labels = arrays.get("hashes"), arrays.get("labels")
    if hashes is None or labels is None or len(hashes) != len(labels) or hashes.dtype != np.uint64 \
            or labels.dtype != np.int64 or (len(labels) and (labels.min() < 0 or labels.max() >= covered)) \
            or bool((hashes[1:] < hashes[:-1]).any()):
        log.warning("%s does not hold a sorted id map of labels below %d; it is rebuilt from the segments",
                    folder / IDS_FILES.meta_name, covered)
        return None
    return hashes, labels, covered


def save_map(folder: Path, hashes: np.ndarray, labels: np.ndarray, generation: int, covered: int) -> bool:
    """Save a base run (sorted by hash) covering the labels below covered; False, with a WARNING, when the disk refuses."""
    try:
        saved_arrays.save(folder, IDS_FILES, {"hashes": hashes, "labels": labels},
                          {"generation": generation, "covered": covered})
        return True
    except OSError as exc:  # derived data: the next open hashes the ids again
        log.warning("could not save the id map in %s (%s)", folder, exc)
        return False
