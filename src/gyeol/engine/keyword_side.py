"""The BM25 index of one collection: loaded or built on first keyword use (Kiwi loads only then), saved."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import numpy as np

from ..config import CollectionConfig
from ..errors import InvalidInputError
from ..ranked import Ranked
from ..storage.store import SegmentStore
from .vector_side import index_dir

if TYPE_CHECKING:
    from ..lexical.bm25 import BM25Index

LEXICAL_SAVE_AFTER = 20_000  # a lazy BM25 build that tokenized this many texts is saved at once


class KeywordSide:
    """The tokenizer and the BM25 index over the store's texts; the index exists once a keyword search asked."""

    def __init__(self, config: CollectionConfig, tokenizer: Any, *, read_only: bool) -> None:
        self._config = config
        self.tokenizer = tokenizer  # None: a custom tokenizer that was not passed again
        self._read_only = read_only
        self._index: "BM25Index | None" = None
        self._dirty = False
        self._build_lock = threading.Lock()  # searches racing to the first keyword query build once

    @property
    def built(self) -> bool:
        """True once the BM25 index is in memory (writes must then keep it in step)."""
        return self._index is not None

    def require_tokenizer(self) -> Any:
        if self.tokenizer is None:
            name = self._config.name
            raise InvalidInputError(
                f"collection {name!r} was created with a custom tokenizer; pass it again: "
                f"db.get_collection({name!r}, tokenizer=...)"
            )
        return self.tokenizer

    def tokenize(self, texts: list[str | None]) -> list[list[str]]:
        """Terms of each text (None counts as empty), in one batch."""
        return self.require_tokenizer().tokenize_batch([t or "" for t in texts])

    def tokenize_queries(self, queries: list[str]) -> list[list[str]]:
        """Terms of each query text, in one batch (a search makes them before it takes any lock)."""
        return self.require_tokenizer().tokenize_batch(queries)

    def index(self, store: SegmentStore) -> "BM25Index":
        """The BM25 index: loaded from disk and caught up, or built from every stored text.

        Threads that ask at once build it once: the first builds, the others wait for it.
        """
        index = self._index
        if index is not None:
            return index
        with self._build_lock:
            index = self._index
            return index if index is not None else self._build(store)

    def _build(self, store: SegmentStore) -> "BM25Index":
        from ..lexical.bm25 import BM25Index

        tokenizer = self.require_tokenizer()
        directory = index_dir(store, "bm25")
        index = None
        if directory is not None:
            index = BM25Index.load(
                directory, store.manifest.generation, self._config.bm25, max_labels=store.n_labels,
                terms=self._terms_signature(),
            )
        if index is None:
            index = BM25Index(self._config.bm25)
        start = index.n_labels
        if start < store.n_labels:
            texts = store.texts.slice(start).to_pylist()
            index.add(tokenizer.tokenize_batch([t or "" for t in texts]))
            self._dirty = True
        if store.has_deletes:
            index.delete(np.flatnonzero(~store.live))
        if store.n_labels - start >= LEXICAL_SAVE_AFTER:  # minutes of Kiwi work: keep it past a crash
            self._save(index, store)  # before searches see it: a save merges the index's tail
        self._index = index
        return index

    def search(self, store: SegmentStore, queries: list[str], k: int, allowed: np.ndarray | None,
               terms: list[list[str]] | None = None) -> list[Ranked]:
        """The k best documents of each query by BM25, only labels where allowed is True (None: every live one);
        terms: the queries' terms when already made (tokenize_queries)."""
        index = self.index(store)
        if terms is None:
            terms = self.tokenizer.tokenize_batch(queries)
        return [index.search(query_terms, k, allowed) for query_terms in terms]

    def add(self, tokens: list[list[str]]) -> None:
        """Index the terms of a committed batch (the built index only)."""
        if self._index is not None:
            self._index.add(tokens)
            self._dirty = True

    def delete(self, labels: np.ndarray) -> None:
        if self._index is not None:
            self._index.delete(labels)
            self._dirty = True

    def reset(self) -> None:
        """Forget the index (the store it was derived from was replaced); the next use loads or builds."""
        self._index = None
        self._dirty = False

    def save(self, store: SegmentStore) -> None:
        """Write the index if it changed since its last save (writers on disk only)."""
        if self._index is not None:
            self._save(self._index, store)

    def _save(self, index: "BM25Index", store: SegmentStore) -> None:
        directory = index_dir(store, "bm25")
        if directory is None or self._read_only or not self._dirty:
            return
        directory.mkdir(parents=True, exist_ok=True)
        index.save(directory, store.manifest.generation, terms=self._terms_signature())
        self._dirty = False

    def _terms_signature(self) -> dict[str, Any]:
        """How this collection's BM25 terms are made: its tokenizer's description and version."""
        from ..lexical.tokenizers import TERMS_VERSION

        return {"tokenizer": self._config.tokenizer, "version": TERMS_VERSION}
