"""Derived numpy arrays saved in one checksummed file and memory-mapped back (the id map, the filter columns).

A set of named 1-D arrays goes into one raw file (each array 8-byte aligned) under a fresh name;
a sealed JSON file beside it (a gyeol._fileset.FileSet) records the file's length and crc32, each
array's place and dtype, and what the arrays cover (the manifest generation and the labels below
`covered`). Loading checks the crc32 and maps the arrays read-only, without copying them.
Derived data: a missing, stale or damaged set is rebuilt from the segments (damage with a
WARNING), never an error. The writer saves a set when the labels added since its last save pass
save_due(); the data file goes first, the JSON that names it is the commit, and only then are
older data files swept, so a kill -9 at any point leaves the old set or the new one.
"""

from __future__ import annotations

import logging
import mmap
from pathlib import Path
from typing import Any

import numpy as np

from .._checksum import FileSum, check_file, crc_array, file_sum
from .._fileset import FileSet, checked_name, confined, fresh_token
from ..errors import CorruptionError

log = logging.getLogger(__name__)

SAVE_MIN_TAIL = 32_768  # labels added since the last save before the writer saves again...
SAVE_TAIL_FRACTION = 8  # ...and at least this fraction of those saved: a save costs O(n) bytes
_ALIGN = 8
_DTYPES = {"uint64", "int64", "int32", "float64", "bool", "uint8"}


def save_due(covered: int, tail: int) -> bool:
    """Whether a set covering `covered` labels, with `tail` labels added since, should be saved again."""
    return tail >= max(SAVE_MIN_TAIL, covered // SAVE_TAIL_FRACTION)


def fileset(prefix: str) -> FileSet:
    """The FileSet of arrays saved as <prefix>-<token>.bin and named by <prefix>.json."""
    return FileSet(f"{prefix}.json", format=1, names=rf"{prefix}-[0-9a-f]{{12}}\.bin", sealed=True)


def save(folder: Path, files: FileSet, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """Write arrays to a fresh data file of files, then commit files' JSON (meta plus the layout)."""
    prefix = files.meta_name.split(".")[0]
    name = f"{prefix}-{fresh_token()}.bin"
    layout: dict[str, list[Any]] = {}
    offset = 0
    for key, arr in arrays.items():
        layout[key] = [offset, str(arr.dtype), int(len(arr)), crc_array(arr)]
        offset += -(-arr.nbytes // _ALIGN) * _ALIGN

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as out:
            for arr in arrays.values():
                np.ascontiguousarray(arr).tofile(out)
                out.write(b"\0" * (-arr.nbytes % _ALIGN))

    folder.mkdir(parents=True, exist_ok=True)
    files.write_file(folder, name, write)
    body = {**meta, "file": name, "sum": file_sum(folder / name).to_json(), "arrays": layout}
    files.commit(folder, body, [name])


class LazyArrays:
    """Saved arrays mapped but not yet checked: get() checks an array's own crc32 on its first use,
    so a query reads only the arrays it needs (CorruptionError naming the file when one is damaged)."""

    def __init__(self, mapped: Any, layout: dict[str, list], path: Path) -> None:
        self._mapped = mapped
        self._layout = layout
        self._path = path
        self._checked: dict[str, np.ndarray] = {}

    def names(self) -> list[str]:
        return list(self._layout)

    def get(self, name: str) -> np.ndarray | None:
        """The array name, checked (None when the set holds none of that name)."""
        found = self._checked.get(name)
        if found is not None:
            return found
        entry = self._layout.get(name)
        if entry is None:
            return None
        offset, dtype, length, crc = entry
        arr = np.frombuffer(self._mapped, dtype=dtype, count=length, offset=offset) if length else np.empty(0, dtype)
        if crc_array(arr) != crc:
            raise CorruptionError(f"saved arrays {self._path} are damaged: array {name!r} does not match its crc32")
        self._checked[name] = arr
        return arr


def load(folder: Path, files: FileSet, generation: int, max_covered: int, *,
         lazy: bool = False) -> tuple[Any, dict] | None:
    """The saved arrays (read-only memory maps) and JSON of files in folder, when they are for
    generation and cover at most max_covered labels; None otherwise (damage logged as a WARNING).

    lazy=False checks the whole file's crc32 and gives back a dict of arrays; lazy=True checks
    its length only and gives back LazyArrays, each array checked on its first use."""
    where = folder / files.meta_name
    try:
        meta = files.read(folder)
    except CorruptionError as exc:
        log.warning("%s; it is rebuilt from the segments", exc)
        return None
    if meta is None:
        return None
    try:
        if meta.get("generation") != generation or type(meta.get("covered")) is not int \
                or not 0 <= meta["covered"] <= max_covered:
            log.info("%s is for another commit; rebuilt from the segments", where)
            return None
        name = checked_name(meta.get("file"), files.name_pattern, where)
        path = confined(folder / name, folder, where)
        expected = FileSum.from_json(meta.get("sum"), where, name)
        if lazy:
            size = path.stat().st_size
            if size != expected.bytes:
                raise CorruptionError(f"saved arrays {path} have {size} bytes, {where} records {expected.bytes}")
        else:
            check_file(path, expected, what="saved arrays", where=where)
        mapped, layout = _map(path, expected.bytes, meta.get("arrays"), where)
        arrays: Any = LazyArrays(mapped, layout, path)
        if not lazy:
            arrays = {name: arrays.get(name) for name in layout}
    except FileNotFoundError:
        if _moved_on(folder, files, meta):
            return None  # a writer saved anew and swept this file meanwhile: nothing is wrong
        log.warning("%s names %s, which is missing; it is rebuilt from the segments", where, meta.get("file"))
        return None
    except CorruptionError as exc:
        if "is missing" in str(exc) and _moved_on(folder, files, meta):
            return None  # a writer saved anew and swept this file meanwhile: nothing is wrong
        log.warning("%s; it is rebuilt from the segments", exc)
        return None
    except OSError as exc:
        log.warning("%s is unreadable (%s); it is rebuilt from the segments", where, exc)
        return None
    return arrays, meta


def _moved_on(folder: Path, files: FileSet, meta: dict) -> bool:
    """Whether files' JSON in folder now says something other than meta (a newer save)."""
    try:
        return files.read(folder) != meta
    except CorruptionError:
        return False


def _map(path: Path, size: int, layout: Any, where: Path) -> tuple[Any, dict[str, list]]:
    """The file mapped read-only, and its layout checked against its size."""
    if not isinstance(layout, dict):
        raise CorruptionError(f"{where} records no array layout")
    for key, entry in layout.items():
        if not (isinstance(entry, list) and len(entry) == 4 and type(entry[0]) is int and entry[1] in _DTYPES
                and type(entry[2]) is int and type(entry[3]) is int and entry[0] >= 0 and entry[2] >= 0):
            raise CorruptionError(f"{where}: the layout of array {key!r} is malformed ({entry!r})")
        offset, dtype, length, _ = entry
        if offset + length * np.dtype(dtype).itemsize > size:
            raise CorruptionError(f"{where}: array {key!r} runs past the end of {path.name}")
    with open(path, "rb") as handle:
        mapped = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) if size else b""
    return mapped, layout


def sweep(folder: Path, files: FileSet) -> None:
    """Remove the data files of files in folder that its JSON does not name (all, when it is damaged)."""
    try:
        meta = files.read(folder)
    except CorruptionError:
        meta = None
    named = meta.get("file") if isinstance(meta, dict) else None
    files.sweep(folder, [named] if isinstance(named, str) else [])
