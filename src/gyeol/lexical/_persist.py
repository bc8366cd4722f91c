"""Saving and loading a BM25Index: .npy arrays named by a small JSON, committed atomically.

Each save writes its arrays under fresh names (bm25.<token>.<array>.npy), fsyncs them,
then atomically replaces bm25.json, which names them; a crash at any point leaves the
previous JSON pointing at the previous, intact arrays. Arrays nobody names are swept.
"""

from __future__ import annotations

import json
import logging
import uuid
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ..config import BM25
from .._fileset import fsync_dir, write_atomic, write_bytes_atomic

if TYPE_CHECKING:
    from .bm25 import BM25Index

logger = logging.getLogger(__name__)

FORMAT = 1
META_NAME = "bm25.json"
_PREFIX = "bm25."
ARRAY_DTYPES: dict[str, np.dtype] = {
    "term_ptr": np.dtype(np.int64),
    "post_doc": np.dtype(np.int32),
    "post_tf": np.dtype(np.int32),
    "doc_len": np.dtype(np.int32),
    "live": np.dtype(np.bool_),
    "fwd_ptr": np.dtype(np.int64),
    "fwd_term": np.dtype(np.int32),
    "df": np.dtype(np.int64),
    "vocab_offsets": np.dtype(np.int64),
    "vocab_data": np.dtype(np.uint8),
}


class DamagedIndexError(Exception):
    """The saved index is inconsistent; the caller rebuilds it."""


def _crc(arr: np.ndarray) -> int:
    return zlib.crc32(np.ascontiguousarray(arr).view(np.uint8).reshape(-1)) if arr.size else 0


def _write_npy(path: Path, arr: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save would append .npy to a path
        np.save(f, np.ascontiguousarray(arr), allow_pickle=False)


def vocab_to_arrays(terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Give back (offsets int64, utf-8 bytes uint8) of the terms in id order."""
    arr = pa.array(terms, pa.large_string())
    buffers = arr.buffers()
    if not terms:
        return np.zeros(1, np.int64), np.empty(0, np.uint8)
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[: len(terms) + 1].copy()
    end = int(offsets[-1])
    if buffers[2] is None or end == 0:  # every term is the empty string
        return offsets, np.empty(0, np.uint8)
    return offsets, np.frombuffer(buffers[2], dtype=np.uint8)[:end].copy()


def vocab_from_arrays(offsets: np.ndarray, data: np.ndarray) -> list[str]:
    n = len(offsets) - 1
    arr = pa.LargeStringArray.from_buffers(
        n, pa.py_buffer(np.ascontiguousarray(offsets)), pa.py_buffer(np.ascontiguousarray(data))
    )
    arr.validate(full=True)  # offsets in range, valid UTF-8
    return arr.to_pylist()


def save_index(index: "BM25Index", directory: Path, generation: int, terms: dict[str, Any] | None = None) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex[:12]
    arrays = index._export_arrays()
    files: dict[str, dict[str, Any]] = {}
    for name, arr in arrays.items():
        arr = np.ascontiguousarray(arr, dtype=ARRAY_DTYPES[name])
        file_name = f"{_PREFIX}{token}.{name}.npy"
        write_atomic(directory / file_name, lambda tmp, a=arr: _write_npy(tmp, a), sync_dir=False)
        files[name] = {"file": file_name, "length": int(len(arr)), "crc32": _crc(arr)}
    fsync_dir(directory)  # the arrays' names are durable before the JSON that names them
    meta = {
        "format": FORMAT,
        "generation": int(generation),
        "n_labels": index.n_labels,
        "vocabulary_size": index.vocabulary_size,
        "terms": terms,
        "files": files,
    }
    write_bytes_atomic(directory / META_NAME, json.dumps(meta, indent=1).encode())
    named = {f["file"] for f in files.values()}
    for leftover in directory.glob(f"{_PREFIX}*.npy"):
        if leftover.name not in named:
            try:
                leftover.unlink()
            except OSError:
                pass


def load_index(
    cls: type["BM25Index"], directory: Path, generation: int, params: BM25, max_labels: int,
    terms: dict[str, Any] | None = None,
) -> "BM25Index | None":
    meta_path = directory / META_NAME
    try:
        raw = meta_path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        meta = json.loads(raw)
        if meta.get("format") != FORMAT:
            raise DamagedIndexError(f"unsupported format {meta.get('format')!r}")
        if int(meta["generation"]) != int(generation):
            logger.debug("BM25 index at %s is of generation %s, not %s", directory, meta["generation"], generation)
            return None
        if meta.get("terms") != terms:
            logger.info("BM25 index at %s was built with other terms (%s, now %s); rebuilding",
                        directory, meta.get("terms"), terms)
            return None
        n_labels = int(meta["n_labels"])
        if n_labels > max_labels:
            logger.warning("BM25 index at %s covers %d labels, more than the %d stored; rebuilding",
                           directory, n_labels, max_labels)
            return None
        arrays: dict[str, np.ndarray] = {}
        for name, dtype in ARRAY_DTYPES.items():
            entry = meta["files"][name]
            arr = np.load(directory / entry["file"], mmap_mode="r", allow_pickle=False)
            if arr.dtype != dtype or arr.ndim != 1 or len(arr) != int(entry["length"]):
                raise DamagedIndexError(f"{name}: expected {dtype} of length {entry['length']}, "
                                        f"found {arr.dtype} of shape {arr.shape}")
            if _crc(arr) != int(entry["crc32"]):
                raise DamagedIndexError(f"{name}: checksum mismatch")
            arrays[name] = arr
        vocab_size = int(meta["vocabulary_size"])
        terms = vocab_from_arrays(arrays.pop("vocab_offsets"), arrays.pop("vocab_data"))
        index = cls(params)
        index._restore(arrays, terms, n_labels, vocab_size)
        return index
    except (DamagedIndexError, OSError, ValueError, KeyError, TypeError, pa.ArrowException) as exc:
        logger.warning("BM25 index at %s is damaged (%s); it will be rebuilt", directory, exc)
        return None
