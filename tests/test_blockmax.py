"""Block-max pruning (gyeol.lexical.blockmax) gives exactly the top k of exhaustive scoring: the same labels,
the same floats, ties to the smaller label, on random collections with adds, deletes, masks and saves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gyeol.config import BM25
from gyeol.lexical import BM25Index, blockmax
from gyeol.lexical import bm25 as bm25_module

from test_bm25 import VOCAB, expected_top, make_queries, surviving_reference, zipf_corpus

VARIANTS = [BM25(variant="okapi"), BM25(variant="lucene"), BM25(variant="bm25l"),
            BM25(variant="bm25l", k1=0.9, b=0.4, delta=0.3), BM25(variant="okapi", k1=2.0, b=1.0)]


@pytest.fixture
def small_windows(monkeypatch):
    """Windows of 16 labels and maxima for every term of 8 postings or more, so a few hundred documents prune."""
    monkeypatch.setattr(blockmax, "WINDOW_BITS", 4)
    monkeypatch.setattr(blockmax, "LONG_POSTINGS", 8)


def pruned_and_exhaustive(index: BM25Index, queries, k: int, allowed, monkeypatch):
    monkeypatch.setattr(blockmax, "PRUNE_MIN_LABELS", 0)
    monkeypatch.setattr(blockmax, "PRUNE_MAX_K", 10.0)
    pruned = index.search_many(queries, k, allowed=allowed)
    monkeypatch.setattr(blockmax, "PRUNE_MIN_LABELS", 1 << 62)
    exhaustive = index.search_many(queries, k, allowed=allowed)
    return pruned, exhaustive


def assert_same(pruned, exhaustive) -> None:
    assert len(pruned) == len(exhaustive)
    for a, b in zip(pruned, exhaustive):
        assert a.labels.dtype == np.int64 and a.scores.dtype == np.float64
        assert a.labels.tolist() == b.labels.tolist()
        assert a.scores.tolist() == b.scores.tolist()  # bit for bit


def test_pruning_looks_at_few_labels(small_windows, monkeypatch):
    """The bounds do prune: a query of a rare and two common terms scores a few candidates, not every posting."""
    corpus = zipf_corpus(2000, seed=3)
    index = BM25Index(BM25())
    index.add(corpus)
    index.merge()
    looked_up: list[int] = []
    answered: list[bool] = []
    real_exact, real_prune = blockmax._exact, blockmax.prune_top_k

    def exact(labels, lists, *args, **kwargs):
        looked_up.append(len(labels) * len(lists))
        return real_exact(labels, lists, *args, **kwargs)

    def prune(*args, **kwargs):
        got = real_prune(*args, **kwargs)
        answered.append(got is not None)
        return got

    monkeypatch.setattr(blockmax, "_exact", exact)
    monkeypatch.setattr(bm25_module, "prune_top_k", prune)
    query = ["w3", "w300", "w7"]
    pruned, exhaustive = pruned_and_exhaustive(index, [query], 5, None, monkeypatch)
    assert_same(pruned, exhaustive)
    postings = sum(sum(term in set(doc) for doc in corpus) for term in query)
    assert answered == [True] and 0 < sum(looked_up) < postings / 4


@pytest.mark.parametrize("params", VARIANTS, ids=lambda p: f"{p.variant}-k1={p.k1}-b={p.b}")
def test_pruned_equals_exhaustive_with_deletes_masks_and_tail(small_windows, monkeypatch, params):
    corpus = zipf_corpus(1500, seed=5)
    index = BM25Index(params)
    index.add(corpus[:1000])
    index.merge()
    index.add(corpus[1000:])  # a tail beyond the windows, scored in the first round
    rng = np.random.default_rng(4)
    victims = rng.choice(len(corpus), size=300, replace=False)
    index.delete(victims)
    live = np.ones(len(corpus), bool)
    live[victims] = False
    queries = make_queries(seed=9, n=30) + [["w0"], ["w0", "w1"], ["w3", "w3", "w40"], []]
    allowed = rng.random(len(corpus)) < 0.3
    for mask in (None, allowed):
        for k in (1, 2, 7, 10, 50, 400, 2000):
            pruned, exhaustive = pruned_and_exhaustive(index, queries, k, mask, monkeypatch)
            assert_same(pruned, exhaustive)
    # and against rank_bm25 on the survivors (the exhaustive path's own reference)
    live_labels, survivors, _ = surviving_reference(corpus, live, [], params)
    for query in queries[:8]:
        if params.variant == "lucene":
            break
        ref = surviving_reference(corpus, live, query, params)[2]
        want_scores, want_labels = expected_top(survivors, ref, query, 10, live_labels)
        hits = pruned_and_exhaustive(index, [query], 10, None, monkeypatch)[0][0]
        np.testing.assert_allclose(hits.scores, want_scores, atol=1e-6)


def test_ties_go_to_the_smaller_label(small_windows, monkeypatch):
    docs = [["a", "b"], ["b"], ["a", "b"], ["c", "a"], ["a", "b"]] * 200
    index = BM25Index(BM25())
    index.add(docs)
    for k in (1, 3, 10, 250):
        pruned, exhaustive = pruned_and_exhaustive(index, [["a", "b"], ["c"], ["b"]], k, None, monkeypatch)
        assert_same(pruned, exhaustive)
        for hits in pruned:  # equal scores in label order
            same = np.diff(hits.scores) == 0
            assert (np.diff(hits.labels)[same] > 0).all()
        assert pruned[1].scores[0] == pruned[1].scores[-1] and pruned[1].labels[0] == 3


def test_saved_maxima_load_and_damaged_ones_rebuild(small_windows, monkeypatch, tmp_path: Path):
    corpus = zipf_corpus(800, seed=8)
    index = BM25Index(BM25())
    index.add(corpus)
    index.save(tmp_path, generation=1)
    loaded = BM25Index.load(tmp_path, 1, BM25(), max_labels=len(corpus))
    assert loaded is not None
    queries = make_queries(seed=2, n=15)
    assert_same(pruned_and_exhaustive(loaded, queries, 10, None, monkeypatch)[0],
                pruned_and_exhaustive(index, queries, 10, None, monkeypatch)[1])
    # another window size: the saved maxima are left out and made again
    monkeypatch.setattr(blockmax, "WINDOW_BITS", 5)
    again = BM25Index.load(tmp_path, 1, BM25(), max_labels=len(corpus))
    assert_same(*pruned_and_exhaustive(again, queries, 10, None, monkeypatch))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10**6), n_docs=st.integers(1, 400), batches=st.integers(1, 4),
       deleted=st.floats(0, 0.9), masked=st.booleans(), bits=st.integers(1, 6), long=st.integers(1, 20),
       variant=st.sampled_from(["okapi", "lucene", "bm25l"]), k=st.integers(1, 450))
def test_random_collections(monkeypatch, seed, n_docs, batches, deleted, masked, bits, long, variant, k):
    """Any collection, any window size and threshold, any k: the pruned top k is the exhaustive one."""
    monkeypatch.setattr(blockmax, "WINDOW_BITS", bits)
    monkeypatch.setattr(blockmax, "LONG_POSTINGS", long)
    rng = np.random.default_rng(seed)
    vocab = VOCAB[: int(rng.integers(5, 200))]
    corpus = zipf_corpus(n_docs, seed=seed, vocab=vocab)
    index = BM25Index(BM25(variant=variant))
    for i, part in enumerate(np.array_split(np.arange(n_docs), batches)):
        index.add([corpus[j] for j in part])
        if i == 0:
            index.merge()
    index.delete(np.flatnonzero(rng.random(n_docs) < deleted))
    allowed = rng.random(n_docs) < 0.5 if masked else None
    queries = [[vocab[int(t) % len(vocab)] for t in rng.zipf(1.3, size=int(rng.integers(1, 6)))] for _ in range(6)]
    assert_same(*pruned_and_exhaustive(index, queries, k, allowed, monkeypatch))
