"""A search's later stages, after retrieval: rerank the top hits, then expand chunks to their parents.

Collection.search calls search_with_stages() (search_many: search_many_with_stages()) with a
function that runs the first stage at a given depth; the checks of rerank, rerank_depth and
expand happen here, before any search.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _validation as v
from .errors import InvalidInputError
from .types import Document, Results

__all__ = ["search_with_stages", "search_many_with_stages", "EXPANDS", "PARENT_DEPTH"]

EXPANDS = ("parent",)
#: expand="parent" ranks this many chunks per parent asked for, so k distinct parents are found
#: even when a document's chunks fill the top of the list.
PARENT_DEPTH = 4


def search_with_stages(
    first_stage: Callable[[int], Results],
    query: str | None,
    *,
    k: Any,
    rerank: Any,
    rerank_depth: Any,
    expand: Any,
    vectors_of: Callable[[list[str]], np.ndarray],
    parents_of: Callable[[list[str]], list[Document]],
) -> Results:
    """first_stage(depth) ranked, reranked when rerank is given, and expanded when expand="parent"."""
    return search_many_with_stages(lambda depth: [first_stage(depth).with_query(query)], k=k, rerank=rerank,
                                   rerank_depth=rerank_depth, expand=expand, vectors_of=vectors_of,
                                   parents_of=parents_of)[0]


def search_many_with_stages(
    first_stage: Callable[[int], list[Results]],
    *,
    k: Any,
    rerank: Any,
    rerank_depth: Any,
    expand: Any,
    vectors_of: Callable[[list[str]], np.ndarray],
    parents_of: Callable[[list[str]], list[Document]],
) -> list[Results]:
    """The same stages for a batch: first_stage(depth) gives one Results per query (each with its
    query text, Results.query, None for a vector query); the reranker sees every query's hits
    (in one call where it has rerank_many) and each list is expanded on its own."""
    from .rerank import apply_rerank_many, as_reranker, check_rerank_depth

    k = v.check_k(k)
    if expand is not None and (not isinstance(expand, str) or expand not in EXPANDS):
        raise InvalidInputError(f"expand must be None or 'parent', got {expand!r}")
    reranker = as_reranker(rerank) if rerank is not None else None
    depth = check_rerank_depth(rerank_depth)
    wanted = k * PARENT_DEPTH if expand == "parent" else k  # hits the stage after retrieval keeps
    found = first_stage(max(wanted, depth) if reranker is not None else wanted)
    if reranker is not None:
        found = apply_rerank_many(reranker, [r.query for r in found], found, wanted, vectors_of)
    if expand == "parent":
        from .context import expand_parents

        found = [expand_parents(r, k, parents_of).with_query(r.query) for r in found]
    return found
