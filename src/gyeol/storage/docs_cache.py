"""The docs caches of a collection: Arrow IPC copies of each segment's id, text and metadata columns.

Derived data under index/docs/: a writer makes each cache file from its segment and records its
length and crc32 in docs.json; every open maps a cache only when it matches. A missing, damaged
or unrecorded cache is made again from the segment (a reader decodes the Parquet and writes nothing).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pyarrow as pa

from .._checksum import FileSum, check_file, file_sum
from .._fileset import FileSet, write_atomic
from ..errors import CorruptionError
from .manifest import SEGMENT_NAME

log = logging.getLogger(__name__)

DOCS_COLUMNS = ("id", "text", "metadata")
CACHE_NAME = re.compile(f"(?:{SEGMENT_NAME})\\.arrow")
# docs.json names each cache file with its length and crc32 (written by the writer that made them)
DOCS_FILES = FileSet("docs.json", format=1, names=CACHE_NAME.pattern, sealed=True)


class DocsCaches:
    """The docs caches of one collection (index/docs/*.arrow) and docs.json, which records their checksums."""

    def __init__(self, folder: Path, writable: bool) -> None:
        self.folder = folder
        self.writable = writable
        try:
            meta = DOCS_FILES.read(folder) or {}
        except CorruptionError as exc:
            log.warning("%s; the document caches are rebuilt from the segments", exc)
            meta = {}
        files = meta.get("files")
        self.recorded: dict[str, Any] = files if isinstance(files, dict) else {}
        self.sums: dict[str, FileSum] = {}

    def open(self, name: str, rows: int) -> pa.Table | None:
        """The cache file name mapped, when docs.json records it and it matches; None otherwise."""
        path = self.folder / name
        if path.is_symlink() or not path.is_file():  # derived data is never read through a link
            return None
        where = self.folder / DOCS_FILES.meta_name
        if name not in self.recorded:  # docs.json absent: written by a gyeol before checksums
            (log.warning if self.recorded else log.info)(
                "document cache %s has no checksum in %s; it is made again", path, where)
            return None
        try:
            expected = FileSum.from_json(self.recorded[name], where, name)
            check_file(path, expected, what="document cache", where=where)
            table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
            if table.num_rows != rows or table.schema.names != list(DOCS_COLUMNS):
                raise CorruptionError(f"document cache {path} holds {table.num_rows} rows of "
                                      f"{table.schema.names}, expected {rows} of {list(DOCS_COLUMNS)}")
        except (CorruptionError, OSError, pa.ArrowInvalid) as exc:
            log.warning("%s; it is rebuilt from its segment", exc)
            return None
        self.sums[name] = expected
        return table

    def write(self, name: str, table: pa.Table) -> pa.Table:
        """table, written as the cache file name by a writer and mapped back (a reader's stays in RAM)."""
        if not self.writable:
            return table
        path = self.folder / name
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            write_atomic(path, lambda tmp: _write_ipc(tmp, table), sync_dir=False)
            self.sums[name] = file_sum(path)
            return pa.ipc.open_file(pa.memory_map(str(path))).read_all()
        except OSError as exc:  # derived data: serve from RAM rather than fail
            log.warning("could not write the document cache %s (%s)", path, exc)
            return table

    def keep_recorded(self, names: set[str]) -> None:
        """Carry the recorded checksums of names into the next commit unread (a writer that did not
        open them: a segment merge writes one new cache and keeps the others as they are)."""
        where = self.folder / DOCS_FILES.meta_name
        for name in names & self.recorded.keys():
            try:
                self.sums.setdefault(name, FileSum.from_json(self.recorded[name], where, name))
            except CorruptionError:  # dropped: the next open makes that cache again
                continue

    def commit(self, names: set[str]) -> None:
        """A writer records the checksums of the caches of names when they changed."""
        entries = {n: self.sums[n].to_json() for n in sorted(names) if n in self.sums}
        if not self.writable or entries == self.recorded:
            return
        try:
            DOCS_FILES.commit(self.folder, {"files": entries}, entries, sweep=False)
        except OSError as exc:
            log.warning("could not record the document caches in %s (%s)", self.folder, exc)


def _write_ipc(path: Path, table: pa.Table) -> None:
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
