"""The memory tier: FAISS indexes held whole in RAM (Flat, HNSW, IVF, factory strings)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..storage.atomic import write_atomic
from .base import VectorIndex, bitmap_selector, distances_to_scores, faiss_metric

log = logging.getLogger(__name__)

INDEX_FILE = "vector.faiss"


class FaissIndex(VectorIndex):
    """Any CPU FAISS index whose internal ids are the labels (no IDMap needed).

    kind names the family, which decides the search parameters; `fallback_until`
    marks a Flat index standing in for a collection too small for the real one,
    and asks for a rebuild once the collection reaches that size.
    """

    def __init__(
        self,
        index,
        *,
        kind: str,
        metric: str,
        ef_search: int | None = None,
        nprobe: int | None = None,
        fallback_until: int | None = None,
    ) -> None:
        self.index = index
        self.kind = kind
        self.metric = metric
        self.dim = index.d
        self.ef_search = ef_search
        self.nprobe = nprobe
        self.fallback_until = fallback_until

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.index.add(np.ascontiguousarray(vectors, dtype=np.float32))

    def _params(self, k: int, allowed: np.ndarray | None):
        import faiss

        selector = bitmap_selector(allowed) if allowed is not None else None
        if self.kind == "hnsw":
            params = faiss.SearchParametersHNSW()
            params.efSearch = max(self.ef_search or 16, k)
        elif self.kind in ("ivf", "ivfpq"):
            params = faiss.SearchParametersIVF()
            if self.nprobe:
                params.nprobe = self.nprobe
        elif selector is not None:
            params = faiss.SearchParameters()
        else:
            return None
        if selector is not None:
            params.sel = selector
        return params

    def search(self, queries, k, allowed=None):
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        params = self._params(k, allowed)
        if params is None:
            distances, labels = self.index.search(queries, k)
        else:
            distances, labels = self.index.search(queries, k, params=params)
        return distances_to_scores(distances, self.metric), labels

    def reconstruct(self, labels):
        try:
            return np.vstack([self.index.reconstruct(int(i)) for i in labels]) if len(labels) else np.empty(
                (0, self.dim), np.float32
            )
        except RuntimeError:  # index type without reconstruction
            return None

    def wants_rebuild(self) -> bool:
        return self.fallback_until is not None and self.ntotal >= self.fallback_until

    def save(self, directory: Path) -> None:
        import faiss

        write_atomic(directory / INDEX_FILE, lambda tmp: faiss.write_index(self.index, str(tmp)))

    def ram_bytes(self) -> int:
        kind = self.kind
        n, d = self.ntotal, self.dim
        if kind == "flat":
            return n * d * 4
        if kind == "hnsw":
            return n * d * 4 + n * (self.index.hnsw.nb_neighbors(0) * 4 + 8) * 1
        return n * d * 4

    def describe(self):
        out = super().describe()
        out.update(ef_search=self.ef_search, nprobe=self.nprobe, fallback_until=self.fallback_until)
        return out


def new_flat(dim: int, metric: str, *, fallback_until: int | None = None) -> FaissIndex:
    import faiss

    index = faiss.IndexFlat(dim, faiss_metric(metric))
    return FaissIndex(index, kind="flat", metric=metric, fallback_until=fallback_until)


def new_hnsw(dim: int, metric: str, m: int, ef_construction: int, ef_search: int) -> FaissIndex:
    import faiss

    index = faiss.IndexHNSWFlat(dim, m, faiss_metric(metric))
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = ef_search
    return FaissIndex(index, kind="hnsw", metric=metric, ef_search=ef_search)


def load_faiss(directory: Path, meta: dict, *, mmap: bool = False) -> FaissIndex:
    import faiss

    flags = faiss.IO_FLAG_MMAP | faiss.IO_FLAG_READ_ONLY if mmap else 0
    index = faiss.read_index(str(directory / INDEX_FILE), flags)
    return FaissIndex(
        index,
        kind=meta["kind"],
        metric=meta["metric"],
        ef_search=meta.get("ef_search"),
        nprobe=meta.get("nprobe"),
        fallback_until=meta.get("fallback_until"),
    )
