"""Tiered merging of a collection's segments, so their number stays logarithmic in its size.

Every add() writes one Parquet segment. After each commit the writer asks plan_merges which
runs of segments to merge (the policy of Lucene's LogMergePolicy): each segment has a level,
log base MERGE_FACTOR of its rows (segments under MIN_MERGE_ROWS count as that many); from
the oldest segment on, the segments down to the last one within LEVEL_SPAN of the highest
level left form one level, and every MERGE_FACTOR contiguous segments of a level merge into
one. N rows written in batches then lie in about (MERGE_FACTOR - 1) per level, levels
log_F(N / MIN_MERGE_ROWS), and each row is rewritten about once per level.

Only CONTIGUOUS segments merge, so the merged segment holds the same labels in the same order:
the vector index, the BM25 postings, the tombstones and every other segment's docs cache stay
valid, and only the manifest's file list changes. Tombstoned rows stay in the merged segment
(compact() drops them). The protocol is every write's (gyeol._fileset): the merged segment is
written under a fresh name and fsynced, then one manifest commit names it instead of the
segments it replaces (a kill -9 before that commit leaves the old list, whose files are all
there; after it, the new one), then the old files and their docs caches are removed. The
writer does the reading and writing outside the collection's exclusive lock and takes it only
for the manifest swap; a read-only handle that read the old list finds files gone and takes the
newer snapshot, as after compact().
"""

from __future__ import annotations

import logging
import math
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pyarrow as pa
import pyarrow.parquet as pq

from .._fileset import fsync_dir, write_atomic
from ..progress import progress
from .docs_cache import DOCS_COLUMNS, DocsCaches
from .manifest import DATA_DIR, Manifest, SegmentRef
from .segments import ROW_GROUP_ROWS, assemble_segment, segment_schema, vectors_to_arrow
from .typed_meta import unify

if TYPE_CHECKING:
    from .store import SegmentStore

log = logging.getLogger(__name__)

# segments of one level merged into one: 6 keeps 1,000 adds of 1,000 rows within 18 segments at
# every step (10, Lucene's default, reaches 27), each row rewritten about 3 times
MERGE_FACTOR = 6
MIN_MERGE_ROWS = 1024  # smaller segments count as this many rows: tiny adds merge eagerly
LEVEL_SPAN = 0.75  # levels this close to a run's highest count as that level (LogMergePolicy's)


def plan_merges(sizes: list[int], factor: int = MERGE_FACTOR, floor: int = MIN_MERGE_ROWS) -> list[tuple[int, int]]:
    """Runs [start, stop) of contiguous segments (by row count, oldest first) that should be merged.

    Pure: the runs never overlap; merging them may make a new run due (merge_segments asks again).
    """
    if factor < 2:
        raise ValueError(f"factor must be at least 2, got {factor}")
    levels = [math.log(max(rows, floor, 1)) / math.log(factor) for rows in sizes]
    runs: list[tuple[int, int]] = []
    start = 0
    while start < len(levels):
        top = max(levels[start:])
        bottom = top - LEVEL_SPAN
        upto = max(i for i in range(start, len(levels)) if levels[i] >= bottom)
        while start + factor <= upto + 1:  # every full window of this level, oldest first
            runs.append((start, start + factor))
            start += factor
        start = upto + 1
    return runs


@dataclass(frozen=True)
class MergedSegment:
    """A merged segment written (fsynced, not yet named by a manifest) and the segments it replaces."""

    ref: SegmentRef
    replaced: tuple[SegmentRef, ...]
    manifest: Manifest  # the manifest to commit: the old one with replaced swapped for ref


def merge_segments(store: "SegmentStore", swap: Callable[[], AbstractContextManager]) -> int:
    """Merge the store's segments as plan_merges says, each in one manifest commit; give back how many merges ran.

    swap() is held only around each manifest commit (the collection's exclusive lock): the
    reading and writing before it leave searches running.
    """
    if store.directory is None:  # an in-memory store keeps no segments
        return 0
    done = 0
    while True:
        runs = plan_merges([seg.rows for seg in store.manifest.segments], MERGE_FACTOR)
        if not runs:
            return done
        start, stop = runs[0]
        merged = write_merged(store, start, stop)
        try:
            with swap():
                store.swap_segments(merged.manifest)
        except BaseException:
            (store.directory / DATA_DIR / merged.ref.file).unlink(missing_ok=True)  # named by nothing
            raise
        done += 1
        _after_commit(store, merged)


def write_merged(store: "SegmentStore", start: int, stop: int) -> MergedSegment:
    """Write segments[start:stop] of the store as one new segment (read one source at a time)."""
    directory = store.directory
    assert directory is not None
    manifest = store.manifest
    replaced = manifest.segments[start:stop]
    first = replaced[0].first_label
    rows = sum(seg.rows for seg in replaced)
    name = store.fresh_segment_name(first)
    path = directory / DATA_DIR / name
    # the typed metadata columns of every source (small), unified into one schema (storage/typed_meta.py)
    sources = [store.segment_meta(seg) for seg in replaced]
    metas, untyped = unify([(columns, keys, len(labels)) for columns, keys, labels in sources])
    schema = segment_schema(store.dim, metas[0].schema if metas[0].num_columns else None, untyped)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer, \
                progress(rows, f"merging {len(replaced)} segments ({rows} rows)") as bar:
            pending: list[pa.Table] = []
            for seg, (_, _, labels), meta in zip(replaced, sources, metas):  # one source's rows at a time
                pending.append(_segment_table(store, seg, labels, meta, untyped))
                bar.update(seg.rows)
                if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                    writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)
                    pending = []
            if pending:
                writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)

    write_atomic(path, write, sync_dir=False)  # write_manifest makes the name durable before its commit
    ref = SegmentRef(name, first, rows)
    segments = manifest.segments[:start] + (ref,) + manifest.segments[stop:]
    return MergedSegment(ref, tuple(replaced), manifest.next(segments=segments))


def _segment_table(store: "SegmentStore", seg: SegmentRef, labels: pa.Array, meta: pa.Table,
                   untyped: list[str]) -> pa.Table:
    """One segment's rows: ids, texts and metadata from the store's columns, vectors read and checked."""
    vectors = store.segment_vectors(seg)  # checked against the segment's crc32 first
    docs = _docs_slice(store, seg.first_label, seg.rows)
    return assemble_segment(docs, labels, meta if meta.num_columns else None, untyped, vectors_to_arrow(vectors))


def _docs_slice(store: "SegmentStore", first: int, rows: int) -> pa.Table:
    """Labels first.. first + rows - 1 of the store's id, text and metadata columns, in chunks of
    ROW_GROUP_ROWS rows: a cache written from the adds' many small chunks would map back as many
    chunks, and every lookup by label pays per chunk."""
    parts = []
    for lo in range(first, first + rows, ROW_GROUP_ROWS):
        n = min(ROW_GROUP_ROWS, first + rows - lo)
        columns = [c.slice(lo, n).combine_chunks() for c in (store.ids, store.texts, store.metadata_json)]
        parts.append(pa.Table.from_arrays(columns, names=list(DOCS_COLUMNS)))
    return pa.concat_tables(parts) if parts else pa.Table.from_arrays(
        [pa.array([], pa.string())] * 3, names=list(DOCS_COLUMNS))


def _after_commit(store: "SegmentStore", merged: MergedSegment) -> None:
    """Write the merged segment's docs cache, then remove the replaced segments and their caches.

    Derived or unnamed files only: a failure here is logged, and the next writer's open makes a
    missing cache and sweeps a leftover file.
    """
    directory = store.directory
    assert directory is not None
    folder = store.docs_cache_folder()
    try:
        caches = DocsCaches(folder, writable=True)
        names = {f"{seg.file}.arrow" for seg in store.manifest.segments}
        caches.keep_recorded(names)
        caches.write(f"{merged.ref.file}.arrow", _docs_slice(store, merged.ref.first_label, merged.ref.rows))
        caches.commit(names)
        for seg in merged.replaced:
            (directory / DATA_DIR / seg.file).unlink(missing_ok=True)
            (folder / f"{seg.file}.arrow").unlink(missing_ok=True)
        fsync_dir(directory / DATA_DIR)
    except OSError as exc:
        log.warning("merged %d segments into %s, but could not tidy up after it (%s); the next open does",
                    len(merged.replaced), merged.ref.file, exc)
