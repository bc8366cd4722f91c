"""Where an index runs: resolve "cpu" | "gpu" | "auto", train on a GPU, and copy compatible indexes to it.

GPU support comes from faiss-gpu (the `gpu` extra); nothing here imports a
GPU-only symbol until an index is actually placed on a GPU. Flat, IVF-Flat and
IVF-PQ (8-bit codes) indexes are trained on the GPU (train_index: a GPU copy of
the empty index is trained and copied back) and copied there with
index_cpu_to_gpu to serve searches; the CPU copy stays for saving and for the
rare filtered rows the GPU cannot answer. HNSW and IVF-PQ fast-scan (4-bit)
indexes have no GPU form in faiss-gpu: they log a warning, train and stay on
the CPU, and report device "cpu".

faiss-cpu and faiss-gpu-cu12 both install the one `faiss` module, the second
over the first's files: faiss_conflict() finds both distributions installed
and device="gpu" / "auto" refuse to run on such a mixed install.
"""

from __future__ import annotations

import functools
import logging
import math

import numpy as np

from ..config import DEVICES, check_choice
from ..errors import BackendUnavailableError
from ..ranked import Ranked
from .base import distances_to_scores, top_k

log = logging.getLogger(__name__)

# faiss-cpu and faiss-gpu-cu12 both install the `faiss` module: the GPU build must replace the CPU one
GPU_INSTALL_HINT = (
    'pip install "gyeol[gpu]" && pip uninstall -y faiss-cpu && pip install --force-reinstall --no-deps faiss-gpu-cu12'
)
# The largest k (and nprobe) FAISS GPU kernels accept.
GPU_MAX_K = 2048
# Index kinds index_cpu_to_gpu can copy.
GPU_KINDS = ("flat", "ivf", "ivfpq")
# Over-fetch factor for filtered GPU searches (GPU indexes take no ID selector).
GPU_FILTER_OVERFETCH = 1.5

_resources = None


# Distributions that install the `faiss` module: a CPU build and the GPU builds.
FAISS_CPU_DISTRIBUTIONS = ("faiss-cpu",)
FAISS_GPU_DISTRIBUTIONS = ("faiss-gpu-cu12", "faiss-gpu-cu11", "faiss-gpu")


def _installed(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@functools.cache  # reads package metadata once per process (a few ms), only when a GPU is asked for
def faiss_conflict() -> str | None:
    """What is wrong when a CPU and a GPU FAISS distribution are both installed, else None."""
    cpu = [(name, v) for name in FAISS_CPU_DISTRIBUTIONS if (v := _installed(name))]
    gpu = [(name, v) for name in FAISS_GPU_DISTRIBUTIONS if (v := _installed(name))]
    if not cpu or not gpu:
        return None
    both = " and ".join(f"{name} {version}" for name, version in (cpu[0], gpu[0]))
    return (
        f"{both} are both installed; they install the same `faiss` module, one over the other's files, "
        f"so which FAISS runs (and whether it sees a GPU) is not defined. Keep one: for a GPU, "
        f"`pip uninstall -y faiss-cpu {gpu[0][0]} && pip install {gpu[0][0]}`; for the CPU only, "
        f"`pip uninstall -y {gpu[0][0]} faiss-cpu && pip install faiss-cpu`."
    )


@functools.cache  # asking FAISS initialises CUDA; the answer does not change within a process
def gpu_count() -> int:
    """How many GPUs FAISS can use here (0 with faiss-cpu)."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss is a dependency
        return 0
    get = getattr(faiss, "get_num_gpus", None)
    if get is None:
        return 0
    try:
        return int(get())
    except Exception:  # a broken CUDA install counts as no GPU
        return 0


def resolve_device(device: str) -> str:
    """"cpu" or "gpu" for a requested device; "gpu" without a usable GPU raises BackendUnavailableError."""
    check_choice("device", device, DEVICES)
    if device == "cpu":
        return "cpu"
    conflict = faiss_conflict()
    if conflict is not None:
        raise BackendUnavailableError(f"device={device!r}: {conflict} (or use device='cpu')")
    if gpu_count() > 0:
        return "gpu"
    if device == "auto":
        return "cpu"
    raise BackendUnavailableError(
        "device='gpu' needs FAISS with GPU support and a CUDA GPU, but the installed FAISS sees no GPU. "
        f"Install it with `{GPU_INSTALL_HINT}` (brings faiss-gpu-cu12), "
        "or use device='cpu', or device='auto' to use a GPU only when one is there."
    )


def gpu_resources():
    """The process-wide FAISS GPU resources (temporary memory, streams), made on first use."""
    global _resources
    if _resources is None:
        import faiss

        _resources = faiss.StandardGpuResources()
    return _resources


def gpu_form(index, kind: str) -> str | None:
    """Why this index has no GPU form in faiss-gpu, or None when index_cpu_to_gpu can copy it."""
    import faiss

    if kind not in GPU_KINDS:
        return f"{kind} indexes have no GPU form in faiss-gpu"
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexIVFPQFastScan):
        return ("4-bit fast-scan IVF-PQ indexes have no GPU form in faiss-gpu (an index built on device='gpu', "
                "e.g. after compact(), uses 8-bit GPU IVF-PQ codes)")
    if isinstance(inner, faiss.IndexIVFPQ) and int(inner.pq.nbits) != 8:
        return f"{int(inner.pq.nbits)}-bit IVF-PQ codes have no GPU form in faiss-gpu (it takes 8-bit codes)"
    return None


def _cloner_options(kind: str):
    import faiss

    options = faiss.GpuClonerOptions()
    options.useFloat16 = kind == "ivfpq"  # float16 lookup tables: needed for many sub-quantisers
    return options


def train_index(index, sample: np.ndarray, *, kind: str, gpu: bool):
    """Train an empty CPU FAISS index on sample; on a GPU when asked and the index has a GPU form.

    Gives back (the trained CPU index, where it was trained: "gpu" or "cpu"). On the GPU a copy
    of the empty index is trained there (k-means, and the PQ codebooks for IVF-PQ) and copied
    back with index_gpu_to_cpu; the search settings of the CPU index are set again on the copy.
    """
    import faiss

    if gpu and gpu_form(index, kind) is None:
        try:
            on_gpu = faiss.index_cpu_to_gpu(gpu_resources(), 0, index, _cloner_options(kind))
            on_gpu.train(sample)
            trained = faiss.index_gpu_to_cpu(on_gpu)
        except (RuntimeError, AttributeError) as exc:
            log.warning("could not train the %s index on the GPU (%s); training on the CPU", kind, exc)
        else:
            _copy_search_settings(index, trained)
            return trained, "gpu"
    index.train(sample)
    return index, "cpu"


def _copy_search_settings(source, target) -> None:
    """nprobe, and IVF-PQ's precomputed-table choice, from source onto the copy back from the GPU."""
    import faiss

    before, after = faiss.try_extract_index_ivf(source), faiss.try_extract_index_ivf(target)
    if before is None or after is None:
        return
    after.nprobe = before.nprobe
    before, after = faiss.downcast_index(before), faiss.downcast_index(after)
    choice = getattr(before, "use_precomputed_table", None)
    if choice is not None and getattr(after, "use_precomputed_table", None) != choice:
        after.use_precomputed_table = choice
        table = getattr(after, "precomputed_table", None)
        if choice < 0 and table is not None:
            table.resize(0)  # the copy back may have computed it: not wanted (RAM), as on the CPU


def to_gpu(index, *, kind: str, nprobe: int | None):
    """A GPU copy of a CPU FAISS index, or None (logged) when this kind cannot live on a GPU."""
    import faiss

    why = gpu_form(index, kind)
    if why is not None:
        log.warning("%s; this index stays on the CPU", why)
        return None
    try:
        gpu = faiss.index_cpu_to_gpu(gpu_resources(), 0, index, _cloner_options(kind))
    except (RuntimeError, AttributeError) as exc:
        log.warning("could not copy the %s index to the GPU (%s); it stays on the CPU", kind, exc)
        return None
    if nprobe:
        faiss.GpuParameterSpace().set_index_parameter(gpu, "nprobe", min(int(nprobe), GPU_MAX_K))
    return gpu


def gpu_search(gpu, queries: np.ndarray, k: int, mask: np.ndarray | None, metric: str) -> Ranked | None:
    """Results from the GPU copy, or None when the GPU cannot answer (k too large).

    A filter is applied by fetching more hits than k (in proportion to how much
    the mask removes) and dropping disallowed labels; rows left short are then
    completed on the CPU by the caller.
    """
    n = int(gpu.ntotal)
    if mask is None:
        fetch = k
    else:
        n_allowed = max(int(mask.sum()), 1)
        fetch = min(n, math.ceil(k * n / n_allowed * GPU_FILTER_OVERFETCH) + 16)
    if fetch > GPU_MAX_K:
        return None
    distances, labels = gpu.search(queries, fetch)
    scores = distances_to_scores(distances, labels, metric)
    if mask is not None:
        allowed = (labels >= 0) & mask[np.maximum(labels, 0)]
        labels = np.where(allowed, labels, -1)
        scores = np.where(allowed, scores, np.float32(-np.inf))
    return top_k(Ranked(labels, scores), k)
