"""Reading stored rows back: the texts and metadata dicts of labels, from a store's Arrow columns."""

from __future__ import annotations

import json
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
