"""The database's exclusive, non-blocking write lock (one writer, any number of readers)."""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import StorageLockedError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".gyeol.lock"
_held: set[str] = set()  # lock files this process holds: a second open here gets a plain answer


class DirectoryLock:
    """An flock on <dir>/.gyeol.lock, held for the life of a writing Database.

    The kernel drops an flock when its holder dies, so a kill -9 never leaves a
    stale lock behind.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory / LOCK_NAME
        self._fd: int | None = None
        self._key = ""

    def acquire(self) -> None:
        key = str(self.path.resolve())
        if key in _held:
            raise StorageLockedError(
                f"{self.path.parent} is already open for writing in this process (an earlier "
                "gyeol.connect(path) that was not closed, e.g. by re-running a notebook cell): call "
                "db.close() on that handle first, or open it with `with gyeol.connect(path) as db:` so it "
                "closes itself; gyeol.connect(path, read_only=True) can read beside it"
            )
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise StorageLockedError(
                    f"{self.path.parent} is open for writing in another process; close it there, "
                    "or open this one with gyeol.connect(path, read_only=True)"
                ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        self._key = key
        _held.add(key)

    def release(self) -> None:
        if self._fd is not None:
            _held.discard(self._key)
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
