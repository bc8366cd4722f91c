"""Named numpy arrays as .npy files, committed with a small JSON header (crc-checked on load).

Each save writes its arrays under fresh names (bm25.<token>.<name>.npy) and then replaces
bm25.json, which names them with their length and crc32, as gyeol._fileset describes; a
crash at any point leaves the previous JSON pointing at the previous, intact arrays. A save
may be followed by appended *deltas*: further sets of arrays, each with its own small header,
listed in order under "deltas" of the same JSON (append_arrays); the next save_arrays drops
them. What the arrays mean is the index's business (BM25Index.export_arrays / from_arrays,
TermCounts for deltas).

Checksums: an array up to CHECK_AT_OPEN_MAX_BYTES has its crc32 checked when it is loaded. A larger
one is also saved with a crc32 per chunk (chunk_bytes: a power of two from MIN_CHUNK_BYTES to CHUNK_BYTES,
about MAX_CHUNKS chunks an array), and load(lazy=...) leaves those to a LazyChecks, which checks a chunk
just before the caller first uses its bytes (BM25Index asks for the postings, term_ptr entries and
vocabulary bytes of the terms it scores): an open maps gigabytes without reading them, a query reads
(and keeps resident) only the chunks it touches, and no damaged byte is used (the policy of storage's
VERIFY_AT_OPEN_MAX_BYTES). Saves of an older format (4 MiB chunks above 16 MiB, whole checks below)
load the same way: chunk_bytes is read from each entry.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._arrays import concat_ranges
from .._checksum import crc32
from .._fileset import FileSet, checked_name, confined, fresh_token
from ..errors import CorruptionError

ARRAY_NAME = r"bm25\.[0-9a-f]{12}\.[a-z][a-z0-9_]*\.npy"
ARRAY_FILES = FileSet("bm25.json", format=1, names=ARRAY_NAME, sealed=True)
META_NAME = ARRAY_FILES.meta_name
_RESERVED = ("format", "files", "deltas", "crc32")  # keys of the JSON that are not the header's
CHECK_AT_OPEN_MAX_BYTES = 64 << 10
CHUNK_BYTES = 4 << 20  # the largest chunk
MIN_CHUNK_BYTES = 16 << 10
MAX_CHUNKS = 256  # chunks an array, up to CHUNK_BYTES a chunk: few checksums to parse, little to check per touch


def chunk_bytes(nbytes: int) -> int:
    """The chunk of an array of nbytes bytes: the power of two giving about MAX_CHUNKS chunks, within bounds."""
    wanted = 1 << max(-(-nbytes // MAX_CHUNKS) - 1, 0).bit_length()
    return min(CHUNK_BYTES, max(MIN_CHUNK_BYTES, wanted))


def _crc(arr: np.ndarray) -> int:
    flat = np.ascontiguousarray(arr).view(np.uint8).reshape(-1)
    return crc32(flat) if arr.size else 0


def _write_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append .npy to a path
        np.save(f, arr, allow_pickle=False)


def _write_arrays(directory: Path, arrays: dict[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Write each 1-d array to a new file; give back their entries for the JSON."""
    token = fresh_token()
    files: dict[str, dict[str, Any]] = {}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr)
        file_name = f"bm25.{token}.{name}.npy"
        ARRAY_FILES.write_file(directory, file_name, functools.partial(_write_npy, arr=arr))
        files[name] = {"file": file_name, "length": int(len(arr)), "crc32": _crc(arr)}
        if arr.nbytes > CHECK_AT_OPEN_MAX_BYTES:
            flat = arr.view(np.uint8).reshape(-1)
            chunk = chunk_bytes(arr.nbytes)
            files[name]["chunk_bytes"] = chunk
            files[name]["chunk_crc32"] = [crc32(flat[i : i + chunk])
                                          for i in range(0, len(flat), chunk)]
    return files


def _check_header(header: dict[str, Any]) -> None:
    clash = set(header) & set(_RESERVED)
    if clash:
        raise ValueError(f"header keys {sorted(clash)} are reserved")


def save_arrays(directory: Path, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
    """Write each 1-d array to a new file, then the JSON naming them with header; sweep older arrays and deltas."""
    _check_header(header)
    directory.mkdir(parents=True, exist_ok=True)
    files = _write_arrays(directory, arrays)
    ARRAY_FILES.commit(directory, {**header, "files": files}, [f["file"] for f in files.values()])


def append_arrays(directory: Path, arrays: dict[str, np.ndarray], header: dict[str, Any]) -> None:
    """Write arrays as one more delta of the last save (with its own header), then the JSON naming them.

    CorruptionError when there is no readable save to append to.
    """
    _check_header(header)
    meta = ARRAY_FILES.read(directory)
    if meta is None:
        raise CorruptionError(f"{directory / META_NAME} is missing: nothing to append a delta to")
    deltas = meta.get("deltas", [])
    if not isinstance(deltas, list) or not isinstance(meta.get("files"), dict):
        raise CorruptionError(f"{directory / META_NAME} is malformed")
    files = _write_arrays(directory, arrays)
    deltas = [*deltas, {**header, "files": files}]
    keep = [str(f.get("file")) for entry in [meta, *deltas] for f in entry["files"].values() if isinstance(f, dict)]
    ARRAY_FILES.commit(directory, {**meta, "deltas": deltas}, keep)


@dataclass(frozen=True)
class SavedArrays:
    """What one save wrote: its header, and its arrays on request."""

    directory: Path
    header: dict[str, Any]
    files: dict[str, Any]
    deltas: tuple["SavedArrays", ...] = ()  # appended after the save, in order (append_arrays)

    def load(self, dtypes: dict[str, np.dtype], lazy: "LazyChecks | None" = None) -> dict[str, np.ndarray]:
        """The arrays named in dtypes, memory-mapped, each checked for its dtype, length and crc32 (lazy: a large
        array saved with chunk checksums is handed to it instead, to be checked chunk by chunk before use).

        CorruptionError when one is missing, of another dtype or length, or damaged.
        """
        arrays: dict[str, np.ndarray] = {}
        for name, dtype in dtypes.items():
            try:
                entry = self.files[name]
                where = self.directory / META_NAME
                path = confined(self.directory / checked_name(entry["file"], ARRAY_NAME, where), self.directory, where)
                arr = np.load(path, mmap_mode="r", allow_pickle=False)
                length, crc = int(entry["length"]), int(entry["crc32"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CorruptionError(f"array {name!r} is unreadable ({exc!r})") from None
            if arr.dtype != dtype or arr.ndim != 1 or len(arr) != length:
                raise CorruptionError(f"{name}: expected {dtype} of length {length}, "
                                      f"found {arr.dtype} of shape {arr.shape}")
            arr = arr.view(np.ndarray)  # still the map; slicing a plain ndarray costs less than a memmap
            if lazy is not None and "chunk_crc32" in entry:
                lazy.add(name, arr, entry.get("chunk_bytes"), entry["chunk_crc32"])
            elif _crc(arr) != crc:
                raise CorruptionError(f"{name}: checksum mismatch")
            arrays[name] = arr
        return arrays


class LazyChecks:
    """The chunk checksums of large loaded arrays, each chunk checked once, when check() first covers it."""

    def __init__(self) -> None:
        self._arrays: dict[str, tuple[np.ndarray, int, list[int], np.ndarray]] = {}  # bytes, chunk, crcs, checked

    @property
    def pending(self) -> bool:
        return bool(self._arrays)

    def add(self, name: str, arr: np.ndarray, chunk_bytes: Any, crcs: Any) -> None:
        """Check arr (1-d) chunk by chunk later; CorruptionError when the chunk checksums are malformed."""
        itemsize = arr.dtype.itemsize
        if (isinstance(chunk_bytes, bool) or not isinstance(chunk_bytes, int) or chunk_bytes <= 0
                or chunk_bytes % itemsize or not isinstance(crcs, list)
                or len(crcs) != -(-arr.nbytes // chunk_bytes) or not all(isinstance(c, int) for c in crcs)):
            raise CorruptionError(f"{name}: malformed chunk checksums")
        self._arrays[name] = (arr, chunk_bytes // itemsize, crcs, np.zeros(len(crcs), np.bool_))

    def check(self, name: str, starts: Any, ends: Any) -> None:
        """Check the chunks of name holding elements [start, end) of each pair (ints or arrays; ends past the
        array stop at its end) not checked yet. CorruptionError when one is damaged."""
        entry = self._arrays.get(name)
        if entry is None:
            return
        arr, chunk, crcs, checked = entry
        starts, ends = np.atleast_1d(np.asarray(starts, np.int64)), np.atleast_1d(np.asarray(ends, np.int64))
        ends = np.minimum(ends, len(arr))
        used = ends > starts
        todo = np.zeros(len(checked), np.bool_)
        todo[concat_ranges(starts[used] // chunk, (ends[used] - 1) // chunk + 1)] = True
        for c in np.flatnonzero(todo & ~checked).tolist():
            flat = arr[c * chunk : (c + 1) * chunk].view(np.uint8)
            if crc32(flat) != crcs[c]:
                raise CorruptionError(f"{name}: checksum mismatch in bytes {c * chunk * arr.dtype.itemsize}..")
            checked[c] = True
        if checked.all():
            del self._arrays[name]

    def check_all(self) -> None:
        for name, (arr, _, _, _) in list(self._arrays.items()):
            self.check(name, 0, len(arr))


def open_saved(directory: Path) -> SavedArrays | None:
    """The last save in directory; None when there is none. CorruptionError when its JSON is unreadable."""
    meta = ARRAY_FILES.read(directory)
    if meta is None:
        return None
    files = meta.get("files")
    if not isinstance(files, dict):
        raise CorruptionError(f"{directory / META_NAME} names no array files")
    header = {key: value for key, value in meta.items() if key not in _RESERVED}
    entries = meta.get("deltas", [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) and isinstance(e.get("files"), dict)
                                                for e in entries):
        raise CorruptionError(f"{directory / META_NAME} lists malformed deltas")
    deltas = tuple(SavedArrays(directory, {k: val for k, val in e.items() if k != "files"}, e["files"])
                   for e in entries)
    return SavedArrays(directory, header, files, deltas)


def header_count(header: dict[str, Any], key: str) -> int:
    """The non-negative int a save's header holds under key; CorruptionError when it holds anything else."""
    value = header.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise CorruptionError(f"{key} is {value!r}, not a count")
    return value
