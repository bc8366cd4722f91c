"""Progress reporting for long steps: tqdm when installed, else logging.

Steps that report: embedding, tokenizing for BM25, reading and chunking documents
(add_documents), adding vectors to a FAISS index (index build, a large add, compact, reembed), a
segment merge, compact's phases and reembed's documents.

Whether a bar shows is decided by time, not by size: every step done in more than one call gets
a bar (tqdm's ``delay``), and it shows only once the step has run past DELAY_S (about a second),
so short calls stay silent. Each step calls its backend a part at a time and moves the bar after
each part, so a slow part shows progress too: the embedder gets its call_size or batch_size of
texts (engine/embedding.part_size; 32 for the default model on 2 cores), Kiwi 250 texts
(TOKENIZE_PART), HNSW 1,024 vectors and the other FAISS indexes 16,384 (index/base.py). A step
done in one call makes no bar at all: a lone query or a small add never creates a tqdm object
(about 20 us each, and tqdm's lock and monitor thread with it).

Switching them: ``gyeol.set_progress(False)`` (or the environment variable ``GYEOL_PROGRESS=0``)
turns every bar off for the process and ``set_progress(True)`` back on. The calls that run long
steps take ``progress=``: ``None`` follows set_progress / GYEOL_PROGRESS, ``True`` / ``False``
force the bars of that call's steps on or off (in its thread): ``Collection.add``, ``upsert``,
``add_documents``, ``search``, ``search_many`` (the first keyword search tokenizes the whole
collection), ``save_indexes``, ``compact`` and ``reembed``.
"""

from __future__ import annotations

import logging
import os
import time
from contextvars import ContextVar, Token
from typing import Any, Iterator

from .errors import InvalidInputError

__all__ = ["set_progress", "progress_enabled", "Progress", "progress", "progress_override", "batches"]

log = logging.getLogger("gyeol")

#: A bar (or log line) is shown only once a step has run this many seconds.
DELAY_S = 1.0
_enabled: bool | None = None  # None: on unless GYEOL_PROGRESS=0
# A call's own progress= option (col.add(progress=...)), for the steps it runs in this thread or task.
_override: ContextVar[bool | None] = ContextVar("gyeol_progress", default=None)


def set_progress(enabled: bool) -> None:
    """Turn gyeol's progress bars on or off for this process."""
    global _enabled
    if not isinstance(enabled, bool):
        raise InvalidInputError(f"set_progress needs True or False, got {enabled!r}")
    _enabled = enabled


def progress_enabled() -> bool:
    """Whether long steps report progress (a call's progress=, set_progress, GYEOL_PROGRESS, else on)."""
    override = _override.get()
    if override is not None:
        return override
    if _enabled is not None:
        return _enabled
    return os.environ.get("GYEOL_PROGRESS", "1").strip().lower() not in ("0", "false", "off", "no")


class progress_override:
    """Within the block, every step in this thread or task reports progress as enabled says (None: no change).

    A class rather than a generator: a search enters one on every call.
    """

    __slots__ = ("_enabled", "_token")

    def __init__(self, enabled: bool | None) -> None:
        if enabled is not None and not isinstance(enabled, bool):
            raise InvalidInputError(f"progress must be True, False or None, got {enabled!r}")
        self._enabled = enabled
        self._token: Token[bool | None] | None = None

    def __enter__(self) -> None:
        if self._enabled is not None:
            self._token = _override.set(self._enabled)

    def __exit__(self, *exc: Any) -> None:
        if self._token is not None:
            _override.reset(self._token)
            self._token = None


class Progress:
    """A counter for one long step: a tqdm bar shown after DELAY_S, or a log line at the end."""

    def __init__(self, total: int, desc: str, unit: str = "text", *, enabled: bool | None = None) -> None:
        self.total = total
        self.desc = desc
        self.done = 0
        self._start = time.monotonic()
        self._bar: Any = None
        self._active = progress_enabled() if enabled is None else bool(enabled)
        if self._active:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, desc=desc, unit=unit, delay=DELAY_S, leave=False)

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._active:
            elapsed = time.monotonic() - self._start
            if elapsed >= DELAY_S:
                log.info("%s: %d of %d in %.1f s (install tqdm for a progress bar)",
                         self.desc, self.done, self.total, elapsed)
        self._active = False

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def progress(total: int, desc: str, unit: str = "text", *, enabled: bool | None = None) -> Progress:
    """A Progress for a step of total units (use as a context manager)."""
    return Progress(total, desc, unit, enabled=enabled)


def batches(total: int, size: int, desc: str, unit: str = "row") -> Iterator[tuple[int, int]]:
    """(start, stop) of each batch of at most size over range(total), counted on a bar (no bar for one batch)."""
    if total <= size:
        if total:
            yield 0, total
        return
    with progress(total, desc, unit) as bar:
        for start in range(0, total, size):
            stop = min(start + size, total)
            yield start, stop
            bar.update(stop - start)
