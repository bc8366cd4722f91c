"""Search options at the API boundary: alpha/fusion defaults, candidates, vector-only hybrid, embedding seams."""

from __future__ import annotations

import numpy as np
import pytest

import gyeol
from gyeol.errors import InvalidInputError

from conftest import HashEmbedder, hand_fusion, hash_embed


@pytest.fixture
def deep():
    """300 texts over 40 words: each side of a hybrid search has many more hits than k."""
    rng = np.random.default_rng(7)
    words = [f"w{i}" for i in range(40)]
    texts = [" ".join(rng.choice(words, size=8)) for _ in range(300)]
    db = gyeol.connect()
    col = db.create_collection("deep", embedder=HashEmbedder(), tokenizer="whitespace", index=gyeol.Flat())
    col.add(texts, ids=[f"d{i}" for i in range(len(texts))])
    yield col
    db.close()


@pytest.mark.parametrize("fusion", ["rrf", "relative_score"])
@pytest.mark.parametrize("candidates", [3, 25, 120])
def test_candidates_sets_each_sides_depth(deep, fusion, candidates):
    k = 5
    for q in ["w1 w2 w3", "w7 w30", "w12"]:
        fused = hand_fusion(deep, q, candidates, 0.5, fusion)
        res = deep.search(q, k=k, fusion=fusion, candidates=candidates)
        assert len(res) == min(k, len(fused))
        assert res.scores == pytest.approx(sorted(fused.values(), reverse=True)[: len(res)])
        for h in res:
            assert h.score == pytest.approx(fused[h.id], rel=1e-9)
    many = deep.search_many(["w1 w2 w3", "w12"], k=k, fusion=fusion, candidates=candidates)
    assert [r.ids for r in many] == [deep.search(q, k=k, fusion=fusion, candidates=candidates).ids
                                     for q in ["w1 w2 w3", "w12"]]


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "10"])
def test_bad_candidates_are_refused(deep, bad):
    with pytest.raises(InvalidInputError, match="candidates"):
        deep.search("w1", candidates=bad)
    with pytest.raises(InvalidInputError, match="candidates"):
        deep.search_many(["w1"], candidates=bad)


def test_default_alpha_and_fusion_are_auto_fusion(deep):
    from gyeol.calibration import auto_depth, fuse_auto

    depth = auto_depth(8)
    for q in ["w1 w2 w3", "w7 w30"]:
        got = deep.search(q, k=8)
        assert deep.search(q, k=8, alpha="auto").ids == got.ids
        params = deep._engine.auto_fusion.params  # measured by the first auto hybrid search
        assert params is not None and params.samples >= 20
        vec = deep.search(q, k=depth, mode="vector")
        kw = deep.search(q, k=depth, mode="keyword")
        labels = lambda ids: np.array([int(i[1:]) for i in ids])  # noqa: E731  (ids are d<label>)
        want = fuse_auto(labels(vec.ids), np.array(vec.scores), labels(kw.ids), np.array(kw.scores), 8, params)
        assert got.ids == [f"d{label}" for label in want.labels]
        assert got.scores == pytest.approx(want.scores.tolist())
        relative = deep.search(q, k=8, alpha=0.5, fusion="relative_score")
        assert deep.search(q, k=8, fusion="relative_score").ids == relative.ids
        assert deep.search(q, k=8, alpha=0.2).scores == pytest.approx(
            sorted(hand_fusion(deep, q, 10, 0.2, "rrf").values(), reverse=True)[:8])


@pytest.mark.parametrize("alpha", ["fast", "AUTO", -0.1, [0.5]])
def test_bad_alpha_is_refused(deep, alpha):
    with pytest.raises(InvalidInputError, match="alpha"):
        deep.search("w1", alpha=alpha)


def test_a_vector_alone_runs_a_vector_search_in_hybrid_mode(deep):
    query = hash_embed(["w1 w2 w3"])[0]
    want = deep.search(vector=query, k=6, mode="vector")
    got = deep.search(vector=query, k=6)
    assert got.ids == want.ids and got.scores == want.scores
    assert all(h.keyword_score is None and h.vector_score is not None for h in got)
    many = deep.search_many(vectors=hash_embed(["w1 w2 w3", "w9"]), k=6)
    assert [r.ids for r in many] == [want.ids, deep.search(vector=hash_embed(["w9"])[0], k=6, mode="vector").ids]
    with pytest.raises(InvalidInputError, match="query text"):
        deep.search(vector=query, alpha=0.0)  # keyword only: nothing to rank
    with pytest.raises(InvalidInputError, match="query text"):
        deep.search(vector=query, mode="keyword")


class TwoSidedEmbedder(HashEmbedder):
    """Embeds documents and queries through separate methods, counting each (queries get a marker word)."""

    def __init__(self) -> None:
        super().__init__()
        self.documents: list[str] = []
        self.queries: list[str] = []

    def embed(self, texts):  # pragma: no cover - must not be called
        raise AssertionError("embed() called although embed_documents/embed_queries exist")

    def embed_documents(self, texts):
        self.documents += texts
        return HashEmbedder.embed(self, texts)

    def embed_queries(self, texts):
        self.queries += texts
        return HashEmbedder.embed(self, [t + " query-marker" for t in texts])


def test_documents_and_queries_go_through_their_own_seams():
    embedder = TwoSidedEmbedder()
    db = gyeol.connect()
    col = db.create_collection("two", embedder=embedder, dim=embedder.dim, tokenizer="whitespace",
                               index=gyeol.Flat())
    del embedder.documents[:]  # the collection embedded its identity probe text at create
    col.add(["alpha beta", "gamma delta"], ids=["a", "g"])
    assert embedder.documents == ["alpha beta", "gamma delta"] and embedder.queries == []
    res = col.search("alpha", k=2, mode="vector")
    assert embedder.queries == ["alpha"] and embedder.documents == ["alpha beta", "gamma delta"]
    want = HashEmbedder().embed(["alpha query-marker"])[0]
    assert res.ids[0] == "a"
    assert res[0].vector_score == pytest.approx(
        float(want @ HashEmbedder().embed(["alpha beta"])[0]
              / np.linalg.norm(want) / np.linalg.norm(HashEmbedder().embed(["alpha beta"])[0])), rel=1e-5)
    db.close()
