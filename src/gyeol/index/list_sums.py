"""Per-list crc32s of a memory-mapped IVF-Flat file, so its open costs the same at any size.

A bare IndexIVFFlat file ends with its inverted lists (each list's codes, then its ids). At write
time the bytes before the lists (header, centroids, list sizes) get one crc32 and each list's
bytes one crc32 of their own; the sealed vector.json records them (beside the whole-file crc32
that verify() checks). Opening checks the head only; a search checks the lists it probes on first
touch, and anything else (a filter, the GPU, reconstruct, a fold) checks every list first.
"""

from __future__ import annotations

import mmap
from pathlib import Path
from typing import Any

import numpy as np

from .._checksum import crc_buffer
from ..errors import CorruptionError


def lists_start(index, size: int) -> int | None:
    """Where the inverted lists begin in a written file of size bytes; None unless a bare IndexIVFFlat."""
    import faiss

    if type(index) is not faiss.IndexIVFFlat:
        return None
    return size - int(index.ntotal) * (int(index.code_size) + 8)


def list_ranges(ivf, start: int) -> tuple[np.ndarray, np.ndarray]:
    """The byte offsets (begin, end) of each inverted list of ivf, whose lists begin at start."""
    sizes = np.array([ivf.invlists.list_size(i) for i in range(ivf.nlist)], np.int64)
    ends = start + np.cumsum(sizes) * (int(ivf.code_size) + 8)
    return np.concatenate([[start], ends[:-1]]).astype(np.int64), ends


def record(path: Path, index, start: int) -> dict[str, Any]:
    """The sums of a written file of index whose lists begin at start."""
    begins, ends = list_ranges(index, start)
    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        view = memoryview(mapped)
        try:
            head = crc_buffer(view[:start])
            lists = [crc_buffer(view[int(a) : int(b)]) for a, b in zip(begins, ends)]
        finally:
            view.release()
    return {"start": start, "head_crc32": head, "lists_crc32": lists}


class ListSums:
    """The recorded sums of one mapped file; checks each list once, CorruptionError when one differs."""

    def __init__(self, path: Path, sums: Any, size: int, where: Path) -> None:
        ok = (isinstance(sums, dict) and type(sums.get("start")) is int and type(sums.get("head_crc32")) is int
              and isinstance(sums.get("lists_crc32"), list) and 0 <= sums["start"] <= size)
        if not ok:
            raise CorruptionError(f"{where}: the list checksums recorded for {path.name} are malformed")
        self.path, self.where, self.start, self.size = path, where, sums["start"], size
        self.crcs = np.array(sums["lists_crc32"], np.int64)
        self.done = np.zeros(len(self.crcs), bool)
        self.begins = self.ends = np.zeros(0, np.int64)  # set by bind()
        with open(path, "rb") as handle:
            self._mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if crc_buffer(memoryview(self._mapped)[: self.start]) != sums["head_crc32"]:
            raise CorruptionError(f"vector index file {path} is damaged: its head does not match its crc32")

    def bind(self, ivf) -> None:
        """Learn each list's byte range from the (checked) list sizes of the loaded index."""
        self.begins, self.ends = list_ranges(ivf, self.start)
        if len(self.ends) != len(self.crcs) or (len(self.ends) and int(self.ends[-1]) != self.size):
            raise CorruptionError(f"vector index file {self.path} is damaged: its lists do not match {self.where}")

    def list_bytes(self) -> np.ndarray:
        return self.ends - self.begins

    def check_lists(self, lists: np.ndarray) -> None:
        lists = np.unique(lists[lists >= 0])
        self._check(lists[~self.done[lists]].tolist())

    def check_all(self) -> None:
        self._check(np.flatnonzero(~self.done).tolist())

    def _check(self, lists: list[int]) -> None:
        view = memoryview(self._mapped)
        try:
            for i in lists:
                if crc_buffer(view[int(self.begins[i]) : int(self.ends[i])]) != self.crcs[i]:
                    raise CorruptionError(f"vector index file {self.path} is damaged: the bytes of list {i} "
                                          f"do not match their crc32 ({self.where})")
                self.done[i] = True
        finally:
            view.release()
