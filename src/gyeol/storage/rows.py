"""Reading stored rows back: the texts and metadata dicts of labels, and id strings, from a store's Arrow columns."""

from __future__ import annotations

import json
from bisect import bisect_right
from typing import Any

import numpy as np
import pyarrow as pa


def read_rows(
    texts_col: pa.ChunkedArray, metas_col: pa.ChunkedArray, labels: np.ndarray
) -> tuple[list[str | None], list[dict[str, Any]]]:
    """Texts and metadata dicts of labels, in order."""
    if len(labels) == 0:
        return [], []
    take = pa.array(labels, pa.int64())
    texts = texts_col.take(take).to_pylist()
    metas = [json.loads(m) if m else {} for m in metas_col.take(take).to_pylist()]
    return texts, metas


StringIndex = tuple[list[int], list[tuple[memoryview, memoryview]]]


def string_index(chunks: list[pa.Array]) -> StringIndex:
    """Each string chunk's first row and (offsets, bytes) views, for strings_at.

    Views rather than numpy arrays: indexing a memoryview gives a Python int at once, so a search
    resolving its ten ids pays no numpy scalar per id.
    """
    chunk_starts: list[int] = []
    chunk_views: list[tuple[memoryview, memoryview]] = []
    first = 0
    for chunk in chunks:
        buffers = chunk.buffers()
        width = np.int64 if chunk.type == pa.large_string() else np.int32
        offsets = np.frombuffer(buffers[1], dtype=width)[chunk.offset : chunk.offset + len(chunk) + 1]
        data = memoryview(buffers[2]) if buffers[2] is not None else memoryview(b"")
        chunk_starts.append(first)
        chunk_views.append((offsets.data, data))
        first += len(chunk)
    return chunk_starts, chunk_views


def strings_at(index: StringIndex, rows: np.ndarray) -> list[str]:
    """The strings at rows (across chunks), decoded straight from the Arrow buffers."""
    starts, views = index
    if len(views) == 1:
        offsets, data = views[0]
        return [str(data[offsets[r] : offsets[r + 1]], "utf-8") for r in rows.tolist()]
    out = []
    for row in rows.tolist():
        c = bisect_right(starts, row) - 1
        offsets, data = views[c]
        i = row - starts[c]
        out.append(str(data[offsets[i] : offsets[i + 1]], "utf-8"))
    return out
