"""Compressed candidates rescored exactly from full-precision vectors (the hybrid tier's search).

A search asks the compressed index (IVF-PQ codes in RAM, or memory-mapped on
the disk tier) for `rescore x k` candidates, reads their full vectors from the
VectorStore (a memory-mapped file on disk, or RAM on the memory tier) and
keeps the k best by exact score. With no compressed index (a collection too
small to train one) every allowed row is scanned exactly from the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..ranked import Ranked
from .base import (
    EXACT_SUBSET_MAX,
    VectorIndex,
    as_queries,
    empty_result,
    exact_scores,
    exact_search,
    normalise_mask,
    top_k,
)
from .vectors import VectorStore

# Candidates fetched are rescore x max(k, MIN_DEPTH_HITS): the depth is tuned at recall@10.
MIN_DEPTH_HITS = 10


class RescoredIndex(VectorIndex):
    """Candidates from `inner` (or all rows when inner is None), rescored exactly from `store`."""

    def __init__(
        self,
        inner: VectorIndex | None,
        store: VectorStore,
        *,
        metric: str,
        rescore: int,
        rebuild_at: int | None = None,
    ) -> None:
        if inner is not None and inner.ntotal != store.n:
            raise ValueError(f"compressed index covers {inner.ntotal} labels, the vector store {store.n}")
        self.inner = inner
        self.store = store
        self.metric = metric
        self.dim = store.dim
        self.rescore = rescore
        self.rebuild_at = rebuild_at
        self.kind = inner.kind if inner is not None else "flat"
        self._vectors_file = store.path.name if store.path is not None else None
        # the inner index's labels-only unfiltered search (FaissIndex.candidates), None when it has none
        self._candidates = getattr(inner, "candidates", None)

    @property
    def device(self) -> str:  # type: ignore[override]
        return self.inner.device if self.inner is not None else "cpu"

    @property
    def ntotal(self) -> int:
        return self.store.n

    def add(self, vectors: np.ndarray) -> None:
        if len(vectors):
            self.store.append(vectors)
            if self.inner is not None:
                self.inner.add(vectors)

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranked:
        queries = as_queries(queries, self.dim)
        nq, n = len(queries), self.ntotal
        mask = normalise_mask(allowed, n)
        n_allowed = n if mask is None else int(mask.sum())
        if min(k, n_allowed) <= 0:
            return empty_result(nq, k)
        if self.inner is None or (mask is not None and n_allowed <= EXACT_SUBSET_MAX):
            return exact_search(self.store.view(), queries, k, self.metric, mask)
        # the depth is tuned for 10 hits: fewer wanted hits still rescore as many candidates
        wanted = min(n_allowed, max(k, MIN_DEPTH_HITS) * self.rescore)
        if mask is None and self._candidates is not None:
            candidates = self._candidates(queries, wanted)
        else:
            candidates = self.inner.search(queries, wanted, mask).labels
        if candidates.shape[1] < k:
            candidates = np.pad(candidates, ((0, 0), (0, k - candidates.shape[1])), constant_values=-1)
        return self.rescore_candidates(queries, candidates, k)

    def rescore_candidates(self, queries: np.ndarray, candidates: np.ndarray, k: int) -> Ranked:
        """Exact scores for each row's candidate labels (-1 = none), the k best kept, best first."""
        import faiss

        candidates = np.ascontiguousarray(candidates, dtype=np.int64)
        vectors = self.store.contiguous()
        if vectors is None:  # rows split between the file and a RAM tail: gather them
            present = candidates >= 0
            scores = exact_scores(queries, self.store.rows(np.where(present, candidates, 0)), self.metric)
            scores = np.where(present, scores, -np.inf).astype(np.float32)
            return top_k(Ranked(candidates, scores), k)
        # one FAISS call reads the candidate rows straight from the (memory-mapped) matrix
        nq, width = candidates.shape
        out: np.ndarray = np.empty((nq, width), np.float32)
        by_idx = faiss.fvec_L2sqr_by_idx if self.metric == "l2" else faiss.fvec_inner_products_by_idx
        by_idx(faiss.swig_ptr(out), faiss.swig_ptr(queries), faiss.swig_ptr(vectors), faiss.swig_ptr(candidates),
               self.dim, nq, width)
        if self.metric == "l2":
            out = 0.0 - np.sqrt(out)  # empty slots: +inf -> -inf; 0 stays 0.0, not -0.0
        if nq == 1 and width >= k and candidates[0, -1] >= 0:  # one full row: one stable sort, no padding
            order = np.argsort(-out[0], kind="stable")[:k]
            return Ranked(candidates[:, order], out[:, order])
        return top_k(Ranked(candidates, out), k)

    def reconstruct(self, labels: np.ndarray) -> np.ndarray | None:
        return np.array(self.store.rows(np.asarray(labels, dtype=np.int64)), dtype=np.float32)

    def wants_rebuild(self) -> bool:
        if self.inner is not None and self.inner.wants_rebuild():
            return True
        return self.rebuild_at is not None and self.ntotal >= self.rebuild_at

    def save(self, directory: Path) -> dict[str, Any]:
        vectors_file = self.store.save(directory, "vectors")
        self._vectors_file = vectors_file
        inner_state = self.inner.save(directory) if self.inner is not None else None
        return {
            "type": "rescored",
            "vectors": vectors_file,
            "vectors_in_ram": not self.store.in_file,
            "vectors_crc32": self.store.checksum(),
            "ntotal": self.ntotal,
            "rescore": self.rescore,
            "rebuild_at": self.rebuild_at,
            "inner": inner_state,
        }

    def files(self) -> list[str]:
        own = [self._vectors_file] if self._vectors_file else []
        return own + (self.inner.files() if self.inner is not None else [])

    def ram_bytes(self) -> int:
        return self.store.ram_bytes() + (self.inner.ram_bytes() if self.inner is not None else 0)

    def ram_parts(self) -> dict[str, int]:
        parts = self.inner.ram_parts() if self.inner is not None else {"per_vector_bytes": 0, "fixed_bytes": 0}
        return {"per_vector_bytes": parts["per_vector_bytes"] + self.store.ram_bytes(),
                "fixed_bytes": parts["fixed_bytes"]}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = self.inner.describe() if self.inner is not None else {"kind": "flat", "device": "cpu"}
        out.update(
            ntotal=self.ntotal,
            rescore=self.rescore if self.inner is not None else None,
            vectors="ram" if not self.store.in_file else "mmap",
            rescored_on="cpu",  # the full vectors are read and scored on the CPU, whatever holds the codes
            rebuild_at=self.rebuild_at if self.inner is None else out.get("rebuild_at"),
        )
        return out

    def place_on_gpu(self) -> None:
        if self.inner is not None and hasattr(self.inner, "place_on_gpu"):
            self.inner.place_on_gpu()
