"""A search's later stages, after retrieval: rerank the top hits, then expand chunks to their parents.

Collection.search calls search_with_stages() with a function that runs the first stage at a
given depth; the checks of rerank, rerank_depth and expand happen here, before any search.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _validation as v
from .errors import InvalidInputError
from .types import Document, Results

__all__ = ["search_with_stages", "EXPANDS", "PARENT_DEPTH"]

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
    from .rerank import apply_rerank, as_reranker, check_rerank_depth

    k = v.check_k(k)
    if expand is not None and (not isinstance(expand, str) or expand not in EXPANDS):
        raise InvalidInputError(f"expand must be None or 'parent', got {expand!r}")
    reranker = as_reranker(rerank) if rerank is not None else None
    depth = check_rerank_depth(rerank_depth)
    wanted = k * PARENT_DEPTH if expand == "parent" else k  # hits the stage after retrieval keeps
    first = first_stage(max(wanted, depth) if reranker is not None else wanted)
    if reranker is not None:
        first = apply_rerank(reranker, query, first, wanted, vectors_of)
    if expand == "parent":
        from .context import expand_parents

        first = expand_parents(first, k, parents_of).with_query(query)
    return first
