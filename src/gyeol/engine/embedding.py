"""The two embedding seams of a collection: documents and queries, each batched and shape-checked.

Documents and queries go through separate functions so that an embedder that embeds them
differently (a query prompt, an asymmetric model) plugs in here and nowhere else.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .. import _validation as v
from ..errors import InvalidInputError
from ..progress import progress

EMBED_BATCH = 256
PROGRESS_ABOVE = EMBED_BATCH  # a single batch needs no bar; longer runs get one past about a second

EmbedFunction = Callable[[list[str]], Any]


def documents_function(embedder: Any) -> EmbedFunction:
    """How embedder embeds documents: its embed_documents(texts) when it has one, else embed(texts)."""
    fn = getattr(embedder, "embed_documents", None)
    return fn if callable(fn) else embedder.embed


def queries_function(embedder: Any) -> EmbedFunction:
    """How embedder embeds queries: embed_queries(texts), else embed_query(texts), else embed(texts).

    Each is called with a batch (a list of str) and gives back an (n, dim) array.
    """
    for name in ("embed_queries", "embed_query"):
        fn = getattr(embedder, name, None)
        if callable(fn):
            return fn
    return embedder.embed


def embed_batched(fn: EmbedFunction, texts: list[str], dim: int) -> np.ndarray:
    """float32 (len(texts), dim) embeddings of texts, EMBED_BATCH at a time, checked for shape and finiteness."""
    if not texts:
        return np.empty((0, dim), np.float32)
    parts = []
    quiet = len(texts) <= PROGRESS_ABOVE
    with progress(len(texts), f"embedding {len(texts)} texts", enabled=False if quiet else None) as bar:
        for start in range(0, len(texts), EMBED_BATCH):
            out = np.asarray(fn(texts[start : start + EMBED_BATCH]), dtype=np.float32)
            expected = min(EMBED_BATCH, len(texts) - start)
            if out.ndim != 2 or out.shape[0] != expected:
                raise InvalidInputError(f"embedder returned shape {out.shape} for {expected} texts")
            parts.append(out)
            bar.update(expected)
    return v.check_vectors(np.concatenate(parts), len(texts), dim, name="embeddings")
