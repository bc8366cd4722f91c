"""Where an index runs: resolve "cpu" | "gpu" | "auto", and copy compatible indexes to a GPU.

GPU support comes from faiss-gpu (the `gpu` extra); nothing here imports a
GPU-only symbol until an index is actually placed on a GPU. Flat, IVF-Flat and
IVF-PQ (8-bit codes) indexes are copied with index_cpu_to_gpu; the CPU copy
stays for saving and for the rare filtered rows the GPU cannot answer. HNSW
and IVF-PQ fast-scan (4-bit) indexes have no GPU form in faiss-gpu: they log a
warning and stay on the CPU.
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


def to_gpu(index, *, kind: str, nprobe: int | None):
    """A GPU copy of a CPU FAISS index, or None (logged) when this kind cannot live on a GPU."""
    import faiss

    if kind not in GPU_KINDS:
        log.warning("%s indexes have no GPU form in faiss-gpu; this index stays on the CPU", kind)
        return None
    if isinstance(faiss.downcast_index(index), faiss.IndexIVFPQFastScan):
        log.warning("4-bit fast-scan IVF-PQ indexes have no GPU form in faiss-gpu; this index stays on the CPU "
                    "(an index built on device='gpu', e.g. after compact(), uses 8-bit GPU IVF-PQ codes)")
        return None
    options = faiss.GpuClonerOptions()
    options.useFloat16 = kind == "ivfpq"  # float16 lookup tables: needed for many sub-quantisers
    try:
        gpu = faiss.index_cpu_to_gpu(gpu_resources(), 0, index, options)
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
