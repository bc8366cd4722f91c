"""The two embedding seams of a collection: documents and queries, each batched and shape-checked.

Documents and queries go through separate functions so that an embedder that embeds them
differently (a query prompt, an asymmetric model) plugs in here and nowhere else.
"""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any, Callable

import numpy as np

from .. import _validation as v
from ..errors import InvalidInputError
from ..progress import progress

# Texts per call to an embedder that declares no size of its own (no call_size, no batch_size).
EMBED_BATCH = 256

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


def part_size(embedder: Any) -> int:
    """Texts per call to embedder: its call_size, else its batch_size (at most EMBED_BATCH), else EMBED_BATCH.

    A long run's progress bar moves once per call, so a call should take well under a second: a
    built-in pooled embedder's call_size is one batch per worker thread (32 texts for
    multilingual-e5-small on 2 cores, about a second; 256 on 16), a sentence-transformers model's
    batch_size its own (64). Calls of a declared size also give the embedder the very batches it
    would have made itself.
    """
    for name, most in (("call_size", None), ("batch_size", EMBED_BATCH)):
        size = getattr(embedder, name, None)
        if isinstance(size, int) and not isinstance(size, bool) and size > 0:
            return size if most is None else min(size, most)
    return EMBED_BATCH


def embed_batched(fn: EmbedFunction, texts: list[str], dim: int, *, part: int = EMBED_BATCH,
                  counted: Callable[[int], None] | None = None) -> np.ndarray:
    """float32 (len(texts), dim) embeddings of texts, part at a time, checked for shape and finiteness.

    More than one part: a progress bar counts the texts (shown once the run passes about a second),
    or counted(n) is told of each part's n texts instead (re-embedding's own bar). One part is one
    call and makes no bar: a lone query or a small add pays nothing for progress.
    """
    if not texts:
        return np.empty((0, dim), np.float32)
    part = max(1, part)
    if len(texts) <= part:
        return v.check_vectors(_called(fn, texts), len(texts), dim, name="embeddings")
    parts = []
    with nullcontext() if counted is not None else progress(len(texts), f"embedding {len(texts)} texts") as bar:
        for start in range(0, len(texts), part):
            chunk = texts[start : start + part]
            parts.append(_called(fn, chunk))
            if bar is not None:
                bar.update(len(chunk))
            elif counted is not None:
                counted(len(chunk))
    return v.check_vectors(np.concatenate(parts), len(texts), dim, name="embeddings")


def _called(fn: EmbedFunction, texts: list[str]) -> np.ndarray:
    out = np.asarray(fn(texts), dtype=np.float32)
    if out.ndim != 2 or out.shape[0] != len(texts):
        raise InvalidInputError(f"embedder returned shape {out.shape} for {len(texts)} texts")
    return out
