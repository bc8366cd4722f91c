"""crc32 checksums of files, arrays and JSON bodies: what gyeol records for each file it writes.

Every data and index file's checksum is kept in the JSON file that names it (the manifest for
segments and tombstones, index metadata for FAISS, rescoring and cache files), and checked when
the file is loaded. The sums are zlib's crc32, computed by ISA-L's (the `isal` package: the same
value, 6-9 GB/s a core here against zlib's 1-2.4, measured on a 1 GiB buffer) where it imports and by
zlib's otherwise, so a whole-file check costs a small fraction of reading or decoding the file;
files are read through a memory map, never copied, and a large one is summed in parts on every core
(crc_parallel), the parts' sums combined.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import CorruptionError

try:  # ISA-L's crc32 gives zlib's value several times faster; zlib's is the fallback
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - isal is a dependency; a platform without its wheel still works
    _crc32 = zlib.crc32

CHUNK = 64 << 20  # bytes per crc32 call: both release the GIL for each
SEAL_KEY = "crc32"  # the key of a JSON file's own checksum (see seal_json)
# a file at least this long is summed in parts on every core and the parts' crc32s combined (the same
# crc32): at 1M documents an open sums about 2 GB (the HNSW file, the document caches), 0.12 s on two
# cores with ISA-L's crc32 (1.1 s on one core with zlib's)
PARALLEL_MIN = 8 << 20
_CPUS = max(1, os.cpu_count() or 1)
_POLY = 0xEDB88320  # crc32's polynomial, bit-reversed


def crc32(data: Any, crc: int = 0) -> int:
    """zlib's crc32 of a contiguous bytes-like object (one call: see crc_buffer for a big one)."""
    return _crc32(data, crc)


def crc_buffer(data: Any, crc: int = 0) -> int:
    """crc32 of a bytes-like object, continuing from crc."""
    # the views are released here, not when collected: a map cannot close while one is alive
    with memoryview(data) as outer, outer.cast("B") as view:
        for start in range(0, len(view), CHUNK):
            with view[start : start + CHUNK] as part:
                crc = _crc32(part, crc)
    return crc


def crc_combine(crc1: int, crc2: int, len2: int) -> int:
    """The crc32 of a + b from crc1 = crc32(a), crc2 = crc32(b) and len2 = len(b) (zlib's crc32_combine)."""
    if len2 <= 0:
        return crc1
    bit = 0
    while len2:  # apply len2 zero bytes to crc1, one bit of len2 at a time
        if len2 & 1:
            crc1 = _gf2_times(_zero_bytes_operator(bit), crc1)
        len2 >>= 1
        bit += 1
    return crc1 ^ crc2


_ZERO_LOCK = threading.Lock()
_ZERO_OPERATORS: list[list[int]] = []  # [k]: what 2**k zero bytes do to a crc (squared once, then kept)


def _zero_bytes_operator(k: int) -> list[int]:
    """The GF(2) matrix of appending 2**k zero bytes: built by squaring once per process, as an open combines
    hundreds of parts (squaring afresh for each took 30 ms of a million-document open)."""
    if k < len(_ZERO_OPERATORS):
        return _ZERO_OPERATORS[k]
    with _ZERO_LOCK:
        return _grow_zero_operators(k)


def _grow_zero_operators(k: int) -> list[int]:
    if not _ZERO_OPERATORS:
        operator = [_POLY] + [1 << n for n in range(31)]  # what one zero bit does to a crc
        for _ in range(3):
            operator = _gf2_square(operator)  # one zero byte
        _ZERO_OPERATORS.append(operator)
    while len(_ZERO_OPERATORS) <= k:  # under _ZERO_LOCK: each entry squares the one before it
        _ZERO_OPERATORS.append(_gf2_square(_ZERO_OPERATORS[-1]))
    return _ZERO_OPERATORS[k]


def _gf2_times(matrix: list[int], vector: int) -> int:
    out, row = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[row]
        vector >>= 1
        row += 1
    return out


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_times(matrix, row) for row in matrix]


def crc_parallel(data: Any) -> int:
    """crc32 of a bytes-like object (a memory map), its parts summed on every core at once."""
    with memoryview(data) as outer, outer.cast("B") as view:
        n = len(view)
        parts = min(_CPUS, n // (PARALLEL_MIN // 2))
        if parts < 2:
            return crc_buffer(view)
        bounds = [n * i // parts for i in range(parts + 1)]
        pieces = [view[bounds[i] : bounds[i + 1]] for i in range(parts)]
        try:
            with ThreadPoolExecutor(parts) as pool:
                crcs = list(pool.map(crc_buffer, pieces))
        finally:  # released now, so the caller's map can close whatever still refers to this frame
            for piece in pieces:
                piece.release()
    crc = crcs[0]
    for i in range(1, parts):
        crc = crc_combine(crc, crcs[i], bounds[i + 1] - bounds[i])
    return crc


def crc_array(arr: np.ndarray) -> int:
    """crc32 of an array's bytes in C order (0 for an empty array)."""
    if not arr.size:
        return 0
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return crc_parallel(flat)


@dataclass(frozen=True)
class FileSum:
    """A file's length and the crc32 of its first `bytes` bytes."""

    crc32: int
    bytes: int

    def to_json(self) -> dict[str, int]:
        return {"crc32": self.crc32, "bytes": self.bytes}

    @classmethod
    def from_json(cls, value: Any, where: Path, name: str) -> "FileSum":
        """The sum recorded for name in where; CorruptionError when it is not one."""
        if (
            not isinstance(value, dict)
            or type(value.get("crc32")) is not int
            or type(value.get("bytes")) is not int
            or not 0 <= value["crc32"] < 2**32
            or value["bytes"] < 0
        ):
            raise CorruptionError(f"{where}: the checksum recorded for {name} is malformed ({value!r})")
        return cls(value["crc32"], value["bytes"])


def file_sum(path: Path, length: int | None = None) -> FileSum:
    """The FileSum of path's first length bytes (the whole file when None); OSError when shorter."""
    with open(path, "rb") as handle:
        size = handle.seek(0, 2)
        length = size if length is None else length
        if size < length:
            raise OSError(f"{path.name} has {size} bytes, {length} were written")
        if length == 0:
            return FileSum(0, 0)
        with mmap.mmap(handle.fileno(), length, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                crc = crc_parallel(view)
            finally:
                view.release()
    return FileSum(crc, length)


def check_file(path: Path, expected: FileSum, *, what: str, where: Path, exact: bool = True) -> None:
    """CorruptionError naming path unless its first expected.bytes bytes match expected.

    exact: the file must hold exactly that many bytes (False for preallocated files that grow).
    what: what the file is ("segment", "tombstone", ...); where: the file that records the sum.
    """
    try:
        size = path.stat().st_size
        if (size != expected.bytes) if exact else (size < expected.bytes):
            raise CorruptionError(f"{what} {path} has {size} bytes, {where} records {expected.bytes}")
        found = file_sum(path, expected.bytes)
    except FileNotFoundError:
        raise CorruptionError(f"{what} {path} named by {where} is missing") from None
    except OSError as exc:
        raise CorruptionError(f"{what} {path} is unreadable ({exc})") from exc
    if found.crc32 != expected.crc32:
        raise CorruptionError(f"{what} {path} is damaged: its crc32 is {found.crc32:08x}, "
                              f"{where} records {expected.crc32:08x}")


# --------------------------------------------------------------------------- JSON files that seal themselves


def dump_json(body: dict[str, Any]) -> bytes:
    """How gyeol serialises its JSON files (the seal is computed over exactly these bytes)."""
    return json.dumps(body, ensure_ascii=False, indent=1).encode()


def seal_json(body: dict[str, Any]) -> bytes:
    """body serialised with its own crc32 appended under SEAL_KEY."""
    unsealed = {k: v for k, v in body.items() if k != SEAL_KEY}
    return dump_json({**unsealed, SEAL_KEY: zlib.crc32(dump_json(unsealed))})


def unseal(meta: dict[str, Any]) -> tuple[dict[str, Any], bool | None]:
    """meta without its seal, and whether the seal matched (None: the file carries none)."""
    if SEAL_KEY not in meta:
        return meta, None
    body = {k: v for k, v in meta.items() if k != SEAL_KEY}
    try:
        ok = meta[SEAL_KEY] == zlib.crc32(dump_json(body))
    except (TypeError, ValueError):
        ok = False
    return body, ok
