"""Vector indexes: build one for a tier/spec/device, save it, load it back if still fresh."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ..config import HNSW, IVF, IVFPQ, Factory, Flat, IndexSpec
from ..errors import InvalidInputError
from .base import VectorIndex, read_meta, write_meta
from .memory import FaissIndex, load_faiss, new_flat, new_hnsw

log = logging.getLogger(__name__)

__all__ = ["VectorIndex", "build_index", "save_index", "load_index", "FLAT_BELOW"]

# Below this many vectors a Flat scan is as fast as a graph and exact.
FLAT_BELOW = 4096


def default_spec(tier: str) -> IndexSpec:
    if tier == "memory":
        return HNSW()
    raise InvalidInputError(f"tier {tier!r} has no default index yet")


def validate_spec(spec: IndexSpec | None, *, tier: str, metric: str, dim: int) -> None:
    """Raise InvalidInputError if spec cannot work for this tier, metric and dimension."""
    if isinstance(spec, IVFPQ) and spec.m is not None and dim % spec.m:
        raise InvalidInputError(f"IVFPQ.m={spec.m} must divide the dimension {dim}")
    if isinstance(spec, Factory):
        import faiss

        try:
            faiss.index_factory(dim, spec.spec, faiss.METRIC_L2)
        except RuntimeError as exc:
            raise InvalidInputError(f"FAISS cannot build index {spec.spec!r} for dim {dim}: {exc}") from None


def build_index(
    spec: IndexSpec | None,
    *,
    tier: str,
    metric: str,
    dim: int,
    vectors: np.ndarray,
    directory: Path | None,
    device: str = "cpu",
) -> VectorIndex:
    """Build an index over vectors (labels 0..n-1) for the tier, falling back to Flat when small."""
    n = len(vectors)
    if tier != "memory":
        raise InvalidInputError(f"tier {tier!r} is not available")
    if spec is None:
        index = new_flat(dim, metric, fallback_until=FLAT_BELOW) if n < FLAT_BELOW else _hnsw(HNSW(), dim, metric)
    elif isinstance(spec, Flat):
        index = new_flat(dim, metric)
    elif isinstance(spec, HNSW):
        index = _hnsw(spec, dim, metric)
    elif isinstance(spec, (IVF, IVFPQ, Factory)):
        index = _trained(spec, dim, metric, vectors)
    else:  # pragma: no cover - coerce_index_spec guards this
        raise InvalidInputError(f"unsupported index {spec!r}")
    index.add(vectors)
    return index


def _hnsw(spec: HNSW, dim: int, metric: str) -> FaissIndex:
    return new_hnsw(dim, metric, spec.m, spec.ef_construction, spec.ef_search)


def _trained(spec: IndexSpec, dim: int, metric: str, vectors: np.ndarray) -> FaissIndex:
    import faiss

    from .base import faiss_metric

    n = len(vectors)
    if isinstance(spec, IVF):
        nlist = spec.nlist or max(1, int(4 * np.sqrt(max(n, 1))))
        factory, kind, nprobe = f"IVF{nlist},Flat", "ivf", spec.nprobe or max(1, nlist // 16)
    elif isinstance(spec, IVFPQ):
        nlist = spec.nlist or max(1, int(4 * np.sqrt(max(n, 1))))
        m = spec.m or dim // 8
        factory, kind, nprobe = f"IVF{nlist},PQ{m}x{spec.nbits}", "ivfpq", spec.nprobe or max(1, nlist // 16)
    else:
        factory, kind, nprobe = spec.spec, "factory", None
    index = faiss.index_factory(dim, factory, faiss_metric(metric))
    if not index.is_trained:
        need = _training_size(index)
        if n < need:
            log.info("collection has %d vectors, fewer than the %d that %s needs to train: using Flat until then",
                     n, need, factory)
            return new_flat(dim, metric, fallback_until=need)
        index.train(np.ascontiguousarray(vectors[: max(need * 4, 100_000)], dtype=np.float32))
    if kind == "factory":
        kind = "hnsw" if factory.upper().startswith("HNSW") else ("ivf" if factory.upper().startswith("IVF") else "factory")
    return FaissIndex(index, kind=kind, metric=metric, nprobe=nprobe)


def _training_size(index) -> int:
    import faiss

    ivf = faiss.try_extract_index_ivf(index)
    need = 1
    if ivf is not None:
        need = max(need, ivf.nlist)
    pq = getattr(faiss.downcast_index(ivf) if ivf is not None else index, "pq", None)
    if pq is not None:
        need = max(need, 1 << pq.nbits)
    return need


def save_index(index: VectorIndex, directory: Path, *, generation: int, tier: str, metric: str) -> None:
    """Write the index and its meta (the generation and label count it covers)."""
    directory.mkdir(parents=True, exist_ok=True)
    index.save(directory)
    meta = index.describe()
    meta.update(generation=generation, tier=tier, metric=metric, dim=index.dim)
    write_meta(directory, meta)


def load_index(
    directory: Path, *, generation: int, tier: str, metric: str, dim: int, next_label: int, device: str = "cpu"
) -> VectorIndex | None:
    """The saved index if it matches this generation and tier and covers no more than next_label."""
    meta = read_meta(directory)
    if meta is None or meta.get("generation") != generation or meta.get("tier") != tier:
        return None
    if meta.get("metric") != metric or meta.get("dim") != dim or meta.get("ntotal", 0) > next_label:
        return None
    try:
        index = load_faiss(directory, meta)
    except (RuntimeError, OSError, KeyError) as exc:
        log.warning("vector index in %s is unreadable (%s); rebuilding", directory, exc)
        return None
    if index.ntotal != meta.get("ntotal"):
        return None
    return index


