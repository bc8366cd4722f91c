"""Collection round trips: add, get, upsert, delete, count, metadata, vectors, embedders."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from conftest import DIM, HashEmbedder, exact_scores, hash_embed, new_collection, random_vectors, stored_form

import gyeol
from gyeol.errors import InvalidInputError

METRICS = ["cosine", "ip", "l2"]


def same_json(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type at every level (True is not 1, 1.0 is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(a[key], b[key]) for key in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


TRICKY_METADATA: list[dict[str, Any]] = [
    {},
    {"bool_true": True, "bool_false": False, "one": 1, "zero": 0},
    {"float_one": 1.0, "float_zero": 0.0, "neg_zero": -0.0, "tenth": 0.1, "tiny": 5e-324, "big": 1.7976931348623157e308},
    {"big_int": 2**62, "neg_int": -(2**53) - 1, "none": None},
    {"ko": "한국어 검색 결과", "emoji": "👩‍💻 🎉", "nul": "a\x00b", "quote": "\"'\\", "newline": "a\nb"},
    {"list_mixed": [1, 1.0, True, "1", None], "empty_list": [], "list_bools": [False, 0, 0.0]},
    {"한글 키": "값", "key with spaces": "v", "k.dotted": 3},
    {"long": "x" * 10_000},
]


# --------------------------------------------------------------------------- add / get


def test_add_generates_unique_string_ids_when_omitted(rng):
    col = new_collection(gyeol.connect())
    ids = col.add(["a", "b", "c"], vectors=random_vectors(rng, 3))
    assert len(ids) == 3 and len(set(ids)) == 3
    assert all(isinstance(i, str) and i for i in ids)
    assert [d.id for d in col.get(ids)] == ids
    more = col.add(["d"], vectors=random_vectors(rng, 1))
    assert not set(more) & set(ids)
    assert col.count() == 4 and len(col) == 4


def test_add_returns_the_given_ids_and_stores_texts(rng):
    col = new_collection(gyeol.connect())
    ids = col.add(["alpha", "beta"], ids=["x1", "x2"], vectors=random_vectors(rng, 2))
    assert ids == ["x1", "x2"]
    docs = col.get(["x1", "x2"])
    assert [(d.id, d.text, d.metadata) for d in docs] == [("x1", "alpha", {}), ("x2", "beta", {})]
    assert all(d.vector is None for d in docs)


def test_add_vectors_only_stores_no_text(rng):
    col = new_collection(gyeol.connect())
    ids = col.add(vectors=random_vectors(rng, 2), ids=["v1", "v2"])
    assert ids == ["v1", "v2"]
    assert [d.text for d in col.get(ids)] == [None, None]


def test_add_empty_batch_is_a_no_op():
    col = new_collection(gyeol.connect())
    assert col.add([], vectors=np.empty((0, DIM), np.float32)) == []
    assert col.count() == 0


def test_get_returns_input_order_and_omits_missing(rng):
    col = new_collection(gyeol.connect())
    col.add([f"t{i}" for i in range(10)], ids=[f"id{i}" for i in range(10)], vectors=random_vectors(rng, 10))
    asked = ["id7", "nope", "id2", "id9", "missing", "id0"]
    assert [d.id for d in col.get(asked)] == ["id7", "id2", "id9", "id0"]
    assert [d.text for d in col.get(asked)] == ["t7", "t2", "t9", "t0"]
    assert col.get([]) == []
    assert col.get(["nope"]) == []
    # no ids: every live document, in insertion order
    assert [d.id for d in col.get()] == [f"id{i}" for i in range(10)]
    assert [d.id for d in col.get(limit=3, offset=2)] == ["id2", "id3", "id4"]


def test_ids_are_exact_strings_not_normalised(rng):
    col = new_collection(gyeol.connect())
    ids = ["a", "A", "a ", " a", "가", "가\u0000", "é", "e\u0301", "x" * 1000]
    col.add(vectors=random_vectors(rng, len(ids)), ids=ids)
    assert [d.id for d in col.get(ids[::-1])] == ids[::-1]
    assert col.delete(["e\u0301"]) == 1
    assert [d.id for d in col.get(["é", "e\u0301"])] == ["é"]


@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "disk"])
def test_metadata_round_trips_exactly(persisted, db_path, rng):
    db = gyeol.connect(db_path if persisted else None)
    col = new_collection(db)
    n = len(TRICKY_METADATA)
    ids = [f"m{i}" for i in range(n)]
    col.add([f"doc {i}" for i in range(n)], ids=ids, metadata=TRICKY_METADATA, vectors=random_vectors(rng, n))
    if persisted:
        db.close()
        db = gyeol.connect(db_path)
        col = db.get_collection("docs")
    for doc, expected in zip(col.get(ids), TRICKY_METADATA):
        assert same_json(doc.metadata, expected), (doc.metadata, expected)
    hits = col.search(vector=random_vectors(rng, 1)[0], k=n, mode="vector")
    by_id = dict(zip(ids, TRICKY_METADATA))
    for hit in hits:
        assert same_json(hit.metadata, by_id[hit.id])
    db.close()


def test_metadata_tuples_are_stored_as_lists_and_input_is_not_mutated(rng):
    col = new_collection(gyeol.connect())
    meta = [{"t": (1, "a"), "n": None}, None]
    snapshot = [dict(m) if m else m for m in meta]
    col.add(["a", "b"], ids=["a", "b"], metadata=meta, vectors=random_vectors(rng, 2))
    assert meta == snapshot
    assert [d.metadata for d in col.get(["a", "b"])] == [{"t": [1, "a"], "n": None}, {}]


@pytest.mark.parametrize("metric", METRICS)
def test_include_vectors_gives_the_stored_vectors(metric, rng):
    col = new_collection(gyeol.connect(), metric=metric)
    vectors = random_vectors(rng, 20) * 3.0
    ids = [f"v{i}" for i in range(20)]
    col.add(vectors=vectors, ids=ids)
    docs = col.get(ids[::-1], include_vectors=True)
    got = np.stack([d.vector for d in docs])
    np.testing.assert_allclose(got, stored_form(vectors, metric)[::-1], rtol=1e-6, atol=1e-6)
    if metric == "cosine":
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("persisted", [False, True], ids=["memory", "disk"])
def test_the_caller_may_reuse_its_buffers_after_a_write(metric, persisted, db_path, rng):
    db = gyeol.connect(db_path if persisted else None)
    col = new_collection(db, metric=metric)
    buffer = random_vectors(rng, 4)  # float32, C-contiguous: the cheapest path through validation
    expected = stored_form(buffer, metric).copy()
    meta = [{"tags": ["a"]}, {}, {}, {}]
    col.add(["a", "b", "c", "d"], ids=["a", "b", "c", "d"], metadata=meta, vectors=buffer)
    buffer[:] = 7.0  # reused for the next batch
    meta[0]["tags"].append("mutated")
    col.upsert(["e"], ids=["e"], vectors=buffer[:1])
    col.compact()  # rebuilds the index from the stored vectors
    docs = col.get(["a", "b", "c", "d"], include_vectors=True)
    np.testing.assert_allclose(np.stack([d.vector for d in docs]), expected, rtol=1e-6, atol=1e-6)
    assert docs[0].metadata == {"tags": ["a"]}
    docs[0].metadata["tags"].append("changed by the reader")  # a returned dict is the caller's
    assert col.get(["a"])[0].metadata == {"tags": ["a"]}
    db.close()


# --------------------------------------------------------------------------- upsert / delete


@pytest.mark.parametrize("metric", METRICS)
def test_upsert_replaces_text_metadata_and_vector(metric, rng):
    col = new_collection(gyeol.connect(), metric=metric)
    old = random_vectors(rng, 3)
    col.add(["a", "b", "c"], ids=["a", "b", "c"], metadata=[{"v": 1}, {"v": 1}, {"v": 1}], vectors=old)
    new = random_vectors(rng, 2)
    assert col.upsert(["B2", "D"], ids=["b", "d"], metadata=[{"v": 2}, {"new": True}], vectors=new) == ["b", "d"]
    assert col.count() == 4
    docs = {d.id: d for d in col.get(["a", "b", "c", "d"], include_vectors=True)}
    assert (docs["b"].text, docs["b"].metadata) == ("B2", {"v": 2})
    assert (docs["d"].text, docs["d"].metadata) == ("D", {"new": True})
    assert (docs["a"].text, docs["a"].metadata) == ("a", {"v": 1})
    np.testing.assert_allclose(docs["b"].vector, stored_form(new, metric)[0], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(docs["a"].vector, stored_form(old, metric)[0], rtol=1e-6, atol=1e-6)
    # the old vector of b no longer answers for b: searching it finds b only through its new vector
    hits = col.search(vector=old[1], k=4, mode="vector")
    assert sorted(hits.ids) == ["a", "b", "c", "d"]
    b_score = hits.scores[hits.ids.index("b")]
    assert b_score == pytest.approx(exact_scores(new[:1], old[1], metric)[0], rel=1e-4, abs=1e-4)


def test_upsert_twice_keeps_one_live_copy(rng):
    col = new_collection(gyeol.connect())
    for version in range(5):
        col.upsert([f"v{version}"], ids=["same"], vectors=random_vectors(rng, 1))
    assert col.count() == 1
    assert [d.text for d in col.get(["same"])] == ["v4"]
    assert col.search(vector=random_vectors(rng, 1)[0], k=10, mode="vector").ids == ["same"]


def test_delete_returns_how_many_were_deleted(rng):
    col = new_collection(gyeol.connect())
    col.add([f"t{i}" for i in range(6)], ids=[f"d{i}" for i in range(6)], vectors=random_vectors(rng, 6))
    assert col.delete(["d1", "d3", "missing"]) == 2
    assert col.count() == 4
    assert col.delete(["d1"]) == 0  # already gone
    assert col.delete([]) == 0
    assert [d.id for d in col.get([f"d{i}" for i in range(6)])] == ["d0", "d2", "d4", "d5"]
    # a deleted id can be added again, fresh
    col.add(["again"], ids=["d1"], vectors=random_vectors(rng, 1))
    assert [(d.id, d.text) for d in col.get(["d1"])] == [("d1", "again")]
    assert col.count() == 5


def test_compact_keeps_the_live_documents(rng):
    col = new_collection(gyeol.connect())
    vectors = random_vectors(rng, 30)
    ids = [f"c{i}" for i in range(30)]
    col.add([f"t{i}" for i in range(30)], ids=ids, metadata=[{"i": i} for i in range(30)], vectors=vectors)
    col.delete(ids[::3])
    col.upsert(["replaced"], ids=["c1"], vectors=vectors[:1])
    before = [(d.id, d.text, d.metadata, d.vector.tolist()) for d in col.get(include_vectors=True)]
    col.compact()
    after = [(d.id, d.text, d.metadata, d.vector.tolist()) for d in col.get(include_vectors=True)]
    assert sorted(before) == sorted(after)
    assert col.count() == 20


def test_results_are_a_snapshot_of_the_search(rng):
    col = new_collection(gyeol.connect())
    vectors = random_vectors(rng, 3)
    col.add(["one", "two", "three"], ids=["a", "b", "c"], metadata=[{"v": 1}] * 3, vectors=vectors)
    result = col.search(vector=vectors[0], k=3, mode="vector")  # hits are materialised lazily
    col.delete(["c"])
    col.upsert(["ONE"], ids=["a"], metadata=[{"v": 2}], vectors=vectors[:1])
    col.compact()  # renumbers labels
    assert {(h.id, h.text, h.metadata["v"]) for h in result} == {("a", "one", 1), ("b", "two", 1), ("c", "three", 1)}


def test_collection_properties_and_catalog():
    db = gyeol.connect()
    col = new_collection(db, "props", metric="ip")
    assert (col.name, col.dim, col.metric, col.tier, col.device) == ("props", DIM, "ip", "memory", "cpu")
    assert col.config["dim"] == DIM and col.config["metric"] == "ip"
    new_collection(db, "other")
    assert db.list_collections() == ["other", "props"]
    assert db.get_collection("props") is col
    assert db.create_collection("props", exist_ok=True) is col
    db.drop_collection("other")
    assert db.list_collections() == ["props"]
    assert "props" in repr(col) and "0 docs" in repr(col)


# --------------------------------------------------------------------------- embedders


def test_object_embedder_embeds_texts_and_queries():
    embedder = HashEmbedder()
    col = gyeol.connect().create_collection("e", embedder=embedder, tokenizer="whitespace", index=gyeol.Flat())
    assert col.dim == DIM
    texts = ["red apple pie", "blue ocean wave", "green forest trail"]
    col.add(texts, ids=["r", "b", "g"])
    stored = np.stack([d.vector for d in col.get(["r", "b", "g"], include_vectors=True)])
    np.testing.assert_allclose(stored, stored_form(embedder.embed(texts), "cosine"), rtol=1e-5, atol=1e-6)
    assert col.search("ocean wave", k=1, mode="vector").ids == ["b"]
    assert col.search("forest", k=1, mode="vector").ids == ["g"]
    # vectors= wins over the embedder
    calls = embedder.calls
    col.add(["ignored text"], ids=["explicit"], vectors=embedder.embed(["blue ocean wave"]))
    assert embedder.calls == calls + 1  # only the call made here in the test
    assert col.search(vector=embedder.embed(["blue ocean wave"])[0], k=2, mode="vector").ids[0] in {"b", "explicit"}


def test_callable_embedder_and_reopen_without_it(db_path):
    db = gyeol.connect(db_path)
    col = db.create_collection("c", embedder=hash_embed, tokenizer="whitespace", index=gyeol.Flat())
    assert col.dim == DIM
    col.add(["red apple pie", "blue ocean wave"], ids=["r", "b"])
    assert col.search("apple", k=1, mode="vector").ids == ["r"]
    db.close()

    db = gyeol.connect(db_path)
    col = db.get_collection("c")
    assert col.count() == 2
    with pytest.raises(InvalidInputError, match=r"pass it again: db.get_collection\('c', embedder=\.\.\.\)"):
        col.search("apple", k=1, mode="vector")
    with pytest.raises(InvalidInputError, match="embedder"):
        col.search("apple", k=1, mode="hybrid")
    with pytest.raises(InvalidInputError, match="embedder"):
        col.add(["needs an embedding"], ids=["x"])
    assert col.count() == 2
    # what needs no embedder still works
    assert col.search("apple", k=1, mode="keyword").ids == ["r"]
    assert col.search(vector=hash_embed(["ocean"])[0], k=1, mode="vector").ids == ["b"]
    db.close()

    db = gyeol.connect(db_path)
    col = db.get_collection("c", embedder=hash_embed)
    assert col.search("apple", k=1, mode="vector").ids == ["r"]
    col.add(["green forest trail"], ids=["g"])
    assert col.search("forest", k=1, mode="vector").ids == ["g"]
    db.close()


def test_no_embedder_needs_vectors():
    col = new_collection(gyeol.connect())
    with pytest.raises(InvalidInputError, match="vectors"):
        col.add(["text only"])
    with pytest.raises(InvalidInputError):
        col.search("text only", mode="vector")
    assert col.count() == 0


def test_texts_may_include_none_only_with_vectors(rng):
    col = new_collection(gyeol.connect())
    col.add(["apple pie", None, "plum tart", "fig jam"], ids=["a", "n", "p", "f"], vectors=random_vectors(rng, 4))
    assert [d.text for d in col.get(["a", "n"])] == ["apple pie", None]
    assert col.search("apple", k=5, mode="keyword").ids == ["a"]
