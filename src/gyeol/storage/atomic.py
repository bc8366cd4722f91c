"""Atomic, durable file writes: write a temp file, fsync it, os.replace, fsync the folder."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry table so a rename or create inside it survives a crash."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # platforms without directory fds (Windows)
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_path(path: Path) -> Path:
    """A unique sibling temp name; leftovers end with .tmp and are swept on open."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def write_atomic(path: Path, write: Callable[[Path], None], *, sync_dir: bool = True) -> None:
    """Call write(tmp) then make tmp the file at path; on any error path is untouched."""
    tmp = temp_path(path)
    try:
        write(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        raise
    if sync_dir:
        fsync_dir(path.parent)


def write_bytes_atomic(path: Path, data: bytes, *, sync_dir: bool = True) -> None:
    """Replace path's content with data, atomically and durably."""
    write_atomic(path, lambda tmp: tmp.write_bytes(data), sync_dir=sync_dir)


def sweep_temp_files(directory: Path) -> None:
    """Remove temp files a crashed writer left behind."""
    if not directory.is_dir():
        return
    for leftover in directory.glob(".*.tmp"):
        try:
            leftover.unlink()
        except OSError:
            pass
