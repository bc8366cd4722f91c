"""The filter columns saved by the writer (index/filters/), so that no process decodes every row's JSON.

MetadataColumns.to_arrays() goes through storage/saved_arrays.py (one checksummed file, mapped
back read-only); the JSON records the keys in order, the manifest generation and how many labels
the columns cover. A process loads them and appends only the rows committed after the save.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import CorruptionError
from ..storage import saved_arrays
from ..storage.store import FILTERS_DIR as COLUMNS_DIR, FILTERS_FILES as COLUMNS_FILES, INDEX_DIR
from .columns import MetadataColumns

log = logging.getLogger(__name__)

# 2: an element's labels are marked dense only when they are exactly 0..n-1 (format 1, unmarked, could
# mark repeated labels dense when a key's list elements numbered the rows); older saves are rebuilt
COLUMNS_FORMAT = 2


def load_columns(folder: Path, generation: int, n_labels: int, *, lazy: bool = True) -> MetadataColumns | None:
    """The saved columns of generation covering at most n_labels labels; None when there are none that fit.

    lazy: each array's crc32 is checked when first used (a reader's first query reads only what it
    needs); otherwise the whole file's, now (a writer, which saves them again)."""
    saved = saved_arrays.load(folder, COLUMNS_FILES, generation, n_labels, lazy=lazy)
    if saved is None:
        return None
    arrays, meta = saved
    if meta.get("columns_format") != COLUMNS_FORMAT:  # saved before 2026-12-02: lists could be marked dense wrongly
        log.info("the filter columns in %s are of an older format; they are rebuilt from the segments", folder)
        return None
    keys = meta.get("keys")
    where = str(folder / COLUMNS_FILES.meta_name)
    try:
        if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys) or len(set(keys)) != len(keys):
            raise CorruptionError(f"{where}: the keys it records are malformed")
        for name in (arrays.names() if lazy else arrays):
            number = name.partition(".")[0]
            if not number.isdigit() or int(number) >= len(keys):
                raise CorruptionError(f"{where}: array {name!r} belongs to no key")
        # each array's crc32 is checked when a query first needs it (metadata_side.py rebuilds on damage)
        return MetadataColumns.from_saved(meta["covered"], keys, arrays.get, where)
    except CorruptionError as exc:
        log.warning("%s; the filter columns are rebuilt from the segments", exc)
        return None


def save_columns(folder: Path, columns: MetadataColumns, generation: int) -> bool:
    """Save columns for generation; False (with a WARNING) when the disk refuses: derived data."""
    try:
        saved_arrays.save(folder, COLUMNS_FILES, columns.to_arrays(),
                          {"generation": generation, "covered": columns.n, "keys": columns.keys(),
                           "columns_format": COLUMNS_FORMAT})
        return True
    except OSError as exc:
        log.warning("could not save the filter columns in %s (%s)", folder, exc)
        return False


def columns_folder(collection_folder: Path) -> Path:
    """Where a collection's saved filter columns live."""
    return collection_folder / INDEX_DIR / COLUMNS_DIR
