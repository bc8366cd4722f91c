"""Crash-safe files: atomic writes, and sets of files committed by the JSON file that names them.

Every persisted part of gyeol (a collection's manifest and its Parquet segments, a vector
index, a BM25 index) follows one protocol:

1. write each data file under a fresh name: a temp file, fsync, os.replace;
2. fsync the folder, so those names are durable;
3. atomically replace the JSON file that names them (temp, fsync, os.replace, fsync the
   folder): this is the commit point;
4. sweep the files of the set that the JSON no longer names, except files this process
   still has open (an interrupted write's, or the previous state's).

A crash at any moment leaves the previous JSON naming the previous, intact files. Each
committed JSON carries ``"format": <int>``, the version of its layout, and a reader refuses
any other (see :class:`FileSet`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
import weakref
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

from ._checksum import dump_json, seal_json, unseal
from .errors import CorruptionError

log = logging.getLogger(__name__)

FORMAT_KEY = "format"

# --------------------------------------------------------------------------- atomic writes


def fsync_file(path: Path) -> None:
    """Flush a file's content to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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


TEMP_NAME = re.compile(r"\.[^/\\\x00]+\.[0-9a-f]{8}\.tmp")  # what temp_path makes


def temp_path(path: Path) -> Path:
    """A unique sibling temp name; leftovers match TEMP_NAME and are swept on open."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")


def write_atomic(path: Path, write: Callable[[Path], object], *, sync_dir: bool = True) -> None:
    """Call write(tmp) then make tmp the file at path; on any error path is untouched.

    sync_dir=False leaves the folder's fsync to the caller (one for many files, before a commit).
    """
    tmp = temp_path(path)
    try:
        write(tmp)
        fsync_file(tmp)
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
    """Remove temp files a crashed writer left behind (only names temp_path makes)."""
    if not directory.is_dir():
        return
    for leftover in directory.glob(".*.tmp"):
        if not TEMP_NAME.fullmatch(leftover.name):
            continue
        try:
            leftover.unlink()
        except OSError:
            pass


# --------------------------------------------------------------------------- names read from files


def checked_name(name: Any, pattern: str | re.Pattern[str], where: Path) -> str:
    """name, when it is a bare name matching pattern in whole; CorruptionError naming where otherwise.

    where: the file that holds the name. A name with a separator, "..", NUL or a drive is
    never followed, whatever the pattern allows.
    """
    if (
        not isinstance(name, str)
        or name in ("", ".", "..")
        or any(c in name for c in "/\\\x00:")
        or not re.fullmatch(pattern, name)
    ):
        raise CorruptionError(f"{where} names {name!r}, which is not a file name gyeol writes; "
                              "it is not followed")
    return name


def is_inside(path: Path, root: Path) -> bool:
    """Whether path, symlinks followed, stays inside root (root itself included)."""
    try:
        resolved, base = path.resolve(), root.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return resolved == base or base in resolved.parents


def confined(path: Path, root: Path, where: Path) -> Path:
    """path when it resolves inside root; CorruptionError naming where (the file or folder at fault) otherwise."""
    if not is_inside(path, root):
        raise CorruptionError(f"{where} leads outside {root} (to {path.resolve()}); it is not followed")
    return path


# --------------------------------------------------------------------------- fresh names, open files


def fresh_token() -> str:
    """12 random hex digits: what makes a data file's name new."""
    return uuid.uuid4().hex[:12]


def fresh_name(prefix: str, suffix: str) -> str:
    """A fresh file name like index-3f2a9c1d0b7e.faiss."""
    return f"{prefix}-{fresh_token()}{suffix}"


_open_files: Counter[str] = Counter()


def register_open_file(owner: object, path: Path) -> None:
    """Mark path as in use by owner (a memory map it writes through) until owner is garbage collected.

    A sweep never deletes such a file: its owner would go on writing into a file no one can find.
    """
    key = str(path.resolve())
    _open_files[key] += 1
    weakref.finalize(owner, _release, key)


def _release(key: str) -> None:
    _open_files[key] -= 1
    if _open_files[key] <= 0:
        del _open_files[key]


def sweep_unnamed(directory: Path, names: re.Pattern[str], keep: Iterable[str]) -> None:
    """Delete the files in directory whose whole name matches names, neither in keep nor open in this process.

    A symlink is removed as a link; what it points at is never touched.
    """
    keep = set(keep)
    try:
        entries = list(directory.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for path in entries:
        if not names.fullmatch(path.name) or path.name in keep:
            continue
        if not path.is_symlink() and (path.is_dir() or str(path.resolve()) in _open_files):
            continue
        try:
            path.unlink()
        except OSError as exc:  # another process may have removed it first
            log.debug("could not remove stale file %s: %s", path, exc)


# --------------------------------------------------------------------------- committed sets


@dataclass(frozen=True)
class FileSet:
    """A kind of committed set: its JSON's name and format, and the names of the files it owns.

    meta_name: the JSON file, in the set's directory; format: the layout version written into
    it and required on read; names: a regular expression that the whole name of each data file
    the JSON names matches (they live in folder, a subfolder of the directory, or the directory
    itself); only such files are swept when no longer named. reads: the formats a reader
    accepts (default: format only). sealed: the JSON carries its own crc32 (gyeol._checksum),
    written always and checked on read when present.
    """

    meta_name: str
    format: int
    names: str = r"(?!)"  # matches nothing: a set without data files sweeps nothing
    folder: str = ""
    reads: tuple[int, ...] = ()
    sealed: bool = False

    @property
    def name_pattern(self) -> re.Pattern[str]:
        return re.compile(self.names)

    def files_dir(self, directory: Path) -> Path:
        """Where the set's data files live."""
        return directory / self.folder if self.folder else directory

    def read(self, directory: Path) -> dict[str, Any] | None:
        """The committed JSON of the set in directory (its seal removed); None when there is none.

        Raises CorruptionError when it is unreadable, of another format, or its seal does not match.
        """
        meta, sealed_ok = self.read_unsealed(directory)
        if sealed_ok is False:
            raise CorruptionError(f"{directory / self.meta_name} is damaged: its crc32 does not match its content")
        return meta

    def read_unsealed(self, directory: Path) -> tuple[dict[str, Any] | None, bool | None]:
        """The committed JSON (seal removed) and whether its seal matched (None: it has none).

        For callers that check the content first, so that their more precise error comes first.
        """
        path = directory / self.meta_name
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None, None
        except OSError as exc:
            raise CorruptionError(f"{path} is unreadable ({exc})") from exc
        try:
            meta = json.loads(raw)
        except ValueError as exc:
            raise CorruptionError(f"{path} is not valid JSON ({exc})") from None
        if not isinstance(meta, dict):
            raise CorruptionError(f"{path} holds no JSON object")
        readable = self.reads or (self.format,)
        found = meta.get(FORMAT_KEY)
        if type(found) is not int or found not in readable:
            raise CorruptionError(f"{path}: unsupported format {found!r} (this gyeol reads "
                                  f"{', '.join(map(str, readable))})")
        return unseal(meta)

    def write_meta(self, directory: Path, meta: dict[str, Any]) -> None:
        """Atomically replace the set's JSON with meta plus its format marker (the commit point)."""
        body = {FORMAT_KEY: self.format, **{k: v for k, v in meta.items() if k != FORMAT_KEY}}
        data = seal_json(body) if self.sealed else dump_json(body)
        write_bytes_atomic(directory / self.meta_name, data)

    def write_file(self, directory: Path, name: str, write: Callable[[Path], None]) -> None:
        """Write one data file of the set (temp, fsync, replace); commit() makes its name durable."""
        write_atomic(self.files_dir(directory) / name, write, sync_dir=False)

    def commit(self, directory: Path, meta: dict[str, Any], files: Iterable[str], *, sweep: bool = True) -> None:
        """Make the data files' names durable, replace the JSON (meta), then sweep what it does not name."""
        fsync_dir(self.files_dir(directory))
        self.write_meta(directory, meta)
        if sweep:
            self.sweep(directory, files)

    def sweep(self, directory: Path, keep: Iterable[str]) -> None:
        """Delete the set's data files not in keep (and not open in this process)."""
        sweep_unnamed(self.files_dir(directory), self.name_pattern, keep)
