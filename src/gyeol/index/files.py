"""Names of index files, which of them this process has open, and sweeping the unreferenced ones.

Every index file gets a fresh unique name when written, and the meta file
(written last, atomically) names the files of the current index. So a crash
at any moment leaves a meta that points at complete files, and files no meta
points at are leftovers that sweep_unreferenced removes.
"""

from __future__ import annotations

import logging
import uuid
import weakref
from collections import Counter
from pathlib import Path

log = logging.getLogger(__name__)

# Patterns of the files gyeol's indexes write into an index directory.
INDEX_FILE_PATTERNS = ("index-*.faiss", "vectors-*.f32", "delta-*.f32")

_open_files: Counter[str] = Counter()


def new_file_name(prefix: str, suffix: str) -> str:
    """A fresh file name like index-3f2a9c1d.faiss."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}{suffix}"


def register_open_file(owner: object, path: Path) -> None:
    """Mark path as in use by owner (a memory map) until owner is garbage collected."""
    key = str(path.resolve())
    _open_files[key] += 1
    weakref.finalize(owner, _release, key)


def _release(key: str) -> None:
    _open_files[key] -= 1
    if _open_files[key] <= 0:
        del _open_files[key]


def sweep_unreferenced(directory: Path, keep: set[str]) -> None:
    """Delete index files in directory that are neither in keep nor open in this process."""
    for pattern in INDEX_FILE_PATTERNS:
        for path in directory.glob(pattern):
            if path.name in keep or str(path.resolve()) in _open_files:
                continue
            try:
                path.unlink()
            except OSError as exc:  # another process may have removed it first
                log.debug("could not remove stale index file %s: %s", path, exc)
