"""ReadWriteLock: many readers at once, or one writer; a waiting writer goes before new readers.

A collection's searches take the shared side, so threads search one collection in parallel
(FAISS, numpy and the embedders release the GIL); a commit takes the exclusive side only for
the moment it swaps the new state in. Writers are preferred so a steady stream of searches
cannot starve a commit. A thread may take either side again while it holds the exclusive
side, and the shared side again while it holds the shared side (a nested call); taking the
exclusive side while holding only the shared side would wait forever, so it raises.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Iterator


class ReadWriteLock:
    """Shared (read) and exclusive (write) sections over one state, writer-preferring."""

    def __init__(self) -> None:
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0  # threads inside a shared section (each counted once)
        self._writer: int | None = None  # ident of the thread inside the exclusive section
        self._writer_depth = 0
        self._writers_waiting = 0
        self._local = threading.local()  # this thread's shared-section depth

    def _shared_depth(self) -> int:
        return getattr(self._local, "depth", 0)

    def acquire_shared(self) -> None:
        """Enter the shared side (what shared() does on entry; pair with release_shared, in a finally).

        Plain methods rather than only a context manager: a search takes this on every call, and a
        generator-based `with` costs more than the lock itself.
        """
        local = self._local
        depth = getattr(local, "depth", 0)
        if depth or self._writer == threading.get_ident():  # nested: this thread already excludes every writer
            local.depth = depth + 1
            return
        with self._cond:
            while self._writer is not None or self._writers_waiting:
                self._cond.wait()
            self._readers += 1
        local.depth = 1

    def release_shared(self) -> None:
        """Leave the shared side entered by acquire_shared."""
        local = self._local
        depth = local.depth - 1
        local.depth = depth
        if depth or self._writer == threading.get_ident():  # a nested entry: nothing was counted
            return
        with self._cond:
            self._readers -= 1
            if self._readers == 0:
                self._cond.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the shared side: any number of threads at once, never during an exclusive section."""
        self.acquire_shared()
        try:
            yield
        finally:
            self.release_shared()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the exclusive side: no reader and no other writer inside meanwhile."""
        me = threading.get_ident()
        if self._writer == me:
            self._writer_depth += 1
            try:
                yield
            finally:
                self._writer_depth -= 1
            return
        if self._shared_depth():
            raise RuntimeError("a thread holding the shared side cannot take the exclusive side")
        with self._cond:
            self._writers_waiting += 1
            try:
                while self._writer is not None or self._readers:
                    self._cond.wait()
            finally:
                self._writers_waiting -= 1
            self._writer, self._writer_depth = me, 1
        try:
            yield
        finally:
            with self._cond:
                self._writer, self._writer_depth = None, 0
                self._cond.notify_all()
