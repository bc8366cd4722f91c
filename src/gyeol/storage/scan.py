"""Streaming a collection's live rows as Arrow record batches (col.scan, to_arrow, to_pandas, to_list).

A scan is a snapshot: it takes the labels that are live (and match the filter) and the store's
immutable id, text and metadata columns when it starts, and, when vectors are asked for, opens
the segments of that commit, so a write, a merge or a compaction while the caller iterates
changes nothing it yields (a removed segment stays readable through its open file).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..errors import CorruptionError, InvalidInputError
from .manifest import DATA_DIR
from .segments import check_vector_values, vectors_to_arrow

if TYPE_CHECKING:
    from .store import SegmentStore

SCAN_COLUMNS = ("id", "text", "metadata", "vector")
DEFAULT_COLUMNS = ("id", "text", "metadata")
DEFAULT_BATCH_ROWS = 65_536


def check_columns(columns: object) -> tuple[str, ...]:
    """The scan columns asked for, checked: a non-empty list of distinct names of SCAN_COLUMNS."""
    if columns is None:
        return DEFAULT_COLUMNS
    if isinstance(columns, (str, bytes)) or not isinstance(columns, (list, tuple)) or not columns:
        raise InvalidInputError(f"columns must be a non-empty list of {', '.join(SCAN_COLUMNS)}, got {columns!r}")
    bad = [c for c in columns if not isinstance(c, str) or c not in SCAN_COLUMNS]
    if bad:
        raise InvalidInputError(f"Expected columns among {', '.join(SCAN_COLUMNS)}, found {bad[0]!r}")
    if len(set(columns)) != len(columns):
        raise InvalidInputError(f"Expected distinct column names, found {list(columns)!r}")
    return tuple(columns)


def schema_of(columns: Sequence[str], dim: int) -> pa.Schema:
    types = {"id": pa.string(), "text": pa.string(), "metadata": pa.string(), "vector": pa.list_(pa.float32(), dim)}
    return pa.schema([pa.field(c, types[c]) for c in columns])


def snapshot(store: "SegmentStore", labels: np.ndarray, columns: Sequence[str],
             batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Record batches of the labels' rows (in label order), batch_rows at most each; call under the
    store's read lock: everything it reads later is held from here on."""
    labels = np.sort(np.asarray(labels, dtype=np.int64))
    arrays = {"id": store.ids, "text": store.texts, "metadata": store.metadata_json}
    vectors = vector_reader(store) if "vector" in columns else None
    schema = schema_of(columns, store.dim)

    def batches() -> Iterator[pa.RecordBatch]:
        for start in range(0, len(labels), batch_rows):
            chunk = labels[start : start + batch_rows]
            take = pa.array(chunk, pa.int64())
            out = []
            for name in columns:
                if name == "vector":
                    assert vectors is not None
                    out.append(vectors_to_arrow(vectors(chunk)))
                else:
                    out.append(arrays[name].take(take).combine_chunks())
            yield pa.RecordBatch.from_arrays(out, schema=schema)

    return batches()


def plain_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows as dicts, the stored metadata JSON decoded (Results.to_list's shape)."""
    rows = table.to_pylist()
    if "metadata" in table.column_names:
        for row in rows:
            row["metadata"] = json.loads(row["metadata"]) if row["metadata"] else {}
    return rows


def vector_reader(store: "SegmentStore") -> Callable[[np.ndarray], np.ndarray]:
    """A function giving the stored vectors of sorted labels, from the segments of the store's commit now."""
    directory = store.directory
    if directory is None:
        everything = store.vectors()
        return lambda labels: everything[labels]
    unit = store.manifest.config.get("metric") == "cosine"
    segments = list(store.manifest.segments)
    starts = np.asarray([seg.first_label for seg in segments], dtype=np.int64)
    files = []
    for seg in segments:  # opened now: a merge or compaction may remove the file, not the open mapping
        path = directory / DATA_DIR / seg.file
        store.verify_segment(seg)
        try:
            files.append(pq.ParquetFile(path, memory_map=True))
        except FileNotFoundError:
            raise CorruptionError(f"segment {path} named by the manifest is missing") from None
        except (pa.ArrowInvalid, OSError) as exc:
            raise CorruptionError(f"segment {path} is unreadable: {exc}") from exc

    def read(labels: np.ndarray) -> np.ndarray:
        out = np.empty((len(labels), store.dim), np.float32)
        which = np.searchsorted(starts, labels, side="right") - 1
        for s in np.unique(which).tolist():
            rows = np.flatnonzero(which == s)
            local = labels[rows] - starts[s]
            file = files[s]
            group_starts = np.cumsum([0] + [file.metadata.row_group(g).num_rows for g in range(file.num_row_groups)])
            group_of = np.searchsorted(group_starts, local, side="right") - 1
            for g in np.unique(group_of).tolist():
                picked = np.flatnonzero(group_of == g)
                column = file.read_row_group(g, columns=["vector"]).column("vector")
                flat = column.combine_chunks().flatten().to_numpy(zero_copy_only=False)
                block = np.asarray(flat, np.float32).reshape(-1, store.dim)
                got = block[local[picked] - group_starts[g]]
                out[rows[picked]] = check_vector_values(got, directory / DATA_DIR / segments[s].file, unit=unit)
        return out

    return read
