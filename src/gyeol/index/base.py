"""The VectorIndex interface every backend (memory, hybrid, disk; CPU or GPU) implements.

Labels are dense: the i-th vector added has label i, dead rows included, so a
label is also a row of the collection. Deletes never touch the index; searches
pass an `allowed` mask (live and matching the filter) instead. compact()
renumbers labels and rebuilds.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import numpy as np

from ..storage.atomic import write_bytes_atomic

META_NAME = "vector.json"


def faiss_metric(metric: str) -> int:
    import faiss

    return faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT


def distances_to_scores(distances: np.ndarray, metric: str) -> np.ndarray:
    """FAISS distances -> scores where higher is better (l2: minus the Euclidean distance)."""
    if metric == "l2":
        return -np.sqrt(np.maximum(distances, 0.0))
    return distances


def bitmap_selector(allowed: np.ndarray):
    """A FAISS IDSelectorBitmap over labels from a boolean mask; keep the bitmap alive with it."""
    import faiss

    bits = np.packbits(allowed.astype(np.uint8, copy=False), bitorder="little")
    selector = faiss.IDSelectorBitmap(len(allowed), faiss.swig_ptr(bits))
    selector._bits = bits  # the selector reads this buffer; tie its lifetime to the selector
    return selector


class VectorIndex(ABC):
    """A dense index over labels 0..ntotal-1 with scores where higher is better."""

    kind: str  # what actually serves queries: "flat", "hnsw", "ivf", "ivfpq", "factory"
    dim: int
    metric: str
    device: str = "cpu"

    @property
    @abstractmethod
    def ntotal(self) -> int:
        """How many labels the index covers."""

    @abstractmethod
    def add(self, vectors: np.ndarray) -> None:
        """Append vectors as labels ntotal, ntotal+1, ... (already normalised for cosine)."""

    @abstractmethod
    def search(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Give back (scores, labels), each (nq, k), best first, label -1 where fewer than k.

        allowed: boolean mask over labels; only labels where it is True may be returned.
        """

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write the index files into directory, atomically."""

    def reconstruct(self, labels: np.ndarray) -> np.ndarray | None:
        """Full vectors for labels, or None when this index does not keep them."""
        return None

    def wants_rebuild(self) -> bool:
        """True when the index should be rebuilt from all vectors (it outgrew a fallback)."""
        return False

    def ram_bytes(self) -> int:
        """Approximate bytes of RAM the index holds."""
        return 0

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "ntotal": self.ntotal, "device": self.device}


def write_meta(directory: Path, meta: dict[str, Any]) -> None:
    write_bytes_atomic(directory / META_NAME, json.dumps(meta).encode())


def read_meta(directory: Path) -> dict[str, Any] | None:
    try:
        return json.loads((directory / META_NAME).read_bytes())
    except (FileNotFoundError, ValueError):
        return None
