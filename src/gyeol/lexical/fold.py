"""Fold a BM25 index's tail chunks into its CSR postings in bounded memory.

The postings of a term come out in the order of their runs (the CSR first, then each tail chunk
in add order) and, within a run, in the run's order: the same arrays a stable argsort by term of
the runs' concatenation gives, which is how the fold was done before. That way cost about 45
bytes per posting at once (the concatenated term, label and tf arrays, their filtered copies, an
int64 order and the gathered outputs): 4.5 GB for the 100 million postings of a million
passages, in every tail fold of a writer and in its closing save. Here each posting is placed
directly at its final position: one pass counts the live postings per term (the new term_ptr),
a second writes every run's live postings slice by slice into the two output arrays, so memory
is the outputs plus a few arrays of SLICE_POSTINGS entries.
"""

from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np

# postings read per step: the temporaries of a step are a few times this many 8-byte entries
SLICE_POSTINGS = 1 << 20

Run = tuple[np.ndarray, np.ndarray, np.ndarray]  # (term, label, tf) of one tail chunk, term-sorted


def fold_postings(
    term_ptr: np.ndarray, post_doc: np.ndarray, post_tf: np.ndarray, tail: Sequence[Run], live: np.ndarray | None,
    vocab_size: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(term_ptr, post_doc, post_tf) of the CSR with the tail chunks folded in and the postings of dead
    labels dropped (live: a bool per label; None when every label is live). Nothing given is changed."""
    doc_dtype = np.result_type(post_doc, *(run[1] for run in tail))
    tf_dtype = np.result_type(post_tf, *(run[2] for run in tail))
    counts = np.zeros(vocab_size, np.int64)
    for t0, t1, lo, hi in _csr_slices(term_ptr):
        counts[t0:t1] = np.diff(term_ptr[t0 : t1 + 1]) if live is None else _live_per_term(
            term_ptr[t0 : t1 + 1] - lo, live[post_doc[lo:hi]])
    csr_kept = counts[: len(term_ptr) - 1].copy()  # the CSR's live postings per term, for its placement
    for terms, docs, _ in tail:
        for lo, hi in _slices(len(terms)):
            keep = None if live is None else live[docs[lo:hi]]
            kt = terms[lo:hi] if keep is None else terms[lo:hi][keep]
            starts, run_len = _runs(kt)
            counts[kt[starts]] += run_len
    new_ptr = np.zeros(vocab_size + 1, np.int64)
    np.cumsum(counts, out=new_ptr[1:])
    del counts
    out_doc = np.empty(int(new_ptr[-1]), doc_dtype)
    out_tf = np.empty(int(new_ptr[-1]), tf_dtype)
    fill = new_ptr[:-1].copy()  # where each term's next posting goes
    for t0, t1, lo, hi in _csr_slices(term_ptr):
        kept = csr_kept[t0:t1]
        docs, tfs = post_doc[lo:hi], post_tf[lo:hi]
        if live is not None:
            keep = live[docs]
            docs, tfs = docs[keep], tfs[keep]
        first = np.cumsum(kept) - kept  # each term's first kept posting within the slice
        pos = np.repeat(fill[t0:t1] - first, kept) + np.arange(len(docs))
        out_doc[pos], out_tf[pos] = docs, tfs
        fill[t0:t1] += kept
    for terms, docs, tfs in tail:
        for lo, hi in _slices(len(terms)):
            kt, kd, kf = terms[lo:hi], docs[lo:hi], tfs[lo:hi]
            if live is not None:
                keep = live[kd]
                kt, kd, kf = kt[keep], kd[keep], kf[keep]
            starts, run_len = _runs(kt)
            pos = fill[kt] + (np.arange(len(kt)) - np.repeat(starts, run_len))
            out_doc[pos], out_tf[pos] = kd, kf
            fill[kt[starts]] += run_len
    return new_ptr, out_doc, out_tf


def _slices(n: int) -> Iterator[tuple[int, int]]:
    for lo in range(0, n, SLICE_POSTINGS):
        yield lo, min(n, lo + SLICE_POSTINGS)


def _runs(sorted_terms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal terms in a sorted array."""
    m = len(sorted_terms)
    if m == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    starts = np.flatnonzero(np.concatenate(([True], sorted_terms[1:] != sorted_terms[:-1])))
    return starts, np.diff(np.append(starts, m))


def _live_per_term(bounds: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """Live postings of each term of a slice: bounds are the terms' starts and the end, within the slice."""
    cum = np.zeros(len(keep) + 1, np.int64)
    np.cumsum(keep, out=cum[1:])
    return cum[bounds[1:]] - cum[bounds[:-1]]


def _csr_slices(term_ptr: np.ndarray) -> Iterator[tuple[int, int, int, int]]:
    """Whole terms t0..t1-1 of the CSR and their postings lo..hi-1, about SLICE_POSTINGS postings at a
    time (a longer term alone); both passes of a fold take the same slices."""
    n_terms = len(term_ptr) - 1
    t0 = 0
    while t0 < n_terms:
        lo = int(term_ptr[t0])
        t1 = int(np.searchsorted(term_ptr, lo + SLICE_POSTINGS, side="right")) - 1
        t1 = min(max(t1, t0 + 1), n_terms)
        yield t0, t1, lo, int(term_ptr[t1])
        t0 = t1
