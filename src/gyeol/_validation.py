"""Input validation: each check raises a typed error saying what was expected and found."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from .errors import DimensionMismatchError, DuplicateIdError, InvalidInputError

_SCALARS = (str, int, float, bool, type(None))


def _as_list(name: str, value: Any) -> list:
    """A list from a list, tuple, 1-d numpy array or pandas Series (elements as Python values)."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray):
        if value.ndim != 1:
            raise InvalidInputError(f"{name} must be 1-dimensional, got an array of shape {value.shape}")
        return value.tolist()
    if _is_pandas_series(value):
        return value.tolist()
    raise InvalidInputError(f"{name} must be a list, got {type(value).__name__}")


def _is_pandas_series(value: Any) -> bool:
    # checked by name: pandas is never imported for this
    cls = type(value)
    return cls.__name__ == "Series" and cls.__module__.startswith("pandas") and hasattr(value, "tolist")


def check_texts(texts: Any) -> list[str | None] | None:
    if texts is None:
        return None
    texts = _as_list("texts", texts)
    for i, t in enumerate(texts):
        if t is not None and type(t) is not str:
            if not isinstance(t, str):
                raise InvalidInputError(f"texts[{i}] must be a str, got {type(t).__name__}")
            texts[i] = str(t)  # a str subclass (numpy.str_) stored as a plain str
    _check_utf8("texts", texts)
    return texts


def _check_utf8(name: str, values: Sequence[str | None]) -> None:
    """Refuse strings UTF-8 cannot encode (lone surrogates): Parquet, Arrow and Kiwi all need UTF-8."""
    try:
        "".join(t for t in values if t is not None).encode("utf-8")  # one C pass over the batch
        return
    except UnicodeEncodeError:
        pass
    for i, t in enumerate(values):
        if t is not None:
            _check_utf8_one(f"{name}[{i}]", t)


def _check_utf8_one(name: str, text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"{name} must be valid Unicode text, found the lone surrogate {text[exc.start]!r}"
        ) from None


def check_ids(ids: Any) -> list[str]:
    ids = _as_list("ids", ids)
    for i, x in enumerate(ids):
        if not isinstance(x, str) or not x:
            raise InvalidInputError(f"ids[{i}] must be a non-empty str, got {x!r}")
    _check_utf8("ids", ids)
    if len(set(ids)) != len(ids):
        dups = sorted(x for x, c in Counter(ids).items() if c > 1)
        raise DuplicateIdError(f"Expected ids to be unique, found duplicates of: {', '.join(dups[:10])}")
    return ids


def _check_number(where: str, value: Any) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidInputError(f"{where} must be a finite number, got {value!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        try:
            float(value)
        except OverflowError:
            raise InvalidInputError(
                f"{where} must be within float64 range, got an int of {len(str(value))} digits"
            ) from None


def _python_scalar(value: Any) -> Any:
    """numpy scalars (np.int64, np.float32, np.bool_, np.str_) as the Python values they hold."""
    if isinstance(value, np.generic):
        if isinstance(value, (np.bool_, np.integer, np.floating, np.str_)):
            return value.item() if not isinstance(value, np.str_) else str(value)
    return value


def _check_meta_value(where: str, value: Any) -> Any:
    """Give back value as stored: a JSON scalar, or a list of them (numpy values made Python)."""
    value = _python_scalar(value)
    if isinstance(value, _SCALARS):
        _check_number(where, value)
        return value
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        items = []
        for j, item in enumerate(value):
            item = _python_scalar(item)
            if not isinstance(item, _SCALARS):
                raise InvalidInputError(f"{where}[{j}] must be a JSON scalar, got {type(item).__name__}")
            _check_number(f"{where}[{j}]", item)
            items.append(item)
        return items
    raise InvalidInputError(
        f"{where} must be a JSON scalar (str, int, float, bool, None) or a list of them, got {type(value).__name__}"
    )


def check_metadata(metadata: Any, n: int) -> tuple[list[dict[str, Any]], list[str]]:
    """Give back (metadata dicts with lists for tuples, their JSON strings)."""
    if metadata is None:
        return [{} for _ in range(n)], ["{}"] * n
    metadata = _as_list("metadata", metadata)
    if len(metadata) != n:
        raise InvalidInputError(f"metadata has {len(metadata)} entries, expected {n} (one per document)")
    out, out_json = [], []
    for i, m in enumerate(metadata):
        if m is None:
            m = {}
        if not isinstance(m, dict):
            raise InvalidInputError(f"metadata[{i}] must be a dict or None, got {type(m).__name__}")
        clean = {}
        for key, value in m.items():
            if not isinstance(key, str) or not key:
                raise InvalidInputError(f"metadata[{i}] keys must be non-empty str, got {key!r}")
            if key.startswith("$"):
                raise InvalidInputError(f"metadata[{i}] key {key!r} may not start with '$' (reserved for filters)")
            clean[key] = _check_meta_value(f"metadata[{i}][{key!r}]", value)
        out.append(clean)
        out_json.append(json.dumps(clean, ensure_ascii=False, allow_nan=False))
    _check_utf8("metadata", out_json)
    return out, out_json


def check_vectors(vectors: Any, n: int | None, dim: int, *, name: str = "vectors") -> np.ndarray:
    """Give back a C-contiguous float32 (n, dim) array of finite values."""
    if (
        type(vectors) is np.ndarray
        and vectors.dtype == np.float32
        and vectors.ndim == 2
        and vectors.shape[1] == dim
        and (n is None or vectors.shape[0] == n)
        and vectors.flags.c_contiguous
    ):  # the common case, checked cheaply: only finiteness is left
        if not np.isfinite(vectors).all():
            raise _non_finite(vectors, name)
        return vectors
    try:
        is_complex = np.iscomplexobj(vectors)  # a cast would drop the imaginary parts with only a warning
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below
            arr = None if is_complex else np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"{name} must be a numeric array of shape (n, {dim}): {exc}") from None
    if arr is None:
        raise InvalidInputError(f"{name} must be real numbers, got complex values")
    if arr.ndim != 2:
        raise InvalidInputError(f"{name} must be 2-dimensional (n, {dim}), got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatchError(f"{name} have dimension {arr.shape[1]}, the collection's is {dim}")
    if n is not None and arr.shape[0] != n:
        raise InvalidInputError(f"{name} has {arr.shape[0]} rows, expected {n} (one per document)")
    if not np.isfinite(arr).all():
        raise _non_finite(arr, name)
    return np.ascontiguousarray(arr)


def _non_finite(arr: np.ndarray, name: str) -> InvalidInputError:
    """The error for an (n, dim) array holding NaN or infinite values: how many, which kind, which rows."""
    bad = ~np.isfinite(arr)
    rows = np.flatnonzero(bad.any(axis=1))
    kinds = "/".join(k for k, found in (("NaN", np.isnan(arr).any()), ("infinite", np.isinf(arr).any())) if found)
    return InvalidInputError(
        f"{name} contain {int(bad.sum())} {kinds} values in {rows.size} of {len(arr)} rows "
        f"(first rows: {rows[:5].tolist()}); expected finite numbers"
    )


def check_query_vector(vector: Any, dim: int) -> np.ndarray:
    """Give back the query vector as a (1, dim) float32 array of finite values."""
    try:
        is_complex = vector is not None and np.iscomplexobj(vector)
        with np.errstate(over="ignore"):  # a value beyond float32 becomes inf, refused below
            arr = np.asarray(vector, dtype=np.float32) if vector is not None and not is_complex else None
    except (TypeError, ValueError, OverflowError) as exc:
        raise InvalidInputError(f"vector must be a numeric array of shape ({dim},): {exc}") from None
    if is_complex:
        raise InvalidInputError("vector must be real numbers, got complex values")
    if arr is not None and arr.ndim == 1:
        arr = arr[None, :]
    return check_vectors(arr, 1, dim, name="vector")


def normalise(vectors: np.ndarray, *, name: str = "vectors") -> np.ndarray:
    """Unit-length rows for cosine; a zero vector has no direction and is refused."""
    squared = np.einsum("ij,ij->i", vectors, vectors)
    if not squared.all():
        raise InvalidInputError(f"{name} contain an all-zero vector, which has no cosine similarity")
    return vectors / np.sqrt(squared)[:, None]  # float32 in, float32 and C-contiguous out


def check_flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError(f"{name} must be True or False, got {value!r}")
    return value


def check_k(k: Any, *, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k <= 0:
        raise InvalidInputError(f"{name} must be a positive integer, got {k!r}")
    return int(k)


def check_alpha(alpha: Any) -> float:
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0.0 <= alpha <= 1.0:
        raise InvalidInputError(f"alpha must be a number in [0, 1], None or 'auto', got {alpha!r}")
    return float(alpha)


def check_candidates(candidates: Any) -> int | None:
    if candidates is None:
        return None
    if isinstance(candidates, bool) or not isinstance(candidates, (int, np.integer)) or candidates <= 0:
        raise InvalidInputError(f"candidates must be a positive integer or None, got {candidates!r}")
    return int(candidates)


def check_rrf_k(rrf_k: Any) -> float:
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, (int, float)) or not 0 < rrf_k < math.inf:
        raise InvalidInputError(f"rrf_k must be a positive finite number, got {rrf_k!r}")
    return float(rrf_k)


def check_query_text(query: Any) -> str:
    if not isinstance(query, str):
        raise InvalidInputError(f"query must be a str, got {type(query).__name__}")
    if not query.strip():
        raise InvalidInputError("query must be a non-empty string")
    _check_utf8_one("query", query)
    return query
