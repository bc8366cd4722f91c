"""Build, save and load the vector index of a collection for its tier and device.

Index directory layout (all names but the meta are fresh per write):

    vector.json           meta: generation, tier, metric, dim, ntotal, and the index state naming its files
    index-<id>.faiss      a FAISS index (memory tier: read whole; disk tier: memory-mapped)
    vectors-<id>.f32      full-precision vectors for rescoring (hybrid: memory-mapped; memory: read into RAM)
    delta-<id>.f32        disk tier: vectors added after the base file was written

The meta is written last and atomically, then files it does not name are swept.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ..config import IndexSpec, tier_needs_disk
from ..errors import CorruptionError
from .base import VectorIndex, add_in_batches, faiss_metric
from .device import resolve_device, train_index
from .disk import build_disk, load_disk
from .faiss_index import FaissIndex, load_faiss
from .files import VECTOR_FILES, rows_file
from .rescore import RescoredIndex
from .specs import IndexPlan, plan_index, validate_spec
from .tuning import core_of, tune
from .vectors import VectorStore

log = logging.getLogger(__name__)

# Seed of the training sample, so that a rebuild from the same vectors gives the same index.
TRAIN_SEED = 1234


def build_index(
    spec: IndexSpec | None,
    *,
    tier: str,
    metric: str,
    dim: int,
    vectors: np.ndarray,
    directory: Path | None,
    device: str = "cpu",
    recall_target: float | None = None,
) -> VectorIndex:
    """Build an index over vectors (labels 0..n-1) for the tier, falling back to Flat when too small to train.

    The index's free search settings are tuned to the spec's recall target (recall_target, when
    given, overrides it: a target set by Collection.tune survives rebuilds).
    """
    validate_spec(spec, tier=tier, metric=metric, dim=dim, in_memory=directory is None)
    placed = resolve_device(device)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, dim)
    plan = plan_index(spec, tier=tier, dim=dim, n=len(vectors), gpu=placed == "gpu")
    if recall_target is not None and plan.kind != "flat":
        plan = replace(plan, recall_target=recall_target)
    if plan.note:
        log.info("%s tier: %s", tier, plan.note)
    raw = _new_faiss(plan, metric=metric, dim=dim)
    trained_on = None
    if plan.needs_training:
        raw, trained_on = train_index(raw, _training_sample(vectors, plan.train_size), kind=plan.kind,
                                      gpu=placed == "gpu")
    if tier == "memory":
        index = _memory(raw, plan, metric, vectors)
    elif tier == "hybrid":
        index = _hybrid(raw, plan, metric, vectors, directory)
    else:
        index = _disk(raw, plan, metric, vectors, directory)
    core = core_of(index)[0]
    if trained_on is not None and core is not None and core.trained_on is None:  # a larger code sets its own
        core.trained_on = trained_on
    if plan.recall_target is not None and plan.kind != "flat" and tier != "hybrid":
        tune(index, vectors, recall_target=plan.recall_target, free=plan.tune)
    if placed == "gpu":
        index.place_on_gpu()
    log.debug("built %s index: %s", tier, index.describe())
    return index


def _new_faiss(plan: IndexPlan, *, metric: str, dim: int):
    import faiss

    index = faiss.index_factory(dim, plan.factory, faiss_metric(metric))
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW) and plan.ef_construction:
        inner.hnsw.efConstruction = plan.ef_construction
    if plan.ef_search and isinstance(inner, faiss.IndexHNSW):
        inner.hnsw.efSearch = plan.ef_search
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and plan.nprobe:
        ivf.nprobe = plan.nprobe
    table = getattr(faiss.downcast_index(ivf) if ivf is not None else inner, "use_precomputed_table", None)
    if table is not None:
        # IVF-PQ's L2 precomputed table holds nlist*M*ksub floats: more RAM than the codes themselves at
        # the sizes gyeol targets, so it is turned off (inner product never uses it).
        faiss.downcast_index(ivf).use_precomputed_table = -1
    return index


def _training_sample(vectors: np.ndarray, size: int) -> np.ndarray:
    if len(vectors) <= size:
        return vectors
    rows = np.sort(np.random.default_rng(TRAIN_SEED).choice(len(vectors), size, replace=False))
    return np.ascontiguousarray(vectors[rows])


def _filled(raw, plan: IndexPlan, metric: str, vectors: np.ndarray) -> FaissIndex:
    add_in_batches(raw, vectors, plan.kind)
    return FaissIndex(raw, metric=metric, nprobe=plan.nprobe, ef_search=plan.ef_search, rebuild_at=plan.rebuild_at)


def _memory(raw, plan: IndexPlan, metric: str, vectors: np.ndarray) -> VectorIndex:
    if plan.rescore is None:
        return _filled(raw, plan, metric, vectors)
    inner = _filled(raw, plan, metric, vectors)
    return RescoredIndex(inner, VectorStore.in_ram(vectors), metric=metric, rescore=plan.rescore)


def _require_directory(directory: Path | None, tier: str) -> Path:
    if directory is None:
        raise tier_needs_disk(tier)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _hybrid(raw, plan: IndexPlan, metric: str, vectors: np.ndarray, directory: Path | None) -> VectorIndex:
    directory = _require_directory(directory, "hybrid")
    store = VectorStore.create_file(directory, "vectors", vectors, vectors.shape[1])
    if plan.kind == "flat":  # exact scan of the memory-mapped vector file: nothing in RAM
        return RescoredIndex(None, store, metric=metric, rescore=1, rebuild_at=plan.rebuild_at)
    index = RescoredIndex(_filled(raw, plan, metric, vectors), store, metric=metric, rescore=plan.rescore or 1)
    if plan.recall_target is None:
        return index
    record = tune(index, vectors, recall_target=plan.recall_target, free=plan.tune)
    for code in plan.larger_codes:
        if record is None or record["met"]:
            break
        # the codes cannot reach the target at any nprobe and depth: try the next code within the budget,
        # on the same IVF lists (the coarse quantizer is reused, so only the codes are trained)
        log.info("%s reaches recall %.3f < %.3f: trying %s codes", record["settings"].get("codes"),
                 record["recall"], plan.recall_target, code)
        larger = _larger_code(raw, plan, code, metric, vectors)
        candidate = RescoredIndex(_filled(larger, plan, metric, vectors), store, metric=metric,
                                  rescore=plan.rescore or 1)
        tried = tune(candidate, vectors, recall_target=plan.recall_target, free=plan.tune)
        if tried is not None and tried["recall"] > record["recall"]:
            index, record = candidate, tried
    return index


def _larger_code(trained, plan: IndexPlan, code: str, metric: str, vectors: np.ndarray):
    """A new IVF index with `code` codes over the lists of an already trained one."""
    import faiss

    lists = faiss.extract_index_ivf(trained)
    index = _new_faiss(replace(plan, factory=f"IVF{int(lists.nlist)},{code}"), metric=metric, dim=int(trained.d))
    quantizer = faiss.extract_index_ivf(index).quantizer
    quantizer.add(lists.quantizer.reconstruct_n(0, int(lists.nlist)))  # trained lists: k-means is skipped
    index.train(_training_sample(vectors, plan.train_size))
    return index


def _disk(raw, plan: IndexPlan, metric: str, vectors: np.ndarray, directory: Path | None) -> VectorIndex:
    directory = _require_directory(directory, "disk")
    disk = build_disk(raw, vectors, directory, metric=metric, nprobe=plan.nprobe, rebuild_at=plan.rebuild_at)
    if plan.rescore is None:
        return disk
    store = VectorStore.create_file(directory, "vectors", vectors, vectors.shape[1])
    return RescoredIndex(disk, store, metric=metric, rescore=plan.rescore)


# -- persistence ---------------------------------------------------------------------------


def save_index(index: VectorIndex, directory: Path, *, generation: int, tier: str, metric: str) -> None:
    """Write the index files, then the meta naming them (atomically), then sweep files no longer named."""
    directory.mkdir(parents=True, exist_ok=True)
    state = index.save(directory)
    meta = {
        "generation": generation,
        "tier": tier,
        "metric": metric,
        "dim": index.dim,
        "ntotal": index.ntotal,
        "index": state,
        "describe": index.describe(),
    }
    if index.tuning is not None:
        meta["tuning"] = index.tuning
    VECTOR_FILES.commit(directory, meta, index.files())


def load_index(
    directory: Path,
    *,
    generation: int,
    tier: str,
    metric: str,
    dim: int,
    next_label: int,
    device: str = "cpu",
    read_only: bool = False,
) -> VectorIndex | None:
    """The saved index if it matches this generation, tier, metric and dim and covers no more than next_label.

    None (the caller rebuilds) when there is none, it is stale, or its files are missing or unreadable.
    read_only: never write to the index files (vectors added later stay in RAM).
    """
    try:
        meta = VECTOR_FILES.read(directory)
    except CorruptionError as exc:
        log.warning("vector index in %s is unreadable (%s); rebuilding", directory, exc)
        return None
    if meta is None:
        return None
    if meta.get("generation") != generation and type(meta.get("generation")) is int:
        # a writer stopped between a compaction's commit and the index save: stale, not damaged
        log.info("vector index in %s is of generation %s, not %d; rebuilding", directory, meta["generation"], generation)
        return None
    found = tuple(meta.get(key) for key in ("generation", "tier", "metric", "dim"))
    ntotal = meta.get("ntotal")
    if found != (generation, tier, metric, dim) or type(ntotal) is not int or not 0 <= ntotal <= next_label:
        log.warning("vector index in %s does not fit this collection (generation, tier, metric, dim %s, "
                    "ntotal %r; expected %s and at most %d); rebuilding",
                    directory / VECTOR_FILES.meta_name, found, ntotal, (generation, tier, metric, dim), next_label)
        return None
    placed = resolve_device(device)
    try:
        index = _load_state(directory, meta["index"], metric=metric, dim=dim, read_only=read_only)
    except (CorruptionError, RuntimeError, OSError, KeyError, ValueError, TypeError) as exc:
        log.warning("vector index in %s is unreadable (%s); rebuilding", directory / VECTOR_FILES.meta_name, exc)
        return None
    if index.ntotal != meta.get("ntotal") or index.dim != dim:
        log.warning("vector index in %s holds %d vectors, its meta says %s; rebuilding",
                    directory, index.ntotal, meta.get("ntotal"))
        return None
    tuning = meta.get("tuning")
    index.tuning = tuning if isinstance(tuning, dict) else None
    if placed == "gpu":
        index.place_on_gpu()
    return index


def _load_state(directory: Path, state: dict[str, Any], *, metric: str, dim: int, read_only: bool) -> VectorIndex:
    kind = state["type"]
    if kind == "faiss":  # a reader's HNSW or Flat index: views into the file, copied on its first add
        return load_faiss(directory, state, metric=metric, mmap=False, view=read_only)
    if kind == "disk":
        return load_disk(directory, state, metric=metric, dim=dim, read_only=read_only)
    if kind == "rescored":
        inner = state["inner"] and _load_state(directory, state["inner"], metric=metric, dim=dim, read_only=read_only)
        path, n = rows_file(directory, state["vectors"]), int(state["ntotal"])
        if state["vectors_in_ram"]:
            store = VectorStore.load_ram(path, dim, n)
        else:
            store = VectorStore.open_file(path, dim, n, writable=not read_only)
        store.verify(state.get("vectors_crc32"), path, directory / VECTOR_FILES.meta_name)
        return RescoredIndex(inner, store, metric=metric, rescore=int(state["rescore"]), rebuild_at=state["rebuild_at"])
    raise KeyError(f"unknown index state type {kind!r}")
