"""A BM25 inverted index over dense integer labels, held in numpy arrays.

Layout (every per-document and per-posting array is numpy; the vocabulary, term -> term id, is
vocab.Vocabulary: after a load, the saved terms stay memory-mapped arrays with a hash table over them):

- postings, term-major CSR: `term_ptr[t]:term_ptr[t+1]` slices `post_doc` (label) and
  `post_tf` (term frequency). Appends land in a short list of small term-sorted *tail*
  chunks and are merged into the CSR when the tail grows past a fraction of it, so an
  add costs time proportional to what it adds, amortised.
- per label: `doc_len` (tokens, less those starting with a length_skips prefix), `live`
  (False once deleted).
- forward index: `fwd_ptr[l]:fwd_ptr[l+1]` slices `fwd_term`, the distinct terms of
  label l, so a delete can lower the live document frequency `df` of just those terms.

N, avgdl and df count live documents only, so after deletes and re-adds the scores equal
those of an index freshly built from the surviving documents. A query touches only the
postings of its terms: gather, drop dead postings, weight (see scoring.py), sum per
label and top-k in gyeol.lexical.batch, a batch of queries at once (a term's postings are in
label order, so ties go to the smaller label); a lone query in _search_one, with the same floats.
Saving, loading and following a writer's deltas: bm25_files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import GrowableArray, concat_ranges, top_k
from ..config import BM25
from ..errors import InvalidInputError
from ..ranked import Ranked
from . import scoring
from . import bm25_files
from ._persist import LazyChecks
from . import batch as lexical_batch
from .batch import rank_pairs, top_k_of_row
from .blockmax import BlockMaxima, build_blocks, prune_top_k, worth_pruning
from .counts import TermCounts, count_terms
from .fold import fold_postings
from .bm25_files import ARRAY_DTYPES, MAX_LABELS
from .vocab import Vocabulary

__all__ = ["ARRAY_DTYPES", "BM25Index"]  # ARRAY_DTYPES comes from bm25_files (the layout of a save)

_TAIL_MIN_POSTINGS = 1 << 16  # merge below this never; above, when tail > CSR / 4
_TAIL_MAX_CHUNKS = 32
# copied whole by the first add or delete (GrowableArray copies a map on its first write)
_COPIED_ON_WRITE = ("df", "fwd_ptr", "fwd_term", "doc_len", "live")

class BM25Index:
    """BM25 over documents labelled 0..n_labels-1 in add order; see the module docstring."""

    def __init__(self, params: BM25, length_skips: tuple[str, ...] = ()) -> None:
        """length_skips: prefixes of terms that are scored but not counted in their document's
        length (KiwiTokenizer.length_skips). Default (): the length is the number of terms."""
        if not isinstance(params, BM25):
            raise InvalidInputError(f"params must be a gyeol.BM25, got {type(params).__name__}")
        if not isinstance(length_skips, tuple) or not all(isinstance(p, str) and p for p in length_skips):
            raise InvalidInputError(f"length_skips must be a tuple of non-empty str, got {length_skips!r}")
        self.params = params
        self.length_skips = length_skips
        self._vocab = Vocabulary()
        self._term_ptr = np.zeros(1, dtype=np.int64)
        self._post_doc = np.empty(0, dtype=np.int32)
        self._post_tf = np.empty(0, dtype=np.int32)
        self._tail: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (term, doc, tf), term-sorted
        self._tail_postings = 0
        self._doc_len = GrowableArray(np.int32)
        self._live = GrowableArray(np.bool_)
        self._fwd_ptr = GrowableArray(np.int64, initial=np.zeros(1, dtype=np.int64))
        self._fwd_term = GrowableArray(np.int32)
        self._df = GrowableArray(np.int64)
        self._n_live = 0
        self._total_len_live = 0
        self._stats_cache: tuple[float, np.ndarray] | None = None  # see _stats(); dropped on every change
        self._csr_has_dead = False  # the CSR still holds postings of deleted labels
        self._csr_labels = 0  # the CSR's labels are all below it; the tail's at or above
        self._blocks: BlockMaxima | None = None  # of the CSR, made on demand (_block_maxima)
        self._checks: LazyChecks | None = None  # of a load's large arrays not checked yet (_persist.LazyChecks)

    # ------------------------------------------------------------------ properties

    @property
    def n_labels(self) -> int:
        """Labels covered, dead ones included."""
        return len(self._doc_len)

    @property
    def n_live(self) -> int:
        return self._n_live

    @property
    def vocabulary_size(self) -> int:
        return len(self._vocab)

    @property
    def avgdl(self) -> float:
        return self._total_len_live / self._n_live if self._n_live else 0.0

    def __repr__(self) -> str:
        return (
            f"BM25Index(variant={self.params.variant!r}, labels={self.n_labels}, live={self._n_live}, "
            f"terms={len(self._vocab)})"
        )

    # ------------------------------------------------------------------ writes

    def add(self, token_lists: list[list[str]]) -> None:
        """Append documents as labels n_labels, n_labels + 1, ..., in order."""
        self.add_counts(count_terms(token_lists, self.length_skips))

    def add_counts(self, counts: TermCounts, *, merge: bool = True) -> None:
        """Append documents counted by count_terms (or loaded from a save) as the next labels.

        merge=False leaves a tail grown past its bound for the caller to fold in (merge_due,
        merged_postings, adopt_postings), so a writer can do that work while searches go on."""
        n_new = counts.n_docs
        if n_new == 0:
            return
        first = self.n_labels
        if first + n_new > MAX_LABELS:
            raise InvalidInputError(f"a BM25Index holds at most {MAX_LABELS} labels, {first + n_new} asked")
        self._check_whole(_COPIED_ON_WRITE)
        local_to_global = self._vocab.add(counts.terms)  # one step per distinct term of the batch, not per token
        pair_terms = local_to_global[counts.pair_term]
        per_doc = np.diff(counts.doc_ptr)
        pair_docs = np.repeat(np.arange(n_new, dtype=np.int64), per_doc)
        lengths = counts.doc_len

        # forward index: distinct terms per document, in label order
        self._fwd_term.extend(pair_terms)
        self._fwd_ptr.extend(self._fwd_ptr.view()[-1] + np.cumsum(per_doc))
        # term-major tail chunk (stable: docs stay ascending within a term)
        order = np.argsort(pair_terms, kind="stable")
        self._tail.append(
            (pair_terms[order], (pair_docs[order] + first).astype(np.int32), counts.pair_tf[order].astype(np.int32))
        )
        self._tail_postings += len(order)
        # per-label and per-term state
        self._doc_len.extend(lengths.astype(np.int32))
        self._live.extend(np.ones(n_new, dtype=np.bool_))
        self._df.resize(len(self._vocab), fill=0)
        uniq_terms, doc_counts = np.unique(pair_terms, return_counts=True)
        self._df.add_at(uniq_terms, doc_counts)
        self._n_live += n_new
        self._total_len_live += int(lengths.sum(dtype=np.int64))
        self._stats_cache = None
        if merge and self.merge_due():
            self.merge()

    def merge_due(self) -> bool:
        """True when the tail has grown past its bound (a fraction of the CSR, or too many chunks)."""
        tail_is_big = self._tail_postings > max(_TAIL_MIN_POSTINGS, len(self._post_doc) // 4)
        return tail_is_big or len(self._tail) > _TAIL_MAX_CHUNKS

    def delete(self, labels: np.ndarray) -> None:
        """Mark labels dead (idempotent): they stop counting in N, avgdl and df."""
        labels = np.unique(np.asarray(labels, dtype=np.int64).reshape(-1))
        if len(labels) == 0:
            return
        if labels[0] < 0 or labels[-1] >= self.n_labels:
            bad = labels[(labels < 0) | (labels >= self.n_labels)]
            raise InvalidInputError(
                f"labels must be in [0, {self.n_labels}); found {bad[:5].tolist()}"
            )
        live = self._live.view()
        labels = labels[live[labels]]
        if len(labels) == 0:
            return
        self._check_all()
        fwd_ptr = self._fwd_ptr.view()
        terms = self._fwd_term.view()[concat_ranges(fwd_ptr[labels], fwd_ptr[labels + 1])]
        uniq_terms, doc_counts = np.unique(terms, return_counts=True)
        self._df.add_at(uniq_terms, -doc_counts)
        self._live.set_at(labels, False)
        self._csr_has_dead = True
        self._n_live -= len(labels)
        self._total_len_live -= int(self._doc_len.view()[labels].sum(dtype=np.int64))
        self._stats_cache = None

    def merge(self) -> None:
        """Fold the tail chunks into the CSR, dropping postings of dead labels."""
        if not self._tail and not self._csr_has_dead:
            return
        self._term_ptr, self._post_doc, self._post_tf = self._merged_postings()
        self._tail = []
        self._tail_postings = 0
        self._csr_has_dead = False
        self._csr_labels = self.n_labels
        self._blocks = None

    def merged_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """The CSR with the tail folded in, as new arrays (the index is not changed: searches may run
        meanwhile), for adopt_postings; the last item says how many tail chunks it holds."""
        return (*self._merged_postings(), len(self._tail))

    def adopt_postings(self, merged: tuple[np.ndarray, np.ndarray, np.ndarray, int]) -> None:
        """Take postings merged_postings made, when nothing was added or deleted since (a quick swap)."""
        term_ptr, post_doc, post_tf, n_chunks = merged
        if n_chunks != len(self._tail) or len(term_ptr) != len(self._vocab) + 1:
            raise InvalidInputError("the index changed since these postings were merged")
        self._term_ptr, self._post_doc, self._post_tf = term_ptr, post_doc, post_tf
        self._tail = []
        self._tail_postings = 0
        self._csr_has_dead = False
        self._csr_labels = self.n_labels
        self._blocks = None  # made again over the new CSR on the next pruned query

    def _merged_postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Give back (term_ptr, post_doc, post_tf) of the CSR with the tail folded in and dead postings dropped,
        as new arrays: the index is not changed, so searches may run meanwhile."""
        self._check_all()  # every posting is read: lazily checked chunks are checked first
        live = None if self._n_live == self.n_labels else self._live.view()
        return fold_postings(self._term_ptr, np.asarray(self._post_doc), np.asarray(self._post_tf), self._tail, live,
                             len(self._vocab))

    def subset(self, keep: np.ndarray) -> "BM25Index":
        """A new index over the labels keep (ascending), renumbered 0..len(keep)-1 in order, nothing
        tokenized again: compaction keeps the live labels, a reader behind a newer save the first n."""
        keep = np.asarray(keep, dtype=np.int64)
        if len(keep) and (keep[0] < 0 or keep[-1] >= self.n_labels or np.any(np.diff(keep) <= 0)):
            raise InvalidInputError("keep must be ascending labels of the index")
        self._check_all()
        self.merge()  # the CSR then holds live postings only
        renumber = np.full(self.n_labels, -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        vocab_size = len(self._vocab)
        terms = np.repeat(np.arange(vocab_size, dtype=np.int64), np.diff(self._term_ptr))
        docs = renumber[self._post_doc]
        kept = docs >= 0  # the renumbering keeps label order, so docs stay ascending within a term
        out = BM25Index(self.params, self.length_skips)
        out._vocab = self._vocab.copy()
        out._post_doc, out._post_tf = docs[kept].astype(np.int32), np.asarray(self._post_tf)[kept]
        df = np.bincount(terms[kept], minlength=vocab_size)
        out._term_ptr = np.zeros(vocab_size + 1, dtype=np.int64)
        np.cumsum(df, out=out._term_ptr[1:])
        fwd_ptr = self._fwd_ptr.view()
        out._fwd_term.extend(self._fwd_term.view()[concat_ranges(fwd_ptr[keep], fwd_ptr[keep + 1])])
        out._fwd_ptr.extend(np.cumsum(fwd_ptr[keep + 1] - fwd_ptr[keep]))
        out._doc_len.extend(self._doc_len.view()[keep])
        live = self._live.view()[keep]
        out._live.extend(live)
        out._df.extend(df)
        out._n_live = int(np.count_nonzero(live))
        out._total_len_live = int(out._doc_len.view()[live].sum(dtype=np.int64))
        out._csr_has_dead = False
        out._csr_labels = out.n_labels
        return out

    # ------------------------------------------------------------------ reads

    def _postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Give back (labels, tfs) of every posting of a term, dead ones included."""
        docs: list[np.ndarray] = []
        tfs: list[np.ndarray] = []
        if term_id < len(self._term_ptr) - 1:
            self._check_term_ptr(term_id)
            lo, hi = self._term_ptr[term_id], self._term_ptr[term_id + 1]
            self._check_postings(lo, hi)
            docs.append(self._post_doc[lo:hi])
            tfs.append(self._post_tf[lo:hi])
        key = np.int32(term_id)  # the chunk's dtype: a mismatched key would copy the whole chunk
        for chunk_terms, chunk_docs, chunk_tfs in self._tail:
            lo = chunk_terms.searchsorted(key, side="left")
            hi = chunk_terms.searchsorted(key, side="right")
            if hi > lo:
                docs.append(chunk_docs[lo:hi])
                tfs.append(chunk_tfs[lo:hi])
        if len(docs) == 1:
            return docs[0], tfs[0]
        if not docs:
            return np.empty(0, np.int32), np.empty(0, np.int32)
        return np.concatenate(docs), np.concatenate(tfs)

    def _check_term_ptr(self, terms: Any) -> None:
        """Check the checksums of term_ptr around the term ids not checked since the load (CorruptionError)."""
        if self._checks is not None:
            terms = np.asarray(terms, np.int64)
            self._checks.check("term_ptr", terms, terms + 2)

    def _check_whole(self, names: tuple[str, ...]) -> None:
        """Check the whole of each of the load's arrays names not checked yet (CorruptionError)."""
        if self._checks is not None:
            for name in names:
                self._checks.check(name, 0, 1 << 62)

    def _check_postings(self, starts: Any, ends: Any) -> None:
        """Check the checksums of the CSR postings [start, end) not checked since the load (CorruptionError)."""
        if self._checks is not None:
            self._checks.check("post_doc", starts, ends)
            self._checks.check("post_tf", starts, ends)

    def _check_all(self) -> None:
        """Check every array of the load not checked yet, before a change reads them whole."""
        if self._checks is not None:
            self._checks.check_all()
            self._checks = None

    def _split_postings(self, term_id: int) -> tuple[np.ndarray, np.ndarray, int]:
        """_postings of a term, and how many of them (the first) are the CSR's."""
        docs, tfs = self._postings(term_id)
        # term_ptr's chunk was checked by _postings
        in_csr = int(self._term_ptr[term_id + 1] - self._term_ptr[term_id]) if term_id < len(self._term_ptr) - 1 else 0
        return docs, tfs, in_csr

    def _stats(self) -> tuple[float, np.ndarray]:
        """Give back (okapi's mean idf, per-label length norm), cached until the next change."""
        if self._stats_cache is None:
            mean_idf = 0.0
            if self.params.variant == "okapi":
                self._check_whole(("df",))
                mean_idf = scoring.mean_okapi_idf(self._df.view(), self._n_live)
            # avgdl is 0 only when every live term is one of length_skips: then lengths are all 0 too
            norm = scoring.length_norm(self.params, self._doc_len.view(), self.avgdl or 1.0)
            self._stats_cache = (mean_idf, norm)
        return self._stats_cache

    def get_scores(self, query_tokens: list[str]) -> np.ndarray:
        """Give back the score of every label (dead labels score 0), as rank_bm25's get_scores."""
        _check_query(query_tokens)
        scores = np.zeros(self.n_labels, dtype=np.float64)
        _, terms, mult = self._batch_terms([query_tokens])
        if len(terms) == 0:
            return scores
        docs, tf_part, starts, ends = self._gather(terms, None)
        mean_idf, _ = self._stats()
        idfs = scoring.idf(self.params, self._df.view()[terms], self._n_live, mean_idf) * mult
        if scoring.absent_weight(self.params):
            scores[self._live.view()] = float(np.sum(idfs)) * scoring.absent_weight(self.params)
        return scores + np.bincount(docs, weights=tf_part * np.repeat(idfs, ends - starts), minlength=self.n_labels)

    def search(self, query_tokens: list[str], k: int, allowed: np.ndarray | None = None) -> Ranked:
        """Give back the best k live documents holding a query term, with their scores.

        Best first, ties broken by smaller label. allowed: a bool mask over labels
        (length n_labels) of the documents that may be returned; None = every live one.
        Stats always come from every live document, whatever the mask.
        """
        _check_query(query_tokens)
        allowed = self._check_search_args(k, allowed)
        if self._tail or worth_pruning(self.n_labels, int(k), self.params):
            return self.search_many([query_tokens], k, allowed)[0]
        return self._search_one(query_tokens, int(k), allowed)

    def _check_search_args(self, k: Any, allowed: Any) -> np.ndarray | None:
        """Check a search's k and allowed mask (InvalidInputError); give back the mask as an array."""
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        if allowed is None:
            return None
        n = self.n_labels
        allowed = np.asarray(allowed)
        if allowed.dtype != np.bool_ or allowed.shape != (n,):
            raise InvalidInputError(
                f"allowed must be a bool array of shape ({n},), got {allowed.dtype} of shape {allowed.shape}"
            )
        return allowed

    def _search_one(self, query_tokens: list[str], k: int, allowed: np.ndarray | None) -> Ranked:
        """search() of one query over the CSR alone, scoring every posting: search_many's floats and ties
        (each label's terms summed in ascending term order from 0.0), with a handful of numpy calls."""
        empty = Ranked(np.empty(0, np.int64), np.empty(0, np.float64))
        if self._n_live == 0:
            return empty
        mult: dict[int, int] = {}
        for term in self._vocab.ids(query_tokens).tolist():
            if term >= 0:
                mult[term] = mult.get(term, 0) + 1
        if not mult:
            return empty
        terms = np.array(sorted(mult), np.int64)
        if terms[-1] >= len(self._term_ptr) - 1:  # a term the CSR does not span (only a tail would hold it)
            return self.search_many([query_tokens], k, allowed)[0]
        if self._checks is not None:
            self._checks.check("df", terms, terms + 1)
        df = self._df.view()[terms]
        present = df > 0
        if not present.all():
            terms, df = terms[present], df[present]
            if not len(terms):
                return empty
        mean_idf, norm = self._stats()
        idfs = scoring.idf(self.params, df, self._n_live, mean_idf)
        idfs = idfs * np.array([mult[t] for t in terms.tolist()], np.float64)
        self._check_term_ptr(terms)
        starts, ends = self._term_ptr[terms], self._term_ptr[terms + 1]
        self._check_postings(starts, ends)
        post_doc, post_tf = self._post_doc, self._post_tf
        if len(terms) == 1:
            lo, hi = int(starts[0]), int(ends[0])
            docs, tfs = post_doc[lo:hi], post_tf[lo:hi]
        else:
            ranges = list(zip(starts.tolist(), ends.tolist()))
            docs = np.concatenate([post_doc[lo:hi] for lo, hi in ranges])
            tfs = np.concatenate([post_tf[lo:hi] for lo, hi in ranges])
        docs = docs.astype(np.int64)  # an int32 index costs numpy a conversion at every gather below
        weights = scoring.tf_part(self.params, tfs, norm[docs])
        weights = weights * (idfs[0] if len(terms) == 1 else np.repeat(idfs, ends - starts))
        keep = self._live.view()[docs] if self._n_live < self.n_labels else None
        if allowed is not None:
            keep = allowed[docs] if keep is None else keep & allowed[docs]
        if keep is not None:
            docs, weights = docs[keep], weights[keep]
        if not len(docs):
            return empty
        if len(terms) == 1:  # each label once: nothing to sum
            best_scores, best_labels = top_k(weights, docs, k)
        elif self.n_labels <= lexical_batch.DENSE_FILL * len(docs):  # one row over every label
            best_scores, best_labels = top_k_of_row(np.bincount(docs, weights=weights, minlength=self.n_labels), docs, k)
        else:  # few hits: summed over the distinct labels
            labels, inverse = np.unique(docs, return_inverse=True)
            best_scores, best_labels = top_k(np.bincount(inverse, weights=weights, minlength=len(labels)), labels, k)
        absent = scoring.absent_weight(self.params)
        if absent:
            best_scores = best_scores + sum(idfs.tolist()) * absent  # from 0.0 in term order, as batch's bincount
        return Ranked(best_labels.astype(np.int64, copy=False), best_scores)

    def search_many(self, queries: list[list[str]], k: int, allowed: np.ndarray | None = None) -> list[Ranked]:
        """search() of each query's tokens, scored together (lexical.batch): the same hits and the same floats."""
        allowed = self._check_search_args(k, allowed)
        n = self.n_labels
        if not isinstance(queries, (list, tuple)):
            raise InvalidInputError(f"queries must be a list of token lists, got {type(queries).__name__}")
        for query in queries:
            _check_query(query)
        empty = Ranked(np.empty(0, np.int64), np.empty(0, np.float64))
        pair_query, pair_term, pair_mult = self._batch_terms(queries)
        if len(pair_query) == 0:
            return [empty for _ in queries]
        terms, pair_of_term = np.unique(pair_term, return_inverse=True)
        mean_idf, norm = self._stats()
        pair_idf = scoring.idf(self.params, self._df.view()[terms], self._n_live, mean_idf)[pair_of_term] * pair_mult
        if not worth_pruning(n, int(k), self.params):
            return self._rank(pair_query, pair_term, pair_idf, len(queries), int(k), allowed)
        # large collection, small k: each query alone, through the block maxima (blockmax.py)
        keep = None if self._n_live == n else self._live.view()
        if allowed is not None:
            keep = allowed if keep is None else keep & allowed
        blocks = self._block_maxima()
        bounds = np.searchsorted(pair_query, np.arange(len(queries) + 1)).tolist()
        results: list[Ranked] = []
        for q, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
            best = prune_top_k(blocks, self._split_postings, self.params, norm, self.avgdl or 1.0, pair_term[a:b],
                               pair_idf[a:b], int(k), keep) if b > a else None
            if best is not None:
                results.append(Ranked(*best))
            else:
                results.extend(self._rank(pair_query[a:b] - q, pair_term[a:b], pair_idf[a:b], 1, int(k), allowed))
        return results

    def _rank(self, pair_query: np.ndarray, pair_term: np.ndarray, pair_idf: np.ndarray, n_queries: int, k: int,
              allowed: np.ndarray | None) -> list[Ranked]:
        """The top k of each query by scoring every posting of its terms (lexical.batch)."""
        if len(pair_query) == 0:
            return [Ranked(np.empty(0, np.int64), np.empty(0, np.float64)) for _ in range(n_queries)]
        terms, pair_of_term = np.unique(pair_term, return_inverse=True)
        docs, tf_part, starts, ends = self._gather(terms, allowed)
        absent = scoring.absent_weight(self.params)
        constants = np.bincount(pair_query, weights=pair_idf, minlength=n_queries) * absent if absent else None
        return rank_pairs(pair_query, pair_of_term, pair_idf, starts, ends, docs, tf_part, n_queries,
                          self.n_labels, constants, k)

    def _block_maxima(self) -> BlockMaxima:
        """The CSR's block maxima, made now when a merge dropped them."""
        if self._blocks is None:
            self._check_all()  # every posting is read
            self._blocks = build_blocks(self._term_ptr, self._post_doc, self._post_tf, self._doc_len.view(),
                                        self._csr_labels)
        return self._blocks

    def _batch_terms(self, queries: list[list[str]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Give back the (query, term id, multiplicity) of each distinct live term of each query, by query then term."""
        lengths = [len(q) for q in queries]
        ids = self._vocab.ids([t for q in queries for t in q])
        if self._n_live == 0:
            ids = ids[:0]
        of_query = np.repeat(np.arange(len(queries), dtype=np.int64), lengths)
        known = ids >= 0
        vocab_size = max(len(self._vocab), 1)
        keys, mult = np.unique(of_query[known] * vocab_size + ids[known], return_counts=True)
        pair_query, pair_term = np.divmod(keys, vocab_size)
        if self._checks is not None:
            self._checks.check("df", pair_term, pair_term + 1)
        present = self._df.view()[pair_term] > 0
        return pair_query[present], pair_term[present], mult[present].astype(np.float64)

    def _gather(self, terms: np.ndarray, allowed: np.ndarray | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Give back (labels, tf parts) of the live, allowed postings of the terms, laid term after term
        (labels ascending within each), and each term's (start, end) in them."""
        if not self._tail:
            self._check_term_ptr(terms)
            starts, ends = self._term_ptr[terms], self._term_ptr[terms + 1]
            self._check_postings(starts, ends)
            index = concat_ranges(starts, ends)
            docs, tfs = self._post_doc[index], self._post_tf[index]
            lengths = ends - starts
        else:
            parts = [self._postings(int(t)) for t in terms]
            docs = np.concatenate([p[0] for p in parts])
            tfs = np.concatenate([p[1] for p in parts])
            lengths = np.array([len(p[0]) for p in parts], dtype=np.int64)
        docs = docs.astype(np.int64)  # an int32 index costs numpy a conversion at every gather below
        ends = np.cumsum(lengths)
        starts = ends - lengths
        keep = None
        if self._n_live < self.n_labels:
            keep = self._live.view()[docs]
        if allowed is not None:
            keep = allowed[docs] if keep is None else keep & allowed[docs]
        if keep is not None:
            kept = np.concatenate(([0], np.cumsum(keep)))
            starts, ends = kept[starts], kept[ends]
            docs, tfs = docs[keep], tfs[keep]
        _, norm = self._stats()
        return docs, scoring.tf_part(self.params, tfs, norm[docs]), starts, ends

    # ------------------------------------------------------------------ persistence (bm25_files)

    def save(self, directory: Path, generation: int, terms: dict[str, Any] | None = None) -> None:
        """Write the index to directory atomically (arrays as .npy plus a small JSON).

        terms: a JSON-able description of how the terms were made (tokenizer and its version),
        kept beside the arrays so a load with another description rebuilds instead.
        """
        bm25_files.save(self, directory, generation, terms)

    @classmethod
    def load(
        cls, directory: Path, generation: int, params: BM25, max_labels: int, terms: dict[str, Any] | None = None,
        length_skips: tuple[str, ...] = (),
    ) -> "BM25Index | None":
        """Give back the saved index (memory-mapped) with the deltas appended to it that fit in max_labels
        (cut to max_labels when the save covers more: a newer commit than the caller's); None when
        missing, damaged, or of another generation or terms description.
        length_skips: the constructor's, for documents added later."""
        return bm25_files.load(cls, directory, generation, params, max_labels, terms, length_skips)

    def follow(self, directory: Path, generation: int, max_labels: int, terms: dict[str, Any] | None = None) -> bool:
        """Add the saved deltas that continue this index (up to max_labels); False when the save in
        directory does not continue it (another generation or terms, or a newer save: load it instead)."""
        return bm25_files.follow(self, directory, generation, max_labels, terms)

    def export_arrays(self) -> dict[str, np.ndarray]:
        """Give back the whole index as the 1-d arrays of ARRAY_DTYPES (views: do not modify them), the block
        maxima included (made now when missing); from_arrays gives back an index equal to this one."""
        return bm25_files.export_arrays(self)

    @classmethod
    def from_arrays(
        cls, params: BM25, arrays: dict[str, np.ndarray], *, n_labels: int, vocabulary_size: int,
        length_skips: tuple[str, ...] = (), checks: LazyChecks | None = None,
    ) -> "BM25Index":
        """An index over arrays export_arrays gave (adopted, not copied: memory maps stay maps); checks: their
        lazy checksums (SavedArrays.load). Raises CorruptionError when they do not fit together."""
        return bm25_files.from_arrays(cls, params, arrays, n_labels=n_labels, vocabulary_size=vocabulary_size,
                                      length_skips=length_skips, checks=checks)


def _check_query(query_tokens: Any) -> None:
    if isinstance(query_tokens, str) or not isinstance(query_tokens, (list, tuple)):
        raise InvalidInputError(f"query_tokens must be a list of str, got {type(query_tokens).__name__}")
