"""Which FAISS index a tier and spec turn into, with what parameters; and validating specs early.

The defaults follow the collection size N (documented in docs/tiers.md):

- below FLAT_BELOW vectors every tier uses exact search (Flat) and asks for a
  rebuild when the collection reaches FLAT_BELOW;
- memory: HNSW(m=32, ef_construction=128, ef_search=96); IVF-Flat on a GPU
  (faiss-gpu has no HNSW);
- hybrid: IVF-PQ fast-scan codes (4-bit, m = dim/2 sub-quantisers, so dim/4
  bytes a vector) rescored x4 from the vector file; 8-bit IVF-PQ (m = dim/4)
  on a GPU, which has no fast-scan kernels;
- disk: IVF-Flat;
- IVF lists: nlist = min(4*sqrt(N), N/39) (FAISS wants 39 training points per
  centroid), nprobe = nlist/8. Parameters chosen from N are chosen again when
  the collection has grown GROWTH_REBUILD times since the build.
"""

from __future__ import annotations

import functools
import logging
import math
from dataclasses import dataclass, replace

from ..config import HNSW, IVF, IVFPQ, Factory, Flat, IndexSpec, tier_needs_disk
from ..errors import InvalidInputError
from .base import faiss_metric

log = logging.getLogger(__name__)

# Below this many vectors exact search is fast enough and needs no training.
FLAT_BELOW = 4096
# Rebuild indexes whose parameters were chosen from N once N has grown this much.
GROWTH_REBUILD = 4
# FAISS k-means wants this many training points per centroid (it warns below).
POINTS_PER_CENTROID = 39
# Training sample: this many points per IVF list (FAISS itself caps at 256).
TRAIN_POINTS_PER_LIST = 40
# Candidates rescored per wanted hit for compressed factory strings.
DEFAULT_RESCORE = 4
# HNSW efSearch when tuning is off (FAISS's own default, 16, gives poor recall).
DEFAULT_EF_SEARCH = 96
# Code sizes FAISS GPU IVF-PQ supports (bytes per vector, 8-bit codes).
GPU_PQ_M = (1, 2, 3, 4, 8, 12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 96)


@dataclass(frozen=True)
class IndexPlan:
    """A FAISS index to build: factory string, search parameters, training needs, rebuild point."""

    kind: str  # flat | hnsw | ivf | ivfpq | factory
    factory: str
    nprobe: int | None = None
    ef_search: int | None = None
    ef_construction: int | None = None
    rescore: int | None = None  # candidates per hit rescored from full vectors; None = no rescoring
    rebuild_at: int | None = None
    train_min: int = 0  # vectors needed before the index can be trained
    train_size: int = 0  # vectors to train on (a random sample)
    note: str = ""
    # tuning (gyeol.index.tuning): the recall@10 to reach (None = fixed settings), which knobs are free,
    # and larger codes within the RAM budget to try when this one cannot reach the target
    recall_target: float | None = None
    tune: tuple[str, ...] = ()  # of "nprobe", "rescore", "ef_search"
    larger_codes: tuple[str, ...] = ()

    @property
    def needs_training(self) -> bool:
        return self.train_min > 0


def free_knobs(spec: IndexSpec | None) -> tuple[str, ...]:
    """The search settings tuning may change: those the spec leaves to gyeol (None)."""
    if isinstance(spec, HNSW):
        return () if spec.ef_search else ("ef_search",)
    if isinstance(spec, IVF):
        return () if spec.nprobe else ("nprobe",)
    if isinstance(spec, IVFPQ):
        return tuple(knob for knob, fixed in (("nprobe", spec.nprobe), ("rescore", spec.rescore)) if not fixed)
    return ("nprobe", "rescore", "ef_search")


def default_nlist(n: int) -> int:
    """IVF lists for N vectors: about 4*sqrt(N), at most N/39 so k-means has enough points."""
    return max(1, min(int(round(4 * math.sqrt(max(n, 1)))), n // POINTS_PER_CENTROID))


def default_nprobe(nlist: int) -> int:
    """Lists visited per query: 1/8 of them (recall@10 ~0.95-0.97 on clustered data)."""
    return max(1, math.ceil(nlist / 8))


def default_pq_m(dim: int, nbits: int, *, gpu: bool = False) -> int:
    """Sub-quantisers for IVF-PQ: dim/2 at 4 bits, dim/4 at 8 bits (dim/4 bytes a vector), dividing dim."""
    target = max(1, dim // 2 if nbits == 4 else dim // 4)
    target = min(target, 256 if nbits == 4 else 128)
    candidates = [m for m in range(target, 0, -1) if dim % m == 0]
    if gpu and nbits == 8:
        candidates = [m for m in candidates if m in GPU_PQ_M] or [1]
    return candidates[0]


def flat_plan(rebuild_at: int | None = None, note: str = "") -> IndexPlan:
    return IndexPlan(kind="flat", factory="Flat", rebuild_at=rebuild_at, note=note)


def plan_index(spec: IndexSpec | None, *, tier: str, dim: int, n: int, gpu: bool = False) -> IndexPlan:
    """The index to build for spec on tier over n vectors (a Flat fallback when n is too small)."""
    if spec is None:
        if n < FLAT_BELOW:
            return flat_plan(FLAT_BELOW, f"{n} vectors: exact search until {FLAT_BELOW}")
        if tier == "memory":
            spec = IVF() if gpu else HNSW()  # faiss-gpu has no HNSW: IVF-Flat, which it has
        elif tier == "hybrid":
            spec = IVFPQ(nbits=8 if gpu else 4)
        else:
            spec = IVF()
    if isinstance(spec, Flat):
        plan = flat_plan()
    elif isinstance(spec, HNSW):
        plan = IndexPlan(
            kind="hnsw", factory=f"HNSW{spec.m},Flat", ef_search=spec.ef_search or DEFAULT_EF_SEARCH,
            ef_construction=spec.ef_construction, recall_target=spec.recall_target,
            tune=free_knobs(spec),
        )
    elif isinstance(spec, IVF):
        nlist = spec.nlist or default_nlist(n)
        plan = IndexPlan(
            kind="ivf",
            factory=f"IVF{nlist},Flat",
            nprobe=min(spec.nprobe or default_nprobe(nlist), nlist),
            rebuild_at=None if spec.nlist else GROWTH_REBUILD * max(n, FLAT_BELOW),
            train_min=nlist * POINTS_PER_CENTROID,
            train_size=nlist * TRAIN_POINTS_PER_LIST,
            recall_target=spec.recall_target,
            tune=free_knobs(spec),
        )
    elif isinstance(spec, IVFPQ):
        nlist = spec.nlist or default_nlist(n)
        m = spec.m or default_pq_m(dim, spec.nbits, gpu=gpu)
        budget = spec.max_code_bytes or max(1, dim // 2)
        if not spec.m and not gpu and spec.nbits == 4 and m / 2 > budget:
            m = max(c for c in range(1, dim + 1) if dim % c == 0 and c / 2 <= budget)
        # 4-bit codes have no GPU form: fast-scan on the CPU (device "cpu" reported) even under device="gpu"
        codes = f"PQ{m}x4fs" if spec.nbits == 4 else f"PQ{m}x{spec.nbits}"
        larger: tuple[str, ...] = ()
        if not spec.m and not gpu and spec.nbits == 4 and tier == "hybrid":
            # by code bytes per vector: dim/2 (PQ dim x 4-bit fast-scan, SQ4), then dim (SQ8)
            ladder = ((f"PQ{dim}x4fs", dim / 2), ("SQ4", dim / 2), ("SQ8", dim))
            larger = tuple(code for code, size in ladder if m / 2 < size <= budget)
        ksub = 1 << spec.nbits
        plan = IndexPlan(
            kind="ivfpq",
            factory=f"IVF{nlist},{codes}",
            nprobe=min(spec.nprobe or default_nprobe(nlist), nlist),
            rescore=spec.rescore or DEFAULT_RESCORE,
            rebuild_at=None if spec.nlist else GROWTH_REBUILD * max(n, FLAT_BELOW),
            train_min=max(nlist, ksub) * POINTS_PER_CENTROID,
            train_size=max(nlist * TRAIN_POINTS_PER_LIST, ksub * POINTS_PER_CENTROID),
            recall_target=spec.recall_target,
            tune=free_knobs(spec),
            larger_codes=larger,
        )
    else:
        plan = _factory_plan(spec, tier=tier, dim=dim)
    if plan.needs_training and n < plan.train_min:
        note = (
            f"{n} vectors are too few to train {plan.factory} (needs {plan.train_min}): "
            f"exact search until the collection reaches {plan.train_min}, then a rebuild"
        )
        return replace(flat_plan(plan.train_min, note), rescore=None)
    return plan


def _factory_plan(spec: Factory, *, tier: str, dim: int) -> IndexPlan:
    import faiss

    probe = faiss.index_factory(dim, spec.spec, faiss.METRIC_L2)
    train_min = _factory_training_size(probe)
    ivf = faiss.try_extract_index_ivf(probe)
    nlist = int(ivf.nlist) if ivf is not None else None
    rescore = DEFAULT_RESCORE if tier != "memory" and _is_lossy(probe, dim) else None
    return IndexPlan(
        kind="factory",
        factory=spec.spec,
        nprobe=default_nprobe(nlist) if nlist else None,
        ef_search=DEFAULT_EF_SEARCH,
        rescore=rescore,
        train_min=train_min,
        train_size=max(train_min, (nlist or 0) * TRAIN_POINTS_PER_LIST),
    )


def _factory_training_size(index) -> int:
    """Vectors a factory index needs before training: 39 per centroid of its largest k-means."""
    import faiss

    if index.is_trained:
        return 0
    need = 1
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        need = max(need, int(ivf.nlist))
    inner = faiss.downcast_index(ivf if ivf is not None else index)
    pq = getattr(inner, "pq", None)
    if pq is not None:
        need = max(need, int(pq.ksub))
    return need * POINTS_PER_CENTROID


def _is_lossy(index, dim: int) -> bool:
    """True when the index stores compressed codes rather than full float32 vectors."""
    import faiss

    from .faiss_index import unwrap

    inner = unwrap(index)
    if isinstance(inner, faiss.IndexHNSW):
        inner = faiss.downcast_index(inner.storage)
    try:
        return int(inner.sa_code_size()) < 4 * dim
    except RuntimeError:
        code_size = getattr(inner, "code_size", None)
        return code_size is not None and int(code_size) < 4 * dim


# -- validation ------------------------------------------------------------------------------

_TIER_SPECS = {
    "memory": (Flat, HNSW, IVF, IVFPQ, Factory),
    "hybrid": (Flat, IVFPQ, Factory),
    "disk": (Flat, IVF, IVFPQ, Factory),
}
_TIER_HINT = {
    "hybrid": "the hybrid tier keeps only compressed codes in RAM: use gyeol.IVFPQ(...), gyeol.Flat(), "
    "a compressed FAISS factory string such as 'IVF1024,PQ96x4fs', or tier='memory'",
    "disk": "the disk tier memory-maps an inverted file or flat codes: use gyeol.IVF(...), gyeol.IVFPQ(...), "
    "gyeol.Flat(), or tier='memory'",
}


def validate_spec(spec: IndexSpec | None, *, tier: str, metric: str, dim: int, in_memory: bool = False) -> None:
    """Raise InvalidInputError if spec cannot work for this tier, metric and dimension (nothing is built).

    tier, metric and dim must be valid values already (Database.create_collection checks them).
    A spec once accepted is remembered (specs are frozen), so the build that follows a create,
    and every rebuild, does not ask FAISS again.
    """
    if in_memory and tier != "memory":
        raise tier_needs_disk(tier)
    if spec is not None:
        _validate_fit(spec, tier, metric, dim)


@functools.lru_cache(maxsize=256)  # a refused spec raises, and lru_cache keeps no exceptions
def _validate_fit(spec: IndexSpec, tier: str, metric: str, dim: int) -> None:
    if not isinstance(spec, _TIER_SPECS[tier]):
        raise InvalidInputError(f"index {type(spec).__name__} does not fit tier {tier!r}: {_TIER_HINT[tier]}")
    if isinstance(spec, IVFPQ) and spec.m is not None and dim % spec.m:
        divisors = [m for m in range(1, dim + 1) if dim % m == 0]
        raise InvalidInputError(
            f"IVFPQ.m={spec.m} must divide the dimension {dim}; divisors of {dim}: "
            f"{', '.join(map(str, divisors))}"
        )
    if isinstance(spec, IVFPQ) and spec.m and spec.max_code_bytes and spec.m * spec.nbits / 8 > spec.max_code_bytes:
        raise InvalidInputError(
            f"IVFPQ(m={spec.m}, nbits={spec.nbits}) stores {spec.m * spec.nbits / 8:g} bytes a vector, over "
            f"max_code_bytes={spec.max_code_bytes}: lower m or nbits, raise max_code_bytes, or leave m=None "
            "to let gyeol pick a code within the budget"
        )
    if isinstance(spec, (IVF, IVFPQ)) and spec.nlist and spec.nprobe and spec.nprobe > spec.nlist:
        raise InvalidInputError(
            f"{type(spec).__name__}.nprobe={spec.nprobe} exceeds nlist={spec.nlist}: a query cannot visit "
            "more lists than there are"
        )
    if isinstance(spec, Factory):
        _validate_factory(spec, tier=tier, metric=metric, dim=dim)


def _validate_factory(spec: Factory, *, tier: str, metric: str, dim: int) -> None:
    import faiss

    from .faiss_index import unwrap

    try:
        index = faiss.index_factory(dim, spec.spec, faiss_metric(metric))
    except RuntimeError as exc:
        reason = str(exc).strip().splitlines()[-1]
        raise InvalidInputError(
            f"FAISS cannot build index {spec.spec!r} for dim={dim}, metric={metric!r}: {reason}"
        ) from None
    if index.metric_type != faiss_metric(metric):
        raise InvalidInputError(
            f"FAISS index {spec.spec!r} ignores metric {metric!r} (it measures metric type "
            f"{index.metric_type}); pick an index that supports it"
        )
    inner = unwrap(index)
    supported = (faiss.IndexFlat, faiss.IndexIVF, faiss.IndexHNSW, faiss.IndexScalarQuantizer)
    if isinstance(inner, faiss.IndexFastScan) or not isinstance(inner, supported):
        raise InvalidInputError(
            f"FAISS index {spec.spec!r} ({type(inner).__name__}) cannot run filtered searches (no "
            "SearchParameters/IDSelector support) or maps its own ids; use a Flat, IVF*, HNSW* or SQ index"
        )
    if tier == "hybrid" and not _is_lossy(index, dim):
        raise InvalidInputError(f"FAISS index {spec.spec!r} stores full vectors: {_TIER_HINT['hybrid']}")
    if tier == "disk" and (isinstance(inner, faiss.IndexHNSW) or isinstance(faiss.downcast_index(index), faiss.IndexRefine)):
        raise InvalidInputError(f"FAISS index {spec.spec!r} cannot be served memory-mapped: {_TIER_HINT['disk']}")
