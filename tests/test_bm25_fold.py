"""lexical.fold.fold_postings against the stable argsort by term of the runs' concatenation (the old fold)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gyeol.lexical import fold
from gyeol.lexical.fold import fold_postings


def reference(term_ptr, post_doc, post_tf, tail, live, vocab_size):
    base_terms = np.repeat(np.arange(len(term_ptr) - 1, dtype=np.int32), np.diff(term_ptr))
    terms = np.concatenate([base_terms] + [c[0] for c in tail])
    docs = np.concatenate([post_doc] + [c[1] for c in tail])
    tfs = np.concatenate([post_tf] + [c[2] for c in tail])
    if live is not None:
        keep = live[docs]
        terms, docs, tfs = terms[keep], docs[keep], tfs[keep]
    order = np.argsort(terms, kind="stable")
    ptr = np.zeros(vocab_size + 1, dtype=np.int64)
    np.cumsum(np.bincount(terms, minlength=vocab_size), out=ptr[1:])
    return ptr, docs[order], tfs[order]


def make(seed: int, n_csr_terms: int, vocab: int, n_csr_docs: int, chunks: list[int], dead: float):
    """A CSR over labels 0..n_csr_docs-1 and tail chunks of the next labels, as BM25Index holds them."""
    rng = np.random.default_rng(seed)
    pairs = [(t, d) for d in range(n_csr_docs) for t in rng.choice(n_csr_terms, size=min(n_csr_terms, 3),
                                                                   replace=False)] if n_csr_terms else []
    pairs.sort()
    term_ptr = np.zeros(n_csr_terms + 1, np.int64)
    if pairs:
        np.cumsum(np.bincount([t for t, _ in pairs], minlength=n_csr_terms), out=term_ptr[1:])
    post_doc = np.array([d for _, d in pairs], np.int32)
    post_tf = rng.integers(1, 9, len(pairs)).astype(np.int32)
    tail, first = [], n_csr_docs
    for n_docs in chunks:
        terms = np.concatenate([rng.choice(vocab, size=min(vocab, 4), replace=False) for _ in range(n_docs)]
                               ).astype(np.int64) if n_docs else np.empty(0, np.int64)
        docs = np.repeat(np.arange(first, first + n_docs), min(vocab, 4)).astype(np.int32)
        order = np.argsort(terms, kind="stable")
        tail.append((terms[order], docs[order], rng.integers(1, 9, len(terms)).astype(np.int32)))
        first += n_docs
    live = rng.random(first) >= dead if dead else None
    return term_ptr, post_doc, post_tf, tail, live, vocab


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n_csr_terms=st.integers(0, 12), extra_terms=st.integers(0, 8),
       n_csr_docs=st.integers(0, 40), chunks=st.lists(st.integers(0, 15), max_size=4),
       dead=st.sampled_from([0.0, 0.3, 1.0]), slice_size=st.sampled_from([1, 3, 7, 1 << 20]))
def test_fold_equals_the_stable_sort(seed, n_csr_terms, extra_terms, n_csr_docs, chunks, dead, slice_size) -> None:
    args = make(seed, n_csr_terms, n_csr_terms + extra_terms, n_csr_docs if n_csr_terms else 0, chunks, dead)
    old = fold.SLICE_POSTINGS
    fold.SLICE_POSTINGS = slice_size  # slices that split terms and chunks anywhere
    try:
        got = fold_postings(*args)
    finally:
        fold.SLICE_POSTINGS = old
    want = reference(*args)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)


def test_fold_changes_nothing_it_was_given() -> None:
    args = make(1, 6, 9, 30, [10, 5], 0.3)
    before = [a.copy() for a in args[:3]] + [tuple(c.copy() for c in run) for run in args[3]]
    fold_postings(*args)
    for a, b in zip(args[:3], before[:3]):
        np.testing.assert_array_equal(a, b)
    for run, saved in zip(args[3], before[3:]):
        for a, b in zip(run, saved):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dead", [0.0, 0.2])
def test_bm25_scores_after_a_fold_are_unchanged(dead) -> None:
    """An index folded through the new path scores as the same index unfolded (tail searched as chunks)."""
    from gyeol import BM25
    from gyeol.lexical.bm25 import BM25Index
    from gyeol.lexical.counts import count_terms

    rng = np.random.default_rng(3)
    words = [f"w{i}" for i in range(300)]
    docs = [[words[j] for j in rng.integers(0, 300, rng.integers(1, 30))] for _ in range(2000)]
    index = BM25Index(BM25())
    for lo in range(0, 2000, 100):
        index.add_counts(count_terms(docs[lo:lo + 100]), merge=False)
    if dead:
        index.delete(np.flatnonzero(rng.random(2000) < dead))
    queries = [[words[j] for j in rng.integers(0, 300, 3)] for _ in range(30)]
    before = [index.search(q, 20) for q in queries]
    index.merge()
    assert not index._tail
    after = [index.search(q, 20) for q in queries]
    for a, b in zip(before, after):
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_array_equal(a.scores, b.scores)
