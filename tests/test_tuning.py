"""Tuning to a recall target: measured against exact search on data that defeats the fixed defaults."""

from __future__ import annotations

import logging

import numpy as np
import pytest

import gyeol
from gyeol import config as C
from gyeol.errors import InvalidInputError
from gyeol.index import build_index, load_index, save_index
from gyeol.index.tuning import recall_at

DIM = 32
K = 10


def hard_clusters(n: int, dim: int, *, seed: int, n_clusters: int) -> np.ndarray:
    """Unit vectors: isotropic Gaussian centres plus isotropic noise as large as the centres' spread
    (benchmarks/compare_tiers.py --data hard draws the same way)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_clusters, dim)).astype(np.float32)
    x = centres[rng.integers(0, n_clusters, n)] + rng.standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """FAISS on one thread: k-means and PQ training on a shared, loaded machine stop spinning on locks."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


@pytest.fixture(scope="module")
def hard():
    both = hard_clusters(6000 + 300, DIM, seed=11, n_clusters=12)
    return both[:6000], both[6000:]  # queries: fresh draws, not in the collection


@pytest.fixture(scope="module")
def tuned_hybrid(hard, tmp_path_factory):
    """The default hybrid index over the hard set, built (and tuned) once for the tests that read it."""
    x, _ = hard
    directory = tmp_path_factory.mktemp("tuned")
    return build_index(None, tier="hybrid", metric="cosine", dim=DIM, vectors=x, directory=directory), directory


def exact(x, q, k=K):
    return np.argsort(-(q @ x.T), axis=1, kind="stable")[:, :k]


def held_out_recall(index, x, q) -> float:
    return recall_at(index.search(q, K).labels, exact(x, q))


def test_fixed_defaults_miss_and_tuning_reaches_the_target(hard, tuned_hybrid, tmp_path):
    x, q = hard
    fixed = build_index(C.IVFPQ(recall_target=None), tier="hybrid", metric="cosine", dim=DIM, vectors=x,
                        directory=tmp_path / "fixed")
    assert fixed.tuning is None
    tuned, _ = tuned_hybrid
    record = tuned.tuning
    assert record["met"] and record["recall"] >= 0.95 and record["recall_target"] == 0.95
    # on held-out queries, against brute force: the defaults miss, the tuned settings reach the target
    assert held_out_recall(fixed, x, q) < 0.93
    assert held_out_recall(tuned, x, q) >= 0.94  # 200 queries: ~0.01 sampling error around the target
    assert tuned.describe()["rescore"] == record["settings"]["rescore"]
    assert tuned.describe()["nprobe"] == record["settings"]["nprobe"]


@pytest.mark.parametrize("tier,spec,knob", [("memory", None, "ef_search"), ("disk", None, "nprobe"),
                                            ("memory", C.IVF(), "nprobe")])
def test_each_tier_reaches_its_target(hard, tmp_path, tier, spec, knob):
    x, q = hard
    index = build_index(spec, tier=tier, metric="cosine", dim=DIM, vectors=x,
                        directory=None if tier == "memory" else tmp_path)
    assert index.tuning["met"] and knob in index.tuning["settings"]
    assert held_out_recall(index, x, q) >= 0.94


def test_higher_target_buys_more_recall(hard, tmp_path):
    x, q = hard
    low = build_index(C.IVF(recall_target=0.5), tier="disk", metric="cosine", dim=DIM, vectors=x, directory=tmp_path / "a")
    high = build_index(C.IVF(recall_target=0.99), tier="disk", metric="cosine", dim=DIM, vectors=x, directory=tmp_path / "b")
    assert low.tuning["settings"]["nprobe"] < high.tuning["settings"]["nprobe"]
    assert held_out_recall(low, x, q) < held_out_recall(high, x, q)
    assert high.tuning["recall"] >= 0.99


def test_settings_persist_across_reopen(hard, tuned_hybrid):
    x, q = hard
    index, tmp_path = tuned_hybrid
    save_index(index, tmp_path, generation=1, tier="hybrid", metric="cosine")
    loaded = load_index(tmp_path, generation=1, tier="hybrid", metric="cosine", dim=DIM, next_label=len(x))
    assert loaded.tuning == index.tuning
    assert loaded.describe()["nprobe"] == index.tuning["settings"]["nprobe"]
    assert loaded.describe()["rescore"] == index.tuning["settings"]["rescore"]
    np.testing.assert_array_equal(loaded.search(q, K).labels, index.search(q, K).labels)


def test_unreachable_target_warns_with_the_recall_reached(hard, tmp_path, caplog):
    x, _ = hard
    # 1 list probed and 1 candidate per hit, fixed: nothing left to tune can reach 0.999
    spec = C.IVFPQ(nprobe=1, rescore=1, recall_target=0.999, max_code_bytes=DIM // 4)
    with caplog.at_level(logging.WARNING, logger="gyeol.index.tuning"):
        index = build_index(spec, tier="hybrid", metric="cosine", dim=DIM, vectors=x, directory=tmp_path)
    record = index.tuning
    assert not record["met"] and record["recall"] < 0.999
    assert any("not reached" in r.getMessage() and f"{record['recall']:.3f}" in r.getMessage() for r in caplog.records)


def test_a_larger_code_within_the_budget_is_chosen_when_the_default_cannot_reach(hard, tmp_path):
    x, q = hard
    # rescoring fixed at 1 candidate per hit: only better codes can raise recall
    spec = C.IVFPQ(rescore=1, recall_target=0.9)
    index = build_index(spec, tier="hybrid", metric="cosine", dim=DIM, vectors=x, directory=tmp_path)
    codes = index.tuning["settings"]["codes"]
    assert codes != f"PQ{DIM // 2}x4fs", "the default code reaches 0.9 with one candidate per hit on this data?"
    assert index.ram_parts()["per_vector_bytes"] / len(x) <= DIM / 2 * 1.2 + 8  # within the budget (+ ids)


def test_collection_tune_index_info_and_bad_input(hard, tmp_path):
    x, q = hard
    with gyeol.connect(tmp_path / "db") as db:
        col = db.create_collection("c", embedder=None, dim=DIM, tier="hybrid", tokenizer="whitespace")
        col.add(ids=[str(i) for i in range(len(x))], vectors=x)
        info = col.index_info
        assert info["tuning"]["met"] and info["ram"]["bytes_per_vector"] > 0 and info["ram"]["fixed_bytes"] > 0
        for bad in (0, 1.5, -0.1, "high", True):
            with pytest.raises(InvalidInputError):
                col.tune(recall_target=bad)
        with pytest.raises(InvalidInputError):
            gyeol.IVFPQ(recall_target=0)
        with pytest.raises(InvalidInputError):  # a code over the budget
            db.create_collection("d", embedder=None, dim=DIM, tier="hybrid", index=gyeol.IVFPQ(m=32, max_code_bytes=8))
        assert "d" not in db.list_collections()
        record = col.tune(vectors=q, recall_target=0.99)
        assert record["queries_from"] == "user" and record["recall_target"] == 0.99
        assert col.index_info["tuning"] == record
    with gyeol.connect(tmp_path / "db") as db:
        again = db.get_collection("c")
        assert again.index_info["tuning"]["recall_target"] == 0.99
        assert again.index_info["nprobe"] == record["settings"]["nprobe"]
