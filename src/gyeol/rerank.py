"""Reranking: a second stage that rescores a search's top hits.

    res = col.search("질의", k=10, rerank=gyeol.CrossEncoderReranker("BAAI/bge-reranker-base"))
    res = col.search("질의", k=10, rerank=gyeol.MMRReranker(diversity=0.3), rerank_depth=50)
    res = col.search("질의", k=10, rerank=lambda query, texts: my_scores(query, texts))

The search ranks rerank_depth hits (at least k) first; the reranker scores each, and the k
best by that score come back, the reranker's scores as Hit.score (vector_score and
keyword_score stay the first stage's). search_many(queries, rerank=...) reranks each query's
hits the same way; a reranker with rerank_many(queries, hits_lists) (the cross-encoder) scores
all the queries' pairs in one batched call.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from .errors import BackendUnavailableError, InvalidInputError
from .types import Results

__all__ = ["Reranker", "CallableReranker", "CrossEncoderReranker", "MMRReranker", "as_reranker", "apply_rerank",
           "apply_rerank_many", "check_rerank_depth", "DEFAULT_RERANK_DEPTH"]

DEFAULT_RERANK_DEPTH = 50


@runtime_checkable
class Reranker(Protocol):
    """rerank(query, hits) gives one finite score per hit (a sequence or array) (higher is better), in the hits' order.

    A reranker that sets needs_vectors = True gets each hit's stored vector as Hit.vector. One
    that also has rerank_many(queries, hits_lists) -> one score list per query is called once
    for a search_many (else rerank is called per query).
    """

    def rerank(self, query: str | None, hits: Results) -> Any: ...


class CallableReranker:
    """A reranker from fn(query, texts) -> one score per text."""

    needs_vectors = False

    def __init__(self, fn: Callable[[str | None, list[str]], Any]) -> None:
        if not callable(fn):
            raise InvalidInputError(f"a reranker must be a Reranker or a callable, got {type(fn).__name__}")
        self.fn = fn

    def rerank(self, query: str | None, hits: Results) -> Any:
        return self.fn(query, [h.text or "" for h in hits])

    def __repr__(self) -> str:
        return f"CallableReranker({getattr(self.fn, '__name__', 'callable')})"


class CrossEncoderReranker:
    """A cross-encoder scores (query, text) pairs: a sentence-transformers CrossEncoder name or path
    (loaded on first use; optional extra gyeol[sentence-transformers]), or any object with
    predict(pairs) -> scores."""

    needs_vectors = False

    def __init__(self, model: Any, *, batch_size: int = 32, max_length: int | None = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        if not isinstance(model, str) and not callable(getattr(model, "predict", None)):
            raise InvalidInputError("model must be a CrossEncoder name or path, or an object with predict(pairs)")
        self._name = model if isinstance(model, str) else type(model).__name__
        self._model = None if isinstance(model, str) else model
        self.batch_size = batch_size
        self.max_length = max_length

    @property
    def model(self) -> Any:
        """The cross-encoder (loading it now if a name was given)."""
        if self._model is None:
            try:
                from sentence_transformers import CrossEncoder
            except ImportError as exc:
                raise BackendUnavailableError(
                    "CrossEncoderReranker needs sentence-transformers: pip install 'gyeol[sentence-transformers]'"
                ) from exc
            self._model = CrossEncoder(self._name, max_length=self.max_length)
        return self._model

    def rerank(self, query: str | None, hits: Results) -> Any:
        return self.rerank_many([query], [hits])[0]

    def rerank_many(self, queries: list[str | None], hits_lists: list[Results]) -> list[Any]:
        """Scores of every query's hits, all (query, text) pairs predicted in one batched call."""
        if any(q is None for q, hits in zip(queries, hits_lists) if len(hits)):
            raise InvalidInputError("a cross-encoder reranks by query text: pass query= to search")
        pairs = [(q, h.text or "") for q, hits in zip(queries, hits_lists) for h in hits]
        if not pairs:
            return [[] for _ in hits_lists]
        raw = self.model.predict(pairs, batch_size=self.batch_size)
        try:
            scores = np.asarray(raw, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{self!r}: predict returned {type(raw).__name__}, not numbers") from None
        if len(scores) != len(pairs):
            raise InvalidInputError(f"{self!r}: predict returned {len(scores)} scores for {len(pairs)} pairs")
        bounds = np.cumsum([0] + [len(hits) for hits in hits_lists])
        return [scores[a:b] for a, b in zip(bounds[:-1], bounds[1:])]

    def __repr__(self) -> str:
        return f"CrossEncoderReranker({self._name!r})"


class MMRReranker:
    """Maximal marginal relevance over the hits' stored vectors: no model needed.

    Picks hits one by one, each maximising diversity' = (1 - diversity) * relevance -
    diversity * (highest cosine similarity to a hit already picked); relevance is the first
    stage's score min-max normalised over the hits. diversity=0 keeps the first stage's order.
    Scores give the pick order: 1.0 for the first pick, then down by 1/n per pick (MMR values
    themselves need not fall: a hit unlike every pick can gain).
    """

    needs_vectors = True

    def __init__(self, diversity: float = 0.3) -> None:
        if isinstance(diversity, bool) or not isinstance(diversity, (int, float)) or not 0.0 <= diversity <= 1.0:
            raise InvalidInputError(f"diversity must be a number in [0, 1], got {diversity!r}")
        self.diversity = float(diversity)

    def rerank(self, query: str | None, hits: Results) -> Any:
        n = len(hits)
        if n == 0:
            return []
        vectors = [h.vector for h in hits]
        if any(vec is None for vec in vectors):
            raise InvalidInputError("MMRReranker needs each hit's vector (the collection attaches them)")
        mat = np.asarray(vectors, dtype=np.float64)
        norms = np.linalg.norm(mat, axis=1, keepdims=True)
        mat = mat / np.where(norms == 0, 1.0, norms)
        sim = mat @ mat.T
        scores = np.asarray(hits.scores, dtype=np.float64)
        span = scores.max() - scores.min()
        relevance = (scores - scores.min()) / span if span > 0 else np.ones(n)
        lam = 1.0 - self.diversity
        out = np.empty(n)
        picked: list[int] = []
        closest = np.full(n, -np.inf)  # highest similarity of each hit to the picked ones
        remaining = np.ones(n, bool)
        for _ in range(n):
            penalty = np.where(np.isfinite(closest), closest, 0.0)
            value = lam * relevance - self.diversity * penalty
            value[~remaining] = -np.inf
            best = int(np.argmax(value))  # ties: the first stage's order
            out[best] = 1.0 - len(picked) / n
            picked.append(best)
            remaining[best] = False
            closest = np.maximum(closest, sim[best])
        return out

    def __repr__(self) -> str:
        return f"MMRReranker(diversity={self.diversity})"


def as_reranker(rerank: Any) -> Any:
    """A Reranker: one as is, a callable (query, texts) -> scores wrapped in CallableReranker."""
    if isinstance(rerank, Reranker):
        return rerank
    if callable(rerank):
        return CallableReranker(rerank)
    raise InvalidInputError(f"rerank must be a Reranker or a callable (query, texts) -> scores, got {rerank!r}")


def check_rerank_depth(depth: Any) -> int:
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth <= 0:
        raise InvalidInputError(f"rerank_depth must be a positive integer, got {depth!r}")
    return int(depth)


def apply_rerank(reranker: Any, query: str | None, first: Results, k: int,
                 vectors_of: Callable[[list[str]], np.ndarray]) -> Results:
    """The k best of first by the reranker's scores (stable: ties keep the first stage's order)."""
    return apply_rerank_many(reranker, [query], [first], k, vectors_of)[0]


def apply_rerank_many(reranker: Any, queries: list[str | None], firsts: list[Results], k: int,
                      vectors_of: Callable[[list[str]], np.ndarray]) -> list[Results]:
    """Each query's k best hits by the reranker's scores: the vectors MMR needs fetched in one call,
    rerank_many called once where the reranker has it, every score list checked."""
    todo = [i for i, first in enumerate(firsts) if len(first)]
    if not todo:
        return list(firsts)
    hits = [firsts[i] for i in todo]
    if getattr(reranker, "needs_vectors", False):
        unique = list(dict.fromkeys(i for first in hits for i in first.ids))  # a hit of two queries once
        vectors = np.asarray(vectors_of(unique))
        row = {doc_id: n for n, doc_id in enumerate(unique)}
        hits = [first.with_vectors(vectors[[row[i] for i in first.ids]]) for first in hits]
    asked = [queries[i] for i in todo]
    many = getattr(reranker, "rerank_many", None)
    if callable(many):
        raws = many(asked, hits)
        if not isinstance(raws, (list, tuple)) or len(raws) != len(hits):
            got = f"{len(raws)} score lists" if isinstance(raws, (list, tuple)) else f"a {type(raws).__name__}"
            raise InvalidInputError(f"{reranker!r}.rerank_many returned {got} for {len(hits)} queries; "
                                    "expected a list of one score list per query")
    else:
        raws = [reranker.rerank(q, first) for q, first in zip(asked, hits)]
    out = list(firsts)
    for i, first, raw in zip(todo, hits, raws):
        out[i] = _top_by(reranker, first, raw, k)
    return out


def _top_by(reranker: Any, first: Results, raw: Any, k: int) -> Results:
    try:
        scores = np.asarray(raw, dtype=np.float64).reshape(-1) if not np.isscalar(raw) else None
    except (TypeError, ValueError):
        scores = None
    if scores is None or len(scores) != len(first):
        got = "a scalar" if scores is None else f"{len(scores)} scores"
        raise InvalidInputError(f"{reranker!r} returned {got} for {len(first)} hits; expected one score per hit")
    if not all(math.isfinite(x) for x in scores):
        raise InvalidInputError(f"{reranker!r} returned NaN or infinite scores")
    order = np.argsort(-scores, kind="stable")[:k]
    return first.reorder(order.tolist(), scores[order].tolist())
