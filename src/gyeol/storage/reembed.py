"""The storage side of col.reembed: new segments written beside the old ones, and the progress file.

A re-embedding writes the collection's live rows again, in label order and renumbered
0..n-1 (as compact does), with the new model's vectors: one Parquet segment per batch under
data/, named like every segment but of the next generation. No manifest names them until
the switch, so readers and a reopened collection see the old state, complete. After each
batch, `reembed.json` (beside manifest.json, replaced atomically) records the batches done,
the manifest version they were read from and the new embedder's identity, so a crashed run
can continue where it stopped. A writer's sweep keeps the segments a progress file names
while that file still matches the committed manifest; otherwise it removes the file, and the
segments it named are swept as unnamed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from .._fileset import FileSet, checked_name, confined, fresh_token, fsync_dir
from ..errors import CorruptionError
from .manifest import DATA_DIR, SEGMENT_NAME, Manifest, SegmentRef
from .segments import build_segment, check_segment_dim, write_parquet

log = logging.getLogger(__name__)

PROGRESS = FileSet("reembed.json", format=1)  # names no data file of its own: never sweeps


@dataclass(frozen=True)
class ReembedProgress:
    """A re-embedding under way: what it reads, what it makes, and the batches already written."""

    source_version: int  # the manifest the live rows were read from
    source_generation: int
    rows: int  # live rows to re-embed (the new labels are 0..rows-1)
    embedder: dict[str, Any]  # the new embedder's identity (describe_embedder)
    segments: tuple[SegmentRef, ...] = field(default=())  # batches done, labels 0.. in order

    @property
    def generation(self) -> int:
        """The generation of the new segments (the source's plus one, as compact makes)."""
        return self.source_generation + 1

    @property
    def done(self) -> int:
        return sum(seg.rows for seg in self.segments)

    def matches(self, manifest: Manifest) -> bool:
        """Whether this progress was read from the committed manifest (nothing was written since)."""
        return self.source_version == manifest.version and self.source_generation == manifest.generation

    def with_segment(self, seg: SegmentRef) -> "ReembedProgress":
        return replace(self, segments=self.segments + (seg,))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_version": self.source_version,
            "source_generation": self.source_generation,
            "rows": self.rows,
            "embedder": self.embedder,
            "segments": [vars(s) for s in self.segments],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Path) -> "ReembedProgress":
        """The progress in data; CorruptionError naming where when it is malformed or names a file badly."""
        try:
            progress = cls(
                source_version=_count(data["source_version"]),
                source_generation=_count(data["source_generation"]),
                rows=_count(data["rows"]),
                embedder=dict(data["embedder"]),
                segments=tuple(SegmentRef(**s) for s in data["segments"]),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptionError(f"{where}: unreadable re-embedding progress ({exc})") from exc
        first = 0
        for seg in progress.segments:
            checked_name(seg.file, SEGMENT_NAME, where)
            if type(seg.first_label) is not int or type(seg.rows) is not int or seg.rows <= 0 \
                    or seg.first_label != first:
                raise CorruptionError(f"{where}: batch {seg.file} holds labels from {seg.first_label!r} "
                                      f"({seg.rows!r} rows), expected the next label {first}")
            first += seg.rows
        if first > progress.rows:
            raise CorruptionError(f"{where}: batches hold {first} rows, more than the {progress.rows} to re-embed")
        return progress


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a non-negative int, got {value!r}")
    return value


def read_progress(directory: Path) -> ReembedProgress | None:
    """The recorded progress of a re-embedding in directory; None when there is none.

    Raises CorruptionError when the file is unreadable or names files gyeol does not write.
    """
    data = PROGRESS.read(directory)
    return None if data is None else ReembedProgress.from_dict(data, directory / PROGRESS.meta_name)


def write_progress(directory: Path, progress: ReembedProgress) -> None:
    """Record progress atomically, once the segments it names are durable under their names."""
    fsync_dir(directory / DATA_DIR)
    PROGRESS.write_meta(directory, progress.to_dict())


def remove_progress(directory: Path) -> None:
    """Delete the progress file (the segments it named are left to the caller or the sweep)."""
    (directory / PROGRESS.meta_name).unlink(missing_ok=True)
    fsync_dir(directory)


def discard(directory: Path, progress: ReembedProgress | None) -> None:
    """Delete a re-embedding's progress file and the segments it names (never committed)."""
    if progress is not None:
        data = directory / DATA_DIR
        for seg in progress.segments:
            path = data / seg.file  # checked against SEGMENT_NAME when read
            if path.is_symlink() or path.is_file():
                path.unlink(missing_ok=True)
    remove_progress(directory)


def pending_files(directory: Path, manifest: Manifest) -> set[str]:
    """For a writer's sweep: the segments of a re-embedding that can still resume on top of manifest.

    A progress file that is unreadable or no longer matches the committed manifest (the
    switch committed, or the collection changed since) is removed; its segments are then
    unnamed and swept like any other leftover.
    """
    try:
        progress = read_progress(directory)
    except CorruptionError as exc:
        log.warning("removing %s (%s); an interrupted re-embedding starts over", directory / PROGRESS.meta_name, exc)
        remove_progress(directory)
        return set()
    if progress is None:
        return set()
    if not progress.matches(manifest):
        remove_progress(directory)
        return set()
    return {seg.file for seg in progress.segments}


def verified(directory: Path, progress: ReembedProgress, dim: int) -> bool:
    """Whether every batch progress names is a complete segment of dim-sized vectors inside data/."""
    data = directory / DATA_DIR
    where = directory / PROGRESS.meta_name
    try:
        for seg in progress.segments:
            path = confined(data / seg.file, data, where)
            check_segment_dim(path, dim, where)
            if pq.ParquetFile(path).metadata.num_rows != seg.rows:
                return False
    except (CorruptionError, OSError) as exc:
        log.warning("re-embedding progress in %s does not hold (%s); starting over", where, exc)
        return False
    return True


def write_batch(directory: Path, generation: int, first_label: int, ids: list[str], texts: list[str | None],
                metadata_json: list[str], vectors: np.ndarray) -> SegmentRef:
    """Write one batch as a segment of generation holding labels first_label..; no manifest names it yet."""
    # the form of manifest.SEGMENT_NAME, as SegmentStore names its segments
    name = f"seg-{generation:04d}-{first_label:012d}-{fresh_token()[:8]}.parquet"
    write_parquet(directory / DATA_DIR / name, build_segment(ids, texts, metadata_json, vectors, first_label=first_label))
    return SegmentRef(name, first_label, len(ids))
