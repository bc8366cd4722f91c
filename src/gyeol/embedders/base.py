"""The Embedder protocol, output checks, batching across threads, and the callable adapter.

An embedder turns texts into an (n, dim) float32 array. Retrieval models are often
asymmetric (e5 wants "query: " / "passage: ", bge an instruction before queries), so the
protocol has two entry points, `embed_documents` and `embed_queries`. Objects that only
have `embed(texts)`, and plain callables, still work: they serve both sides.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Iterator, Protocol, Sequence, runtime_checkable

import numpy as np

from ..errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "Embedder",
    "SupportsEmbed",
    "BaseEmbedder",
    "CallableEmbedder",
    "embed_documents",
    "embed_queries",
    "check_embeddings",
    "embedder_name",
    "map_batches",
    "available_cpus",
]

log = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Anything that embeds documents and queries apart, each batch into an (n, dim) float array."""

    def embed_documents(self, texts: list[str]) -> np.ndarray: ...

    def embed_queries(self, texts: list[str]) -> np.ndarray: ...


@runtime_checkable
class SupportsEmbed(Protocol):
    """The older, symmetric protocol: one `embed` for documents and queries alike."""

    def embed(self, texts: list[str]) -> np.ndarray: ...


class BaseEmbedder:
    """Shared behaviour of gyeol's own embedders: `embed` is `embed_documents`, a cached dim.

    Subclasses set `name`, `query_prompt`, `document_prompt` and `normalize`, and implement
    `_embed(texts, is_query)`; the public methods check the output before giving it back.
    """

    kind = "object"  # gyeol's built-ins say "builtin", the sentence-transformers adapter its own
    name: str = "embedder"
    query_prompt: str | None = None
    document_prompt: str | None = None
    normalize: bool | None = True
    local = False  # True when loaded from a machine-local path: not rebuilt from a stored description

    _model: Any = None
    _lock: threading.Lock

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def _load_model(self) -> Any:  # pragma: no cover - abstract
        """Load and give back the model (raising BackendUnavailableError when it cannot be had)."""
        raise NotImplementedError

    def _load(self) -> Any:
        """The model, loaded by _load_model once, on first use, whichever thread asks first."""
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load_model()
        return self._model

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 vectors of documents (passages)."""
        texts = _text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return check_embeddings(self._embed(texts, False), len(texts), self.dim, source=self.name)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        """(n, dim) float32 vectors of search queries."""
        texts = _text_list(texts)
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        return check_embeddings(self._embed(texts, True), len(texts), self.dim, source=self.name)

    def embed(self, texts: list[str]) -> np.ndarray:
        """Documents' vectors, for callers of the older symmetric protocol."""
        return self.embed_documents(texts)

    def describe(self) -> dict[str, Any]:
        """What to store about this embedder (no absolute local paths); no model is run."""
        return {
            "kind": self.kind,
            "name": self.name,
            "query_prompt": self.query_prompt,
            "document_prompt": self.document_prompt,
            "normalize": self.normalize,
            **({"local": True} if self.local else {}),
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class PooledEmbedder(BaseEmbedder):
    """A built-in embedder that embeds document batches on a pool of threads.

    threads: Python threads embedding batches side by side (None: every available core).
    batch_size: texts per batch (None: the class's). progress: show a tqdm bar while embedding documents.
    """

    kind = "builtin"
    batch_size = 16

    def __init__(self, *, threads: int | None = None, batch_size: int | None = None,
                 progress: bool = False) -> None:
        for label, value in (("threads", threads), ("batch_size", batch_size)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                raise InvalidInputError(f"{label} must be a positive int or None, got {value!r}")
        self.threads = threads
        self.batch_size = batch_size or type(self).batch_size
        self.progress = bool(progress)
        self._model = None
        self._lock = threading.Lock()

    def _worker_threads(self) -> int:
        return self.threads if self.threads is not None else available_cpus()

    @property
    def call_size(self) -> int:
        """Texts per embed_documents call that give each worker thread one batch: a collection sends
        documents in parts of this size, so a long add moves its progress bar part by part."""
        return self.batch_size * max(1, self._worker_threads())


class CallableEmbedder:
    """Wraps a plain callable list[str] -> array-like (n, dim); it serves documents and queries."""

    kind = "callable"

    def __init__(self, fn: Callable[[list[str]], Any], name: str | None = None) -> None:
        if not callable(fn):
            raise InvalidInputError(f"CallableEmbedder needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "callable")
        self.dim: int | None = None

    def embed(self, texts: list[str]) -> np.ndarray:
        out = self.fn(list(texts))
        try:
            return np.asarray(out, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"embedder {self.name!r} returned {type(out).__name__}, not a numeric array: {exc}"
            ) from None

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)


def _text_list(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise InvalidInputError(f"texts must be a list of str, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(
            f"texts must all be str; item {bad[0]} is {type(texts[bad[0]]).__name__}"
            + (f" ({len(bad)} items are not str)" if len(bad) > 1 else "")
        )
    return list(texts)


def embedder_name(embedder: Any) -> str:
    """A readable name for messages: the embedder's `name`, else its type's."""
    name = getattr(embedder, "name", None)
    return str(name) if name else type(embedder).__name__


def _method(embedder: Any, is_query: bool) -> Callable[[list[str]], Any]:
    preferred = getattr(embedder, "embed_queries" if is_query else "embed_documents", None)
    if callable(preferred):
        return preferred
    embed = getattr(embedder, "embed", None)
    if callable(embed):
        return embed
    if callable(embedder):
        return embedder
    raise InvalidInputError(
        f"{type(embedder).__name__} is not an embedder: it has no embed_documents/embed_queries or embed, "
        "and is not callable"
    )


def embed_documents(embedder: Any, texts: list[str], *, dim: int | None = None) -> np.ndarray:
    """Embed documents with any embedder (protocol object, `embed`-only object or callable), checked."""
    return _run(embedder, texts, dim, is_query=False)


def embed_queries(embedder: Any, texts: list[str], *, dim: int | None = None) -> np.ndarray:
    """Embed queries with any embedder (protocol object, `embed`-only object or callable), checked."""
    return _run(embedder, texts, dim, is_query=True)


def _run(embedder: Any, texts: list[str], dim: int | None, *, is_query: bool) -> np.ndarray:
    texts = _text_list(texts)
    fn = _method(embedder, is_query)
    if not texts:
        known = dim or getattr(embedder, "dim", None)
        return np.zeros((0, known if isinstance(known, int) else 0), np.float32)
    return check_embeddings(fn(texts), len(texts), dim, source=embedder_name(embedder))


def check_embeddings(out: Any, n: int, dim: int | None, *, source: str = "embedder") -> np.ndarray:
    """Give back `out` as a C-contiguous float32 (n, dim) array of finite values, or raise saying what was found."""
    try:
        arr = np.asarray(out, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"embedder {source!r} returned {type(out).__name__}, not a numeric array of shape ({n}, dim): {exc}"
        ) from None
    if arr.ndim != 2 or arr.shape[0] != n:
        raise InvalidInputError(
            f"embedder {source!r} returned shape {arr.shape} for {n} texts; expected ({n}, dim)"
        )
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"embedder {source!r} returned vectors of dimension {arr.shape[1]}; expected {dim}"
        )
    if arr.shape[1] == 0:
        raise InvalidInputError(f"embedder {source!r} returned vectors of dimension 0")
    finite = np.isfinite(arr)
    if not finite.all():
        rows = np.flatnonzero(~finite.all(axis=1))
        kinds = sorted({"NaN" if np.isnan(x) else "inf" for x in arr[~finite][:1000]})
        raise InvalidInputError(
            f"embedder {source!r} returned {int((~finite).sum())} non-finite values ({'/'.join(kinds)}) "
            f"in {rows.size} of {n} rows (first rows: {rows[:5].tolist()})"
        )
    return np.ascontiguousarray(arr)


def available_cpus() -> int:
    """CPU cores this process may run on (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _chunks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(n, start + size)


def map_batches(
    fn: Callable[[list[str]], np.ndarray],
    texts: list[str],
    *,
    batch_size: int,
    threads: int = 1,
    progress: bool = False,
    desc: str = "embedding",
    initializer: Callable[[], None] | None = None,
) -> list[np.ndarray]:
    """Run fn over consecutive batches of texts, on a thread pool when threads > 1, in input order.

    Threads help when fn releases the GIL for most of its time (ctypes calls, numpy/BLAS).
    `initializer` runs once in each worker thread (e.g. to limit a native thread pool).
    """
    spans = list(_chunks(len(texts), max(1, batch_size)))
    bar = _progress_bar(len(texts), desc) if progress else None
    try:
        if threads <= 1 or len(spans) <= 1:  # the calling thread keeps its own settings
            parts = []
            for start, stop in spans:
                parts.append(fn(texts[start:stop]))
                if bar is not None:
                    bar.update(stop - start)
            return parts
        with ThreadPoolExecutor(max_workers=min(threads, len(spans)), initializer=initializer,
                                thread_name_prefix="gyeol-embed") as pool:
            futures = [pool.submit(fn, texts[start:stop]) for start, stop in spans]
            parts = []
            for (start, stop), future in zip(spans, futures):
                parts.append(future.result())
                if bar is not None:
                    bar.update(stop - start)
            return parts
    finally:
        if bar is not None:
            bar.close()


def _progress_bar(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        log.info("%s: %d texts (install tqdm for a progress bar)", desc, total)
        return None
    return tqdm(total=total, desc=desc, unit="text", leave=False)
