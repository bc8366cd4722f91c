"""The BM25 index of one collection: kept in step with every write, saved with each commit, followed by readers.

A writer tokenizes each batch before its commit (Kiwi's batch call) and, once the store has
committed it, adds the batch's term counts to the index and appends them to index/bm25/ as a
delta (gyeol.lexical.deltas), or saves the whole index when the deltas have grown past it.
A fresh process loads the save and its deltas instead of tokenizing the stored texts; a
read-only handle following a writer adds the deltas of each new commit. Whatever the files
miss (a crash between a commit and its delta, an older gyeol's collection) is tokenized from
the stored texts on first use, so the index is never behind the store, and never ahead:
deltas only ever describe committed rows.
"""

from __future__ import annotations

import logging
import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..config import CollectionConfig
from ..errors import InvalidInputError
from ..progress import progress
from ..ranked import Ranked
from ..storage.store import SegmentStore
from .vector_side import index_dir

if TYPE_CHECKING:
    from ..lexical.bm25 import BM25Index
    from ..lexical.counts import TermCounts

log = logging.getLogger(__name__)

LEXICAL_SAVE_AFTER = 20_000  # a catch-up that tokenized this many texts is saved at once
# A commit's counts go to a new delta unless this many deltas exist or they would cover more
# labels than the base save: then the whole index is saved, so the bytes written stay linear in
# the collection's size and a fresh process reads at most MAX_DELTAS small files beside the base.
MAX_DELTAS = 64
# Texts per tokenizer batch call (each still one multi-threaded Kiwi call) when more are tokenized at
# once, so a long run's progress bar moves: about 0.2 s of Kiwi on 2 cores, and 250 a call tokenized
# 2,000 passages no slower than one call of 2,000 (1.43 vs 1.61 s). One part makes no bar.
TOKENIZE_PART = 250


class KeywordSide:
    """The tokenizer and the BM25 index over the store's texts, in step with the store's commits."""

    # Load Kiwi's model in a background thread at open. Off: kiwipiepy holds the GIL while it builds
    # its model and through its first analysis (seconds), so the thread stalled the opening thread
    # instead of overlapping with it: a first vector search on a fresh 1,000-passage handle took
    # 2.6-4.8 s with it and 17-23 ms without, and import to the first hybrid result was no faster
    # (load average ~10, four fresh processes each). Kiwi now loads on the first call that needs it.
    PRELOAD_KIWI = False

    def __init__(self, config: CollectionConfig, tokenizer: Any, *, read_only: bool) -> None:
        from ..lexical.tokenizers import has_keyword_side

        self._config = config
        self.enabled = has_keyword_side(config.tokenizer)  # False: created with tokenizer=None
        if not self.enabled and tokenizer is not None:
            self._refuse_tokenizer()
        self.tokenizer = tokenizer  # None: a custom one not passed again, or tokenizer=None
        self._read_only = read_only
        self._index: "BM25Index | None" = None
        self._generation = -1  # of the store the index was built over
        self._deleted = -1  # store.manifest.deleted when deletes were last applied
        # False while the index in memory was built by tokenizing, not loaded from the files in index/bm25
        # (none, stale or damaged): the files must then be written whole, never extended by a delta
        self._matches_files = False
        self._build_lock = threading.Lock()  # searches racing to the first keyword query build once
        self._preload: threading.Thread | None = None
        self._start_preload()

    @property
    def built(self) -> bool:
        """True once the BM25 index is in memory."""
        return self._index is not None

    def require_tokenizer(self) -> Any:
        name = self._config.name
        if not self.enabled:
            raise InvalidInputError(
                f"collection {name!r} has no keyword side (it was created with tokenizer=None); "
                "search it with mode='vector'"
            )
        if self.tokenizer is None:
            raise InvalidInputError(
                f"collection {name!r} was created with a custom tokenizer; pass it again: "
                f"db.get_collection({name!r}, tokenizer=...)"
            )
        self._wait_preload()
        return self.tokenizer

    # ------------------------------------------------------------------ loading the tokenizer

    def _start_preload(self) -> None:
        """Load Kiwi's model in a background thread (seconds), while the vector index and embedder load."""
        from ..lexical.tokenizers.kiwi import KiwiTokenizer  # kiwipiepy itself is imported in the thread

        if self.PRELOAD_KIWI and isinstance(self.tokenizer, KiwiTokenizer):
            self._preload = threading.Thread(target=_warm, args=(self.tokenizer,), name="gyeol-kiwi-load",
                                             daemon=True)
            self._preload.start()

    def _wait_preload(self) -> None:
        # the first analysis waits for the warm-up's: one Kiwi call at a time while it loads
        thread = self._preload
        if thread is not None:
            thread.join()
            self._preload = None

    def set_tokenizer(self, tokenizer: Any) -> None:
        if not self.enabled:
            self._refuse_tokenizer()
        self._wait_preload()
        self.tokenizer = tokenizer
        self._start_preload()

    def _refuse_tokenizer(self) -> None:
        raise InvalidInputError(f"collection {self._config.name!r} was created with tokenizer=None: "
                                "it has no keyword side to give a tokenizer")

    # ------------------------------------------------------------------ reads

    def tokenize(self, texts: list[str | None]) -> list[list[str]]:
        """Terms of each text (None counts as empty): batch calls of TOKENIZE_PART texts, counted on a bar when more."""
        tokenizer = self.require_tokenizer()
        texts_in = [t or "" for t in texts]
        if len(texts_in) <= TOKENIZE_PART:  # one call: a query or a small add makes no bar
            return tokenizer.tokenize_batch(texts_in)
        out: list[list[str]] = []
        with progress(len(texts_in), f"tokenizing {len(texts_in)} texts for BM25") as bar:
            for start in range(0, len(texts_in), TOKENIZE_PART):
                part = texts_in[start : start + TOKENIZE_PART]
                out.extend(tokenizer.tokenize_batch(part))
                bar.update(len(part))
        return out

    def tokenize_queries(self, queries: list[str]) -> list[list[str]]:
        """Terms of each query text, in batch calls as tokenize (a search makes them before it takes any lock)."""
        return self.tokenize(list(queries))

    def index(self, store: SegmentStore) -> "BM25Index":
        """The BM25 index over every stored text: loaded from disk, caught up by tokenizing what it lacks.

        Threads that ask at once build it once: the first builds, the others wait for it. A new index is
        published only once built (and saved, when large: a save merges its tail), so a search never reads
        one that is half made.
        """
        self.require_tokenizer()  # no keyword side, or a custom tokenizer not passed again: nothing is built
        index = self._index
        if (index is not None and self._generation == store.manifest.generation
                and index.n_labels == store.n_labels and self._deleted == store.manifest.deleted):
            return index  # in step: the common case takes no lock
        with self._build_lock:
            return self._catch_up(store)

    def _catch_up(self, store: SegmentStore) -> "BM25Index":
        index = self._index
        published = index is not None and self._generation == store.manifest.generation
        if not published:
            index = self._load(store)
            deleted = -1
        else:
            deleted = self._deleted
        assert index is not None
        start = index.n_labels
        if start < store.n_labels:
            index.add(self.tokenize(store.texts.slice(start).to_pylist()))
        if store.manifest.deleted != deleted and store.has_deletes:
            index.delete(np.flatnonzero(~store.live))
        self._index = index  # the fast path in index() waits until _generation and _deleted say it is in step
        if store.n_labels - start >= LEXICAL_SAVE_AFTER:  # minutes of Kiwi work: keep it past a crash
            self.save(store)
        self._generation, self._deleted = store.manifest.generation, store.manifest.deleted
        return index

    def _length_skips(self) -> tuple[str, ...]:
        """The terms left out of document lengths, from the stored description: old collections keep their rule."""
        from ..lexical.tokenizers import length_skips_of

        return length_skips_of(self.require_tokenizer())

    def _load(self, store: SegmentStore) -> "BM25Index":
        from ..lexical.bm25 import BM25Index

        skips = self._length_skips()
        directory = index_dir(store, "bm25")
        if directory is not None:
            index = BM25Index.load(directory, store.manifest.generation, self._config.bm25,
                                   max_labels=store.n_labels, terms=self._terms_signature(), length_skips=skips)
            if index is not None:
                self._matches_files = True
                return index
        self._matches_files = False
        return BM25Index(self._config.bm25, skips)

    def search(self, store: SegmentStore, queries: list[str], k: int, allowed: np.ndarray | None,
               terms: list[list[str]] | None = None) -> list[Ranked]:
        """The k best documents of each query by BM25, only labels where allowed is True (None: every live one);
        terms: the queries' terms when already made (tokenize_queries)."""
        index = self.index(store)
        if terms is None:
            terms = self.tokenize(list(queries))
        if len(terms) == 1:  # a lone query's leaner path, the same floats
            return [index.search(terms[0], k, allowed)]
        return index.search_many(terms, k, allowed)  # scored as one batch (gyeol.lexical.batch)

    def follow(self, store: SegmentStore) -> None:
        """A read-only handle took a newer snapshot: add the writer's saved deltas up to it (or forget the index)."""
        index, directory = self._index, index_dir(store, "bm25")
        if index is None or directory is None:
            return
        generation = store.manifest.generation
        if generation != self._generation or index.n_labels > store.n_labels or not index.follow(
                directory, generation, store.n_labels, self._terms_signature()):
            self.reset()  # loaded anew on the next keyword search

    # ------------------------------------------------------------------ writes

    def stage(self, store: SegmentStore, texts: list[str | None]) -> "TermCounts | None":
        """The term counts of a batch about to be committed; None when this handle has no tokenizer.

        The index is loaded (and caught up) first, so after the commit it only adds these counts.
        """
        if self.tokenizer is None:  # a custom tokenizer not passed again: whoever has it catches up
            return None
        from ..lexical.counts import count_terms

        self.index(store)
        return count_terms(self.tokenize(texts), self._length_skips())

    def append(self, store: SegmentStore, counts: "TermCounts | None", first_label: int) -> bool:
        """After the store committed labels first_label..: index their counts (in memory, inside the
        commit's exclusive section); True when persist(counts, first_label) should then write them."""
        index = self._index
        if counts is None or index is None or index.n_labels != first_label:
            self.reset()  # out of step (no tokenizer, or staged over another state): rebuilt on use
            return False
        index.add_counts(counts, merge=False)  # a tail grown past its bound is folded in by persist
        return True

    def persist(self, store: SegmentStore, counts: "TermCounts", first_label: int,
                swap: Callable[[], AbstractContextManager]) -> None:
        """Save what append indexed (a delta, or the whole index when the deltas have grown past it),
        and fold the postings' tail into the CSR when it has grown past its bound.

        Both read the index only (BM25Index.export_arrays and merged_postings change nothing), so the
        writer runs this after the commit's exclusive section, searches going on meanwhile; swap()
        (the exclusive section) is held only to adopt the merged postings. The writer's own lock
        keeps every other write out until it is done.
        """
        self._save_counts(store, counts, first_label)
        index = self._index
        if index is not None and index.merge_due():
            merged = index.merged_postings()  # seconds at a million documents: no lock held
            with swap():
                index.adopt_postings(merged)

    def _save_counts(self, store: SegmentStore, counts: "TermCounts", first_label: int) -> None:
        directory = index_dir(store, "bm25")
        if directory is None or self._read_only or self._index is None:
            return
        from ..lexical.deltas import append_delta, coverage

        terms = self._terms_signature()
        generation = store.manifest.generation
        try:
            covered = coverage(directory, generation, terms)
            small = covered is not None and covered.n_deltas < MAX_DELTAS and (
                covered.delta_labels + counts.n_docs <= covered.base_labels)
            extend = small and self._matches_files
            if not (extend and append_delta(directory, counts, first_label, generation, terms)):
                self._save_all(store)
        except OSError as exc:  # the commit stands: the next save, or the next process, catches up
            log.warning("could not save the BM25 index of %r (%s); it is saved at close", self._config.name, exc)

    def delete(self, store: SegmentStore, labels: np.ndarray) -> None:
        """The store just tombstoned labels (its tombstones carry them to the next process)."""
        if self._index is not None:
            self._index.delete(labels)
            if self._deleted >= 0:  # the index held every earlier delete: it holds this commit's too
                self._deleted = store.manifest.deleted

    def compacted(self, store: SegmentStore, kept: np.ndarray) -> None:
        """The store was compacted, keeping the old labels kept: renumber the index (or forget it)."""
        index = self._index
        self.reset()
        if index is not None and index.n_live == len(kept):
            self._index = index.subset(kept)
            self._generation, self._deleted = store.manifest.generation, store.manifest.deleted

    def reset(self) -> None:
        """Forget the index (the store it was derived from was replaced); the next use loads or builds."""
        self._index = None
        self._generation = self._deleted = -1
        self._matches_files = False

    def save(self, store: SegmentStore, *, consolidate: bool = False) -> None:
        """Write the whole index when the files do not cover it (or, consolidate, when they hold deltas);
        writers on disk only."""
        directory = index_dir(store, "bm25")
        if directory is None or self._read_only or self._index is None:
            return
        from ..lexical.deltas import coverage

        covered = coverage(directory, store.manifest.generation, self._terms_signature())
        if (covered is None or covered.end != self._index.n_labels or (consolidate and covered.n_deltas)
                or not self._matches_files):
            self._save_all(store)

    def _save_all(self, store: SegmentStore) -> None:
        directory = index_dir(store, "bm25")
        assert directory is not None and self._index is not None
        directory.mkdir(parents=True, exist_ok=True)
        self._index.save(directory, store.manifest.generation, terms=self._terms_signature())
        self._matches_files = True

    def _terms_signature(self) -> dict[str, Any]:
        """How this collection's BM25 terms are made: its tokenizer's description and version."""
        from ..lexical.tokenizers import TERMS_VERSION

        return {"tokenizer": self._config.tokenizer, "version": TERMS_VERSION}


def _warm(tokenizer: Any) -> None:
    """Load the tokenizer's model and run its first analysis (Kiwi loads parts of its model lazily)."""
    try:
        tokenizer.tokenize("가")
    except Exception as exc:  # the query that needs it raises the same error, in the caller's thread
        log.debug("loading the tokenizer in the background failed: %r", exc)
