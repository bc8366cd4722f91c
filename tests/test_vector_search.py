"""Vector search against exact numpy search: Flat is exact for every metric, HNSW recalls >= 0.95."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import (
    DIM,
    HashEmbedder,
    assert_same_ranking,
    exact_scores,
    exact_search,
    new_collection,
    random_vectors,
)

import gyeol

METRICS = ["cosine", "ip", "l2"]


def populate(col: gyeol.Collection, rng: np.random.Generator, n: int) -> tuple[list[str], np.ndarray]:
    ids = [f"d{i}" for i in range(n)]
    vectors = random_vectors(rng, n, col.dim) * rng.uniform(0.5, 2.0, size=(n, 1)).astype(np.float32)
    col.add([f"text {i}" for i in range(n)], ids=ids, vectors=vectors)
    return ids, vectors


def check_against_numpy(col, ids, vectors, queries, metric, k) -> None:
    results = col.search_many(vectors=queries, k=k, mode="vector")
    assert len(results) == len(queries)
    for query, result in zip(queries, results):
        ref_ids, ref_scores = exact_search(ids, vectors, query, metric, k)
        all_scores = dict(zip(ids, exact_scores(vectors, query, metric)))
        assert_same_ranking(result.ids, result.scores, ref_ids, ref_scores, all_scores=all_scores)
        for hit in result:
            assert hit.vector_score == pytest.approx(hit.score) and hit.keyword_score is None


@pytest.mark.parametrize("metric", METRICS)
def test_flat_equals_exact_numpy_search(metric, rng):
    col = new_collection(gyeol.connect(), metric=metric, index=gyeol.Flat())
    ids, vectors = populate(col, rng, 600)
    queries = random_vectors(rng, 25)
    check_against_numpy(col, ids, vectors, queries, metric, k=10)
    check_against_numpy(col, ids, vectors, queries[:3], metric, k=1)
    # single-query search agrees with the batched call, and is ordered best first
    single = col.search(vector=queries[0], k=10, mode="vector")
    assert single.ids == col.search_many(vectors=queries[:1], k=10, mode="vector")[0].ids
    assert single.scores == sorted(single.scores, reverse=True)


@pytest.mark.parametrize("metric", METRICS)
def test_flat_after_deletes_never_returns_deleted_and_still_gives_k(metric, rng):
    col = new_collection(gyeol.connect(), metric=metric, index=gyeol.Flat())
    ids, vectors = populate(col, rng, 400)
    queries = random_vectors(rng, 15)
    # delete the current nearest neighbours of the queries, plus a random third of the rest
    nearest = {r.ids[0] for r in col.search_many(vectors=queries, k=3, mode="vector")}
    doomed = sorted(nearest | {ids[i] for i in rng.choice(400, size=130, replace=False)})
    assert col.delete(doomed) == len(doomed)
    live = [i for i, doc_id in enumerate(ids) if doc_id not in set(doomed)]
    live_ids = [ids[i] for i in live]
    for k in (1, 10, 50):
        results = col.search_many(vectors=queries, k=k, mode="vector")
        for result in results:
            assert len(result) == k
            assert not set(result.ids) & set(doomed)
        check_against_numpy(col, live_ids, vectors[live], queries, metric, k=k)
    # and again after upserts (which tombstone the old rows) and a compaction
    col.upsert(["moved"] * 5, ids=live_ids[:5], vectors=random_vectors(rng, 5))
    moved = dict(zip(live_ids, vectors[live]))
    for doc in col.get(live_ids[:5], include_vectors=True):
        moved[doc.id] = doc.vector
    ref_ids, ref_vectors = list(moved), np.stack(list(moved.values()))
    check_against_numpy(col, ref_ids, ref_vectors, queries, metric, k=10)
    col.compact()
    check_against_numpy(col, ref_ids, ref_vectors, queries, metric, k=10)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index", [gyeol.Flat(), gyeol.HNSW(m=8), None], ids=["flat", "hnsw", "default"])
def test_k_larger_than_the_collection_gives_every_live_document(metric, index, rng):
    col = new_collection(gyeol.connect(), metric=metric, index=index)
    ids, vectors = populate(col, rng, 12)
    query = random_vectors(rng, 1)[0]
    result = col.search(vector=query, k=100, mode="vector")
    ref_ids, ref_scores = exact_search(ids, vectors, query, metric, 100)
    assert_same_ranking(result.ids, result.scores, ref_ids, ref_scores)
    assert col.search(vector=query, k=10**9, mode="vector").ids == result.ids  # no (nq, k) allocation
    col.delete(ids[:5])
    result = col.search(vector=query, k=100, mode="vector")
    assert sorted(result.ids) == sorted(ids[5:])
    assert all(np.isfinite(result.scores))
    ref_ids, ref_scores = exact_search(ids[5:], vectors[5:], query, metric, 100)
    assert_same_ranking(result.ids, result.scores, ref_ids, ref_scores)


def test_default_index_is_exact_while_small(rng):
    col = new_collection(gyeol.connect(), metric="cosine", index=None)
    ids, vectors = populate(col, rng, 300)
    check_against_numpy(col, ids, vectors, random_vectors(rng, 10), "cosine", k=10)


def test_l2_score_is_minus_the_euclidean_distance(rng):
    col = new_collection(gyeol.connect(), metric="l2")
    vectors = np.zeros((3, DIM), np.float32)
    vectors[1, 0], vectors[2, 1] = 3.0, 4.0
    col.add(vectors=vectors, ids=["origin", "three", "four"])
    result = col.search(vector=np.zeros(DIM), k=3, mode="vector")
    assert result.ids == ["origin", "three", "four"]
    np.testing.assert_allclose(result.scores, [0.0, -3.0, -4.0], atol=1e-5)


def test_cosine_ignores_vector_length_and_ip_does_not():
    a, b = np.zeros(DIM, np.float32), np.zeros(DIM, np.float32)
    a[0], b[0], b[1] = 1.0, 10.0, 10.0  # b is longer but 45 degrees off the query
    for metric, expected in [("cosine", ["a", "b"]), ("ip", ["b", "a"])]:
        col = new_collection(gyeol.connect(), metric=metric)
        col.add(vectors=np.stack([a, b]), ids=["a", "b"])
        result = col.search(vector=a * 5, k=2, mode="vector")
        assert result.ids == expected
        if metric == "cosine":
            np.testing.assert_allclose(result.scores, [1.0, np.sqrt(0.5)], rtol=1e-5)


def test_vector_mode_with_query_text_embeds_the_query():
    embedder = HashEmbedder()
    col = new_collection(gyeol.connect(), embedder=embedder)
    texts = [f"word{i} word{i + 1} filler{i % 3}" for i in range(50)]
    col.add(texts, ids=[f"t{i}" for i in range(50)])
    by_text = col.search("word7 word8 extra", k=5, mode="vector")
    by_vector = col.search(vector=embedder.embed(["word7 word8 extra"])[0], k=5, mode="vector")
    assert by_text.ids == by_vector.ids and by_text.ids[0] == "t7"
    np.testing.assert_allclose(by_text.scores, by_vector.scores, rtol=1e-5)


def test_results_views_agree(rng):
    col = new_collection(gyeol.connect(), metric="ip")
    texts = ["<b>bold</b> & co", "평범한 문장", None]
    col.add(texts, ids=["h", "k", "n"], metadata=[{"a": [1, "x"]}, {}, {"z": None}], vectors=random_vectors(rng, 3))
    result = col.search(vector=random_vectors(rng, 1)[0], k=3, mode="vector")
    hits = list(result)
    assert len(result) == 3 and result.ids == [h.id for h in hits] and result.scores == [h.score for h in hits]
    assert result[0] == hits[0] and result[-1] == hits[-1] and result[1:] == hits[1:]
    assert {h.id: (h.text, h.metadata) for h in hits} == {
        "h": (texts[0], {"a": [1, "x"]}), "k": (texts[1], {}), "n": (None, {"z": None})}
    table = result.to_arrow()
    assert table.column("id").to_pylist() == result.ids
    np.testing.assert_allclose(table.column("score").to_pylist(), result.scores)
    assert table.column("keyword_score").to_pylist() == [None] * 3
    frame = result.to_pandas()
    assert frame["id"].tolist() == result.ids and frame["metadata"].tolist() == [h.metadata for h in hits]
    assert "Results(3 hits)" in repr(result) and "&lt;b&gt;" in result._repr_html_()
    assert "<b>bold" not in result._repr_html_()
    empty = gyeol.Results.empty()
    assert len(empty) == 0 and empty.to_arrow().num_rows == 0 and len(empty.to_pandas()) == 0


# --------------------------------------------------------------------------- HNSW


@pytest.fixture(scope="module")
def hnsw_pair():
    """20k random vectors (d=64) in an HNSW and a Flat collection, with 200 held-out queries.

    Built once (the HNSW build is the slow part). test_hnsw_after_deletes deletes the same ids
    from both collections, so every check here stays valid whichever test runs first.
    """
    rng = np.random.default_rng(99)
    n, dim = 20_000, 64
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    ids = [f"h{i}" for i in range(n)]
    db = gyeol.connect()
    hnsw = new_collection(db, "hnsw", dim=dim, metric="cosine", index=gyeol.HNSW())
    flat = new_collection(db, "flat", dim=dim, metric="cosine", index=gyeol.Flat())
    for col in (hnsw, flat):
        col.add(vectors=vectors, ids=ids)
    queries = rng.standard_normal((200, dim)).astype(np.float32)
    yield hnsw, flat, ids, vectors, queries
    db.close()


def recall_at(hnsw: gyeol.Collection, flat: gyeol.Collection, queries: np.ndarray, k: int) -> float:
    got = hnsw.search_many(vectors=queries, k=k, mode="vector")
    truth = flat.search_many(vectors=queries, k=k, mode="vector")
    return float(np.mean([len(set(g.ids) & set(t.ids)) / k for g, t in zip(got, truth)]))


def test_hnsw_recall_at_10_against_flat(hnsw_pair):
    hnsw, flat, ids, vectors, queries = hnsw_pair
    assert hnsw.index_info["kind"] == "hnsw" and flat.index_info["kind"] == "flat"
    recall = recall_at(hnsw, flat, queries, 10)
    assert recall >= 0.95, f"HNSW recall@10 = {recall:.3f}"
    # the scores HNSW reports are exact scores of the hits it returns
    for result, query in zip(hnsw.search_many(vectors=queries[:20], k=10, mode="vector"), queries[:20]):
        rows = [int(i[1:]) for i in result.ids]
        np.testing.assert_allclose(result.scores, exact_scores(vectors[rows], query, "cosine"), rtol=1e-4, atol=1e-4)


def test_hnsw_after_deletes(hnsw_pair):
    hnsw, flat, ids, vectors, queries = hnsw_pair
    nearest = {i for r in flat.search_many(vectors=queries[:50], k=5, mode="vector") for i in r.ids}
    doomed = sorted(nearest | {ids[i] for i in range(0, len(ids), 10)})
    for col in (hnsw, flat):
        assert col.delete(doomed) == len(doomed)
    results = hnsw.search_many(vectors=queries, k=10, mode="vector")
    assert all(len(r) == 10 and not set(r.ids) & set(doomed) for r in results)
    assert recall_at(hnsw, flat, queries, 10) >= 0.95


@pytest.mark.parametrize("keep", [3, 30])
def test_hnsw_with_almost_everything_deleted_still_gives_k(keep):
    """A graph walk that must skip most nodes can come back short; the API promises k when k are live."""
    rng = np.random.default_rng(keep)
    col = new_collection(gyeol.connect(), metric="l2", index=gyeol.HNSW(m=8, ef_construction=40))
    ids, vectors = populate(col, rng, 3000)
    survivors = sorted(rng.choice(3000, size=keep, replace=False).tolist())
    alive = set(survivors)
    assert col.delete([ids[i] for i in range(3000) if i not in alive]) == 3000 - keep
    queries = random_vectors(rng, 30)
    k = 10
    for query, result in zip(queries, col.search_many(vectors=queries, k=k, mode="vector")):
        assert len(result) == min(k, keep)
        ref_ids, ref_scores = exact_search([ids[i] for i in survivors], vectors[survivors], query, "l2", k)
        assert_same_ranking(result.ids, result.scores, ref_ids, ref_scores)  # a handful of survivors: exact


# --------------------------------------------------------------------------- a real model


@pytest.mark.slow
def test_minilm_finds_the_paraphrase(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    docs = [
        "The cat sat on the warm windowsill all afternoon.",
        "Interest rates were raised by the central bank to fight inflation.",
        "The recipe calls for two cups of flour and a pinch of salt.",
        "Our team won the football match in the final minute.",
        "The new smartphone has a larger battery and a brighter screen.",
        "Volcanoes erupt when pressure builds up beneath the earth's crust.",
        "She practised the violin every morning before school.",
        "The hiking trail winds through a dense pine forest.",
        "Regular exercise lowers the risk of heart disease.",
        "The museum opened an exhibition of impressionist paintings.",
        "Heavy rain caused flooding in several coastal towns.",
        "He repaired the leaking kitchen faucet with a new washer.",
        "The spacecraft entered orbit around Mars after a seven-month journey.",
        "Learning a second language improves memory and attention.",
        "The bakery on the corner sells fresh croissants every morning.",
        "Electric cars are becoming cheaper to buy and to run.",
        "The students protested against the increase in tuition fees.",
        "A good night's sleep helps the brain consolidate memories.",
        "The orchestra performed Beethoven's ninth symphony to a full hall.",
        "Bees pollinate many of the crops that humans eat.",
    ]
    paraphrases = {
        "A kitten was lounging by the sunny window.": 0,
        "The central bank increased borrowing costs to curb rising prices.": 1,
        "Our side scored the winning goal at the very end of the game.": 3,
        "Lava bursts out when underground pressure gets too high.": 5,
        "Working out often is good for your heart.": 8,
        "The probe reached Martian orbit following a long trip.": 12,
        "Sleeping well lets your brain store what you learned.": 17,
        "Insects like bees are essential for pollinating food plants.": 19,
    }
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("real", embedder="all-MiniLM-L6-v2", tokenizer="whitespace")
    assert col.dim == 384
    col.add(docs, ids=[f"doc{i}" for i in range(len(docs))])
    results = col.search_many(list(paraphrases), k=1, mode="vector")
    assert [r.ids[0] for r in results] == [f"doc{i}" for i in paraphrases.values()]
    db.close()
    # the model is restored from the config on reopen, without passing it again
    with gyeol.connect(tmp_path / "kb") as db:
        col = db.get_collection("real")
        assert col.search("A kitten was lounging by the sunny window.", k=1, mode="vector").ids == ["doc0"]
