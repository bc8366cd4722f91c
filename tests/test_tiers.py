"""Vector index tiers (memory / hybrid / disk), explicit indexes, filtered search, persistence, bad input.

Every backend is checked against exact numpy search on small clustered data:
the contract test (recall, filtered k, save/load) runs for each tier and index.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

import gyeol
from gyeol import config as C
from gyeol.errors import BackendUnavailableError, InvalidInputError
from gyeol.index import build_index, load_index, save_index, validate_spec
from gyeol.index import disk as disk_module
from gyeol.index import faiss_index, rescore
from gyeol.index.base import META_NAME
from gyeol.index.device import gpu_count, resolve_device
from gyeol.index.specs import FLAT_BELOW, default_nlist, default_nprobe
from gyeol.index.vectors import VectorStore

from index_data import DIM, clustered, exact, recall

N = 6000
K = 10
TIERS = ("memory", "hybrid", "disk")


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return clustered(N, 40)


def build(spec, tier: str, x: np.ndarray, directory: Path, metric: str = "cosine"):
    return build_index(spec, tier=tier, metric=metric, dim=x.shape[1], vectors=x, directory=directory)


# (tier, spec, recall target against exact search)
CASES = [
    ("memory", None, 0.95),
    ("memory", C.Flat(), 1.0),
    ("memory", C.HNSW(m=16, ef_construction=64, ef_search=64), 0.95),
    ("memory", C.IVF(), 0.9),
    ("memory", C.IVFPQ(nbits=8, m=12), 0.9),
    ("memory", C.Factory(spec="HNSW16"), 0.95),
    ("hybrid", None, 0.95),
    ("hybrid", C.Flat(), 1.0),
    ("hybrid", C.IVFPQ(nlist=64, m=8, nbits=8, nprobe=16, rescore=8), 0.9),
    ("hybrid", C.Factory(spec="IVF64,SQ4"), 0.9),
    ("disk", None, 0.95),
    ("disk", C.Flat(), 1.0),
    ("disk", C.IVF(nlist=64, nprobe=16), 0.95),
    ("disk", C.IVFPQ(nbits=4), 0.9),
    ("disk", C.Factory(spec="SQ8"), 0.95),
    ("disk", C.Factory(spec="IVF32,SQ8"), 0.9),
]
CASE_IDS = [f"{tier}-{type(spec).__name__ if spec else 'default'}-{i}" for i, (tier, spec, _) in enumerate(CASES)]


@pytest.fixture(scope="module")
def built(data, tmp_path_factory):
    """Every case built once over the same data (module scope keeps the suite fast)."""
    x, _ = data
    out = {}
    for case_id, (tier, spec, _) in zip(CASE_IDS, CASES):
        directory = tmp_path_factory.mktemp(case_id)
        out[case_id] = (build(spec, tier, x, directory), directory)
    return out


@pytest.mark.parametrize("case", list(zip(CASE_IDS, CASES)), ids=CASE_IDS)
def test_recall_against_exact_search(case, data, built):
    case_id, (tier, spec, target) = case
    x, q = data
    index, _ = built[case_id]
    hits = index.search(q, K)
    scores, labels = hits.scores, hits.labels
    assert labels.shape == scores.shape == (len(q), K)
    assert recall(labels, exact(x, q, K)[1]) >= target
    assert np.all(np.diff(scores, axis=1) <= 1e-6), "hits must come best first"


@pytest.mark.parametrize("case", list(zip(CASE_IDS, CASES)), ids=CASE_IDS)
@pytest.mark.parametrize("fraction", [0.5, 0.02, 0.002])
def test_filtered_search_returns_k_allowed_hits(case, fraction, data, built):
    case_id, (tier, spec, _) = case
    x, q = data
    index, _ = built[case_id]
    mask = np.random.default_rng(3).random(len(x)) < fraction
    allowed = int(mask.sum())
    hits = index.search(q, K, mask)
    scores, labels = hits.scores, hits.labels
    want = min(K, allowed)
    for row in labels:
        hits = row[row >= 0]
        assert len(hits) == want
        assert len(set(hits)) == want
        assert mask[hits].all()
    if isinstance(spec, C.Flat) or allowed <= 2048:  # exact paths: exactly the allowed top-k
        truth_scores, truth = exact(x, q, K, mask=mask)
        assert recall(labels, truth[:, :want]) == 1.0
        np.testing.assert_allclose(scores[:, :want], truth_scores[:, :want], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", list(zip(CASE_IDS, CASES)), ids=CASE_IDS)
def test_filter_far_from_the_query_widens_then_scans(case, data, built, monkeypatch):
    """Allowed labels all far from the query: the first probe/beam finds none, wider rounds and the
    exhaustive fallback must (the exact-subset shortcut is switched off to reach them)."""
    monkeypatch.setattr(faiss_index, "EXACT_SUBSET_MAX", 0)
    monkeypatch.setattr(rescore, "EXACT_SUBSET_MAX", 0)
    case_id, (tier, spec, _) = case
    x, q = data
    index, _ = built[case_id]
    mask = np.zeros(len(x), dtype=bool)
    mask[np.argsort(x @ q[0])[:25]] = True  # the 25 least similar vectors
    hits = index.search(q[:1], K, mask)
    scores, labels = hits.scores, hits.labels
    assert (labels >= 0).sum() == K and mask[labels[0]].all() and len(set(labels[0])) == K
    truth_scores, truth = exact(x, q[:1], K, mask=mask)
    assert recall(labels, truth) >= (0.9 if isinstance(spec, C.Factory) else 1.0)


@pytest.mark.parametrize("tier", TIERS)
def test_fewer_allowed_than_k_and_empty_mask(tier, data, tmp_path):
    x, q = data
    index = build(None, tier, x, tmp_path)
    mask = np.zeros(len(x), dtype=bool)
    mask[[5, 900, 4500]] = True
    hits = index.search(q[:3], K, mask)
    scores, labels = hits.scores, hits.labels
    assert set(labels[0][:3]) == {5, 900, 4500}
    assert (labels[:, 3:] == -1).all() and np.isneginf(scores[:, 3:]).all()
    hits = index.search(q[:3], K, np.zeros(len(x), dtype=bool))
    scores, labels = hits.scores, hits.labels
    assert (labels == -1).all()
    # a mask shorter than the index allows nothing past its end
    hits = index.search(q[:3], K, np.ones(100, dtype=bool))
    scores, labels = hits.scores, hits.labels
    assert ((labels >= 0) & (labels < 100)).sum(axis=1).tolist() == [K, K, K]


def test_flat_filtered_is_exact_for_every_metric(tmp_path):
    x, q = clustered(1500, 20)
    x_l2 = x * np.random.default_rng(1).uniform(0.5, 2.0, (len(x), 1)).astype(np.float32)
    for metric, vectors in (("cosine", x), ("ip", x_l2), ("l2", x_l2)):
        for tier in TIERS:
            index = build(C.Flat(), tier, vectors, tmp_path / f"{metric}{tier}", metric=metric)
            mask = np.random.default_rng(5).random(len(x)) < 0.3
            hits = index.search(q, K, mask)
            scores, labels = hits.scores, hits.labels
            truth_scores, truth = exact(vectors, q, K, metric, mask)
            assert (labels == truth).mean() > 0.99  # ties may swap
            np.testing.assert_allclose(scores, truth_scores, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_rescoring_orders_candidates_by_exact_distance(metric, data, tmp_path):
    x, q = data
    index = build(C.IVFPQ(nlist=32, m=6, nbits=4, nprobe=8, rescore=3), "hybrid", x, tmp_path, metric=metric)
    hits = index.search(q, K)
    scores, labels = hits.scores, hits.labels
    truth_scores, _ = exact(x, q, len(x), metric)
    for row_scores, row_labels, qi in zip(scores, labels, range(len(q))):
        if metric == "l2":
            expected = -np.linalg.norm(x[row_labels] - q[qi], axis=1)
        else:
            expected = x[row_labels] @ q[qi]
        np.testing.assert_allclose(row_scores, expected, rtol=1e-4, atol=1e-5)
    # rescoring a fixed candidate set gives exactly numpy's order over those candidates
    candidates = np.tile(np.random.default_rng(2).choice(len(x), 60, replace=False), (len(q), 1))
    candidates[:, -5:] = -1
    rescored = index.rescore_candidates(q, candidates, K)
    got_scores, got = rescored.scores, rescored.labels
    ref_scores, ref = exact(x[candidates[0, :-5]], q, K, metric)
    np.testing.assert_array_equal(got, candidates[0, :-5][ref])
    np.testing.assert_allclose(got_scores, ref_scores, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
@pytest.mark.parametrize("spec", [None, C.IVFPQ(nlist=32, m=6, nbits=4, nprobe=8, rescore=3)])
def test_single_query_rescoring_matches_the_batch(spec, metric, data, tmp_path):
    """The one-query path (labels-only candidates, one sort) gives the batch's rows, exact scores included."""
    x, q = data
    index = build(spec, "hybrid", x, tmp_path, metric=metric)
    assert index.inner is not None
    batch = index.search(q, K)
    for i in range(len(q)):
        one = index.search(q[i], K)
        np.testing.assert_array_equal(one.labels[0], batch.labels[i])
        np.testing.assert_allclose(one.scores[0], batch.scores[i], rtol=1e-6, atol=1e-6)
    if metric == "l2":
        expected = -np.linalg.norm(x[one.labels[0]] - q[-1], axis=1)
    else:
        expected = x[one.labels[0]] @ q[-1]
    np.testing.assert_allclose(one.scores[0], expected, rtol=1e-4, atol=1e-5)
    assert (np.diff(one.scores[0]) <= 0).all()


@pytest.mark.parametrize("tier", TIERS)
def test_save_load_add_roundtrip(tier, data, tmp_path):
    x, q = data
    head, tail = x[:5000], x[5000:]
    index = build(None, tier, head, tmp_path)
    save_index(index, tmp_path, generation=3, tier=tier, metric="cosine")
    loaded = load_index(tmp_path, generation=3, tier=tier, metric="cosine", dim=DIM, next_label=len(head))
    assert loaded is not None and loaded.ntotal == len(head)
    np.testing.assert_array_equal(loaded.search(q, K).labels, index.search(q, K).labels)
    loaded.add(tail)
    labels = loaded.search(tail[:20], 1).labels
    assert (labels[:, 0] == np.arange(5000, 5020)).all(), "a vector added after open is its own nearest hit"
    save_index(loaded, tmp_path, generation=3, tier=tier, metric="cosine")
    again = load_index(tmp_path, generation=3, tier=tier, metric="cosine", dim=DIM, next_label=len(x))
    assert again is not None and again.ntotal == len(x)
    np.testing.assert_array_equal(again.search(q, K).labels, loaded.search(q, K).labels)
    # only files the meta names are left behind
    names = {p.name for p in tmp_path.iterdir()}
    assert names == set(again.files()) | {META_NAME}


@pytest.mark.parametrize("tier", TIERS)
def test_load_refuses_stale_or_damaged(tier, data, tmp_path):
    x, _ = data
    index = build(None, tier, x[:5000], tmp_path)
    save_index(index, tmp_path, generation=1, tier=tier, metric="cosine")
    args = dict(tier=tier, metric="cosine", dim=DIM, next_label=5000)
    assert load_index(tmp_path, generation=2, **args) is None  # compacted since
    assert load_index(tmp_path, generation=1, **{**args, "next_label": 4000}) is None  # covers rows not there
    assert load_index(tmp_path, generation=1, **{**args, "metric": "l2"}) is None
    other = "disk" if tier != "disk" else "memory"
    assert load_index(tmp_path, generation=1, **{**args, "tier": other}) is None
    # a truncated file is refused before FAISS maps it
    victim = max(index.files(), key=lambda name: (tmp_path / name).stat().st_size)
    with open(tmp_path / victim, "r+b") as handle:
        handle.truncate((tmp_path / victim).stat().st_size // 2)
    assert load_index(tmp_path, generation=1, **args) is None


def test_disk_tier_maps_its_file_and_folds_the_delta(data, tmp_path, monkeypatch):
    x, q = data
    index = build(None, "disk", x[:5000], tmp_path)
    info = index.describe()
    assert info["kind"] == "ivf" and info["mmapped"]
    memory = build(None, "memory", x[:5000], None)
    assert index.ram_bytes() < memory.ram_bytes() / 10
    index.add(x[5000:5100])
    assert index.describe()["delta"] == 100
    save_index(index, tmp_path, generation=0, tier="disk", metric="cosine")
    assert index.describe()["delta"] == 100  # a small delta is saved beside the base
    monkeypatch.setattr(disk_module, "DELTA_FOLD_AT", 50)
    index.add(x[5100:5200])
    save_index(index, tmp_path, generation=0, tier="disk", metric="cosine")
    assert index.describe()["delta"] == 0 and index.base.ntotal == 5200  # folded into a new base file
    loaded = load_index(tmp_path, generation=0, tier="disk", metric="cosine", dim=DIM, next_label=5200)
    np.testing.assert_array_equal(loaded.search(q, K).labels, index.search(q, K).labels)
    labels = loaded.search(x[5150:5160], 1).labels
    assert (labels[:, 0] == np.arange(5150, 5160)).all()


def test_hybrid_keeps_only_codes_in_ram(data, tmp_path):
    x, _ = data
    index = build(None, "hybrid", x, tmp_path)
    info = index.describe()
    assert info["kind"] == "ivfpq" and info["vectors"] == "mmap"
    assert info["rescore"] == index.tuning["settings"]["rescore"]  # the depth tuned to the recall target
    # codes (dim/4 bytes) + ids (8) + centroids: far below the 4*dim bytes of a full vector
    assert index.ram_bytes() / len(x) < 4 * DIM
    assert any(name.startswith("vectors-") for name in index.files())


@pytest.mark.parametrize("tier", TIERS)
def test_defaults_follow_collection_size(tier, data, tmp_path):
    x, _ = data
    small = build(None, tier, x[:500], tmp_path / "small")
    assert small.kind == "flat" and not small.wants_rebuild()
    small.add(x[500:FLAT_BELOW])
    assert small.wants_rebuild(), "a Flat fallback asks for a rebuild once the collection is large enough"
    big = build(None, tier, x, tmp_path / "big")
    assert big.kind == {"memory": "hnsw", "hybrid": "ivfpq", "disk": "ivf"}[tier]
    if tier != "memory":
        info = big.describe()
        assert info["nlist"] == default_nlist(len(x))
        assert info["nprobe"] == big.tuning["settings"]["nprobe"]  # tuned to the recall target
        assert info["rebuild_at"] == 4 * len(x)


def test_too_small_to_train_falls_back_to_flat_and_says_so(data, tmp_path, caplog):
    x, q = data
    with caplog.at_level(logging.INFO, logger="gyeol.index"):
        index = build(C.IVF(nlist=100), "disk", x[:1000], tmp_path)
    assert index.kind == "flat"
    assert "too few to train" in caplog.text and "IVF100,Flat" in caplog.text
    assert recall(index.search(q, K).labels, exact(x[:1000], q, K)[1]) == 1.0
    index.add(x[1000:3899])
    assert not index.wants_rebuild()
    index.add(x[3899:3900])  # 39 points per list reached
    assert index.wants_rebuild()
    assert build(C.IVF(nlist=100), "disk", x[:3900], tmp_path / "again").kind == "ivf"


@pytest.mark.parametrize("tier", TIERS)
def test_empty_index_then_adds(tier, tmp_path):
    x, q = clustered(50, 3)
    index = build(None, tier, np.empty((0, DIM), np.float32), tmp_path)
    assert index.ntotal == 0
    assert (index.search(q, K).labels == -1).all()
    index.add(x)
    assert recall(index.search(q, K).labels, exact(x, q, K)[1]) == 1.0


def test_read_only_store_keeps_new_rows_in_ram(tmp_path):
    x, _ = clustered(200, 1)
    store = VectorStore.create_file(tmp_path, "vectors", x[:100], DIM)
    size = store.path.stat().st_size
    reader = VectorStore.open_file(store.path, DIM, 100, writable=False)
    reader.append(x[100:])
    assert reader.n == 200 and store.path.stat().st_size == size
    np.testing.assert_array_equal(reader.rows(np.array([5, 150])), x[[5, 150]])
    np.testing.assert_array_equal(reader.view(), x)


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, tier, metric, match",
    [
        (C.IVFPQ(m=7), "hybrid", "cosine", "must divide the dimension 48"),
        (C.HNSW(), "hybrid", "cosine", "does not fit tier 'hybrid'"),
        (C.HNSW(), "disk", "cosine", "does not fit tier 'disk'"),
        (C.IVF(), "hybrid", "cosine", "does not fit tier 'hybrid'"),
        (C.IVF(nlist=8, nprobe=16), "memory", "cosine", "exceeds nlist=8"),
        (C.Factory(spec="NSG32,Flat"), "memory", "ip", "cannot"),
        (C.Factory(spec="PQ8"), "memory", "l2", "cannot run filtered searches"),
        (C.Factory(spec="IDMap,Flat"), "memory", "l2", "cannot run filtered searches"),
        (C.Factory(spec="IVF8,Bogus"), "memory", "l2", "FAISS cannot build index"),
        (C.Factory(spec="HNSW32"), "hybrid", "cosine", "stores full vectors"),
        (C.Factory(spec="HNSW32"), "disk", "cosine", "cannot be served memory-mapped"),
        (C.Factory(spec="IVF8,PQ7"), "memory", "l2", "FAISS cannot build index"),
    ],
)
def test_specs_that_cannot_work_are_refused(spec, tier, metric, match, tmp_path):
    with pytest.raises(InvalidInputError, match=match):
        validate_spec(spec, tier=tier, metric=metric, dim=DIM)
    with pytest.raises(InvalidInputError, match=match):
        build_index(spec, tier=tier, metric=metric, dim=DIM, vectors=np.zeros((10, DIM), np.float32),
                    directory=tmp_path / "idx")
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("tier", ["hybrid", "disk"])
def test_disk_tiers_need_a_directory(tier):
    with pytest.raises(InvalidInputError, match="needs a database on disk"):
        build_index(None, tier=tier, metric="cosine", dim=DIM, vectors=np.zeros((10, DIM), np.float32),
                    directory=None)
    with pytest.raises(InvalidInputError, match="needs a database on disk"):
        gyeol.connect().create_collection("c", embedder=None, dim=DIM, tier=tier, tokenizer="whitespace")


@pytest.mark.skipif(gpu_count() > 0, reason="checks the no-GPU path")
def test_gpu_without_gpu_raises_and_writes_nothing(tmp_path):
    assert resolve_device("auto") == "cpu"
    with pytest.raises(BackendUnavailableError, match=r"gyeol\[gpu\]") as caught:
        resolve_device("gpu")
    assert "device='cpu'" in str(caught.value) and "auto" in str(caught.value)
    with pytest.raises(BackendUnavailableError):
        build_index(None, tier="disk", metric="cosine", dim=DIM, vectors=np.zeros((10, DIM), np.float32),
                    directory=tmp_path / "idx", device="gpu")
    assert not (tmp_path / "idx").exists()
    db = gyeol.connect(tmp_path / "kb")
    with pytest.raises(BackendUnavailableError):
        db.create_collection("c", embedder=None, dim=DIM, device="gpu", tokenizer="whitespace")
    assert db.list_collections() == []
    db.close()
    assert not any((tmp_path / "kb").rglob("*.f32")) and not any((tmp_path / "kb").rglob("*.faiss"))


# -- through the public API -------------------------------------------------------------------


def test_reopening_across_tiers_keeps_results(data, tmp_path):
    x, q = data
    ids = [str(i) for i in range(len(x))]
    with gyeol.connect(tmp_path / "kb") as db:
        col = db.create_collection("docs", embedder=None, dim=DIM, tokenizer="whitespace")
        col.add(ids, ids=ids, vectors=x)
        col.delete(ids=ids[:50])
        reference = [r.ids for r in col.search_many(vectors=q, k=K, mode="vector")]
    truth = exact(x, q, K + 50, mask=np.arange(len(x)) >= 50)[1][:, :K]
    for tier in ("hybrid", "disk", "memory", "hybrid"):
        with gyeol.connect(tmp_path / "kb") as db:
            col = db.get_collection("docs", tier=tier)
            assert col.tier == tier and col.count() == len(x) - 50
            got = [r.ids for r in col.search_many(vectors=q, k=K, mode="vector")]
        assert all(len(g) == K and not set(g) & set(ids[:50]) for g in got)
        overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(got, reference)])
        assert overlap >= 0.9, (tier, overlap)
        assert recall(np.array([[int(i) for i in g] for g in got]), truth) >= 0.9


class StandInGpu:
    """Plays a GPU copy on a CPU-only machine: searches the index it was made from, without selectors."""

    def __init__(self, index) -> None:
        self.index = index
        self.calls = 0

    @property
    def ntotal(self) -> int:
        return self.index.ntotal

    def search(self, queries, k):
        assert k <= 2048, "FAISS GPU kernels take k <= 2048"
        self.calls += 1
        return self.index.search(queries, k)

    def add(self, vectors) -> None:  # the CPU copy, which this searches, already received them
        pass


@pytest.mark.parametrize("tier, spec", [("memory", C.Flat()), ("memory", C.IVF()), ("hybrid", C.IVFPQ(m=12, nbits=6)),
                                        ("disk", None), ("disk", C.Flat()), ("memory", None)])
def test_gpu_placement_logic_with_a_stand_in(tier, spec, data, tmp_path, monkeypatch):
    """The GPU control flow (placement, over-fetch for filters, CPU completion, adds, reload) without a GPU."""
    from gyeol.index import device

    monkeypatch.setattr(device, "gpu_count", lambda: 1)
    monkeypatch.setattr(device, "to_gpu",
                        lambda index, *, kind, nprobe: StandInGpu(index) if kind in device.GPU_KINDS else None)
    x, q = data
    index = build_index(spec, tier=tier, metric="cosine", dim=DIM, vectors=x[:5500], directory=tmp_path,
                        device="gpu")
    assert index.device == ("cpu" if index.kind == "hnsw" else "gpu")
    truth = exact(x[:5500], q, K)[1]
    assert recall(index.search(q, K).labels, truth) >= 0.9
    placed = getattr(getattr(index, "inner", None) or getattr(index, "base", None) or index, "gpu", None)
    assert (placed is not None and placed.calls > 0) == (index.device == "gpu")
    for fraction in (0.5, 0.05, 0.001):
        mask = np.random.default_rng(9).random(5500) < fraction
        labels = index.search(q, K, mask).labels
        want = min(K, int(mask.sum()))
        assert all(len(set(r[r >= 0])) == want and mask[r[r >= 0]].all() for r in labels)
    index.add(x[5500:])
    labels = index.search(x[5500:5510], 1).labels
    assert (labels[:, 0] == np.arange(5500, 5510)).all()
    save_index(index, tmp_path, generation=0, tier=tier, metric="cosine")
    loaded = load_index(tmp_path, generation=0, tier=tier, metric="cosine", dim=DIM, next_label=len(x), device="gpu")
    assert loaded.device == index.device
    np.testing.assert_array_equal(loaded.search(q, K).labels, index.search(q, K).labels)
