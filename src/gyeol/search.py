"""Query execution: a search's arguments validated once into a plan, then its sides, fusion and Results.

plan_search() is the one check of a search's arguments (the Collection calls it at the API
boundary). run_search() executes a plan over explicit parts: the store, the vector index, the
keyword side, the allowed mask and the query-embedding function. The vector side of a batch
of queries is one FAISS call; the keyword side tokenizes the batch in one call and scores
postings with numpy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from . import _validation as v
from .config import FUSIONS, MODES, check_choice
from .calibration import AUTO_DEFAULTS, AutoFusion, auto_depth, fuse_auto
from .errors import InvalidInputError
from .fusion import relative_score, rrf
from .index import VectorIndex
from .ranked import Ranked
from .storage.rows import read_rows
from .storage.store import SegmentStore
from .types import Results

# How deep each side ranks before fusion (benchmarks/hybrid_quality.py --depth-sweep, three sets).
# RRF scores by rank alone: with rrf_k=60 a side's 20th hit still weighs 76% of its first, so a deep
# list lets the weak side's tail outvote the strong side's head; RRF lists stop at max(k, 10).
# Relative-score fusion weighs each hit by its normalised score, so a tail adds little and deeper
# lists find more: max(2k, 20).
RRF_CANDIDATES = 10
RELATIVE_CANDIDATES = 20
# alpha=None / "auto" with fusion=None is auto fusion (gyeol.calibration, docs/hybrid.md): each
# query's two lists standardised and weighted by how far each side's best hit stands out, under a
# per-collection prior. An explicit alpha with fusion=None fuses by DEFAULT_FUSION, as before auto
# fusion existed; an explicit fusion with alpha=None weighs the sides DEFAULT_ALPHA each.
AUTO_FUSION = "auto"
DEFAULT_ALPHA = 0.5
DEFAULT_FUSION = "rrf"

KeywordSearch = Callable[[list[str], int, "np.ndarray | None"], list[Ranked]]


def hybrid_depth(k: int, fusion: str) -> int:
    """How many hits each side of a hybrid search ranks before fusing them into k."""
    if fusion == "rrf":
        return max(k, RRF_CANDIDATES)
    if fusion == AUTO_FUSION:
        return auto_depth(k)
    return max(2 * k, RELATIVE_CANDIDATES)


def resolve_fusion(alpha: Any, fusion: Any) -> tuple[float, str]:
    """The (alpha, fusion) a hybrid search uses: explicit values exactly as given; alpha None or
    "auto" and fusion None mean auto fusion (alpha is then only the 0.5 that says both sides run)."""
    auto_alpha = alpha is None or (isinstance(alpha, str) and alpha == "auto")
    if fusion is None:
        if auto_alpha:
            return DEFAULT_ALPHA, AUTO_FUSION
        fusion = DEFAULT_FUSION
    else:
        fusion = check_choice("fusion", fusion, FUSIONS)
    return (DEFAULT_ALPHA if auto_alpha else v.check_alpha(alpha)), fusion


@dataclass(slots=True)  # a value, never changed once made (not frozen: made on every query)
class SearchPlan:
    """A validated search: what to rank, how deep each side goes, and how the sides are fused."""

    queries: list[str] | None  # each a non-empty str wherever the texts are used
    vectors: np.ndarray | None  # (n, dim) float32, normalised for cosine
    n: int  # queries in the batch
    k: int
    mode: str  # "vector" | "keyword" | "hybrid" (a hybrid search without text is planned as "vector")
    alpha: float
    fusion: str
    rrf_k: float
    depth: int  # hits each side ranks
    use_vector: bool
    use_keyword: bool
    embeds: bool  # the query texts must be embedded (a vector side and no vectors given)


def plan_search(
    queries: Any,
    vectors: Any,
    *,
    single: bool,
    dim: int,
    metric: str,
    k: Any,
    mode: Any,
    alpha: Any,
    fusion: Any,
    rrf_k: Any,
    candidates: Any,
) -> SearchPlan:
    """Check a search's arguments and give back its plan; single: one query (a str) and one vector.

    A hybrid search given no query text ranks by its vector side alone (unless alpha=0.0 asks
    for keywords only). candidates: hits each side of a hybrid search ranks before fusing;
    None = hybrid_depth(k, fusion).
    """
    if single and queries is None:
        plan = _plan_single_vector(vectors, dim, metric, k, mode, alpha, fusion, rrf_k, candidates)
        if plan is not None:
            return plan
    check_choice("mode", mode, MODES)
    k = v.check_k(k)
    alpha, fusion = resolve_fusion(alpha, fusion)
    rrf_k = v.check_rrf_k(rrf_k)
    if candidates is not None:
        candidates = v.check_candidates(candidates)
    if single:
        queries = None if queries is None else [queries]
        vectors = None if vectors is None else v.check_query_vector(vectors, dim)
    else:
        if queries is not None:
            if isinstance(queries, (str, bytes)) or not isinstance(queries, (list, tuple)):
                raise InvalidInputError(f"queries must be a list of str, got {type(queries).__name__}")
            queries = list(queries)
        if vectors is not None:
            vectors = v.check_vectors(vectors, None, dim, name="query vectors")
    if queries is None and vectors is None:
        raise InvalidInputError("search needs a query text or a vector")
    if queries is not None and vectors is not None and len(queries) != len(vectors):
        raise InvalidInputError(f"got {len(queries)} queries but {len(vectors)} vectors")
    if mode == "hybrid" and queries is None and alpha > 0.0:
        mode = "vector"  # nothing for a keyword side to rank
    use_vector = mode == "vector" or (mode == "hybrid" and alpha > 0.0)
    use_keyword = mode == "keyword" or (mode == "hybrid" and alpha < 1.0)
    embeds = use_vector and vectors is None
    if use_keyword and queries is None:
        raise InvalidInputError(
            f"{mode} search needs query text for its keyword side; pass query=, or use mode='vector'"
        )
    if embeds and queries is None:
        raise InvalidInputError("vector search needs vector= or query text and an embedder")
    if use_keyword or embeds:  # the texts are used: each must be a non-empty string
        for q in queries:
            v.check_query_text(q)
    if use_vector and vectors is not None and metric == "cosine":
        vectors = v.normalise(vectors, name="query vectors")
    if mode != "hybrid":
        depth = k
    else:
        depth = candidates if candidates is not None else hybrid_depth(k, fusion)
    n = len(queries) if queries is not None else len(vectors)
    return SearchPlan(queries, vectors, n, k, mode, alpha, fusion, rrf_k, depth, use_vector, use_keyword, embeds)


def _plan_single_vector(vector: Any, dim: int, metric: str, k: Any, mode: Any, alpha: Any, fusion: Any,
                        rrf_k: Any, candidates: Any) -> SearchPlan | None:
    """The plan of the commonest search, `search(vector=v, k=...)` with a float32 (dim,) array and
    default fusion settings, made without the general checks; None for anything else (or anything
    wrong: non-finite, zero, huge values), which plan_search then checks and refuses as usual.

    Gives exactly the plan the general path gives: the same (1, dim) view, normalised by the same
    einsum, whose sum of squares being finite and non-zero is also the finiteness check.
    """
    if not (
        type(vector) is np.ndarray
        and vector.dtype == np.float32
        and vector.shape == (dim,)
        and vector.flags.c_contiguous
        and type(k) is int
        and k > 0
        and (mode == "vector" or mode == "hybrid")
        and type(mode) is str
        and alpha is None
        and fusion is None
        and candidates is None
        and (type(rrf_k) is int or type(rrf_k) is float)
        and 0 < rrf_k < math.inf
    ):
        return None
    vectors = vector[None, :]
    if metric == "cosine":
        squared = np.einsum("ij,ij->i", vectors, vectors)
        if not 0.0 < squared[0] < math.inf:
            return None  # zero, non-finite or overflowing: the general path says which
        vectors = vectors / np.sqrt(squared)[:, None]
    elif not np.isfinite(vectors).all():
        return None
    # a hybrid search with a vector and no text, alpha auto: planned as "vector" (see plan_search)
    return SearchPlan(None, vectors, 1, k, "vector", DEFAULT_ALPHA, AUTO_FUSION, float(rrf_k), k,
                      True, False, False)


def run_search(
    plan: SearchPlan,
    *,
    store: SegmentStore,
    vector_index: VectorIndex,
    keyword: KeywordSearch,
    allowed: np.ndarray | None,
    embed_queries: Callable[[list[str]], np.ndarray],
    metric: str,
    auto_params: Callable[[], AutoFusion] | None = None,
) -> list[Results]:
    """Results of each query of plan over the labels where allowed is True (None: all).

    keyword(queries, depth, allowed) ranks the keyword side; embed_queries(texts) gives the
    query vectors when the plan has none. Neither is called for an empty collection or mask.
    auto_params() gives the collection's auto-fusion parameters (asked once per batch, and only
    when an auto hybrid search has both sides to fuse).
    """
    nq = plan.n
    if nq == 0:
        return []
    if store.n_live == 0 or (allowed is not None and not allowed.any()):
        return [Results.empty() for _ in range(nq)]
    vec_side = kw_side = None
    if plan.use_vector:
        vectors = plan.vectors
        if vectors is None:
            assert plan.queries is not None  # plan_search: a plan that embeds has texts
            vectors = embed_queries(plan.queries)
            if metric == "cosine":
                vectors = v.normalise(vectors, name="query vectors")
        ranked = vector_index.search(vectors, min(plan.depth, max(store.n_labels, 1)), allowed)
        if nq == 1 and not plan.use_keyword:  # one vector query: its row as is, no per-query loop
            labels, scores = ranked.labels[0], ranked.scores[0]
            if len(labels) and labels[-1] < 0:  # empty slots (label -1) are always last
                keep = labels >= 0
                labels, scores = labels[keep], scores[keep]
            labels, scores = labels[: plan.k], scores[: plan.k]
            return [_one_result(store, labels, scores, scores, None)]
        vec_side = ranked.rows()
    if plan.use_keyword:
        assert plan.queries is not None  # plan_search: a keyword side has texts
        kw_side = keyword(plan.queries, plan.depth, allowed)

    k, weights = plan.k, (plan.alpha, 1.0 - plan.alpha)
    params = None
    if plan.fusion == AUTO_FUSION and vec_side is not None and kw_side is not None:
        params = auto_params() if auto_params is not None else AUTO_DEFAULTS
    # (labels, scores, vector-side scores or None, keyword-side scores or None) per query
    per_query: list[tuple[np.ndarray | None, ...]] = []
    for qi in range(nq):
        if kw_side is None:
            assert vec_side is not None  # plan_search: a plan uses at least one side
            hits = vec_side[qi].head(k)
            per_query.append((hits.labels, hits.scores, hits.scores, None))
        elif vec_side is None:
            hits = kw_side[qi].head(k)
            per_query.append((hits.labels, hits.scores, None, hits.scores))
        else:
            sides = (vec_side[qi], kw_side[qi])
            if params is not None:
                auto = fuse_auto(sides[0].labels, sides[0].scores, sides[1].labels, sides[1].scores, k, params)
                per_query.append((auto.labels, auto.scores, *auto.side_scores))
                continue
            if plan.fusion == "rrf":
                fused = rrf(sides, weights, plan.rrf_k)
            else:
                fused = relative_score(sides, weights)
            fused = fused.head(k)
            per_query.append((fused.labels, fused.scores, *fused.side_scores))
    return _assemble(store, per_query)


def _assemble(store: SegmentStore, per_query) -> list[Results]:
    """Results with ids resolved in one Arrow take for the whole batch; text/metadata on demand."""
    all_labels = per_query[0][0] if len(per_query) == 1 else np.concatenate([p[0] for p in per_query])
    all_labels = all_labels.astype(np.int64, copy=False)
    texts_col, metas_col = store.texts, store.metadata_json
    if len(all_labels) <= 4096:  # few hits: read the id bytes directly, cheaper than an Arrow take
        all_ids = store.ids_of(all_labels)
    else:
        all_ids = store.ids.take(pa.array(all_labels)).to_pylist()
    out = []
    start = 0
    for labels, scores, vs, ks in per_query:
        end = start + len(labels)
        out.append(Results(all_ids[start:end], scores, vs, ks, loader=_loader(texts_col, metas_col, labels)))
        start = end
    return out


def _one_result(store: SegmentStore, labels: np.ndarray, scores: np.ndarray, vs, ks) -> Results:
    """The Results of one query (_assemble for a batch of one, without its batch bookkeeping)."""
    labels = labels.astype(np.int64, copy=False)
    if len(labels) <= 4096:
        ids = store.ids_of(labels)
    else:
        ids = store.ids.take(pa.array(labels)).to_pylist()
    return Results(ids, scores, vs, ks, loader=_loader(store.texts, store.metadata_json, labels))


def _loader(texts_col: pa.ChunkedArray, metas_col: pa.ChunkedArray, labels: np.ndarray):
    # the columns are captured now: a later compact renumbers labels but not these arrays
    return lambda: read_rows(texts_col, metas_col, labels)
