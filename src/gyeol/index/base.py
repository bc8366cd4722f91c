"""The VectorIndex interface every backend (memory, hybrid, disk; CPU or GPU) implements.

Labels are dense: the i-th vector added has label i, dead rows included, so a
label is also a row of the collection. Deletes never touch the index; searches
pass an `allowed` mask (live and matching the filter) instead. compact()
renumbers labels and rebuilds.

The helpers here are shared by every backend: metric conversion, the FAISS
bitmap selector, exact search over a vector matrix, and top-k merging.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import top_k as _top_k_arrays
from ..progress import batches
from ..ranked import Ranked
from .files import META_NAME, read_meta  # noqa: F401  (read here by tests and benchmarks)

# Filtered searches whose mask allows at most this many labels are answered
# exactly over the allowed rows: cheaper than a graph or probe walk that would
# have to skip almost everything, and exact.
EXACT_SUBSET_MAX = 2048
# Vectors per FAISS add call while building or growing an index: each call is a step of its progress
# bar. HNSW inserts cost about a millisecond each on 2 cores (16,384 took 24 s there): its calls are
# smaller, which built 8,192 vectors as fast (7.4-9.1 s either way) and to the same recall.
ADD_BATCH = 16_384
HNSW_ADD_BATCH = 1_024


def faiss_metric(metric: str) -> int:
    """The FAISS metric constant for a gyeol metric ("cosine" vectors arrive normalised: inner product)."""
    import faiss

    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def add_in_batches(raw: Any, vectors: np.ndarray, kind: str | None = None) -> None:
    """raw.add(vectors) a batch a call (HNSW_ADD_BATCH or ADD_BATCH rows), so that a long build shows a
    progress bar (gyeol.progress) named by kind (None: the index's own); one batch is one call, no bar."""
    size = HNSW_ADD_BATCH if "HNSW" in type(raw).__name__ else ADD_BATCH  # FAISS hands back downcast indexes
    if len(vectors) <= size:
        if len(vectors):
            raw.add(vectors)
        return
    if kind is None:
        from .faiss_index import kind_of

        kind = kind_of(raw)
    for start, stop in batches(len(vectors), size, f"indexing {len(vectors)} vectors ({kind})", "vector"):
        raw.add(vectors[start:stop])


def distances_to_scores(
    distances: np.ndarray, labels: np.ndarray, metric: str, *, in_place: bool = False
) -> np.ndarray:
    """FAISS distances -> scores where higher is better (l2: minus the Euclidean distance).

    Empty slots (label -1) get -inf, whatever sentinel FAISS put there. in_place reuses
    the distances array (FAISS hands back a fresh one per search).
    """
    if metric == "l2":
        scores = np.maximum(distances, 0.0, out=distances if in_place else None)
        np.sqrt(scores, out=scores)
        np.subtract(0.0, scores, out=scores)  # not np.negative: a distance of 0 scores 0.0, not -0.0
    else:
        scores = distances if in_place else np.array(distances, dtype=np.float32, copy=True)
    empty = labels < 0
    if empty.any():
        scores[empty] = -np.inf
    return scores


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """Queries as a C-contiguous float32 (nq, dim) array."""
    out = np.ascontiguousarray(queries, dtype=np.float32)
    if out.ndim == 1:
        out = out.reshape(1, -1)
    return out


def normalise_mask(allowed: np.ndarray | None, ntotal: int) -> np.ndarray | None:
    """A bool mask of exactly ntotal entries, or None when every label is allowed.

    Labels past the end of a shorter mask are not allowed; entries past ntotal are ignored.
    """
    if allowed is None:
        return None
    mask = np.asarray(allowed, dtype=bool)
    if len(mask) > ntotal:
        mask = mask[:ntotal]
    elif len(mask) < ntotal:
        mask = np.concatenate([mask, np.zeros(ntotal - len(mask), dtype=bool)])
    if ntotal and mask.all():
        return None
    return mask


def bitmap_selector(allowed: np.ndarray, offset: int = 0):
    """A FAISS IDSelectorBitmap over labels from a boolean mask; the bitmap lives with the selector.

    offset shifts the mask: internal id j is allowed when allowed[j + offset].
    """
    import faiss

    mask = allowed[offset:] if offset else allowed
    bits = np.packbits(mask.astype(np.uint8, copy=False), bitorder="little")
    selector = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bits))
    selector._bits = bits  # the selector reads this buffer; tie its lifetime to the selector
    return selector


def empty_result(nq: int, k: int) -> Ranked:
    """(nq, k) results with every slot empty: label -1, score -inf."""
    return Ranked(np.full((nq, k), -1, dtype=np.int64), np.full((nq, k), -np.inf, dtype=np.float32))


def exact_scores(queries: np.ndarray, rows: np.ndarray, metric: str) -> np.ndarray:
    """Exact scores of each query against its own candidate rows: queries (nq, d), rows (nq, c, d) -> (nq, c)."""
    dots = np.matmul(rows, queries[:, :, None])[..., 0]
    if metric != "l2":
        return dots
    sq = np.einsum("qcd,qcd->qc", rows, rows) - 2.0 * dots + np.einsum("qd,qd->q", queries, queries)[:, None]
    return 0.0 - np.sqrt(np.maximum(sq, 0.0))


SCAN_CHUNK_ROWS = 65536


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, metric: str, mask: np.ndarray | None = None
) -> Ranked:
    """Exact top-k of queries over the rows of vectors (an array or a memmap), only rows where mask is True.

    Rows are scanned in chunks so a memory-mapped matrix is never copied whole.
    """
    import faiss

    nq, n = len(queries), len(vectors)
    result = empty_result(nq, k)
    if k <= 0:
        return result
    for start in range(0, n, SCAN_CHUNK_ROWS):
        stop = min(n, start + SCAN_CHUNK_ROWS)
        if mask is None:
            labels = None
            chunk = np.ascontiguousarray(vectors[start:stop], dtype=np.float32)
        else:
            labels = np.flatnonzero(mask[start:stop])
            if not len(labels):
                continue
            chunk = np.ascontiguousarray(vectors[start + labels] if start else vectors[labels], dtype=np.float32)
        kk = min(k, len(chunk))
        distances, found = faiss.knn(queries, chunk, kk, metric=faiss_metric(metric))
        scores = distances_to_scores(distances, found, metric)
        if labels is not None:
            found = np.where(found >= 0, labels[np.maximum(found, 0)], -1)
        found = np.where(found >= 0, found + start, -1)
        result = merge_results(result, pad_result(Ranked(found, scores), k), k)
    return result


def pad_result(result: Ranked, k: int) -> Ranked:
    """Widen (nq, k') results to (nq, k) with empty slots, or cut them to k."""
    nq, width = result.labels.shape
    if width == k:
        return result
    if width > k:
        return Ranked(np.ascontiguousarray(result.labels[:, :k]), np.ascontiguousarray(result.scores[:, :k]))
    out = empty_result(nq, k)
    out.labels[:, :width] = result.labels
    out.scores[:, :width] = result.scores
    return out


def top_k(candidates: Ranked, k: int) -> Ranked:
    """The k best candidates of each row, best first (gyeol._arrays.top_k over a Ranked).

    Empty slots must already score -inf (label -1): they sort last.
    """
    scores, labels = _top_k_arrays(candidates.scores, candidates.labels, k)
    return Ranked(labels, scores)


def merge_results(first: Ranked, second: Ranked, k: int) -> Ranked:
    """The k best of two results over disjoint labels."""
    labels = np.concatenate([first.labels, second.labels], axis=1)
    scores = np.concatenate([first.scores, second.scores], axis=1)
    return top_k(Ranked(labels, scores), k)


def found_per_row(labels: np.ndarray) -> np.ndarray:
    """How many real hits each result row holds."""
    return (labels >= 0).sum(axis=1)


class VectorIndex(ABC):
    """A dense index over labels 0..ntotal-1 with scores where higher is better."""

    kind: str  # what actually serves queries: "flat", "hnsw", "ivf", "ivfpq", "factory"
    dim: int
    metric: str
    device: str = "cpu"
    # what tuning to a recall target chose and measured (gyeol.index.tuning); None = not tuned
    tuning: dict[str, Any] | None = None

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """How many labels the index covers."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append vectors as labels ntotal, ntotal+1, ... (already normalised for cosine)."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranked:
        """Give back (nq, k) labels and scores, best first, label -1 and score -inf where fewer than k.

        allowed: boolean mask over labels; only labels where it is True may be returned.
        Every row holds min(k, number of allowed labels) hits.
        """

    @abstractmethod
    def save(self, directory: Path) -> dict[str, Any]:
        """Write the index files into directory, atomically; give back the meta entries naming them."""

    def reconstruct(self, labels: np.ndarray) -> np.ndarray | None:
        """Full vectors for labels, or None when this index does not keep them."""
        return None

    def wants_rebuild(self) -> bool:
        """True when the index should be rebuilt from all vectors (it outgrew a fallback or its parameters)."""
        return False

    def ram_bytes(self) -> int:
        """Approximate bytes of RAM the index holds (memory-mapped files excluded)."""
        return 0

    def ram_parts(self) -> dict[str, int]:
        """RAM split into bytes that grow with each vector (codes, ids, graph links) and the rest."""
        return {"per_vector_bytes": self.ram_bytes(), "fixed_bytes": 0}

    def describe(self) -> dict[str, Any]:
        """What the index is, for logs, the meta file and the benchmark."""
        return {"kind": self.kind, "ntotal": self.ntotal, "device": self.device}

    def accounting(self) -> dict[str, Any]:
        """RAM and tuning, for Collection.index_info: bytes per vector (codes, ids, links), fixed bytes."""
        parts = self.ram_parts()
        n = max(self.ntotal, 1)
        return {
            "ram": {
                "bytes": parts["per_vector_bytes"] + parts["fixed_bytes"],
                "bytes_per_vector": round(parts["per_vector_bytes"] / n, 1),
                "fixed_bytes": parts["fixed_bytes"],
            },
            "tuning": self.tuning,
        }

    def files(self) -> list[str]:
        """Names of files in the index directory this index reads (kept when old files are swept)."""
        return []

    def place_on_gpu(self) -> None:
        """Serve searches from a GPU copy where one can be made; an index without one stays on the CPU."""
