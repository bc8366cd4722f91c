"""The metadata side of one collection handle: the typed filter columns (gyeol.filters), loaded
from the ones a writer saved (gyeol.filters.saved) or built from the JSON, kept up to date with
each commit, and saved by a writer when due and at close. gyeol.filters (numpy and
pyarrow.compute work) is imported on first use, not at open.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Any

from ..errors import CorruptionError
from ..storage import saved_arrays

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ..filters import MetadataColumns
    from ..storage.store import SegmentStore


class FilterColumns:
    """One collection handle's metadata columns: loaded from the saved ones (or built from the
    JSON), kept up to date with each commit, and saved by a writer when due and at close."""

    def __init__(self, *, writer: bool) -> None:
        self._writer = writer
        self._columns: MetadataColumns | None = None
        self._saved: int | None = None  # labels the saved columns of this generation cover
        self._lock = threading.Lock()  # the first filtered searches build the columns once

    def get(self, store: "SegmentStore", *, saved: bool = True) -> MetadataColumns:
        """The columns of every label of store, built on first call (once, whatever the threads);
        saved=False builds them from the JSON, not from the saved columns."""
        columns = self._columns
        if columns is not None:
            return columns
        with self._lock:
            if self._columns is None:
                columns = None
                if store.directory is not None and saved:
                    from ..filters.saved import columns_folder, load_columns

                    columns = load_columns(columns_folder(store.directory), store.manifest.generation, store.n_labels,
                                           lazy=not self._writer)  # a writer, which saves them, checks all now
                self._saved = None if columns is None else columns.n
                if columns is None:
                    from ..filters import MetadataColumns

                    columns = MetadataColumns()
                if columns.n < store.n_labels:
                    columns.append_json(store.metadata_json.slice(columns.n))
                self._columns = columns
            return self._columns

    def mask(self, store: "SegmentStore", expr: Any) -> Any:
        """The labels expr matches (a bool array over every label); a saved array found damaged
        on its first use is a WARNING and the columns are built again from the JSON."""
        columns = self.get(store)
        try:
            return columns.mask(expr)
        except CorruptionError as exc:
            self._forget_damaged(columns, exc)
            return self.get(store, saved=False).mask(expr)

    def _forget_damaged(self, columns: "MetadataColumns", exc: CorruptionError) -> None:
        log.warning("%s; the filter columns are rebuilt from the segments", exc)
        with self._lock:
            if self._columns is columns:
                self._columns = None
                self._saved = None

    def after_commit(self, store: "SegmentStore", metadata: list[dict[str, Any]]) -> None:
        """Append a commit's metadata; a writer on disk keeps the columns even unasked, to save them."""
        columns = self._columns
        if columns is not None:
            try:
                columns.append(metadata)
            except CorruptionError as exc:  # a saved array first read here: build them from the JSON
                self._forget_damaged(columns, exc)
                self.get(store, saved=False)  # the commit's rows included
            except Exception:  # the commit stands; rebuild the columns from it on the next filter
                self._columns = None
                raise
        elif self._writer and store.directory is not None:
            self.get(store)  # the commit's rows included

    def persist(self, store: "SegmentStore") -> None:
        """Save the columns when they grew enough since their last save: the writer calls it after the
        commit's exclusive section (it reads the columns only; appends come from the writer alone)."""
        self._save(store, force=False)

    def compacted(self, store: "SegmentStore") -> None:
        """Labels were renumbered: forget the columns (a writer on disk builds the new ones now)."""
        self.reset()
        if self._writer and store.directory is not None:
            self.get(store)

    def save(self, store: "SegmentStore") -> None:
        """A writer saves columns that grew since their last save (close, checkpoints)."""
        self._save(store, force=True)

    def _save(self, store: "SegmentStore", *, force: bool) -> None:
        columns = self._columns
        if not self._writer or columns is None or store.directory is None:
            return
        saved = self._saved or 0
        from ..filters.saved import columns_folder, save_columns

        if self._saved is None and columns.n >= saved_arrays.SAVE_MIN_TAIL:
            due = True
        elif force:
            due = columns.n > saved and columns.n >= saved_arrays.SAVE_MIN_TAIL // 32
        else:
            due = saved_arrays.save_due(saved, columns.n - saved)
        if not due:
            return
        try:
            done = save_columns(columns_folder(store.directory), columns, store.manifest.generation)
        except CorruptionError as exc:  # a saved array first read by this save: build and save anew
            self._forget_damaged(columns, exc)
            columns = self.get(store, saved=False)
            done = save_columns(columns_folder(store.directory), columns, store.manifest.generation)
        if done:
            self._saved = columns.n

    def reset(self) -> None:
        self._columns = None
        self._saved = None
