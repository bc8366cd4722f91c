"""Per-chunk crc32s of a memory-mapped IVF-Flat file, so its open costs the same at any size.

A bare IndexIVFFlat file ends with its inverted lists (each list's codes, then its ids). At write
time the bytes before the lists (header, centroids, list sizes) get one crc32 and the list bytes
one crc32 per CHUNK; the sealed vector.json records both (with the whole-file crc32 that verify()
checks). Opening checks the head only; a search checks the chunks of the lists it probes on first
touch, and anything else (a filter, the GPU, reconstruct, a fold) checks every chunk first.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from .._checksum import crc_buffer
from ..errors import CorruptionError

CHUNK = 4 << 20


def lists_start(index, size: int) -> int | None:
    """Where the inverted lists begin in a written file of size bytes; None unless a bare IndexIVFFlat."""
    import faiss

    if type(index) is not faiss.IndexIVFFlat:
        return None
    return size - int(index.ntotal) * (int(index.code_size) + 8)


def record(path: Path, start: int) -> dict[str, Any]:
    """The sums of a written file whose lists begin at start."""
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            head = crc_buffer(view[:start])
            chunks = [crc_buffer(view[at : at + CHUNK]) for at in range(start, len(view), CHUNK)]
        finally:
            view.release()
    return {"start": start, "head_crc32": head, "chunk": CHUNK, "chunks": chunks}


class ListSums:
    """The recorded sums of one mapped file; checks chunks once each, CorruptionError when one differs."""

    def __init__(self, path: Path, sums: Any, size: int, where: Path) -> None:
        ok = (isinstance(sums, dict) and type(sums.get("start")) is int and type(sums.get("head_crc32")) is int
              and sums.get("chunk") == CHUNK and isinstance(sums.get("chunks"), list)
              and 0 <= sums["start"] <= size and len(sums["chunks"]) == -(-(size - sums["start"]) // CHUNK))
        if not ok:
            raise CorruptionError(f"{where}: the list checksums recorded for {path.name} are malformed")
        self.path, self.where, self.start, self.size = path, where, sums["start"], size
        self.crcs = [int(c) for c in sums["chunks"]]
        self.done = np.zeros(len(self.crcs), bool)
        self.ends: np.ndarray | None = None  # byte offset after each list, set by bind()
        with open(path, "rb") as handle:
            self._mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if crc_buffer(memoryview(self._mapped)[: self.start]) != sums["head_crc32"]:
            raise CorruptionError(f"vector index file {path} is damaged: its head does not match its crc32")

    def bind(self, ivf) -> None:
        """Learn each list's byte range from the (checked) list sizes of the loaded index."""
        sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], np.int64)
        self.ends = self.start + np.cumsum(sizes) * (int(ivf.code_size) + 8)
        if len(self.ends) and int(self.ends[-1]) != self.size:
            raise CorruptionError(f"vector index file {self.path} is damaged: its lists do not fill it")

    def check_lists(self, lists: np.ndarray) -> None:
        assert self.ends is not None
        lists = np.unique(lists[lists >= 0])
        starts = np.where(lists > 0, self.ends[np.maximum(lists - 1, 0)], self.start)
        lists, starts = lists[self.ends[lists] > starts], starts[self.ends[lists] > starts]  # empty lists: no bytes
        starts = np.where(lists > 0, self.ends[np.maximum(lists - 1, 0)], self.start)
        first = (starts - self.start) // CHUNK
        last = (self.ends[lists] - 1 - self.start) // CHUNK
        need = [c for a, b in zip(first, last) for c in range(int(a), int(b) + 1) if not self.done[c]]
        self._check(need)

    def check_all(self) -> None:
        self._check(np.flatnonzero(~self.done).tolist())

    def _check(self, chunks: list[int]) -> None:
        view = memoryview(self._mapped)
        try:
            for c in chunks:
                at = self.start + c * CHUNK
                if crc_buffer(view[at : min(at + CHUNK, self.size)]) != self.crcs[c]:
                    raise CorruptionError(f"vector index file {self.path} is damaged: "
                                          f"list bytes {at}.. do not match their crc32 ({self.where})")
                self.done[c] = True
        finally:
            view.release()
