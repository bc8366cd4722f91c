"""col.evaluate and gyeol.evaluation: metrics against a hand-computed case, reports, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

import gyeol
from gyeol.evaluation import evaluate, paired_bootstrap, rank_metrics

from conftest import HashEmbedder, new_collection

TEXTS = {
    "d0": "apple banana orchard",
    "d1": "banana cherry market",
    "d2": "cherry date palm",
    "d3": "date fig desert",
    "d4": "fig grape vine",
}


@pytest.fixture
def col():
    db = gyeol.connect()
    collection = new_collection(db, embedder=HashEmbedder())
    collection.add(list(TEXTS.values()), ids=list(TEXTS))
    yield collection
    db.close()


def test_rank_metrics_equal_a_hand_computed_case():
    ranked = [["a", "b", "c"], ["x", "y", "z"], ["c", "a"]]
    qrels = [{"b": 1}, {"q": 1}, {"a": 2, "c": 1, "d": 1}]
    got = rank_metrics(ranked, qrels, k=3)
    # q0: first relevant at rank 2; its one relevant doc is in the top 3; DCG 1/log2(3) over IDCG 1.
    # q1: nothing relevant retrieved.
    # q2: c (grade 1) at rank 1, a (grade 2) at rank 2: DCG 1 + 2/log2(3); ideal 2, 1, 1: 2 + 1/log2(3) + 1/2.
    assert got["mrr@10"].tolist() == pytest.approx([0.5, 0.0, 1.0])
    assert got["recall@3"].tolist() == pytest.approx([1.0, 0.0, 2 / 3])
    ndcg2 = (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3) + 0.5)
    assert got["ndcg@10"].tolist() == pytest.approx([1 / math.log2(3), 0.0, ndcg2])


def test_mrr_counts_only_the_top_ten():
    ranked = [[f"n{i}" for i in range(10)] + ["hit"]]
    got = rank_metrics(ranked, [{"hit": 1}], k=20)
    assert got["mrr@10"][0] == 0.0
    assert got["recall@20"][0] == 1.0
    assert got["ndcg@10"][0] == 0.0


def test_zero_grades_are_not_relevant():
    got = rank_metrics([["a", "b"]], [{"a": 0, "b": 1}], k=2)
    assert got["mrr@10"][0] == 0.5
    assert got["recall@2"][0] == 1.0


def test_evaluate_matches_its_own_searches(col):
    queries = {"q-apple": "apple", "q-date": "date palm", "q-grape": "grape"}
    qrels = {"q-apple": ["d0"], "q-date": {"d2": 2, "d3": 1}, "q-grape": ["d4"]}
    report = col.evaluate(queries, qrels, k=3)
    assert [row["name"] for row in report.rows] == ["vector", "keyword", "hybrid"]
    for row in report.rows:
        results = col.search_many(list(queries.values()), k=10, mode=row["mode"])
        expected = rank_metrics([r.ids for r in results], [{"d0": 1}, {"d2": 2, "d3": 1}, {"d4": 1}], k=3)
        for metric, values in expected.items():
            assert row[metric] == pytest.approx(values.mean())
            assert report.per_query[row["name"]][metric].tolist() == pytest.approx(values.tolist())
    # BM25 puts each query's only matching document first
    assert report["keyword"]["mrr@10"] == pytest.approx(1.0)


def test_list_queries_and_explicit_modes(col):
    report = evaluate(
        col, ["apple", "fig"], [["d0"], ["d3", "d4"]], k=2,
        modes=["keyword", {"mode": "hybrid", "alpha": 0.3, "fusion": "relative_score"},
               {"mode": "hybrid", "alpha": 0.8, "name": "vector-heavy"}],
    )
    assert [row["name"] for row in report.rows] == ["keyword", "hybrid fusion=relative_score alpha=0.3", "vector-heavy"]
    assert report.query_ids == ["0", "1"]
    assert report.rows[1]["alpha"] == 0.3 and report.rows[1]["fusion"] == "relative_score"


def test_report_tables_and_compare(col):
    report = col.evaluate({"a": "apple", "b": "cherry"}, {"a": ["d0"], "b": ["d1", "d2"]}, k=5)
    frame = report.to_pandas()
    assert list(frame["name"]) == ["vector", "keyword", "hybrid"]
    assert report.to_arrow().num_rows == 3
    assert "| keyword |" in report.to_markdown() and "EvaluationReport(2 queries" in repr(report)
    assert "<table>" in report._repr_html_()
    same = report.compare("keyword", "keyword")
    assert same["diff"] == 0.0 and same["low"] == 0.0 and same["high"] == 0.0 and same["ties"] == 2
    assert report.best("mrr@10")["mrr@10"] == max(row["mrr@10"] for row in report.rows)
    with pytest.raises(gyeol.InvalidInputError):
        report.compare("keyword", "vector", metric="map")
    with pytest.raises(KeyError):
        report.compare("keyword", "nope")


def test_modes_the_collection_cannot_serve_are_skipped_by_default():
    with gyeol.connect() as db:
        col = new_collection(db)  # no embedder: vector search needs vectors
        col.add(list(TEXTS.values()), ids=list(TEXTS), vectors=np.eye(5, 32, dtype=np.float32))
        report = col.evaluate({"q": "apple"}, {"q": ["d0"]})
        assert [row["name"] for row in report.rows] == ["keyword"]
        with pytest.raises(gyeol.InvalidInputError):
            col.evaluate({"q": "apple"}, {"q": ["d0"]}, modes=["vector"])


def test_paired_bootstrap_interval_covers_a_constant_shift():
    low, high = paired_bootstrap(np.full(50, 0.25))
    assert low == pytest.approx(0.25) and high == pytest.approx(0.25)
    diff = np.random.default_rng(0).normal(0.1, 0.05, 400)
    low, high = paired_bootstrap(diff)
    assert low < 0.1 < high


@pytest.mark.parametrize(
    "queries, qrels, match",
    [
        ({}, {}, "at least one query"),
        ([], [], "at least one query"),
        ({"q": "apple"}, {"q": ["nope"]}, "not in the collection: 'nope'"),
        ({"q": "apple"}, {}, "have no qrels"),
        ({"q": "apple"}, {"q": ["d0"], "r": ["d1"]}, "not in queries"),
        ({"q": "apple"}, {"q": []}, "no relevant document"),
        ({"q": "apple"}, {"q": {"d0": 0}}, "no relevant document"),
        ({"q": "apple"}, {"q": {"d0": float("nan")}}, "finite number"),
        ({"q": "apple"}, {"q": [3]}, "must be str"),
        ({"q": ""}, {"q": ["d0"]}, "non-empty str"),
        ({"q": None}, {"q": ["d0"]}, "non-empty str"),
        (["apple"], [["d0"], ["d1"]], "1 queries but 2 qrels"),
        (["apple"], {"0": ["d0"]}, "list of the same length"),
        ({"q": "apple"}, [["d0"]], "must be one too"),
        ("apple", ["d0"], "mapping of id -> text"),
    ],
)
def test_bad_input_is_typed_and_changes_nothing(col, queries, qrels, match):
    before = col.count()
    with pytest.raises(gyeol.InvalidInputError, match=match):
        col.evaluate(queries, qrels)
    assert col.count() == before


@pytest.mark.parametrize(
    "modes, match",
    [
        (["nearest"], "mode must be one of"),
        ([{"mode": "hybrid", "alhpa": 0.3}], "unknown keys"),
        (["keyword", "keyword"], "two modes are named"),
        ([], "modes is empty"),
        ([3], "a mode must be a name or a dict"),
    ],
)
def test_bad_modes(col, modes, match):
    with pytest.raises(gyeol.InvalidInputError, match=match):
        col.evaluate({"q": "apple"}, {"q": ["d0"]}, modes=modes)


def test_bad_k(col):
    with pytest.raises(gyeol.InvalidInputError):
        col.evaluate({"q": "apple"}, {"q": ["d0"]}, k=0)
