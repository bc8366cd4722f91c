"""Parquet segments (id, label, text, metadata JSON, typed meta.<key> columns, vector) and tombstone files.

A segment's `label` column is each row's label, which a tombstone file (one `label` column)
names when the row is deleted or replaced: live rows are the segments' rows whose label no
tombstone holds (docs/durability.md shows the DuckDB and pyarrow one-liners). Segments written
before the label column have none; gyeol numbers their rows from the manifest's first_label.
The typed metadata columns follow storage/typed_meta.py's rule.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import CorruptionError
from .._fileset import write_atomic
from .typed_meta import META_PREFIX, decode_json_rows, meta_fields, schema_metadata, typed_columns, untyped_of

ROW_GROUP_ROWS = 65_536


def segment_schema(dim: int, meta: pa.Schema | None = None, untyped: list[str] | None = None) -> pa.Schema:
    """The schema of a segment of dim-sized vectors whose typed metadata columns are meta's fields."""
    fields = [
        pa.field("id", pa.string(), nullable=False),
        pa.field("label", pa.int64(), nullable=False),
        pa.field("text", pa.string()),
        pa.field("metadata", pa.string()),  # JSON object: the exact metadata; any Arrow tool can parse it
        *(list(meta) if meta is not None else []),
        pa.field("vector", pa.list_(pa.float32(), dim)),
    ]
    return pa.schema(fields, metadata=schema_metadata(untyped or []))


def vectors_to_arrow(vectors: np.ndarray) -> pa.FixedSizeListArray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(vectors.reshape(-1)), vectors.shape[1])


def arrow_to_vectors(column: pa.ChunkedArray | pa.Array, dim: int) -> np.ndarray:
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    flat = column.flatten().to_numpy(zero_copy_only=False)
    return np.asarray(flat, dtype=np.float32).reshape(-1, dim)


# How far a stored cosine vector's squared norm may stray from 1 (float32 rounding is ~1e-7).
UNIT_NORM_TOLERANCE = 1e-3


def check_vector_values(vectors: np.ndarray, path: Path, *, unit: bool) -> np.ndarray:
    """vectors, when finite (and of unit length when unit); CorruptionError naming the segment otherwise.

    A damaged page can decode into huge or NaN floats that every search would rank first.
    """
    if not np.isfinite(vectors).all():
        row = int(np.flatnonzero(~np.isfinite(vectors).all(axis=1))[0])
        raise CorruptionError(f"segment {path} holds a non-finite vector (row {row})")
    if unit and len(vectors):
        off = np.abs(np.einsum("ij,ij->i", vectors, vectors) - 1.0) > UNIT_NORM_TOLERANCE
        if off.any():
            row = int(np.flatnonzero(off)[0])
            raise CorruptionError(f"segment {path} holds a vector of norm {float(np.linalg.norm(vectors[row].astype(np.float64))):.4g} "
                                  f"(row {row}) in a cosine collection, whose vectors are unit length")
    return vectors


def build_segment(
    ids: list[str], texts: list[str | None], metadata_json: list[str], vectors: np.ndarray, *, first_label: int = 0
) -> pa.Table:
    """A segment table of rows labelled first_label..; its typed metadata columns decoded from the JSON."""
    columns, untyped = typed_columns(decode_json_rows(metadata_json))
    meta = pa.Table.from_arrays(list(columns.values()), names=[META_PREFIX + k for k in columns]) if columns else None
    docs = pa.Table.from_arrays([pa.array(ids, pa.string()), pa.array(texts, pa.string()),
                                 pa.array(metadata_json, pa.string())], names=["id", "text", "metadata"])
    labels = pa.array(np.arange(first_label, first_label + len(ids), dtype=np.int64))
    return assemble_segment(docs, labels, meta, untyped, vectors_to_arrow(vectors))


def assemble_segment(docs: pa.Table, labels: pa.Array | pa.ChunkedArray, meta: pa.Table | None,
                     untyped: list[str], vectors: pa.Array | pa.ChunkedArray) -> pa.Table:
    """A segment table from its parts: docs (id, text, metadata), labels, typed metadata columns, vectors."""
    dim = vectors.type.list_size
    meta_schema = None
    arrays = [docs.column("id"), labels, docs.column("text"), docs.column("metadata")]
    if meta is not None and meta.num_columns:
        meta_schema = meta.schema
        arrays += list(meta.columns)
    arrays.append(vectors)
    return pa.Table.from_arrays(arrays, schema=segment_schema(dim, meta_schema, untyped))


def write_parquet(path: Path, table: pa.Table) -> None:
    """Write table to path atomically (temp, fsync, replace); the manifest commit fsyncs the folder."""
    write_atomic(
        path,
        lambda tmp: pq.write_table(table, tmp, row_group_size=ROW_GROUP_ROWS, compression="zstd"),
        sync_dir=False,
    )


@contextmanager
def _system_pool() -> Iterator[None]:
    """Decode with the system allocator: mimalloc keeps the decoder's scratch pages resident."""
    previous = pa.default_memory_pool()
    pa.set_memory_pool(pa.system_memory_pool())
    try:
        yield
    finally:
        pa.set_memory_pool(previous)


def read_segment(path: Path, columns: list[str] | None = None) -> pa.Table:
    try:
        with _system_pool():
            return pq.ParquetFile(path, memory_map=True).read(columns=columns)
    except FileNotFoundError:
        raise CorruptionError(f"segment {path} named by the manifest is missing") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorruptionError(f"segment {path} is unreadable: {exc}") from exc



def _read_schema(path: Path, named_by: str) -> pa.Schema:
    """A segment's Parquet schema (its footer only); CorruptionError when it is missing or unreadable."""
    try:
        return pq.read_schema(path, memory_map=True)
    except FileNotFoundError:
        raise CorruptionError(f"segment {path} named by {named_by} is missing") from None
    except (pa.ArrowInvalid, OSError) as exc:
        raise CorruptionError(f"segment {path} is unreadable: {exc}") from exc

def read_segment_meta(path: Path, first_label: int, rows: int, metadata_json: Callable[[], list[str | None]]
                      ) -> tuple[dict[str, pa.Array], list[str], pa.Array]:
    """A segment's typed metadata columns, untyped keys and labels (CorruptionError when its labels are not
    first_label..); one written before typed columns has them made from metadata_json(), its JSON rows."""
    schema = _read_schema(path, "the manifest")
    expected = np.arange(first_label, first_label + rows, dtype=np.int64)
    if "label" not in schema.names:
        columns, untyped = typed_columns(decode_json_rows(metadata_json()))
        return columns, untyped, pa.array(expected)
    keys = meta_fields(schema)
    table = read_segment(path, ["label", *(META_PREFIX + k for k in keys)])
    labels = table.column("label").combine_chunks()
    if len(labels) != rows or not np.array_equal(labels.to_numpy(zero_copy_only=False), expected):
        raise CorruptionError(f"segment {path} holds labels other than the {first_label}..{first_label + rows - 1} "
                              "its manifest names")
    return {k: table.column(META_PREFIX + k).combine_chunks() for k in keys}, untyped_of(schema), labels


def check_segment_dim(path: Path, dim: int, where: Path) -> None:
    """CorruptionError unless the segment's vector column holds vectors of dim floats (reads the footer only)."""
    schema = _read_schema(path, str(where))
    field = schema.field("vector") if "vector" in schema.names else None
    if field is None or not pa.types.is_fixed_size_list(field.type) or field.type.list_size != dim:
        found = "no vector column" if field is None else f"vector column {field.type}"
        raise CorruptionError(f"{where} says dim {dim}, but segment {path.name} has {found}")


def write_tombstones(path: Path, labels: np.ndarray) -> None:
    table = pa.table({"label": pa.array(np.asarray(labels, dtype=np.int64))})
    write_parquet(path, table)


def read_tombstones(path: Path) -> np.ndarray:
    table = read_segment(path, ["label"])
    return table.column("label").to_numpy().astype(np.int64, copy=False)
