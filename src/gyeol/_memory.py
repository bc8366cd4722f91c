"""Give freed memory back to the system after the writer's big steps.

A writer's RSS grows far past what it holds. Measured on scale.py's collection (30k passages in
adds of 1,000): 942 MB resident against 46 MB of Python and numpy objects that tracemalloc sees
grown since the first add; glibc's malloc keeps the pages freed by Kiwi's worker threads (each
thread has an arena of its own) and by pyarrow (its mimalloc pool) for reuse, and the sum grows
with every batch. ``malloc_trim(0)`` hands the free pages of every arena back (madvise), and the
pool's ``release_unused`` those of pyarrow's: after each add that brought RSS at 30k to 685 MB,
for 2.5 ms per 1,000-passage add (scale.py's add takes about 1.5 s).

``released(rows)`` counts the rows written and trims once 1,024 have passed since the last trim
(so a stream of one-row adds pays it once per thousand); ``release_now()`` trims after a step
that frees a lot at once (a merge, a compact, the closing save). On a libc without malloc_trim
(musl, macOS) only pyarrow's pool is released.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import threading
from typing import Any

TRIM_EVERY_ROWS = 1024

_lock = threading.Lock()
_rows_since = 0
_trim: Any = None  # malloc_trim, False where the libc has none, None before the first look


def _malloc_trim() -> Any:
    global _trim
    if _trim is None:
        _trim = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _trim = libc.malloc_trim
                _trim.argtypes, _trim.restype = [ctypes.c_size_t], ctypes.c_int
            except (OSError, AttributeError):  # not glibc
                _trim = False
    return _trim


def release_now() -> None:
    """Return the free pages of malloc's arenas and of pyarrow's pool to the system now."""
    global _rows_since
    with _lock:
        _rows_since = 0
    trim = _malloc_trim()
    if trim:
        trim(0)
    if "pyarrow" in sys.modules:  # never imported for this alone
        sys.modules["pyarrow"].default_memory_pool().release_unused()


def released(rows: int) -> None:
    """Count `rows` written; trim once TRIM_EVERY_ROWS have been written since the last trim."""
    global _rows_since
    with _lock:
        _rows_since += rows
        due = _rows_since >= TRIM_EVERY_ROWS
    if due:
        release_now()
