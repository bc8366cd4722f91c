"""Self-calibrating hybrid fusion: what `alpha=None` ("auto") does. Pure functions; inputs are never mutated.

How it decides (measurements: docs/hybrid.md, benchmarks/fusion_calibration.py):

1. Each side's list (its best `auto_depth(k)` = max(2k, 20) hits) is standardised per query:
   z = (score - mean) / std over that list. A keyword list shorter than the depth is padded with
   zeros (the BM25 score of a document holding no query term) before the mean and std are taken,
   so a lone exact hit stands out as it should. A document a side did not return gets that
   side's floor: the z of its lowest listed score, or of zero for a short keyword list.
2. Per query, each side's weight is its prior times the square of its best hit's z
   (how far the top hit stands out from the rest of its own list):
       w_vector = alpha * zv^2 / (alpha * zv^2 + (1 - alpha) * zk^2),  w_keyword = 1 - w_vector.
   A side that returned nothing gets weight 0, so auto ranks exactly as the other side.
3. The prior alpha comes from the collection (`calibrate`): known-item pseudo-queries (a sampled
   passage's first sentence, which must find that passage) are searched on each side. A
   vector side that reads the collection's language finds them about as well as BM25 does
   (MRR@10 0.90-1.00 on every set and multilingual embedder measured); an embedder that does not
   (all-MiniLM-L6-v2 on Korean: 0.72 against BM25's 0.995) falls short. alpha is
   BASE_ALPHA (0.5) while the vector side's shortfall is at most SHORTFALL_TOLERANCE (0.1),
   LOW_ALPHA (0.1) from a shortfall of 0.2 on, linear between. Exact spans favour BM25 on these
   queries, so they are used only to detect a vector side that fails, never to favour one.

Fused scores are weighted sums of z-scores (higher is better; they can be negative).
Ties go to the smaller label, as in gyeol.fusion.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Hashable, Sequence

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "AutoFusion",
    "AUTO_DEFAULTS",
    "Fused",
    "auto_depth",
    "fuse_auto",
    "calibrate",
    "calibration_sample",
    "pseudo_query",
    "prior_alpha",
]

BASE_ALPHA = 0.5  # the prior when both sides work: measured optimum 0.4-0.6 across sets (docs/hybrid.md)
LOW_ALPHA = 0.1  # the prior when the vector side fails the known-item check
SHORTFALL_TOLERANCE = 0.1  # known-item MRR the vector side may lose to BM25 (exact spans favour BM25)
SHORTFALL_SPAN = 0.1  # from tolerance to tolerance + span, alpha falls linearly to LOW_ALPHA
SHARPNESS = 2.0  # exponent on each side's top-hit z in the per-query weight
MIN_SAMPLES = 20  # fewer usable pseudo-queries than this: keep BASE_ALPHA
SAMPLE_SIZE = 100
DEPTH_FLOOR = 20
_EPS = 1e-6
_SENTENCE_END = re.compile(r"(?<=[.?!。])\s+|\n+")


def _not_number(value: Any) -> bool:
    return isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)


def _check_unit(name: str, value: Any) -> None:
    if _not_number(value) or not 0.0 <= value <= 1.0:
        raise InvalidInputError(f"{name} must be a number in [0, 1], got {value!r}")


def _check_k(k: Any) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")


@dataclass(frozen=True)
class AutoFusion:
    """The parameters auto fusion uses for one collection; JSON-able (to_json / from_json).

    alpha: prior weight of the vector side (Weaviate's meaning, 1 = vector only).
    sharpness: exponent on each side's top-hit z-score in the per-query weight (0 = fixed alpha).
    vector_mrr, keyword_mrr, samples: what calibrate() measured (None/0 when not calibrated).
    """

    alpha: float = BASE_ALPHA
    sharpness: float = SHARPNESS
    vector_mrr: float | None = None
    keyword_mrr: float | None = None
    samples: int = 0

    def __post_init__(self) -> None:
        _check_unit("alpha", self.alpha)
        if _not_number(self.sharpness) or not 0 <= self.sharpness <= 8:
            raise InvalidInputError(f"sharpness must be a number in [0, 8], got {self.sharpness!r}")
        for name in ("vector_mrr", "keyword_mrr"):
            value = getattr(self, name)
            if value is not None:
                _check_unit(name, value)
        if isinstance(self.samples, bool) or not isinstance(self.samples, int) or self.samples < 0:
            raise InvalidInputError(f"samples must be a non-negative int, got {self.samples!r}")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> "AutoFusion":
        """Give back the parameters stored by to_json(); unknown or missing keys raise."""
        if not isinstance(data, dict):
            raise InvalidInputError(f"auto fusion parameters must be a dict, got {type(data).__name__}")
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise InvalidInputError(f"unknown auto fusion parameters: {sorted(unknown)}")
        return cls(**data)


AUTO_DEFAULTS = AutoFusion()


@dataclass(frozen=True)
class Fused:
    """One query's fused ranking (labels best first, their scores), the side weights chosen, and
    each side's own score of each label (vector, keyword; NaN where that side did not rank it)."""

    labels: np.ndarray
    scores: np.ndarray
    vector_weight: float
    keyword_weight: float
    side_scores: tuple[np.ndarray, np.ndarray]


def auto_depth(k: int) -> int:
    """Give back how many hits each side should rank before fuse_auto fuses them into k: max(2k, 20)."""
    _check_k(k)
    return max(2 * k, DEPTH_FLOOR)


def fuse_auto(
    vector_labels: Any,
    vector_scores: Any,
    keyword_labels: Any,
    keyword_scores: Any,
    k: int,
    params: AutoFusion = AUTO_DEFAULTS,
) -> Fused:
    """Give back the best k of both sides fused by weighted z-scores (module docstring, steps 1-2).

    Each side: labels (int) and scores (higher is better), best first, as the engine returns
    them; hits past auto_depth(k) are ignored. Keyword scores are BM25 scores (>= 0).
    """
    depth = auto_depth(k)
    if not isinstance(params, AutoFusion):
        raise InvalidInputError(f"params must be an AutoFusion, got {type(params).__name__}")
    v_lab, v_sc = _side("vector", vector_labels, vector_scores, depth)
    k_lab, k_sc = _side("keyword", keyword_labels, keyword_scores, depth)
    v_z, v_floor = _standardise(v_sc, depth, pad=None)
    k_z, k_floor = _standardise(k_sc, depth, pad=0.0)
    w_vec = side_weight(v_z, k_z, params)
    weights = ((v_lab, v_z, v_floor, w_vec), (k_lab, k_z, k_floor, 1.0 - w_vec))
    union = np.union1d(v_lab, k_lab)
    if len(union) == 0:
        empty = np.empty(0, np.float64)
        return Fused(np.empty(0, np.int64), empty, w_vec, 1.0 - w_vec, (empty, empty))
    fused = np.zeros(len(union), dtype=np.float64)
    raw = []
    for (labels, z, floor, weight), scores in zip(weights, (v_sc, k_sc)):
        where = np.searchsorted(union, labels)
        own = np.full(len(union), np.nan)
        own[where] = scores
        raw.append(own)
        if len(labels) == 0 or weight == 0.0:
            continue
        column = np.full(len(union), floor, dtype=np.float64)
        column[where] = z
        fused += weight * column
    order = np.lexsort((union, -fused))[:k]
    return Fused(union[order], fused[order], w_vec, 1.0 - w_vec, (raw[0][order], raw[1][order]))


def side_weight(vector_z: np.ndarray, keyword_z: np.ndarray, params: AutoFusion = AUTO_DEFAULTS) -> float:
    """Give back the vector side's weight for one query from both sides' z-scores (docstring, step 2)."""
    if len(vector_z) == 0:
        return 0.0
    if len(keyword_z) == 0:
        return 1.0
    alpha, p = params.alpha, params.sharpness
    if alpha in (0.0, 1.0) or p == 0:
        return float(alpha)
    top_v = max(float(vector_z.max()), _EPS) ** p
    top_k = max(float(keyword_z.max()), _EPS) ** p
    return float(alpha * top_v / (alpha * top_v + (1.0 - alpha) * top_k))


def prior_alpha(vector_mrr: float, keyword_mrr: float) -> float:
    """Give back the collection prior from both sides' known-item MRR@10 (docstring, step 3)."""
    _check_unit("vector_mrr", vector_mrr)
    _check_unit("keyword_mrr", keyword_mrr)
    shortfall = keyword_mrr - vector_mrr
    t = min(max((shortfall - SHORTFALL_TOLERANCE) / SHORTFALL_SPAN, 0.0), 1.0)
    return (1.0 - t) * BASE_ALPHA + t * LOW_ALPHA


def pseudo_query(text: str, max_chars: int = 200) -> str:
    """Give back a passage's first sentence (or line), at most max_chars: its known-item query."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
    stripped = text.strip()
    first = _SENTENCE_END.split(stripped, maxsplit=1)[0] if stripped else ""
    return first[:max_chars].strip()


def calibration_sample(n_documents: int, size: int = SAMPLE_SIZE, seed: int = 0) -> np.ndarray:
    """Give back the sorted positions of up to size documents out of n_documents, the same every call."""
    if isinstance(n_documents, bool) or not isinstance(n_documents, (int, np.integer)) or n_documents < 0:
        raise InvalidInputError(f"n_documents must be a non-negative int, got {n_documents!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise InvalidInputError(f"size must be a positive int, got {size!r}")
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(int(n_documents), size=min(int(size), int(n_documents)), replace=False))


def calibrate(
    search_vector: Callable[[list[str]], Sequence[Sequence[Hashable]]],
    search_keyword: Callable[[list[str]], Sequence[Sequence[Hashable]]],
    sample_ids: Sequence[Hashable],
    sample_texts: Sequence[str],
    *,
    sharpness: float = SHARPNESS,
) -> AutoFusion:
    """Give back auto fusion parameters for a collection from known-item pseudo-queries (docstring, step 3).

    search_vector / search_keyword: a list of query texts -> one ranked list of ids per query
    (the collection's vector-only and keyword-only search, k >= 10). sample_ids / sample_texts:
    documents stored in the collection (calibration_sample picks ~100). Each sample's first
    sentence is searched; it should find its own document. Fewer than MIN_SAMPLES usable
    samples: the measured MRRs are kept but alpha stays BASE_ALPHA.
    """
    ids, texts = list(sample_ids), list(sample_texts)
    if len(ids) != len(texts):
        raise InvalidInputError(f"got {len(ids)} sample ids but {len(texts)} sample texts")
    queries, targets = [], []
    for doc_id, text in zip(ids, texts):
        query = pseudo_query(text)
        if query:
            queries.append(query)
            targets.append(doc_id)
    if not queries:
        return AutoFusion(sharpness=sharpness)
    vector_mrr = _known_item_mrr("search_vector", search_vector(list(queries)), targets)
    keyword_mrr = _known_item_mrr("search_keyword", search_keyword(list(queries)), targets)
    alpha = prior_alpha(vector_mrr, keyword_mrr) if len(queries) >= MIN_SAMPLES else BASE_ALPHA
    return AutoFusion(alpha, sharpness, vector_mrr, keyword_mrr, len(queries))


def _known_item_mrr(name: str, ranked: Any, targets: list[Hashable], depth: int = 10) -> float:
    ranked = list(ranked)
    if len(ranked) != len(targets):
        raise InvalidInputError(f"{name} gave {len(ranked)} result lists for {len(targets)} queries")
    total = 0.0
    for hits, target in zip(ranked, targets):
        for rank, hit in enumerate(list(hits)[:depth], 1):
            if hit == target:
                total += 1.0 / rank
                break
    return total / len(targets)


def _standardise(scores: np.ndarray, depth: int, pad: float | None) -> tuple[np.ndarray, float]:
    """Give back (z-scores, the z of a document the side did not return)."""
    if len(scores) == 0:
        return scores, 0.0
    short = pad is not None and len(scores) < depth
    if short and pad is not None:  # never pad above a listed score (BM25 scores are >= 0; this guards other keyword scorers)
        pad = min(pad, float(scores.min()))
    reference = np.concatenate([scores, np.full(depth - len(scores), pad)]) if short else scores
    mean, std = float(reference.mean()), float(reference.std())
    if not std > 0:
        return np.zeros(len(scores)), 0.0
    z = (scores - mean) / std
    floor = (pad - mean) / std if short and pad is not None else float(z.min())
    return z, floor


def _side(name: str, labels: Any, scores: Any, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """Give back one side's first depth (labels int64, scores float64), validated; copies, never views."""
    try:
        lab, sc = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} labels and scores must be arrays of numbers: {exc}") from None
    if lab.ndim != 1 or sc.ndim != 1 or len(lab) != len(sc):
        raise InvalidInputError(
            f"{name} labels and scores must be 1-d and of one length, got shapes {lab.shape} and {sc.shape}"
        )
    if len(lab) and not np.issubdtype(lab.dtype, np.integer):
        raise InvalidInputError(f"{name} labels must be integers, got dtype {lab.dtype}")
    if not np.isfinite(sc).all():
        raise InvalidInputError(f"{name} scores must be finite, found {sc[~np.isfinite(sc)][:3].tolist()}")
    lab, sc = lab[:depth].astype(np.int64), sc[:depth].copy()
    if len(np.unique(lab)) != len(lab):
        raise InvalidInputError(f"{name} labels repeat within one list: {lab.tolist()[:10]}")
    return lab, sc
