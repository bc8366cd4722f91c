"""Fusion functions against hand-computed cases; keyword and hybrid search through the Collection."""

from __future__ import annotations

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

import gyeol
from gyeol.fusion import relative_score, rrf
from gyeol.lexical.tokenizers import WhitespaceTokenizer
from gyeol.ranked import Ranked

from conftest import HashEmbedder, hand_fusion


# ----------------------------------------------------------------------------- fusion


def ranked(labels, scores=None) -> Ranked:
    """A side's ranking; scores default to a descending run (rrf reads ranks only)."""
    labels = np.asarray(labels, dtype=np.int64)
    if scores is None:
        scores = -np.arange(len(labels), dtype=np.float64)
    return Ranked(labels, np.asarray(scores, dtype=np.float64))


def test_rrf_hand_computed():
    fused = rrf([ranked([1, 2, 3]), ranked([3, 4])], [0.5, 0.5], rrf_k=60)
    labels, scores = fused.labels, fused.scores
    expected = {
        1: 0.5 / 61,
        2: 0.5 / 62,
        3: 0.5 / 63 + 0.5 / 61,
        4: 0.5 / 62,
    }
    assert labels.tolist() == [3, 1, 2, 4]  # 2 and 4 tie: the smaller label first
    assert np.allclose(scores, [expected[x] for x in labels.tolist()])


def test_rrf_weights_and_rrf_k():
    fused = rrf([ranked([7]), ranked([8])], [0.25, 0.75], rrf_k=1)
    assert fused.labels.tolist() == [8, 7]
    assert np.allclose(fused.scores, [0.75 / 2, 0.25 / 2])


def test_relative_score_hand_computed():
    vec = ranked([1, 2, 3], [0.9, 0.5, 0.1])
    kw = ranked([3, 4], [10.0, 2.0])
    fused = relative_score([vec, kw], [0.25, 0.75])
    labels, scores = fused.labels, fused.scores
    # vector normalised: 1 -> 1.0, 2 -> 0.5, 3 -> 0.0; keyword: 3 -> 1.0, 4 -> 0.0
    expected = {1: 0.25, 2: 0.125, 3: 0.75, 4: 0.0}
    assert labels.tolist() == [3, 1, 2, 4]
    assert np.allclose(scores, [expected[x] for x in labels.tolist()])


def test_relative_score_constant_list_normalises_to_one():
    fused = relative_score([ranked([5, 6], [2.0, 2.0])], [1.0])
    assert fused.labels.tolist() == [5, 6] and np.allclose(fused.scores, [1.0, 1.0])


@pytest.mark.parametrize("fuse", [lambda sides: rrf(sides, [0.5, 0.5]), lambda sides: relative_score(sides, [0.5, 0.5])])
def test_fusion_gives_each_sides_score_aligned_to_the_fused_labels(fuse):
    vec = ranked([4, 9, 2, 7], [0.9, 0.8, 0.3, 0.1])
    kw = ranked([2, 5, 4], [12.0, 7.5, 1.0])
    fused = fuse([vec, kw])
    own = [dict(zip(side.labels.tolist(), side.scores.tolist())) for side in (vec, kw)]
    assert sorted(fused.labels.tolist()) == [2, 4, 5, 7, 9]
    for side, aligned in zip(own, fused.side_scores):
        assert len(aligned) == len(fused.labels)
        for label, score in zip(fused.labels.tolist(), aligned.tolist()):
            if label in side:
                assert score == side[label]
            else:
                assert np.isnan(score)
    head = fused.head(2)
    assert head.labels.tolist() == fused.labels[:2].tolist()
    assert [s.tolist() for s in head.side_scores] == [s[:2].tolist() for s in fused.side_scores]


def test_fusion_does_not_mutate_inputs():
    a, b = np.array([3, 1, 2]), np.array([0.3, 0.2, 0.1])
    a0, b0 = a.copy(), b.copy()
    rrf([Ranked(a, b)], [1.0])
    relative_score([Ranked(a, b)], [1.0])
    assert (a == a0).all() and (b == b0).all()


def test_fusion_of_empty_lists():
    fused = rrf([ranked([]), ranked([])], [0.5, 0.5])
    assert len(fused.labels) == 0 and len(fused.scores) == 0
    assert [len(s) for s in fused.side_scores] == [0, 0]


# ----------------------------------------------------------------------------- collection

CORPUS = [
    "the quick brown fox jumps over the lazy dog",
    "a fast brown fox leaped over sleeping dogs",
    "vector databases store embeddings for similarity search",
    "bm25 ranks documents by term frequency and inverse document frequency",
    "hybrid search fuses keyword and vector rankings",
    "reciprocal rank fusion combines ranked lists",
    "the lazy cat sleeps all day",
    "dogs and cats are common pets",
    "search engines index documents for fast retrieval",
    "embeddings map text to dense vectors",
]


@pytest.fixture
def col():
    db = gyeol.connect()
    c = db.create_collection("h", embedder=HashEmbedder(), tokenizer="whitespace")
    c.add(CORPUS, ids=[f"d{i}" for i in range(len(CORPUS))],
          metadata=[{"i": i, "even": i % 2 == 0} for i in range(len(CORPUS))])
    yield c
    db.close()


def _reference_bm25(texts: list[str], query: str) -> dict[int, float]:
    tok = WhitespaceTokenizer()
    bm = BM25Okapi([tok.tokenize(t) for t in texts])
    scores = bm.get_scores(tok.tokenize(query))
    qterms = set(tok.tokenize(query))
    return {i: s for i, s in enumerate(scores) if qterms & set(tok.tokenize(texts[i]))}


def test_keyword_scores_equal_rank_bm25(col):
    res = col.search("lazy dog search", mode="keyword", k=10)
    ref = _reference_bm25(CORPUS, "lazy dog search")
    assert set(res.ids) == {f"d{i}" for i in ref}
    for hit in res:
        i = int(hit.id[1:])
        assert hit.score == pytest.approx(ref[i], abs=1e-6)
        assert hit.keyword_score == pytest.approx(ref[i], abs=1e-6)
        assert hit.vector_score is None
    assert res.scores == sorted(res.scores, reverse=True)


def test_keyword_after_deletes_and_upserts_equals_fresh_index(col):
    col.delete(["d0", "d3"])
    col.upsert(["the lazy dog sleeps in the search index"], ids=["d6"])
    col.add(["another lazy dog"], ids=["d10"])
    live = {d.id: d.text for d in col.get()}
    order = sorted(live)
    ref = _reference_bm25([live[i] for i in order], "lazy dog search")
    res = col.search("lazy dog search", mode="keyword", k=20)
    got = {h.id: h.score for h in res}
    assert got.keys() == {order[i] for i in ref}
    for i, score in ref.items():
        assert got[order[i]] == pytest.approx(score, abs=1e-6)


def test_hybrid_fills_both_side_scores(col):
    res = col.search("lazy dog", k=5)
    assert len(res) == 5
    both = [h for h in res if h.vector_score is not None and h.keyword_score is not None]
    assert both, "a document ranked by both sides carries both scores"
    vec = {h.id: h.score for h in col.search("lazy dog", mode="vector", k=10)}
    for h in res:
        if h.vector_score is not None:
            assert h.vector_score == pytest.approx(vec[h.id], abs=1e-5)


def test_hybrid_rrf_equals_manual_fusion(col):
    q = "fast fox search"
    depth = 50
    vec = col.search(q, mode="vector", k=depth)
    kw = col.search(q, mode="keyword", k=depth)
    alpha = 0.3
    fused: dict[str, float] = {}
    for rank, hid in enumerate(vec.ids, 1):
        fused[hid] = fused.get(hid, 0) + alpha / (60 + rank)
    for rank, hid in enumerate(kw.ids, 1):
        fused[hid] = fused.get(hid, 0) + (1 - alpha) / (60 + rank)
    res = col.search(q, k=5, alpha=alpha)
    for h in res:
        assert h.score == pytest.approx(fused[h.id], rel=1e-9)
    assert sorted(fused.values(), reverse=True)[:5] == pytest.approx(res.scores)


def test_alpha_extremes_match_single_modes(col):
    q = "brown fox dogs"
    assert col.search(q, alpha=1.0, k=5).ids == col.search(q, mode="vector", k=5).ids
    assert col.search(q, alpha=0.0, k=5).ids == col.search(q, mode="keyword", k=5).ids


def test_relative_score_fusion_in_range(col):
    res = col.search("lazy dog", k=5, fusion="relative_score", alpha=0.5)
    assert all(0.0 <= s <= 1.0 + 1e-9 for s in res.scores)
    assert res.scores == sorted(res.scores, reverse=True)


def test_filtered_keyword_and_hybrid(col):
    for mode in ("keyword", "hybrid", "vector"):
        res = col.search("lazy dog search", mode=mode, k=3, where={"even": True})
        assert res.ids and all(h.metadata["even"] is True for h in res)


def test_search_many_equals_single(col):
    queries = ["lazy dog", "vector search", "fox"]
    many = col.search_many(queries, k=4)
    for q, r in zip(queries, many):
        assert r.ids == col.search(q, k=4).ids


def test_query_of_stopped_tokens_returns_empty_keyword_results():
    db = gyeol.connect()
    c = db.create_collection("k", embedder=None, dim=4, tokenizer=lambda s: [w for w in s.split() if w != "the"])
    c.add(["the cat", "a dog"], vectors=np.eye(4, dtype=np.float32)[:2])
    assert len(c.search("the", mode="keyword")) == 0
    assert len(c.search("zebra", mode="keyword")) == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"alpha": 1.5},
        {"alpha": -0.1},
        {"rrf_k": 0},
        {"rrf_k": -5},
        {"fusion": "borda"},
        {"mode": "semantic"},
        {"k": 0},
    ],
)
def test_bad_search_arguments(col, kwargs):
    with pytest.raises(gyeol.InvalidInputError):
        col.search("dog", **kwargs)


@pytest.mark.parametrize("query", ["", "   "])
def test_empty_query_is_invalid(col, query):
    with pytest.raises(gyeol.InvalidInputError):
        col.search(query, mode="keyword")


def test_unknown_tokenizer_and_variant():
    db = gyeol.connect()
    with pytest.raises(gyeol.InvalidInputError):
        db.create_collection("x", embedder=None, dim=4, tokenizer="morphemes")
    with pytest.raises(gyeol.InvalidInputError):
        gyeol.BM25(variant="tfidf")
    assert db.list_collections() == []


def test_kiwi_keyword_search_matches_inflections(tmp_path):
    db = gyeol.connect(tmp_path / "kb")
    c = db.create_collection("ko", embedder=None, dim=4)  # default tokenizer: kiwi
    texts = ["문서를 검색했습니다", "오늘 점심을 먹었다", "검색이 빠르다", "날씨가 춥다"]
    c.add(texts, vectors=np.eye(4, dtype=np.float32))
    res = c.search("검색을", mode="keyword")
    assert sorted(h.text for h in res) == sorted([texts[0], texts[2]])
    db.close()
    db = gyeol.connect(tmp_path / "kb")  # the BM25 index was saved and loads back
    c = db.get_collection("ko")
    assert sorted(h.text for h in c.search("검색하는 방법", mode="keyword")) == sorted([texts[0], texts[2]])
    c.add(["검색 엔진"], vectors=np.ones((1, 4), np.float32))
    assert len(c.search("검색", mode="keyword")) == 3
    db.close()


@pytest.mark.parametrize("fusion", ["rrf", "relative_score"])
@pytest.mark.parametrize("k", [3, 15])
def test_hybrid_fuses_each_side_at_its_documented_depth(fusion, k):
    """On a corpus deeper than the lists, hybrid equals a hand fusion of each side's top max(k, 10)
    (rrf) or max(2k, 20) (relative_score) hits."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, size=8)) for _ in range(300)]
    db = gyeol.connect()
    c = db.create_collection("deep", embedder=HashEmbedder(), tokenizer="whitespace", index=gyeol.Flat())
    c.add(texts, ids=[f"d{i}" for i in range(len(texts))])
    depth = max(k, 10) if fusion == "rrf" else max(2 * k, 20)
    assert gyeol.search.hybrid_depth(k, fusion) == depth
    alpha = 0.4
    for q in ["w1 w2 w3", "w7 w30", "w12"]:
        fused = hand_fusion(c, q, depth, alpha, fusion)
        res = c.search(q, k=k, alpha=alpha, fusion=fusion)
        assert len(res) == k
        for h in res:
            assert h.score == pytest.approx(fused[h.id], rel=1e-9)
        assert res.scores == pytest.approx(sorted(fused.values(), reverse=True)[:k])
    db.close()
