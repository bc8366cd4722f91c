"""Index and BM25 configuration: frozen, keyword-only, validated at construction."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Union

from .errors import InvalidInputError

__all__ = ["Flat", "HNSW", "IVF", "IVFPQ", "BM25", "IndexSpec", "CollectionConfig",
           "METRICS", "TIERS", "DEVICES", "MODES", "FUSIONS"]

METRICS = ("cosine", "ip", "l2")
TIERS = ("memory", "hybrid", "disk")
DEVICES = ("cpu", "gpu", "auto")
MODES = ("vector", "keyword", "hybrid")
FUSIONS = ("rrf", "relative_score")
BM25_VARIANTS = ("okapi", "bm25l", "bm25plus", "lucene")


def check_recall_target(name: str, value: Any) -> None:
    """Raise InvalidInputError unless value is None or a number in (0, 1]."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1:
        raise InvalidInputError(
            f"{name} must be a number in (0, 1] (the recall@10 the index is tuned to reach), or None "
            f"for fixed settings; got {value!r}"
        )


#: The recall@10 every approximate index is tuned to reach by default (docs/tiers.md, "Tuning").
DEFAULT_RECALL_TARGET = 0.95


def _positive_int(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")


@dataclass(frozen=True, kw_only=True)
class Flat:
    """Exact (brute-force) search: perfect recall, cost linear in the collection."""

    kind: str = field(default="flat", init=False)


@dataclass(frozen=True, kw_only=True)
class HNSW:
    """Graph index (FAISS IndexHNSWFlat).

    m: neighbours per node (memory ~ 8*m bytes per vector on top of the vector);
    ef_construction: build-time beam width (higher = better graph, slower build);
    ef_search: query-time beam width (higher = better recall, slower queries; >= k is used;
    None = the smallest that reaches recall_target, 96 when tuning is off);
    recall_target: the recall@10 tuning aims for (None = no tuning).
    """

    m: int = 32
    ef_construction: int = 128
    ef_search: int | None = None
    recall_target: float | None = DEFAULT_RECALL_TARGET
    kind: str = field(default="hnsw", init=False)

    def __post_init__(self) -> None:
        _positive_int("HNSW.m", self.m)
        _positive_int("HNSW.ef_construction", self.ef_construction)
        _positive_int("HNSW.ef_search", self.ef_search, allow_none=True)
        check_recall_target("HNSW.recall_target", self.recall_target)


@dataclass(frozen=True, kw_only=True)
class IVF:
    """Inverted-file index with full vectors (FAISS IndexIVFFlat).

    nlist: number of clusters (None = about 4*sqrt(N), chosen at build);
    nprobe: clusters visited per query (None = the fewest that reach recall_target);
    recall_target: the recall@10 tuning aims for (None = no tuning: nprobe = nlist/8).
    """

    nlist: int | None = None
    nprobe: int | None = None
    recall_target: float | None = DEFAULT_RECALL_TARGET
    kind: str = field(default="ivf", init=False)

    def __post_init__(self) -> None:
        _positive_int("IVF.nlist", self.nlist, allow_none=True)
        _positive_int("IVF.nprobe", self.nprobe, allow_none=True)
        check_recall_target("IVF.recall_target", self.recall_target)


@dataclass(frozen=True, kw_only=True)
class IVFPQ:
    """Inverted file with product-quantised codes (FAISS IndexIVFPQ), rescored exactly.

    nlist: clusters (None = chosen from N); m: sub-quantisers, must divide dim
    (None = dim/2 at 4 bits, dim/4 at 8 bits; see docs/tiers.md); nbits: bits per
    sub-quantiser code (4 uses FAISS's fast-scan kernels and trains in seconds);
    nprobe: clusters visited per query (None = tuned);
    rescore: candidates fetched per wanted hit and rescored exactly from the full vectors
    (a memory-mapped file on the hybrid and disk tiers, RAM on the memory tier; None = tuned);
    recall_target: the recall@10 tuning aims for (None = no tuning: nprobe = nlist/8, rescore 4);
    max_code_bytes: RAM budget for the codes, bytes per vector (None = dim/2). With m=None
    and nbits=4 the hybrid tier may move to a larger code (PQ dim x4 fast-scan, SQ4, SQ8)
    within this budget when the default code cannot reach recall_target.
    """

    nlist: int | None = None
    m: int | None = None
    nbits: int = 4
    nprobe: int | None = None
    rescore: int | None = None
    recall_target: float | None = DEFAULT_RECALL_TARGET
    max_code_bytes: int | None = None
    kind: str = field(default="ivfpq", init=False)

    def __post_init__(self) -> None:
        _positive_int("IVFPQ.nlist", self.nlist, allow_none=True)
        _positive_int("IVFPQ.m", self.m, allow_none=True)
        _positive_int("IVFPQ.nprobe", self.nprobe, allow_none=True)
        _positive_int("IVFPQ.rescore", self.rescore, allow_none=True)
        check_recall_target("IVFPQ.recall_target", self.recall_target)
        _positive_int("IVFPQ.max_code_bytes", self.max_code_bytes, allow_none=True)
        if isinstance(self.nbits, bool) or not isinstance(self.nbits, int) or not 1 <= self.nbits <= 16:
            raise InvalidInputError(f"IVFPQ.nbits must be an integer in [1, 16], got {self.nbits!r}")


@dataclass(frozen=True, kw_only=True)
class Factory:
    """A FAISS index factory string, e.g. "IVF256,SQ8" or "HNSW32,Flat"."""

    spec: str
    kind: str = field(default="factory", init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.spec, str) or not self.spec.strip():
            raise InvalidInputError(f"a FAISS factory string must be a non-empty str, got {self.spec!r}")


IndexSpec = Union[Flat, HNSW, IVF, IVFPQ, Factory]
_SPEC_CLASSES = {"flat": Flat, "hnsw": HNSW, "ivf": IVF, "ivfpq": IVFPQ, "factory": Factory}


def index_spec_to_dict(spec: IndexSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return asdict(spec)


def index_spec_from_dict(data: dict[str, Any] | None) -> IndexSpec | None:
    if data is None:
        return None
    data = dict(data)
    cls = _SPEC_CLASSES[data.pop("kind")]
    return cls(**data)


def coerce_index_spec(index: Any) -> IndexSpec | None:
    """Give back an IndexSpec from what a user passed as index=."""
    if index is None or isinstance(index, (Flat, HNSW, IVF, IVFPQ, Factory)):
        return index
    if isinstance(index, str):
        return Factory(spec=index)
    raise InvalidInputError(
        "index must be None, gyeol.Flat(), gyeol.HNSW(...), gyeol.IVF(...), gyeol.IVFPQ(...) "
        f"or a FAISS factory string, got {type(index).__name__}"
    )


@dataclass(frozen=True, kw_only=True)
class BM25:
    """BM25 scoring parameters.

    variant: "okapi" | "bm25l" | "bm25plus" score exactly as rank_bm25's BM25Okapi, BM25L,
    BM25Plus; "lucene" uses idf = ln(1 + (N - n + 0.5) / (n + 0.5)).
    k1: term-frequency saturation; b: length normalisation;
    epsilon: okapi's floor for negative idf, as a fraction of the mean idf (rank_bm25's);
    delta: bm25l / bm25plus term (None = rank_bm25's default: 0.5 for bm25l, 1.0 for bm25plus).
    """

    k1: float = 1.5
    b: float = 0.75
    variant: str = "okapi"
    epsilon: float = 0.25
    delta: float | None = None

    def __post_init__(self) -> None:
        if self.variant not in BM25_VARIANTS:
            raise InvalidInputError(
                f"unknown BM25 variant {self.variant!r}; expected one of {', '.join(BM25_VARIANTS)}"
            )
        for name in ("k1", "b", "epsilon"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
                raise InvalidInputError(f"BM25.{name} must be a non-negative finite number, got {value!r}")
        if not self.b <= 1:
            raise InvalidInputError(f"BM25.b must be in [0, 1], got {self.b!r}")
        if self.delta is not None and (
            isinstance(self.delta, bool) or not isinstance(self.delta, (int, float)) or self.delta < 0
        ):
            raise InvalidInputError(f"BM25.delta must be a non-negative number, got {self.delta!r}")

    @property
    def effective_delta(self) -> float:
        if self.delta is not None:
            return float(self.delta)
        return 0.5 if self.variant == "bm25l" else 1.0


@dataclass(frozen=True, kw_only=True)
class CollectionConfig:
    """What a collection was created with; persisted in its manifest."""

    name: str
    dim: int
    metric: str
    tier: str
    device: str
    index: IndexSpec | None
    tokenizer: dict[str, Any]
    bm25: BM25
    embedder: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "dim": self.dim,
            "metric": self.metric,
            "tier": self.tier,
            "device": self.device,
            "index": index_spec_to_dict(self.index),
            "tokenizer": self.tokenizer,
            "bm25": asdict(self.bm25),
            "embedder": self.embedder,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "CollectionConfig":
        return cls(
            name=data["name"],
            dim=int(data["dim"]),
            metric=data["metric"],
            tier=data["tier"],
            device=data.get("device", "cpu"),
            index=index_spec_from_dict(data.get("index")),
            tokenizer=data.get("tokenizer") or {"kind": "kiwi"},
            bm25=BM25(**data.get("bm25", {})),
            embedder=data.get("embedder"),
        )


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InvalidInputError(f"unknown {name} {value!r}; expected one of {', '.join(choices)}")
    return value


def check_dim(dim: Any) -> int:
    """A vector dimension: a positive int."""
    if isinstance(dim, bool) or not isinstance(dim, int) or dim <= 0:
        raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
    return dim


def tier_needs_disk(tier: str) -> InvalidInputError:
    """The error for a tier that keeps data on disk, asked of a database with no directory."""
    return InvalidInputError(
        f"tier {tier!r} keeps data on disk and needs a database on disk: gyeol.connect(path); "
        "an in-memory database (gyeol.connect()) supports tier='memory' only"
    )
