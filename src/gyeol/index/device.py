"""Device placement: "cpu", "gpu" (faiss-gpu required) or "auto" (GPU when present)."""

from __future__ import annotations

from ..errors import BackendUnavailableError, InvalidInputError


def gpu_count() -> int:
    """How many GPUs the installed FAISS can use (0 with faiss-cpu)."""
    import faiss

    get = getattr(faiss, "get_num_gpus", None)
    try:
        return int(get()) if get is not None else 0
    except Exception:  # a broken CUDA install counts as no GPU
        return 0


def resolve_device(device: str) -> str:
    """Give back "cpu" or "gpu" for a requested device, or raise if "gpu" cannot be had."""
    if device == "cpu":
        return "cpu"
    if device not in ("gpu", "auto"):
        raise InvalidInputError(f"unknown device {device!r}; expected one of cpu, gpu, auto")
    if gpu_count() > 0:
        return "gpu"
    if device == "auto":
        return "cpu"
    raise BackendUnavailableError(
        "device='gpu' needs a CUDA GPU and faiss with GPU support; none found. Install the gpu extra "
        "(pip uninstall -y faiss-cpu && pip install 'gyeol[gpu]', which brings faiss-gpu-cu12), "
        "or use device='cpu' or device='auto'"
    )
