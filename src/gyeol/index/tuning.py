"""Tuning an index to a recall target, measured against exact search on the collection's own vectors.

At build (and again once the collection has grown RETUNE_GROWTH times since the last tuning, or
on `Collection.tune()`), TUNE_QUERIES of the collection's vectors are drawn as queries (or the
user's queries are taken), their exact TUNE_K nearest neighbours found by brute force (each
sampled vector's own row left out), and the free search settings of the index are set to the
cheapest that reach the target:

- HNSW: the smallest efSearch of EF_GRID;
- IVF-Flat: the fewest lists (nprobe, on a x sqrt(2) grid);
- IVF with compressed codes + exact rescoring: nprobe and the rescoring depth (candidates per
  hit, RESCORE_GRID) together. One search per nprobe at the widest depth gives every narrower
  depth too (FAISS returns candidates best first), and the pair with the least estimated work
  is kept (work: code bytes scanned + RESCORED_BYTE_COST x full-vector bytes read).

What was chosen and the recall measured are kept as `index.tuning` (saved in the index meta,
shown by `Collection.index_info`). A target that cannot be reached is logged at WARNING with
the recall reached; the index then uses the settings that came closest.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import numpy as np

from .base import VectorIndex, faiss_metric
from .disk import DiskIndex
from .faiss_index import FaissIndex
from .rescore import RescoredIndex

log = logging.getLogger(__name__)

TUNE_QUERIES = 300
TUNE_K = 10
TUNE_SEED = 4321
# Tune again once the collection has grown this many times since the last tuning.
RETUNE_GROWTH = 2
RESCORE_GRID = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32)
# Measured recall must clear the target by this much (~2 standard errors of a 300-query mean: at 0.005,
# one standard error, the easy 100k hybrid tier tuned to 0.957 on its sample and measured 0.949 on held-out queries).
TUNE_MARGIN = 0.01
EF_GRID = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
# nprobe steps tried past the first that reaches the target (a wider probe may need fewer candidates).
EXTRA_PROBE_STEPS = 2
# Estimated work of reading one full-vector byte to rescore (a random read) against scanning one code
# byte (fast-scan SIMD); codes other than fast-scan scan at FAISS's scalar speed, SCALAR_CODE_COST.
RESCORED_BYTE_COST = 4.0
SCALAR_CODE_COST = 4.0


def core_of(index: VectorIndex) -> tuple[FaissIndex | None, RescoredIndex | None]:
    """The FAISS index whose search settings are tuned, and the rescoring layer over it (if any)."""
    rescored = index if isinstance(index, RescoredIndex) else None
    inner = rescored.inner if rescored is not None else index
    if isinstance(inner, DiskIndex):
        inner = inner.base
    return (inner if isinstance(inner, FaissIndex) else None), rescored


def tunable(index: VectorIndex) -> bool:
    """True when the index has search settings to tune (not an exact scan)."""
    core, _ = core_of(index)
    return core is not None and core.family in ("ivf", "hnsw")


def tune(
    index: VectorIndex,
    vectors: np.ndarray,
    *,
    recall_target: float,
    free: tuple[str, ...],
    queries: np.ndarray | None = None,
    k: int = TUNE_K,
) -> dict[str, Any] | None:
    """Set the cheapest free settings reaching recall_target; give back what was chosen (also index.tuning).

    vectors: the rows of labels 0..n-1 (at least those of the tuned FAISS index);
    free: which of "nprobe", "rescore", "ef_search" may change (the others stay as they are);
    queries: the user's query vectors (normalised like the collection's), or None to sample rows.
    None when the index has nothing to tune.
    """
    core, rescored = core_of(index)
    if core is None or core.family not in ("ivf", "hnsw") or core.ntotal <= k:
        return None
    t0 = time.perf_counter()
    n = core.ntotal
    base = np.ascontiguousarray(vectors[:n], dtype=np.float32)
    sampled = queries is None
    rows = None
    if not sampled:
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(-1, core.dim)
    elif core.family == "hnsw":
        q = moved_sample(base, core.metric, k)
    else:
        rows = sample_rows(n)
        q = np.ascontiguousarray(base[rows])
    truth = _exact(base, q, rows, k, core.metric)
    recall_target_eff = min(1.0, recall_target + TUNE_MARGIN)
    if core.family == "hnsw":
        choice = _tune_hnsw(core, q, rows, truth, recall_target_eff, free, k)
    else:
        choice = _tune_ivf(core, rescored, base, q, rows, truth, recall_target_eff, free, k)
    settings, recall = choice
    if "nprobe" in settings or "ef_search" in settings:
        core.set_search(nprobe=settings.get("nprobe"), ef_search=settings.get("ef_search"))
    if rescored is not None and "rescore" in settings:
        rescored.rescore = int(settings["rescore"])
    record = {
        "recall_target": recall_target,
        "recall": round(float(recall), 4),
        "met": bool(recall >= recall_target_eff),
        "k": k,
        "queries": len(q),
        "queries_from": "collection sample" if sampled else "user",
        "n": index.ntotal,
        "retune_at": RETUNE_GROWTH * index.ntotal,
        "free": list(free),
        "settings": settings,
        "seconds": round(time.perf_counter() - t0, 3),
    }
    if not record["met"]:
        log.warning(
            "recall target %.3f not reached: recall@%d %.3f with %s (the best within the index's settings%s); "
            "use a larger code budget (IVFPQ(max_code_bytes=...)), tier='memory', or a lower recall_target",
            recall_target, k, recall, settings, "" if set(settings) - {"codes"} <= set(free) else ", some of them fixed",
        )
    index.tuning = record
    return record


def sample_rows(n: int) -> np.ndarray:
    """TUNE_QUERIES rows drawn with a fixed seed, sorted."""
    return np.sort(np.random.default_rng(TUNE_SEED).choice(n, min(TUNE_QUERIES, n), replace=False))


def moved_sample(base: np.ndarray, metric: str, k: int) -> np.ndarray:
    """Sampled stored vectors, each moved in a random direction by its distance to its k-th neighbour.

    A stored vector queried as it is lands on its own HNSW node, whose links are its neighbours:
    recall so measured is optimistic (0.99 at efSearch 16 where fresh queries get 0.93, on the tests'
    hard set). Moved this far, a query is off the graph yet its neighbourhood is the data's.
    (IVF lists give no such head start: IVF tunes on the stored vectors, their own rows left out.)
    """
    import faiss

    rows = sample_rows(len(base))
    rng = np.random.default_rng(TUNE_SEED + 1)
    q = np.ascontiguousarray(base[rows])
    near = _exact(base, q, rows, k, metric)[:, -1]
    radius = np.linalg.norm(base[np.maximum(near, 0)] - q, axis=1, keepdims=True)
    step = rng.standard_normal(q.shape).astype(np.float32)
    step *= radius / np.maximum(np.linalg.norm(step, axis=1, keepdims=True), 1e-12)
    moved = q + step
    if metric == "cosine":
        faiss.normalize_L2(moved)
    return np.ascontiguousarray(moved, dtype=np.float32)


def _exact(base: np.ndarray, q: np.ndarray, rows: np.ndarray | None, k: int, metric: str) -> np.ndarray:
    import faiss

    found = faiss.knn(q, base, min(k + (rows is not None), len(base)), metric=faiss_metric(metric))[1]
    return _drop_self(found, rows, k)


def _drop_self(labels: np.ndarray, rows: np.ndarray | None, k: int) -> np.ndarray:
    """Each row's labels without the query's own row (a sampled vector finds itself), first k kept."""
    if rows is None:
        return labels[:, :k]
    other = labels != rows[:, None]
    order = np.argsort(~other, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(labels, order, axis=1)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of each row's true neighbours (label >= 0) among its found labels."""
    hits = ((found[:, :, None] == truth[:, None, :]) & (truth[:, None, :] >= 0)).any(axis=1).sum(axis=1)
    return float(np.mean(hits / np.maximum((truth >= 0).sum(axis=1), 1)))


def _tune_hnsw(core, q, rows, truth, target, free, k) -> tuple[dict[str, Any], float]:
    grid = EF_GRID if "ef_search" in free else (core.ef_search or EF_GRID[-1],)
    slot = int(rows is not None)
    best: tuple[float, int] = (-1.0, grid[-1])
    for ef in grid:
        found = _drop_self(core.probe(q, k + slot, ef_search=max(ef, k + slot)), rows, k)
        recall = recall_at(found, truth)
        if recall > best[0]:
            best = (recall, ef)
        if recall >= target:
            return {"ef_search": int(ef)}, recall
    return {"ef_search": int(best[1])}, best[0]


def nprobe_grid(nlist: int) -> list[int]:
    """1, then x sqrt(2) steps, up to every list."""
    out: list[int] = []
    p = 1.0
    while p < nlist:
        if not out or int(round(p)) > out[-1]:
            out.append(int(round(p)))
        p *= math.sqrt(2)
    return out + [nlist]


def _tune_ivf(core, rescored, base, q, rows, truth, target, free, k) -> tuple[dict[str, Any], float]:
    import faiss

    nlist = core.nlist or 1
    probes = nprobe_grid(nlist) if "nprobe" in free else [core.nprobe or nlist]
    if rescored is None:
        depths: tuple[int | None, ...] = (None,)
    else:
        depths = RESCORE_GRID if "rescore" in free else (rescored.rescore,)
    slot = int(rows is not None)
    code_cost = _code_bytes(core) * (1.0 if _fast_scan(core) else SCALAR_CODE_COST)
    per_list = core.ntotal / nlist
    tried: list[tuple[float, float, int, int | None]] = []  # (recall, cost, nprobe, depth)
    feasible_at = None
    for step, p in enumerate(probes):
        if rescored is None:
            found = _drop_self(core.probe(q, k + slot, nprobe=p), rows, k)
            tried.append((recall_at(found, truth), p * per_list * code_cost, p, None))
        else:
            width = min(core.ntotal, k * max(d or 1 for d in depths) + slot)
            candidates = np.ascontiguousarray(core.probe(q, width, nprobe=p), dtype=np.int64)
            scores = _exact_by_idx(base, q, candidates, core.metric, faiss)
            for depth in depths:
                w = min(width, k * (depth or 1) + slot)
                found = _top_labels(candidates[:, :w], scores[:, :w], rows, k)
                cost = p * per_list * code_cost + RESCORED_BYTE_COST * k * (depth or 1) * 4 * core.dim
                tried.append((recall_at(found, truth), cost, p, depth))
        if feasible_at is None and any(r >= target for r, _, pp, _ in tried if pp == p):
            feasible_at = step
        if feasible_at is not None and step >= feasible_at + EXTRA_PROBE_STEPS:
            break
    ok = [t for t in tried if t[0] >= target]
    recall, _, p, depth = min(ok, key=lambda t: t[1]) if ok else max(tried, key=lambda t: (t[0], -t[1]))
    settings: dict[str, Any] = {"nprobe": int(p)}
    if depth is not None:
        settings["rescore"] = int(depth)
    settings["codes"] = _codes_name(core)
    return settings, recall


def _exact_by_idx(base, q, candidates, metric, faiss) -> np.ndarray:
    nq, width = candidates.shape
    out = np.empty((nq, width), np.float32)
    by_idx = faiss.fvec_L2sqr_by_idx if metric == "l2" else faiss.fvec_inner_products_by_idx
    by_idx(faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(base), faiss.swig_ptr(candidates),
           base.shape[1], nq, width)
    scores = -out if metric == "l2" else out
    scores[candidates < 0] = -np.inf
    return scores


def _top_labels(candidates, scores, rows, k) -> np.ndarray:
    scores = scores.copy()
    if rows is not None:
        scores[candidates == rows[:, None]] = -np.inf
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    found = np.take_along_axis(candidates, order, axis=1)
    return np.where(np.take_along_axis(scores, order, axis=1) > -np.inf, found, -1)


def _ivf(core):
    import faiss

    return faiss.extract_index_ivf(core.index)


def _code_bytes(core) -> float:
    return float(_ivf(core).code_size)


def _fast_scan(core) -> bool:
    import faiss

    return isinstance(faiss.downcast_index(_ivf(core)), faiss.IndexIVFFastScan)


def _codes_name(core) -> str:
    """The code type of an IVF index: "flat", "PQ192x4fs", "PQ96x8", "SQ4", ... (for the record)."""
    import faiss

    ivf = faiss.downcast_index(_ivf(core))
    if isinstance(ivf, faiss.IndexIVFFlat):
        return "flat"
    pq = getattr(ivf, "pq", None)
    if pq is not None:
        return f"PQ{int(pq.M)}x{int(pq.nbits)}{'fs' if isinstance(ivf, faiss.IndexIVFFastScan) else ''}"
    sq = getattr(ivf, "sq", None)
    if sq is not None:
        names = {faiss.ScalarQuantizer.QT_4bit: "SQ4", faiss.ScalarQuantizer.QT_8bit: "SQ8",
                 faiss.ScalarQuantizer.QT_fp16: "SQfp16"}
        return names.get(int(sq.qtype), f"SQ(type {int(sq.qtype)})")
    return type(ivf).__name__
