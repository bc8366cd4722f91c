"""Exact top-k with block-max pruning over label windows (BM25Index.search's path on large collections).

The labels are cut into fixed *windows* of 2**bits labels. For every term with at least
LONG_POSTINGS postings, BlockMaxima records, per window the term appears in, where its postings in
that window start and two impacts that bound any of them: the largest term frequency and the
smallest document length there. A term's tf part grows with the frequency and shrinks with the
length in every variant (scoring.tf_part), so `tf_part(max tf, norm(min length)) * idf` bounds
the term's contribution to every label of the window whatever N, avgdl, the deletes or the
parameters: the maxima are a property of the postings only, saved with them and rebuilt after a
merge. (This is the docid-aligned block-max layout of Dimopoulos, Nepomnyachiy and Suel's "Optimizing
top-k document retrieval strategies for block-max indexes", WSDM 2013: all terms share the window
boundaries, so the bound of a window is a sum, computed for every window at once in numpy.)

A query (prune_top_k) is block-max MaxScore, vectorised: (1) a floor, the exact k-th best score among the
labels of its rarest terms (scored by binary search into every term's postings); (2) the terms whose
bounds sum below the floor are optional, as no label holding only them can reach it; the candidates are
the labels of the other terms, kept when their exact partial score plus the optional terms' window
bounds reaches the floor; (3) those are completed by binary search into the optional terms' postings.
Every label scoring at least the floor is scored exactly, each summed from 0.0 in the query's term order
(exhaustive scoring's floats), and ranked by score, ties to the smaller label. Labels appended since the
last merge are bounded by their own postings. When that would look at most postings anyway, the caller
scores exhaustively (None).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from .._arrays import top_k
from ..config import BM25
from ..errors import CorruptionError
from . import scoring

__all__ = ["BlockMaxima", "BLOCK_DTYPES", "build_blocks", "prune_top_k", "worth_pruning"]

WINDOW_BITS = 10  # 1,024 labels a window
LONG_POSTINGS = 2048  # terms with fewer postings are scored whole: no maxima kept
# below, exhaustive scoring is as fast: measured with benchmarks/keyword_scale.py's documents (k=10, 2 cores),
# batched exhaustive/pruned QPS 1,280/915 at 200k, 208/310 at 1M; single-query p50 0.50/0.65 ms at 150k,
# 1.01/0.81 ms at 300k, 1.87/1.04 ms at 500k
PRUNE_MIN_LABELS = 1 << 18
PRUNE_MAX_K = 1 / 4096  # of the labels: a larger k leaves too little to skip
_SLACK = 1.0 + 1e-9  # bounds are raised by this much: float sums may differ from the real ones by ulps

_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)
#: The arrays of a saved BlockMaxima, beside the index's (BM25Index.export_arrays).
BLOCK_DTYPES: dict[str, np.dtype] = {
    "blk_ptr": _I64, "blk_win": _I32, "blk_start": _I64, "blk_tf": _I32, "blk_dl": _I32,
}


@dataclass(frozen=True)
class BlockMaxima:
    """Per term t, pairs ptr[t]:ptr[t+1]: the windows (ascending) holding its postings, the offset of the
    first posting of each in the postings, and the largest tf / smallest document length there."""

    bits: int
    n_labels: int  # labels the windows cover (the postings' labels are all below it)
    ptr: np.ndarray
    win: np.ndarray
    start: np.ndarray
    max_tf: np.ndarray
    min_dl: np.ndarray
    # a load's lazy checksums (LazyChecks.check): each term's maxima are checked, and their windows, when first read
    check: Callable[[str, np.ndarray | int, np.ndarray | int], None] | None = field(default=None, compare=False)

    def windows(self, term: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(windows, largest tf, smallest length) of the term's maxima (empty for a term without them).

        CorruptionError when a lazily checked chunk is damaged or the windows are out of range."""
        check = self.check
        if term + 1 >= len(self.ptr):
            return self.win[:0], self.max_tf[:0], self.min_dl[:0]
        if check is not None:
            check("blk_ptr", term, term + 2)
        a, b = int(self.ptr[term]), int(self.ptr[term + 1])
        if b <= a:
            return self.win[:0], self.max_tf[:0], self.min_dl[:0]
        if check is not None:
            for name in ("blk_win", "blk_tf", "blk_dl"):
                check(name, a, b)
        win = self.win[a:b]
        if not 0 <= a < b <= len(self.win) or win[0] < 0 or win[-1] > self.n_labels >> self.bits:
            raise CorruptionError(f"inconsistent block maxima of term {term}")
        return win, self.max_tf[a:b], self.min_dl[a:b]

    def to_arrays(self) -> dict[str, np.ndarray]:
        return {"blk_ptr": self.ptr, "blk_win": self.win, "blk_start": self.start, "blk_tf": self.max_tf,
                "blk_dl": self.min_dl}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], bits: int, n_labels: int, term_ptr: np.ndarray,
                    check: Callable[[str, np.ndarray | int, np.ndarray | int], None] | None = None) -> "BlockMaxima":
        """The maxima to_arrays gave, checked against the postings' term_ptr; CorruptionError when they do not fit.

        check: a load's lazy checksums (LazyChecks.check); then only the sizes are checked now, and each term's
        maxima when a query first reads them (windows), so a load reads none of them."""
        ptr, win, start = arrays["blk_ptr"], arrays["blk_win"], arrays["blk_start"]
        n_pairs = len(win)
        if check is not None and len(ptr):
            check("blk_ptr", np.array([0, len(ptr) - 1]), np.array([1, len(ptr)]))
        ok = (len(ptr) == len(term_ptr) and ptr[0] == 0 and ptr[-1] == n_pairs
              and len(start) == len(arrays["blk_tf"]) == len(arrays["blk_dl"]) == n_pairs)
        if ok and check is not None:
            return cls(bits, n_labels, ptr, win, start, arrays["blk_tf"], arrays["blk_dl"], check)
        ok = ok and bool(np.all(np.diff(ptr) >= 0))
        if ok and n_pairs:
            owner = np.repeat(np.arange(len(ptr) - 1), np.diff(ptr))
            n_windows = (n_labels >> bits) + 1
            ok = (bool(np.all((start >= term_ptr[owner]) & (start < term_ptr[owner + 1])))
                  and int(win.min()) >= 0 and int(win.max()) < n_windows)
        if not ok:
            raise CorruptionError("inconsistent block maxima")
        return cls(bits, n_labels, ptr, win, start, arrays["blk_tf"], arrays["blk_dl"])


def build_blocks(term_ptr: np.ndarray, post_doc: np.ndarray, post_tf: np.ndarray, doc_len: np.ndarray,
                 n_labels: int) -> BlockMaxima:
    """The maxima of CSR postings (labels ascending within each term), one numpy pass per long term."""
    bits = WINDOW_BITS
    lengths = np.diff(term_ptr)
    counts = np.zeros(len(lengths), np.int64)
    parts: list[tuple[np.ndarray, ...]] = []
    for t in np.flatnonzero(lengths >= LONG_POSTINGS).tolist():
        lo, hi = int(term_ptr[t]), int(term_ptr[t + 1])
        docs = post_doc[lo:hi]
        wins = docs >> bits
        first = np.flatnonzero(np.concatenate(([True], wins[1:] != wins[:-1])))
        parts.append((wins[first].astype(np.int32), first + lo, np.maximum.reduceat(post_tf[lo:hi], first),
                      np.minimum.reduceat(doc_len[docs], first)))
        counts[t] = len(first)
    ptr = np.zeros(len(term_ptr), np.int64)
    np.cumsum(counts, out=ptr[1:])

    def column(i: int, dtype: np.dtype) -> np.ndarray:
        return np.concatenate([p[i] for p in parts]).astype(dtype) if parts else np.empty(0, dtype)

    return BlockMaxima(bits, n_labels, ptr, column(0, _I32), column(1, _I64), column(2, _I32), column(3, _I32))


def worth_pruning(n_labels: int, k: int, params: BM25) -> bool:
    """Whether a query of k hits on n_labels labels goes through prune_top_k (bm25plus never: its constant
    is added after ranking, where float rounding could merge scores the bound told apart)."""
    return n_labels >= PRUNE_MIN_LABELS and k <= n_labels * PRUNE_MAX_K and params.variant != "bm25plus"


# a term's postings, labels ascending: (labels, tfs, how many of them come first from the CSR)
Postings = Callable[[int], tuple[np.ndarray, np.ndarray, int]]


def prune_top_k(
    blocks: BlockMaxima, postings: Postings, params: BM25, norm: np.ndarray, avgdl: float, terms: np.ndarray,
    weights: np.ndarray, k: int, keep: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray] | None:
    """The k best (labels, scores) of one query, best first, ties to the smaller label; None when pruning
    cannot help (a weight <= 0, fewer than k candidates, or most postings would be looked at): the caller
    then scores exhaustively.

    terms ascending with their weights (idf times multiplicity); norm: scoring.length_norm of every label
    at avgdl; keep: bool per label of the labels that may be hits (live and allowed), None = all.
    """
    if len(terms) == 0 or not bool(np.all(weights > 0)):
        return None
    lists = [postings(t) for t in terms.tolist()]
    lengths = np.array([len(docs) for docs, _, _ in lists])
    total = int(lengths.sum())
    if total < 4 * k:
        return None
    bits = blocks.bits
    n_windows = (len(norm) >> bits) + 1
    window_bounds = np.zeros((len(terms), n_windows))  # of each term, per window: above any of its contributions
    for i, (t, w, (docs, tfs, n_csr)) in enumerate(zip(terms.tolist(), weights.tolist(), lists)):
        win, max_tf, min_dl = blocks.windows(t)
        if len(win):
            lengths_norm = scoring.length_norm(params, min_dl, avgdl)
            window_bounds[i, win] = scoring.tf_part(params, max_tf, lengths_norm) * w
            rest = slice(n_csr, None)  # postings beyond the maxima: bound by their own largest contribution
        else:
            rest = slice(0, None)
        docs, tfs = docs[rest], tfs[rest]
        if len(docs):  # per window, the largest contribution
            wins = docs >> bits
            first = np.flatnonzero(np.concatenate(([True], wins[1:] != wins[:-1])))
            top = np.maximum.reduceat(scoring.tf_part(params, tfs, norm[docs]) * w, first)
            window_bounds[i, wins[first]] = np.maximum(window_bounds[i, wins[first]], top)
    window_bounds *= _SLACK
    term_bounds = window_bounds.max(axis=1)

    # 1. a floor: the exact k-th best score among the labels of the rarest terms
    by_length = np.argsort(lengths, kind="stable")
    enough = int(np.searchsorted(np.cumsum(lengths[by_length]), _FLOOR_POSTINGS * k)) + 1
    seed = _candidates([lists[i][0] for i in by_length[:enough]], keep)
    if len(seed) < k:
        return None
    seed_scores = _exact(seed, lists, weights, params, norm)
    floor = float(np.partition(seed_scores, len(seed) - k)[len(seed) - k])
    # 2. MaxScore: the terms whose bounds sum below the floor cannot make a hit alone; only labels holding
    # another term are candidates, and only those whose bound with the block maxima reaches the floor
    by_bound = np.argsort(term_bounds, kind="stable")
    n_optional = int(np.searchsorted(np.cumsum(term_bounds[by_bound]) * _SLACK, floor, side="left"))
    optional = np.sort(by_bound[:n_optional])
    essential = np.sort(by_bound[n_optional:])
    if int(lengths[essential].sum()) * max(1, n_optional) > total:  # looking up costs more than scoring it all
        return None
    if len(essential) == 1:  # the candidates are its postings: their contributions need no look-up
        docs, tfs, _ = lists[int(essential[0])]
        if keep is not None:
            kept = keep[docs]
            docs, tfs = docs[kept], tfs[kept]
        cands = docs.astype(np.int64)
        partial = (scoring.tf_part(params, tfs, norm[docs]) * float(weights[essential[0]]))[None, :]
    else:
        cands = _candidates([lists[i][0] for i in essential], keep)
        partial = _exact(cands, [lists[i] for i in essential], weights[essential], params, norm, each=True)
    bound = partial.sum(axis=0) + window_bounds[optional][:, cands >> bits].sum(axis=0)
    alive = bound * _SLACK >= floor
    cands, partial = cands[alive], partial[:, alive]
    completed = _exact(cands, [lists[i] for i in optional], weights[optional], params, norm, each=True)
    scores = np.zeros(len(cands))
    parts = dict(zip(essential.tolist(), partial)) | dict(zip(optional.tolist(), completed))
    for i in range(len(terms)):  # the query's term order, from 0.0: exhaustive scoring's floats
        scores += parts[i]
    labels = np.concatenate((seed, cands))
    scores = np.concatenate((seed_scores, scores))
    labels, first = np.unique(labels, return_index=True)  # a label in both got the same float twice
    scores = scores[first]
    best_scores, best_labels = top_k(scores, labels, k)  # labels ascending: ties to the smaller one
    return best_labels, best_scores


_FLOOR_POSTINGS = 2  # the floor scores the rarest terms' labels until there are this many per hit asked


def _candidates(label_lists: list[np.ndarray], keep: np.ndarray | None) -> np.ndarray:
    """The distinct labels (ascending) of the lists that keep allows."""
    labels = np.asarray(label_lists[0]).astype(np.int64)
    if len(label_lists) > 1:  # sorted and deduplicated by hand: a bare np.unique imports numpy.ma (25 ms) cold
        labels = np.sort(np.concatenate(label_lists)).astype(np.int64, copy=False)
        labels = labels[np.concatenate(([True], labels[1:] != labels[:-1]))]
    return labels[keep[labels]] if keep is not None else labels


def _exact(labels: np.ndarray, lists: list, weights: np.ndarray, params: BM25, norm: np.ndarray,
           each: bool = False) -> np.ndarray:
    """The scores of labels (ascending) summed over the terms of lists in order from 0.0 (each: one row per term
    instead, 0 where a label lacks the term), each term's postings looked up by binary search."""
    rows = np.zeros((len(lists), len(labels))) if each else None
    total = np.zeros(len(labels))
    for i, ((docs, tfs, _), w) in enumerate(zip(lists, weights.tolist())):
        at = np.searchsorted(docs, labels)
        found = at < len(docs)
        found[found] = docs[at[found]] == labels[found]
        at = at[found]
        contrib = np.zeros(len(labels))
        contrib[found] = scoring.tf_part(params, tfs[at], norm[docs[at]]) * w
        if rows is not None:
            rows[i] = contrib
        else:
            total += contrib
    return rows if rows is not None else total
