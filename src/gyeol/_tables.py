"""Collection's table views for notebooks and outside tools: scan, to_arrow, to_pandas, to_list, _repr_html_.

A mixin of gyeol.Collection (split from collection.py along this seam): every view reads a
snapshot of the live rows through storage/scan.py under the collection's shared lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterator

from . import _validation as v

if TYPE_CHECKING:
    from ._rwlock import ReadWriteLock
    from .engine import DerivedIndexes
    from .types import Document


class CollectionTables:
    """scan / to_arrow / to_pandas / to_list / _repr_html_ of a Collection."""

    if TYPE_CHECKING:  # what Collection gives its mixin
        _engine: DerivedIndexes
        _rw: ReadWriteLock
        _closed: bool

        @property
        def dim(self) -> int: ...

        def _follow_writer(self) -> None: ...

        def _check_open(self) -> None: ...

        def get(self, ids: list[str] | None = None, *, where: dict[str, Any] | None = None,
                limit: int | None = None, offset: int = 0, include_vectors: bool = False) -> list[Document]: ...

    def scan(self, columns: list[str] | None = None, *, where: dict[str, Any] | None = None,
             batch_size: int = 65_536) -> Iterator[Any]:
        """The live documents (those matching where), as an iterator of pyarrow RecordBatches of
        at most batch_size rows, in storage order; columns among "id", "text", "metadata" (JSON
        strings) and "vector" (default: the first three). A snapshot: writes made while it is
        iterated do not change what it yields."""
        from .storage.scan import check_columns, snapshot

        names = check_columns(columns)
        rows = v.check_k(batch_size, name="batch_size")
        self._follow_writer()
        with self._rw.shared():
            self._check_open()
            labels = self._engine.select(None, _compile(where))
            return snapshot(self._engine.store, labels, names, rows)

    def to_arrow(self, *, where: dict[str, Any] | None = None, limit: int | None = None,
                 columns: list[str] | None = None) -> Any:
        """The live documents (all, or those matching where, up to limit) as one pyarrow Table (see scan)."""
        import pyarrow as pa

        from .storage.scan import check_columns, schema_of, snapshot

        names = check_columns(columns)
        if limit is not None:
            limit = v.check_k(limit, name="limit")
        self._follow_writer()
        with self._rw.shared():
            self._check_open()
            labels = self._engine.select(None, _compile(where))[:limit]
            batches = list(snapshot(self._engine.store, labels, names, max(len(labels), 1)))
            return pa.Table.from_batches(batches, schema=schema_of(names, self.dim))

    def to_pandas(self, *, where: dict[str, Any] | None = None, limit: int | None = None,
                  columns: list[str] | None = None) -> Any:
        """The live documents as a pandas DataFrame; metadata as dicts, vectors as numpy arrays."""
        import json

        frame = self.to_arrow(where=where, limit=limit, columns=columns).to_pandas()
        if "metadata" in frame:
            frame["metadata"] = [json.loads(m) if m else {} for m in frame["metadata"]]
        return frame

    def to_list(self, *, where: dict[str, Any] | None = None, limit: int | None = None,
                columns: list[str] | None = None) -> list[dict[str, Any]]:
        """The live documents as plain dicts (to_arrow's rows; metadata as a dict, a vector as a list)."""
        from .storage.scan import plain_rows

        return plain_rows(self.to_arrow(where=where, limit=limit, columns=columns))

    def _repr_html_(self) -> str:
        from .types import documents_html

        return documents_html(repr(self), [] if self._closed else self.get(limit=10))


def _compile(where: Any):
    """None, or the compiled filter (FilterError when malformed)."""
    if where is None:
        return None
    from .filters import compile_where  # loaded on the first filter, not at import

    return compile_where(where)
