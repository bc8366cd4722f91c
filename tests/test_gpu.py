"""GPU placement (device="gpu" / "auto"): skipped where FAISS sees no GPU.

Run on a GPU machine with benchmarks/gpu_check.sh (installs faiss-gpu-cu12 when needed).
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

import gyeol
from gyeol import config as C
from gyeol.index import build_index, load_index, save_index
from gyeol.index.device import gpu_count, resolve_device

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(gpu_count() == 0, reason="needs a CUDA GPU and faiss-gpu (pip install 'gyeol[gpu]')"),
]

from index_data import DIM, clustered, exact, recall
K = 10


N = 14000  # enough to train 8-bit PQ codes (256 centroids x 39 points), the GPU's PQ form


@pytest.fixture(scope="module")
def data():
    return clustered(N, 50, seed=11)


@pytest.fixture(scope="module")
def on_gpu(data, tmp_path_factory):
    """Each GPU case built once over the data."""
    x, _ = data
    built = {}
    for tier, spec, kind, _ in GPU_CASES:
        directory = tmp_path_factory.mktemp(f"{tier}-{kind}")
        built[(tier, kind)] = build_index(spec, tier=tier, metric="cosine", dim=DIM, vectors=x,
                                          directory=directory, device="gpu")
    return built


def test_devices_resolve_to_the_gpu():
    assert resolve_device("gpu") == "gpu"
    assert resolve_device("auto") == "gpu"
    assert resolve_device("cpu") == "cpu"


GPU_CASES = [
    ("memory", C.Flat(), "flat", 1.0),
    ("memory", C.IVF(), "ivf", 0.9),
    ("memory", C.IVFPQ(m=12, nbits=8), "ivfpq", 0.9),
    ("hybrid", None, "ivfpq", 0.9),
    ("disk", None, "ivf", 0.9),
    ("disk", C.Flat(), "flat", 1.0),
]


@pytest.mark.parametrize("tier, spec, kind, target", GPU_CASES)
def test_gpu_placement_searches_like_the_cpu(tier, spec, kind, target, data, on_gpu, tmp_path):
    x, q = data
    cpu = build_index(spec, tier=tier, metric="cosine", dim=DIM, vectors=x, directory=tmp_path / "cpu")
    gpu = on_gpu[(tier, kind)]
    assert gpu.kind == kind and gpu.device == "gpu" and cpu.device == "cpu"
    cpu_labels = cpu.search(q, K).labels
    hits = gpu.search(q, K)
    scores, labels = hits.scores, hits.labels
    assert labels.shape == (len(q), K) and np.all(np.diff(scores, axis=1) <= 1e-5)
    assert recall(labels, exact(x, q, K)[1]) >= target
    assert recall(labels, cpu_labels) >= (0.99 if kind == "flat" else 0.85)


@pytest.mark.parametrize("tier, spec, kind, target", GPU_CASES)
@pytest.mark.parametrize("fraction", [0.6, 0.05, 0.001])
def test_gpu_filtered_search_returns_k_allowed(tier, spec, kind, target, fraction, data, on_gpu):
    x, q = data
    index = on_gpu[(tier, kind)]
    mask = np.random.default_rng(4).random(len(x)) < fraction
    want = min(K, int(mask.sum()))
    labels = index.search(q, K, mask).labels
    for row in labels:
        hits = row[row >= 0]
        assert len(hits) == want and len(set(hits)) == want and mask[hits].all()
    if kind == "flat":
        assert recall(labels[:, :want], exact(x, q, want, mask=mask)[1]) >= 0.99


def test_default_memory_tier_is_on_the_gpu(data):
    x, q = data
    index = build_index(None, tier="memory", metric="cosine", dim=DIM, vectors=x, directory=None, device="gpu")
    assert index.kind == "ivf" and index.device == "gpu" and index.trained_on == "gpu"
    assert recall(index.search(q, K).labels, exact(x, q, K)[1]) >= 0.95


def test_hnsw_stays_on_cpu_and_says_so(data, caplog):
    x, q = data
    with caplog.at_level(logging.WARNING, logger="gyeol.index"):
        index = build_index(C.HNSW(), tier="memory", metric="cosine", dim=DIM, vectors=x, directory=None,
                            device="gpu")
    assert index.kind == "hnsw" and index.device == "cpu"
    assert "no GPU form" in caplog.text
    assert recall(index.search(q, K).labels, exact(x, q, K)[1]) >= 0.95


@pytest.mark.parametrize("tier", ["memory", "hybrid", "disk"])
def test_gpu_index_saves_loads_and_grows(tier, data, tmp_path):
    x, q = data
    spec = C.IVF() if tier == "memory" else None
    head = 12000
    index = build_index(spec, tier=tier, metric="cosine", dim=DIM, vectors=x[:head], directory=tmp_path,
                        device="gpu")
    assert index.device == "gpu"
    save_index(index, tmp_path, generation=1, tier=tier, metric="cosine")
    loaded = load_index(tmp_path, generation=1, tier=tier, metric="cosine", dim=DIM, next_label=head, device="gpu")
    assert loaded is not None and loaded.device == "gpu"
    assert recall(loaded.search(q, K).labels, index.search(q, K).labels) >= 0.95
    loaded.add(x[head:])
    labels = loaded.search(x[head : head + 20], 1).labels
    assert (labels[:, 0] == np.arange(head, head + 20)).mean() >= 0.95
    on_cpu = load_index(tmp_path, generation=1, tier=tier, metric="cosine", dim=DIM, next_label=head, device="cpu")
    assert on_cpu is not None and on_cpu.device == "cpu"


def test_collection_on_gpu_through_the_public_api(data, tmp_path):
    x, q = data
    ids = [str(i) for i in range(len(x))]
    with gyeol.connect(tmp_path / "kb") as db:
        col = db.create_collection("docs", embedder=None, dim=DIM, index=gyeol.IVF(), device="gpu",
                                   tokenizer="whitespace")
        col.add(ids=ids, vectors=x)
        assert col.index_info["device"] == "gpu"
        col.delete(ids=ids[:100])  # searches now pass a live mask: GPU over-fetch, CPU completion
        on_gpu = [r.ids for r in col.search_many(vectors=q, k=K, mode="vector")]
        assert all(len(hits) == K and not set(hits) & set(ids[:100]) for hits in on_gpu)
    with gyeol.connect(tmp_path / "kb") as db:
        col = db.get_collection("docs", device="cpu")
        assert col.index_info["device"] == "cpu"
        on_cpu = [r.ids for r in col.search_many(vectors=q, k=K, mode="vector")]
        auto = db.get_collection("docs", device="auto")
        assert auto.index_info["device"] == "gpu"
    overlap = np.mean([len(set(a) & set(b)) / K for a, b in zip(on_gpu, on_cpu)])
    assert overlap >= 0.9
