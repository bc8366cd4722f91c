"""Typed metadata columns of a segment: one Arrow column per metadata key, beside the JSON.

The `metadata` JSON column stays the exact record of every row's metadata (gyeol reads it back,
so int and float, null and absent, all round-trip as given). Next to it, each segment holds a
column `meta.<key>` per key whose values in that segment share one type, so that DuckDB, pandas
or pyarrow can filter and aggregate them without parsing JSON. The rule, per segment and key,
over the rows that have the key with a non-null value:

- all str -> string; all bool -> bool; all int within int64 -> int64;
- all numbers (int and float mixed, or ints beyond int64) -> float64;
- all lists -> list<T>, T chosen by the same rule over all their elements (a key whose lists
  are all empty or hold only nulls stays untyped: pyarrow mishandles list<null>);
- no such row (the key is only ever null) -> null.

Rows without the key, or with null, hold null in the column. A key whose values have more
than one of those types in one segment (say str in one row and int in another, or a list
mixing str and int) has no typed column in that segment: its values are in the JSON only
(DuckDB: ``json_extract(metadata, '$.key')``), and the segment's Parquet schema metadata
lists it under ``gyeol`` -> ``untyped``, as it does keys beyond the first MAX_TYPED_KEYS.
When segments merge, a key keeps a typed column when its types agree (int64 with float64
becomes float64, null joins any type) and is untyped in every source that has it.
"""

from __future__ import annotations

import json
from typing import Any, Iterable, Sequence

import pyarrow as pa

META_PREFIX = "meta."
MAX_TYPED_KEYS = 256  # typed columns per segment; further keys stay in the JSON only
SCHEMA_KEY = b"gyeol"
_INT64 = (-(1 << 63), (1 << 63) - 1)


def _value_type(values: Iterable[Any]) -> pa.DataType | None:
    """The Arrow type the non-null values share under the module's rule; None when they mix."""
    values = list(values)
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pa.null()
    if len(kinds) == 1:
        kind = next(iter(kinds))
        if kind is str:
            return pa.string()
        if kind is bool:
            return pa.bool_()
        if kind is int:
            low, high = _INT64
            return pa.int64() if all(low <= v <= high for v in values if v is not None) else pa.float64()
        if kind is float:
            return pa.float64()
        if kind is list:
            inner = _value_type(x for v in values if v is not None for x in v)
            # lists holding no value at all stay untyped: pyarrow mishandles list<null> (take, Parquet)
            return None if inner is None or inner == pa.null() or pa.types.is_list(inner) else pa.list_(inner)
        return None
    if kinds <= {int, float}:
        return pa.float64()
    return None


def _as_type(values: list[Any], kind: pa.DataType) -> pa.Array:
    if kind == pa.float64():
        values = [None if v is None else float(v) for v in values]
    elif pa.types.is_list(kind) and kind.value_type == pa.float64():
        values = [None if v is None else [None if x is None else float(x) for x in v] for v in values]
    return pa.array(values, kind)


def typed_columns(metadata: Sequence[dict[str, Any]]) -> tuple[dict[str, pa.Array], list[str]]:
    """({key: typed column}, untyped keys) of one segment's metadata dicts, keys in first-seen order."""
    keys: dict[str, None] = {}
    for row in metadata:
        keys.update(dict.fromkeys(row))
    columns: dict[str, pa.Array] = {}
    untyped: list[str] = []
    for key in keys:
        values = [row.get(key) for row in metadata]
        kind = _value_type(values) if len(columns) < MAX_TYPED_KEYS else None
        if kind is None:
            untyped.append(key)
        else:
            columns[key] = _as_type(values, kind)
    return columns, untyped


def decode_json_rows(metadata_json: Sequence[str | None]) -> list[dict[str, Any]]:
    """The metadata dicts of JSON object strings (null or "" is {}), decoded in one call."""
    if not metadata_json:
        return []
    return json.loads("[" + ",".join(text or "{}" for text in metadata_json) + "]")


def schema_metadata(untyped: Sequence[str]) -> dict[bytes, bytes]:
    return {SCHEMA_KEY: json.dumps({"untyped": list(untyped)}, ensure_ascii=False).encode()}


def untyped_of(schema: pa.Schema) -> list[str]:
    """The untyped keys a segment's schema records (none for a segment written before typed columns)."""
    raw = (schema.metadata or {}).get(SCHEMA_KEY)
    if raw is None:
        return []
    try:
        found = json.loads(raw).get("untyped", [])
    except (ValueError, AttributeError):
        return []
    return [k for k in found if isinstance(k, str)] if isinstance(found, list) else []


def meta_fields(schema: pa.Schema) -> list[str]:
    """The typed metadata keys of a segment schema."""
    return [name[len(META_PREFIX):] for name in schema.names if name.startswith(META_PREFIX)]


def _common_type(types: list[pa.DataType]) -> pa.DataType | None:
    concrete = {t for t in types if t != pa.null()}
    if not concrete:
        return pa.null()
    if len(concrete) == 1:
        return next(iter(concrete))
    if concrete <= {pa.int64(), pa.float64()}:
        return pa.float64()
    if all(pa.types.is_list(t) for t in concrete):
        inner = _common_type([t.value_type for t in concrete])
        return None if inner is None else pa.list_(inner)
    return None


def _cast(column: pa.Array, kind: pa.DataType) -> pa.Array:
    """column as kind; int64 widened to float64 rounds as Python's float() does (ints beyond 2**53
    are not exact in float64, which the rule above accepts), every other cast is checked."""
    source, target = column.type, kind
    if pa.types.is_list(source) and pa.types.is_list(target):
        source, target = source.value_type, target.value_type
    return column.cast(kind, safe=not (source == pa.int64() and target == pa.float64()))


def kept_columns(parts: Sequence[tuple[dict[str, pa.Array], list[str], Any]]) -> tuple[pa.Table | None, list[str]]:
    """The typed columns of some rows of each part, unified into one table (None: no typed key), and the
    untyped keys. parts: (typed columns, untyped keys, row numbers to keep) per source, in label order."""
    taken = []
    for columns, untyped, rows in parts:
        take = pa.array(rows, pa.int64())
        taken.append(({k: c.take(take) for k, c in columns.items()}, untyped, len(rows)))
    tables, untyped = unify(taken)
    table = pa.concat_tables(tables) if tables else None
    return (table if table is not None and table.num_columns else None), untyped


def unify(parts: Sequence[tuple[dict[str, pa.Array], list[str], int]]) -> tuple[list[pa.Table], list[str]]:
    """Each part's typed columns as tables of one shared schema, and the keys untyped in the result.

    parts: (typed columns, untyped keys, rows) per source segment, in label order.
    """
    order: dict[str, None] = {}
    untyped: dict[str, None] = {}
    for columns, part_untyped, _ in parts:
        order.update(dict.fromkeys(columns))
        untyped.update(dict.fromkeys(part_untyped))
    kinds: dict[str, pa.DataType] = {}
    for key in order:
        if key in untyped:
            continue
        kind = _common_type([columns[key].type for columns, _, _ in parts if key in columns])
        if kind is None or len(kinds) >= MAX_TYPED_KEYS:
            untyped[key] = None
        else:
            kinds[key] = kind
    tables = []
    for columns, _, rows in parts:
        arrays = [_cast(columns[k], t) if k in columns else pa.nulls(rows, t) for k, t in kinds.items()]
        tables.append(pa.Table.from_arrays(arrays, names=[META_PREFIX + k for k in kinds]) if kinds
                      else pa.table({"_": pa.nulls(rows)}).drop(["_"]))
    return tables, list(untyped)
