"""Query execution: vector side, keyword side, fusion, and Results assembly.

The vector side of a batch of queries is one FAISS call; the keyword side
tokenizes the batch in one Kiwi call and scores postings with numpy.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from . import _validation as v
from .config import FUSIONS, check_choice
from .errors import InvalidInputError
from .fusion import relative_score, rrf
from .types import Results

if TYPE_CHECKING:
    from .collection import Collection

# How deep each side ranks before fusion (benchmarks/hybrid_quality.py --depth-sweep, three sets).
# RRF scores by rank alone: with rrf_k=60 a side's 20th hit still weighs 76% of its first, so a deep
# list lets the weak side's tail outvote the strong side's head; RRF lists stop at max(k, 10).
# Relative-score fusion weighs each hit by its normalised score, so a tail adds little and deeper
# lists find more: max(2k, 20).
RRF_CANDIDATES = 10
RELATIVE_CANDIDATES = 20


def hybrid_depth(k: int, fusion: str, candidates: int | None = None) -> int:
    """How many hits each side of a hybrid search ranks before fusing them into k."""
    if candidates is not None:
        return candidates
    if fusion == "rrf":
        return max(k, RRF_CANDIDATES)
    return max(2 * k, RELATIVE_CANDIDATES)


def run_search(
    col: "Collection",
    queries: list[str] | None,
    vectors: Any,
    *,
    k: int,
    mode: str,
    where: dict[str, Any] | None,
    alpha: float,
    fusion: str,
    rrf_k: float,
    candidates: int | None = None,
    vectors_checked: bool = False,
) -> list[Results]:
    k = v.check_k(k)
    if candidates is not None and (
        isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates <= 0
    ):
        raise InvalidInputError(f"candidates must be a positive integer or None, got {candidates!r}")
    alpha = v.check_alpha(alpha)
    rrf_k = v.check_rrf_k(rrf_k)
    check_choice("fusion", fusion, FUSIONS)
    if queries is not None:
        if isinstance(queries, (str, bytes)) or not isinstance(queries, (list, tuple)):
            raise InvalidInputError(f"queries must be a list of str, got {type(queries).__name__}")
        queries = list(queries)
    if vectors is not None and not vectors_checked:
        vectors = v.check_vectors(vectors, None, col.dim, name="query vectors")
    use_vector = mode == "vector" or (mode == "hybrid" and alpha > 0.0)
    use_keyword = mode == "keyword" or (mode == "hybrid" and alpha < 1.0)
    if queries is None and vectors is None:
        raise InvalidInputError("search needs a query text or a vector")
    if queries is not None and vectors is not None and len(queries) != len(vectors):
        raise InvalidInputError(f"got {len(queries)} queries but {len(vectors)} vectors")
    if use_keyword and queries is None:
        raise InvalidInputError(
            f"{mode} search needs query text for its keyword side; pass query=, or use mode='vector'"
        )
    embeds = use_vector and vectors is None
    if embeds and queries is None:
        raise InvalidInputError("vector search needs vector= or query text and an embedder")
    if use_keyword or embeds:  # the texts are used: each must be a non-empty string
        for q in queries:
            v.check_query_text(q)
    if embeds:
        col._require_embedder()
    nq = len(queries) if queries is not None else len(vectors)
    store = col._store
    allowed = None
    if where is not None:
        allowed = col._where_mask(where)
    elif store.has_deletes:
        allowed = store.live
    if nq == 0:
        return []
    if store.n_live == 0 or (allowed is not None and not allowed.any()):
        return [Results.empty() for _ in range(nq)]

    depth = k if mode != "hybrid" else hybrid_depth(k, fusion, None if candidates is None else int(candidates))
    vec_side = kw_side = None
    if use_vector:
        if vectors is None:
            vectors = col._embed(queries)
        if col.metric == "cosine":
            vectors = v.normalise(vectors, name="query vectors")
        scores, labels = col._vindex.search(vectors, min(depth, max(store.n_labels, 1)), allowed)
        if len(labels) and labels[:, -1].min() >= 0:  # every slot filled: nothing to drop
            vec_side = list(zip(labels, scores))
        else:
            vec_side = [(lab[lab >= 0], sc[lab >= 0]) for lab, sc in zip(labels, scores)]
    if use_keyword:
        lexical = col._lexical_index()
        tokens = col._tokenizer.tokenize_batch(queries)
        kw_side = [lexical.search(t, depth, allowed) for t in tokens]
        kw_side = [(lab, sc) for sc, lab in kw_side]

    per_query: list[tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]] = []
    for qi in range(nq):
        if vec_side is not None and kw_side is None:
            lab, sc = vec_side[qi]
            lab, sc = lab[:k], sc[:k]
            per_query.append((lab, sc, sc, None))
        elif kw_side is not None and vec_side is None:
            lab, sc = kw_side[qi]
            lab, sc = lab[:k], sc[:k]
            per_query.append((lab, sc, None, sc))
        else:
            (vl, vs), (kl, ks) = vec_side[qi], kw_side[qi]
            if fusion == "rrf":
                lab, sc = rrf([vl, kl], [alpha, 1.0 - alpha], rrf_k)
            else:
                lab, sc = relative_score([vl, kl], [vs, ks], [alpha, 1.0 - alpha])
            lab, sc = lab[:k], sc[:k]
            per_query.append((lab, sc, _scores_of(lab, vl, vs), _scores_of(lab, kl, ks)))
    return _assemble(store, per_query)


def _scores_of(labels: np.ndarray, side_labels: np.ndarray, side_scores: np.ndarray) -> np.ndarray:
    """Each label's score on one side, NaN where that side did not rank it."""
    out = np.full(len(labels), np.nan)
    if len(side_labels) == 0 or len(labels) == 0:
        return out
    order = np.argsort(side_labels, kind="stable")
    sorted_labels = side_labels[order]
    pos = np.minimum(np.searchsorted(sorted_labels, labels), len(sorted_labels) - 1)
    hit = sorted_labels[pos] == labels
    out[hit] = np.asarray(side_scores, dtype=np.float64)[order][pos[hit]]
    return out


def _assemble(store, per_query) -> list[Results]:
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


def read_rows(
    texts_col: pa.ChunkedArray, metas_col: pa.ChunkedArray, labels: np.ndarray
) -> tuple[list[str | None], list[dict[str, Any]]]:
    """Texts and metadata dicts of labels, in order."""
    if len(labels) == 0:
        return [], []
    take = pa.array(labels, pa.int64())
    texts = texts_col.take(take).to_pylist()
    metas = [json.loads(m) if m else {} for m in metas_col.take(take).to_pylist()]
    return texts, metas


def _loader(texts_col: pa.ChunkedArray, metas_col: pa.ChunkedArray, labels: np.ndarray):
    # the columns are captured now: a later compact renumbers labels but not these arrays
    return lambda: read_rows(texts_col, metas_col, labels)
