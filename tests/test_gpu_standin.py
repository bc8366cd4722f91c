"""GPU placement control flow on a CPU-only machine: a stand-in for faiss-gpu's module functions.

faiss-cpu has no index_cpu_to_gpu, StandardGpuResources, ... : the stand-in puts them on the
`faiss` module (monkeypatched), each "GPU index" a CPU clone that counts its calls. Checked:
device="gpu" trains on the GPU and serves from it for every index with a GPU form, the device
gyeol reports (col.device, index_info) is the device used, an index with no GPU form (HNSW,
4-bit fast-scan) is never copied and says "cpu", placement survives a reopen, and a mixed
faiss-cpu + faiss-gpu install is refused before anything is written.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

import gyeol
from gyeol import config as C
from gyeol.errors import BackendUnavailableError
from gyeol.index import device

from index_data import DIM, clustered, exact, recall

K = 10
N = 10_200  # enough to train 8-bit PQ codes (256 centroids x 39 points), the GPU hybrid tier's


class StandInGpuIndex:
    """A "GPU" copy: a CPU clone of the index, counting trains, searches and adds; no selectors."""

    made: list["StandInGpuIndex"] = []

    def __init__(self, index) -> None:
        try:
            self.cpu = faiss.clone_index(index)
        except RuntimeError:  # memory-mapped lists cannot be cloned: share them (read-only, never added to)
            self.cpu = index
        self.d = int(index.d)
        self.trains = self.searches = self.adds = 0
        StandInGpuIndex.made.append(self)

    @property
    def ntotal(self) -> int:
        return int(self.cpu.ntotal)

    @property
    def is_trained(self) -> bool:
        return bool(self.cpu.is_trained)

    def train(self, x) -> None:
        self.trains += 1
        self.cpu.train(x)

    def search(self, queries, k):
        assert k <= 2048, "FAISS GPU kernels take k <= 2048"
        self.searches += 1
        return self.cpu.search(queries, k)

    def add(self, x) -> None:
        self.adds += 1
        self.cpu.add(x)


class StandInParameterSpace:
    def set_index_parameter(self, index, name, value) -> None:
        assert isinstance(index, StandInGpuIndex) and name == "nprobe"
        faiss.extract_index_ivf(index.cpu).nprobe = int(value)


class StandInOptions:
    useFloat16 = False


def _to_gpu(resources, dev, index, options=None):
    inner = faiss.downcast_index(index)
    if isinstance(inner, (faiss.IndexHNSW, faiss.IndexIVFPQFastScan)) or (
        isinstance(inner, faiss.IndexIVFPQ) and inner.pq.nbits != 8
    ):
        raise RuntimeError(f"{type(inner).__name__} has no GPU form")  # what faiss-gpu does
    return StandInGpuIndex(index)


@pytest.fixture
def fake_gpu(monkeypatch):
    """faiss with GPU module functions (stand-ins) and one "GPU"."""
    StandInGpuIndex.made = []
    for name, value in {
        "get_num_gpus": lambda: 1,
        "StandardGpuResources": object,
        "GpuClonerOptions": StandInOptions,
        "GpuParameterSpace": StandInParameterSpace,
        "index_cpu_to_gpu": _to_gpu,
        "index_gpu_to_cpu": lambda gpu: faiss.clone_index(gpu.cpu),
    }.items():
        monkeypatch.setattr(faiss, name, value, raising=False)
    monkeypatch.setattr(device, "_resources", None)
    device.gpu_count.cache_clear()
    device.faiss_conflict.cache_clear()
    yield StandInGpuIndex
    device.gpu_count.cache_clear()
    device.faiss_conflict.cache_clear()


@pytest.fixture(scope="module")
def data():
    return clustered(N, 30, seed=5)


# (tier, index spec, kind built, whether it has a GPU form)
CASES = [
    ("memory", None, "ivf", True),  # faiss-gpu has no HNSW: the GPU memory tier is IVF-Flat
    ("memory", C.Flat(), "flat", True),
    ("memory", C.HNSW(), "hnsw", False),
    ("hybrid", None, "ivfpq", True),  # 8-bit codes on a GPU
    ("hybrid", C.IVFPQ(nbits=4), "ivfpq", False),  # 4-bit fast-scan: no GPU form
    ("disk", None, "ivf", True),
]


@pytest.mark.parametrize("tier, spec, kind, on_gpu", CASES, ids=[f"{c[0]}-{c[2]}-{c[3]}" for c in CASES])
def test_reported_device_is_the_device_used(tier, spec, kind, on_gpu, data, fake_gpu, tmp_path):
    x, q = data
    ids = [str(i) for i in range(len(x))]
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("c", embedder=None, dim=DIM, tier=tier, index=spec, device="gpu",
                               tokenizer="whitespace")
    col.add(ids=ids, vectors=x)
    info = col.index_info
    assert info["kind"] == kind
    made = fake_gpu.made
    if on_gpu:
        trained = [g for g in made if g.trains]
        serving = [g for g in made if not g.trains]
        trains_on_gpu = kind != "flat"
        assert len(trained) == (1 if trains_on_gpu else 0)  # k-means (and PQ codebooks) ran on the "GPU"
        assert info["trained_on"] == ("gpu" if trains_on_gpu else None)
        assert serving and serving[-1].ntotal == len(x)
        before = serving[-1].searches
        found = [[int(i) for i in r.ids] for r in col.search_many(vectors=q, k=K, mode="vector")]
        assert serving[-1].searches > before  # the copy that serves is the one reported
        assert col.device == "gpu" and info["device"] == "gpu"
    else:
        assert made == []  # never copied (nor trained) on the "GPU"
        assert col.device == "cpu" and info["device"] == "cpu"
        assert info["trained_on"] in (None, "cpu")
        found = [[int(i) for i in r.ids] for r in col.search_many(vectors=q, k=K, mode="vector")]
    if tier == "hybrid":
        assert info["rescored_on"] == "cpu"
    assert recall(np.array(found), exact(x, q, K)[1]) >= 0.9
    db.close()

    fake_gpu.made = []
    with gyeol.connect(tmp_path / "kb") as db:  # reopened on the GPU: loaded (not rebuilt), placed again
        col = db.get_collection("c", device="gpu")
        info = col.index_info
        assert col.device == info["device"] == ("gpu" if on_gpu else "cpu")
        assert all(g.trains == 0 for g in fake_gpu.made)  # nothing trained again
        assert len(fake_gpu.made) == (1 if on_gpu else 0)
        if on_gpu and kind != "flat":
            assert info["trained_on"] == "gpu"  # persisted with the index
        col.search(vector=q[0], k=K, mode="vector")
        if on_gpu:
            assert fake_gpu.made[0].searches == 1
        col = db.get_collection("c", device="cpu")
        assert col.device == col.index_info["device"] == "cpu"


def test_gpu_training_keeps_the_search_settings(data, fake_gpu, tmp_path):
    """The index copied back from GPU training keeps nprobe (and the tuned one reaches the GPU copy)."""
    from gyeol.index import build_index

    x, q = data
    index = build_index(C.IVF(nlist=64, nprobe=7, recall_target=None), tier="memory", metric="l2", dim=DIM,
                        vectors=x, directory=None, device="gpu")
    assert index.device == "gpu" and index.trained_on == "gpu" and index.nprobe == 7
    assert faiss.extract_index_ivf(index.index).nprobe == 7
    serving = [g for g in fake_gpu.made if not g.trains][-1]
    assert faiss.extract_index_ivf(serving.cpu).nprobe == 7
    hits = index.search(q, K)
    assert serving.searches == 1 and recall(hits.labels, exact(x, q, K, "l2")[1]) >= 0.8


def test_mixed_faiss_install_is_refused_and_writes_nothing(monkeypatch, tmp_path):
    versions = {"faiss-cpu": "1.15.1", "faiss-gpu-cu12": "1.15.1"}
    monkeypatch.setattr(device, "_installed", versions.get)
    device.faiss_conflict.cache_clear()
    try:
        db = gyeol.connect(tmp_path / "kb")
        for asked in ("gpu", "auto"):
            with pytest.raises(BackendUnavailableError, match="faiss-cpu 1.15.1 and faiss-gpu-cu12") as caught:
                db.create_collection("c", embedder=None, dim=DIM, device=asked, tokenizer="whitespace")
            assert "pip uninstall -y faiss-cpu" in str(caught.value) and "device='cpu'" in str(caught.value)
        assert db.list_collections() == []
        col = db.create_collection("c", embedder=None, dim=DIM, device="cpu", tokenizer="whitespace")
        assert col.device == "cpu"  # the CPU path does not ask
        db.close()
        monkeypatch.setattr(device, "_installed", {"faiss-cpu": "1.15.1"}.get)
        device.faiss_conflict.cache_clear()
        assert device.faiss_conflict() is None
    finally:
        device.faiss_conflict.cache_clear()
