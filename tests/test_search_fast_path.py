"""The single-vector fast paths (search._plan_single_vector, run_search's one-query branch, strings_at)
give exactly what the general paths give, and leave every bad input to the general checks."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

import gyeol
from gyeol import search as search_mod
from gyeol.errors import DimensionMismatchError, InvalidInputError
from gyeol.storage.rows import string_index, strings_at

DIM = 8


def _general(vector, **kw):
    """plan_search with the fast path switched off."""
    args = dict(single=True, dim=DIM, metric="cosine", k=5, mode="hybrid", alpha=None, fusion=None, rrf_k=60,
                candidates=None)
    args.update(kw)
    saved = search_mod._plan_single_vector
    search_mod._plan_single_vector = lambda *a: None
    try:
        return search_mod.plan_search(None, vector, **args)
    finally:
        search_mod._plan_single_vector = saved


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("mode", ["vector", "hybrid"])
def test_fast_plan_equals_general_plan(metric, mode):
    v = np.random.default_rng(0).standard_normal(DIM).astype(np.float32)
    args = dict(single=True, dim=DIM, metric=metric, k=5, mode=mode, alpha=None, fusion=None, rrf_k=60,
                candidates=None)
    assert search_mod._plan_single_vector(v, DIM, metric, 5, mode, None, None, 60, None) is not None
    fast = search_mod.plan_search(None, v, **args)
    slow = _general(v, metric=metric, mode=mode)
    for field in ("queries", "n", "k", "mode", "alpha", "fusion", "rrf_k", "depth", "use_vector", "use_keyword",
                  "embeds"):
        assert getattr(fast, field) == getattr(slow, field), field
    assert fast.vectors.dtype == slow.vectors.dtype and fast.vectors.shape == slow.vectors.shape == (1, DIM)
    assert np.array_equal(fast.vectors, slow.vectors)
    assert fast.vectors.flags.c_contiguous


@pytest.mark.parametrize(
    "vector, error",
    [
        (np.full(DIM, np.nan, np.float32), InvalidInputError),
        (np.array([np.inf] + [0.0] * (DIM - 1), np.float32), InvalidInputError),
        (np.zeros(DIM, np.float32), InvalidInputError),
        (np.ones(DIM + 1, np.float32), DimensionMismatchError),
    ],
)
def test_bad_vectors_still_refused(vector, error):
    col = gyeol.connect().create_collection("c", embedder=None, dim=DIM, tokenizer=None)
    col.add(ids=["a"], vectors=np.ones((1, DIM), np.float32))
    with pytest.raises(error):
        col.search(vector=vector, k=1)


def test_huge_values_take_the_general_path():
    v = np.full(DIM, 1e30, np.float32)  # finite, but the sum of squares overflows float32
    assert search_mod._plan_single_vector(v, DIM, "cosine", 5, "vector", None, None, 60, None) is None
    _general(v)  # whatever the general path does with it, the fast path defers to it


def test_single_search_matches_batched_search():
    rng = np.random.default_rng(1)
    col = gyeol.connect().create_collection("c", embedder=None, dim=DIM, index=gyeol.Flat(), tokenizer=None)
    for start in range(0, 60, 20):  # several chunks: ids resolved across them
        col.add(ids=[f"d{i}" for i in range(start, start + 20)], vectors=rng.standard_normal((20, DIM)))
    queries = rng.standard_normal((5, DIM)).astype(np.float32)
    batched = col.search_many(vectors=queries, k=7, mode="vector")
    for q, want in zip(queries, batched):
        got = col.search(vector=q, k=7)
        assert got.ids == want.ids
        assert got.scores == want.scores
        assert [h.vector_score for h in got] == [h.vector_score for h in want]
    assert len(col.search(vector=queries[0], k=100)) == 60  # k past the end: the short row trimmed


def test_strings_at_across_chunks():
    chunks = [pa.array(["a", "bb", "ccc"]), pa.array(["한국어", ""]), pa.array(["x", "yz"]).slice(1)]
    index = string_index(chunks)
    rows = np.array([4, 0, 3, 5, 2, 1], np.int64)
    assert strings_at(index, rows) == ["", "a", "한국어", "yz", "ccc", "bb"]
    assert strings_at(string_index(chunks[:1]), np.array([2, 0], np.int64)) == ["ccc", "a"]
