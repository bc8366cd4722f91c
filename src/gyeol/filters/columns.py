"""MetadataColumns: every label's metadata as typed, append-only arrays per key.

A filter compiled by :func:`gyeol.filters.compile_where` evaluates against them with numpy
and pyarrow.compute, never a Python loop per document.
"""

from __future__ import annotations

import json
import operator
from itertools import chain
from typing import Any, Callable, Iterable, Sequence, cast

import numpy as np
import pyarrow as pa

from ..errors import CorruptionError, FilterError, InvalidInputError

from .expr import Compare, And, Or, MatchAll, Expr, Scalar, _ORDERING, _as_scalar, _show, _found
from .keys import _BOOL, _LIST, _NULL, _NUM, _STR, _VALUE_DTYPES, KeyColumn as _KeyColumn, Pairs as _Pairs
from .keys import shared_labels

__all__ = ["MetadataColumns"]


class _Staged:
    """One key's new (label, value) pairs for one append, by kind, until they are committed."""

    __slots__ = ("present", "top", "elem")

    def __init__(self, present: list[int]) -> None:
        self.present = present
        self.top: dict[str, tuple[Any, Any]] = {}
        self.elem: dict[str, tuple[Any, Any]] = {}  # lists, or arrays for a whole batch of one kind

    @staticmethod
    def add(by_kind: dict[str, tuple[Any, Any]], kind: str, label: int, value: Any) -> None:
        pair = by_kind.get(kind)
        if pair is None:
            pair = by_kind[kind] = ([], [])
        pair[0].append(label)
        pair[1].append(value)


def _classify(value: Any) -> tuple[str, Any]:
    """Give back (kind, plain value) of a metadata scalar; kind is "" for a non-scalar."""
    # Raises OverflowError for an int beyond float64 range; the caller reports it.
    t = type(value)
    if t is str:
        return _STR, value
    if t is bool:
        return _BOOL, value
    if t is int or t is float:
        return _NUM, float(value)
    if value is None:
        return _NULL, None
    ok, scalar = _as_scalar(value)
    if ok:
        return _classify(scalar)
    return "", None


def _list_key(kinds_values: Iterable[tuple[str, Any]]) -> tuple[Any, ...]:
    """Give back the interning key of a list: numbers as floats, bools wrapped so True != 1.0."""
    return tuple((v,) if kind == _BOOL else v for kind, v in kinds_values)


_JSON_CHUNK_ROWS = 65_536


def _decode_row(text: str, row: int) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (TypeError, ValueError) as exc:
        raise CorruptionError(f"metadata of row {row} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CorruptionError(f"metadata of row {row} is not a JSON object, {_found(value)}")
    return value


_FEW = 8  # up to this many targets, repeated == beats np.isin (a sort) and a gather


def _equals_any(stored: np.ndarray, targets: Sequence[Any] | np.ndarray) -> np.ndarray:
    cond = stored == targets[0]
    for target in targets[1:]:
        cond |= stored == target
    return cond


def _codes_match(codes: np.ndarray, by_code: np.ndarray) -> np.ndarray:
    """Give back by_code[codes]: the per-string answer spread over the rows."""
    hits = np.flatnonzero(by_code)
    if len(hits) <= _FEW:
        return _equals_any(codes, hits) if len(hits) else np.zeros(len(codes), dtype=bool)
    return np.take(by_code, codes)


_NP_ORDER: dict[str, Callable[[Any, Any], Any]] = {
    "$gt": operator.gt,
    "$gte": operator.ge,
    "$lt": operator.lt,
    "$lte": operator.le,
}
# pyarrow.compute's functions of the same names, for strings: imported on the first string range
# (the import takes 30-40 ms, most of a first filtered query at 100k documents)
_PC_ORDER: dict[str, str] = {"$gt": "greater", "$gte": "greater_equal", "$lt": "less", "$lte": "less_equal"}


class MetadataColumns:
    """Columnar, typed view of every label's metadata (labels 0..n-1, dense, dead ones included)."""

    def __init__(self) -> None:
        self.n = 0
        self._keys: dict[str, _KeyColumn] = {}

    def keys(self) -> list[str]:
        """Give back every metadata key seen so far."""
        return list(self._keys)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every key's state as named 1-D arrays, "<key number>.<part>" (filters/saved.py saves them)."""
        return {f"{i}.{name}": arr for i, column in enumerate(self._keys.values())
                for name, arr in column.to_arrays(self.n).items()}

    @classmethod
    def from_saved(cls, n: int, keys: list[str], get: Callable[[str], np.ndarray | None],
                   where: str) -> "MetadataColumns":
        """Columns of labels 0..n-1 over saved arrays, get(name) giving each on first use (checked):
        a damaged one raises CorruptionError when a query or an append first needs it."""
        def of_key(i: int) -> Callable[[str], np.ndarray | None]:
            return lambda name: get(f"{i}.{name}")

        columns = cls()
        every_label = shared_labels(n)  # one 0..n-1 for all the dense keys
        columns._keys = {key: _KeyColumn.from_saved(of_key(i), n, where, every_label) for i, key in enumerate(keys)}
        columns.n = n
        return columns

    # ---- write path: may loop over the new documents

    def append(self, metadatas: Sequence[dict[str, Any]]) -> None:
        """Add one metadata dict per new label (labels n, n+1, ...); all or nothing."""
        base = self.n
        grouped: dict[str, tuple[list[int], list[Any]]] = {}
        for offset, metadata in enumerate(metadatas):
            if not isinstance(metadata, dict):
                raise InvalidInputError(
                    f"Expected a dict of metadata for document {offset}, {_found(metadata)}"
                )
            for key, value in metadata.items():
                group = grouped.get(key)
                if group is None:
                    if type(key) is not str or not key:
                        raise InvalidInputError(
                            f"Expected non-empty string metadata keys, found {_show(key)} "
                            f"in document {offset}"
                        )
                    group = grouped[key] = ([], [])
                group[0].append(base + offset)
                group[1].append(value)
        new_columns = {key: _KeyColumn() for key in grouped if key not in self._keys}
        staged = {
            key: self._stage_key(self._keys.get(key) or new_columns[key], key, labels, values, base)
            for key, (labels, values) in grouped.items()
        }
        # Staging has validated every value, so nothing below can fail half-way.
        self._keys.update(new_columns)
        for key, stage in staged.items():
            column = self._keys[key]
            column.present.extend(stage.present)
            for pairs_by_kind, stage_by_kind in (
                (column.top, stage.top),
                (column.elem, stage.elem),
            ):
                for kind, (labels, values) in stage_by_kind.items():
                    pairs = pairs_by_kind[kind]
                    pairs.labels.extend(labels)
                    if pairs.values is not None:
                        pairs.values.extend(values)
        self.n = base + len(metadatas)

    def _stage_key(
        self, column: _KeyColumn, key: str, labels: list[int], values: list[Any], base: int
    ) -> _Staged:
        stage = _Staged(labels)
        types = set(map(type, values))
        # Fast paths for a key whose new values all share one scalar type (the usual case).
        if types <= {int, float}:
            try:
                stage.top[_NUM] = (labels, np.array(values, dtype=np.float64))
                return stage
            except OverflowError:
                pass  # the slow path below names the offending document
        elif types == {str}:
            stage.top[_STR] = (labels, column.strings.intern_many(values))
            return stage
        elif types == {bool}:
            stage.top[_BOOL] = (labels, np.array(values, dtype=np.bool_))
            return stage
        elif types == {list}:
            elements = list(chain.from_iterable(values))
            if set(map(type, elements)) <= {str}:  # lists of strings: tags, authors, ...
                list_codes = column.lists
                as_keys = list(map(tuple, values))  # a list of str is keyed by its tuple
                for list_key in dict.fromkeys(as_keys):
                    if list_key not in list_codes:
                        list_codes[list_key] = len(list_codes)
                stage.top[_LIST] = (labels, [list_codes[k] for k in as_keys])
                lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
                element_labels = np.repeat(np.asarray(labels, dtype=np.int64), lengths)
                stage.elem[_STR] = (element_labels, column.strings.intern_many(elements))
                return stage
        for label, value in zip(labels, values):
            self._stage_value(stage, column, label, key, value, label - base)
        return stage

    def _stage_value(
        self, stage: _Staged, column: _KeyColumn, label: int, key: str, value: Any, offset: int
    ) -> None:
        try:
            kind, plain = _classify(value)
        except OverflowError:
            raise InvalidInputError(
                f"Expected metadata numbers within float64 range for key {key!r} in document "
                f"{offset}, found int: {_show(value)}"
            ) from None
        if kind == "" and isinstance(value, (list, tuple)):
            elements = []
            for item in value:
                try:
                    item_kind, item_plain = _classify(item)
                except OverflowError:
                    item_kind, item_plain = "", None
                if item_kind == "":
                    raise InvalidInputError(
                        f"Expected a list of str, int, float (within float64 range), bool or None "
                        f"for metadata key {key!r} in document {offset}, found item {_show(item)}"
                    )
                elements.append((item_kind, item_plain))
            list_key = _list_key(elements)
            code = column.lists.get(list_key)
            if code is None:
                code = column.lists[list_key] = len(column.lists)
            stage.add(stage.top, _LIST, label, code)
            for item_kind, item_plain in elements:
                if item_kind == _STR:
                    item_plain = column.strings.intern(item_plain)
                stage.add(stage.elem, item_kind, label, item_plain)
        elif kind == "":
            raise InvalidInputError(
                f"Expected a str, int, float, bool, None or a list of those for metadata key "
                f"{key!r} in document {offset}, {_found(value)}"
            )
        else:
            stage.add(
                stage.top, kind, label, column.strings.intern(plain) if kind == _STR else plain
            )

    def append_json(self, metadata_json: pa.Array | pa.ChunkedArray | Sequence[str | None]) -> None:
        """Add one label per JSON object string (null or "" means {}), as on reopen from Parquet."""
        if isinstance(metadata_json, (pa.Array, pa.ChunkedArray)):
            rows = metadata_json.to_pylist()
        else:
            rows = list(metadata_json)
        decoded: list[dict[str, Any]] = []
        for start in range(0, len(rows), _JSON_CHUNK_ROWS):
            texts = [text or "{}" for text in rows[start : start + _JSON_CHUNK_ROWS]]
            # One json.loads over a chunk costs half as much as one call per row; any row
            # that is not exactly one JSON object breaks the count or the types, and then
            # the rows are decoded one by one to say which row is damaged.
            try:
                chunk = json.loads("[" + ",".join(texts) + "]")
            except (TypeError, ValueError):
                chunk = None
            if chunk is None or len(chunk) != len(texts) or not all(type(d) is dict for d in chunk):
                chunk = [_decode_row(text, start + i) for i, text in enumerate(texts)]
            decoded.extend(chunk)
        self.append(decoded)

    # ---- query path: vectorised, no loop over documents

    def mask(self, expr: Expr) -> np.ndarray:
        """Give back a bool array of length n: True for every label the expression matches."""
        if isinstance(expr, MatchAll):
            return np.ones(self.n, dtype=bool)
        if isinstance(expr, (And, Or)):
            out = self.mask(expr.children[0])
            for child in expr.children[1:]:
                if isinstance(expr, And):
                    out &= self.mask(child)
                else:
                    out |= self.mask(child)
            return out
        if isinstance(expr, Compare):
            return self._compare(expr)
        raise FilterError(f"Expected a compiled filter expression, {_found(expr)}")

    def _compare(self, expr: Compare) -> np.ndarray:
        out = np.zeros(self.n, dtype=bool)
        column = self._keys.get(expr.key)
        op = expr.op
        if column is not None:
            if op in ("$eq", "$ne"):
                self._eq(column, expr.value, out)
            elif op in ("$in", "$nin"):
                self._in(column, expr.value, out)  # type: ignore[arg-type]
            elif op in _ORDERING:
                self._order(column, op, cast(Scalar, expr.value), out)  # compile() keeps a scalar here
            elif op == "$exists":
                self._scatter(out, column.present.view(), None, dense=True)
            elif op == "$contains":
                self._contains(column, cast(Scalar, expr.value), out)  # compile() keeps a scalar here
            else:
                raise FilterError(f"Unknown operator {op!r} in a compiled expression")
        if op in ("$ne", "$nin") or (op == "$exists" and expr.value is False):
            np.logical_not(out, out=out)
        return out

    def _scatter(
        self, out: np.ndarray, labels: np.ndarray, cond: np.ndarray | None, *, dense: bool
    ) -> None:
        """Set out[labels[cond]] = True; dense pairs covering every label skip the scatter."""
        if dense and len(labels) == self.n:  # labels are unique and sorted, so 0..n-1
            if cond is None:
                out[:] = True
            else:
                out |= cond
        elif cond is None:
            out[labels] = True
        else:
            out[labels[cond]] = True

    def _eq(self, column: _KeyColumn, value: Scalar | tuple[Scalar, ...], out: np.ndarray) -> None:
        if isinstance(value, tuple):
            code = column.lists.get(_list_key(_classify(v) for v in value))
            if code is not None:
                pairs = column.top[_LIST]
                self._scatter(out, pairs.labels.view(), pairs.value_view() == code, dense=True)
            return
        self._match_scalar(column.top, column, value, out, dense=True)

    def _contains(self, column: _KeyColumn, value: Scalar, out: np.ndarray) -> None:
        self._match_scalar(column.elem, column, value, out, dense=False)

    def _match_scalar(
        self,
        by_kind: dict[str, _Pairs],
        column: _KeyColumn,
        value: Any,
        out: np.ndarray,
        *,
        dense: bool,
    ) -> None:
        kind, plain = _classify(value)
        pairs = by_kind[kind]
        if kind == _NULL:
            self._scatter(out, pairs.labels.view(), None, dense=dense)
            return
        if kind == _STR:
            plain = column.strings.code_of(plain)
            if plain is None:
                return
        self._scatter(out, pairs.labels.view(), pairs.value_view() == plain, dense=dense)

    def _in(self, column: _KeyColumn, values: tuple[Scalar, ...], out: np.ndarray) -> None:
        wanted: dict[str, list[Any]] = {_NUM: [], _STR: [], _BOOL: []}
        has_null = False
        for value in values:
            kind, plain = _classify(value)
            if kind == _NULL:
                has_null = True
            elif kind == _STR:
                code = column.strings.code_of(plain)
                if code is not None:
                    wanted[_STR].append(code)
            else:
                wanted[kind].append(plain)
        for kind, targets in wanted.items():
            if not targets:
                continue
            pairs = column.top[kind]
            stored = pairs.value_view()
            if kind == _STR:
                by_code = np.zeros(len(column.strings), dtype=bool)
                by_code[targets] = True
                cond = _codes_match(stored, by_code)
            elif len(targets) <= _FEW:
                cond = _equals_any(stored, targets)
            else:
                cond = np.isin(stored, np.asarray(targets, _VALUE_DTYPES[kind]))
            self._scatter(out, pairs.labels.view(), cond, dense=True)
        if has_null:
            self._scatter(out, column.top[_NULL].labels.view(), None, dense=True)

    def _order(self, column: _KeyColumn, op: str, value: Scalar, out: np.ndarray) -> None:
        kind, plain = _classify(value)
        pairs = column.top[kind]
        if kind == _NULL or len(pairs.labels) == 0:
            return
        if kind == _STR:
            # Compare the distinct strings once, then gather by code.
            import pyarrow.compute as pc

            matches = getattr(pc, _PC_ORDER[op])(column.strings.array(), pa.scalar(plain, pa.string()))
            by_code = matches.to_numpy(zero_copy_only=False)
            self._scatter(
                out, pairs.labels.view(), _codes_match(pairs.value_view(), by_code), dense=True
            )
        else:
            cond = _NP_ORDER[op](pairs.value_view(), plain)
            self._scatter(out, pairs.labels.view(), cond, dense=True)
