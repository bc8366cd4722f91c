"""The disk tier: a FAISS index file read with memory mapping, plus a delta of later additions.

Opening maps the file (IO_FLAG_MMAP for IVF lists, IO_FLAG_MMAP_IFC for Flat
codes), so it costs the same at any size and RAM holds only the pages queries
touch. A mapped FAISS index is read-only, so vectors added after it was
written go to a delta: a float32 file of its own, memory-mapped too, searched
exactly and merged with the base results at query time. save() folds the
delta into a new base file once it holds DELTA_FOLD_AT vectors (the fold reads
the base into RAM for the moment it takes); compact() rebuilds anyway.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..ranked import Ranked
from .._fileset import fresh_name, write_atomic
from .._checksum import file_sum
from .files import META_NAME, rows_file
from .list_sums import lists_start, record
from .base import VectorIndex, add_in_batches, as_queries, empty_result, exact_search, merge_results, normalise_mask
from .faiss_index import FaissIndex, family_of, load_faiss
from .vectors import VectorStore

log = logging.getLogger(__name__)

# A delta this large is folded into the base file on save (scanning it exactly
# costs about as much as a query to the base).
DELTA_FOLD_AT = 8192


def write_mmapped(index, directory: Path, *, metric: str, nprobe: int | None, rebuild_at: int | None) -> FaissIndex:
    """Write a freshly built in-RAM FAISS index to a new file and give it back memory-mapped."""
    import faiss

    name = fresh_name("index", ".faiss")
    write_atomic(directory / name, lambda tmp: faiss.write_index(index, str(tmp)))
    written = file_sum(directory / name)
    state = {"file": name, "bytes": written.bytes, "crc32": written.crc32, "family": family_of(index),
             "nprobe": nprobe, "rebuild_at": rebuild_at}
    start = lists_start(index, written.bytes)
    if start is not None:  # the open then checks the head only, each list's crc32 on its first probe
        state["lists"] = record(directory / name, index, start)
    return load_faiss(directory, state, metric=metric, mmap=True)


class DiskIndex(VectorIndex):
    """A memory-mapped base index (labels 0..nb-1) and an exact delta (labels nb..ntotal-1)."""

    def __init__(self, base: FaissIndex, delta: VectorStore, *, metric: str, directory: Path) -> None:
        self.base = base
        self.delta = delta
        self.metric = metric
        self.dim = base.dim
        self.directory = directory
        self.kind = base.kind

    @property
    def device(self) -> str:  # type: ignore[override]
        return self.base.device

    @property
    def ntotal(self) -> int:
        return self.base.ntotal + self.delta.n

    def add(self, vectors: np.ndarray) -> None:
        self.delta.append(vectors)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranked:
        queries = as_queries(queries, self.dim)
        nb, n = self.base.ntotal, self.ntotal
        mask = normalise_mask(allowed, n)
        if mask is not None and not mask.any():
            return empty_result(len(queries), k)
        if nb:
            self._check_probed(queries, k, mask)
            result = self.base.search(queries, k, None if mask is None else mask[:nb])
        else:
            result = empty_result(len(queries), k)
        if self.delta.n:
            delta_mask = None if mask is None else mask[nb:]
            delta = exact_search(self.delta.view(), queries, k, self.metric, delta_mask)
            shifted = np.where(delta.labels >= 0, delta.labels + nb, -1)
            result = merge_results(result, Ranked(shifted, delta.scores), k)
        return result

    def _check_probed(self, queries: np.ndarray, k: int, mask: np.ndarray | None) -> None:
        """Check the base lists this search reads (all of them off the plain path)."""
        sums, base = self.base.list_sums, self.base
        if sums is None or sums.done.all():
            return
        if mask is None and base.gpu is None and base._plain_ok(k):
            import faiss

            ivf = faiss.extract_index_ivf(base.index)
            _, probed = ivf.quantizer.search(queries, int(ivf.nprobe))
            sizes = sums.list_bytes()
            per_row = np.where(probed >= 0, sizes[np.maximum(probed, 0)], 0).sum(axis=1)
            rows = per_row // (int(ivf.code_size) + 8)
            if (rows >= min(k, base.ntotal)).all():  # the plain search fills every row from these lists
                sums.check_lists(probed.ravel())
            else:  # a short row sends the search down a wider path: check everything
                sums.check_all()
        else:
            sums.check_all()

    def check_all(self) -> None:
        """Check every base list not yet checked (before a read of arbitrary lists)."""
        if self.base.list_sums is not None:
            self.base.list_sums.check_all()

    def reconstruct(self, labels: np.ndarray) -> np.ndarray | None:
        self.check_all()
        labels = np.asarray(labels, dtype=np.int64)
        nb = self.base.ntotal
        if (labels < nb).any():
            base_rows = self.base.reconstruct(labels[labels < nb])
            if base_rows is None:
                return None
        out = np.empty((len(labels), self.dim), np.float32)
        if (labels < nb).any():
            out[labels < nb] = base_rows
        out[labels >= nb] = self.delta.rows(labels[labels >= nb] - nb)
        return out

    def wants_rebuild(self) -> bool:
        return self.base.rebuild_at is not None and self.ntotal >= self.base.rebuild_at

    def save(self, directory: Path) -> dict[str, Any]:
        if self.delta.n >= DELTA_FOLD_AT:
            self.fold(directory)
        base_state = self.base.save(directory)
        delta_file = self.delta.save(directory, "delta")
        return {"type": "disk", "base": base_state, "delta": delta_file, "delta_n": self.delta.n,
                "delta_crc32": self.delta.checksum(), "ntotal": self.ntotal}

    def fold(self, directory: Path) -> None:
        """Write base + delta as one new base file (read into RAM for the fold) and map it."""
        import faiss

        log.info("folding %d delta vectors into the disk index (%d vectors)", self.delta.n, self.base.ntotal)
        assert self.base.file_name is not None  # the base is always a written, memory-mapped file
        self.check_all()
        merged = faiss.read_index(str(directory / self.base.file_name))
        merged.add(np.ascontiguousarray(self.delta.view(), dtype=np.float32))
        on_gpu, trained_on = self.base.gpu is not None, self.base.trained_on
        self.base = write_mmapped(
            merged, directory, metric=self.metric, nprobe=self.base.nprobe, rebuild_at=self.base.rebuild_at
        )
        self.base.trained_on = trained_on
        del merged
        self.delta = VectorStore.create_file(directory, "delta", np.empty((0, self.dim), np.float32), self.dim)
        if on_gpu:
            self.base.place_on_gpu()

    def files(self) -> list[str]:
        return self.base.files() + ([self.delta.path.name] if self.delta.path is not None else [])

    def ram_bytes(self) -> int:
        return self.base.ram_bytes() + self.delta.ram_bytes()

    def ram_parts(self) -> dict[str, int]:
        parts = self.base.ram_parts()
        return {"per_vector_bytes": parts["per_vector_bytes"] + self.delta.ram_bytes(),
                "fixed_bytes": parts["fixed_bytes"]}

    def describe(self) -> dict[str, Any]:
        out = self.base.describe()
        out.update(ntotal=self.ntotal, delta=self.delta.n)
        return out

    def place_on_gpu(self) -> None:
        self.check_all()  # the copy reads every list
        self.base.place_on_gpu()


def build_disk(index, vectors: np.ndarray, directory: Path, *, metric: str, nprobe: int | None,
               rebuild_at: int | None) -> DiskIndex:
    """Fill a trained in-RAM FAISS index with vectors, write it, and give it back mapped with an empty delta."""
    directory.mkdir(parents=True, exist_ok=True)
    add_in_batches(index, np.ascontiguousarray(vectors, dtype=np.float32), "disk")
    base = write_mmapped(index, directory, metric=metric, nprobe=nprobe, rebuild_at=rebuild_at)
    delta = VectorStore.create_file(directory, "delta", np.empty((0, base.dim), np.float32), base.dim)
    return DiskIndex(base, delta, metric=metric, directory=directory)


def load_disk(directory: Path, state: dict[str, Any], *, metric: str, dim: int, read_only: bool = False) -> DiskIndex:
    base = load_faiss(directory, state["base"], metric=metric, mmap=True)
    path = rows_file(directory, state["delta"])
    delta = VectorStore.open_file(path, dim, int(state["delta_n"]), writable=not read_only)
    delta.verify(state.get("delta_crc32"), path, directory / META_NAME)
    return DiskIndex(base, delta, metric=metric, directory=directory)
