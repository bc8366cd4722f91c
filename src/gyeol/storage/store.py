"""SegmentStore: one collection's committed rows, on disk (or only in memory).

The store owns the manifest, the Parquet segments, the tombstones and the
per-label arrays that mirror them (ids, texts, metadata JSON, the live mask and
the id map). Every change is one manifest commit: data files first, then the
manifest that names them, so a crash leaves the old state or the new one.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pyarrow as pa

from .._checksum import FileSum, check_file
from .._fileset import confined, fresh_token, fsync_dir, sweep_temp_files, sweep_unnamed
from ..errors import CorruptionError
from .docs_cache import CACHE_NAME, DOCS_COLUMNS, DocsCaches
from .idmap import IDS_FILES, IdMap, hash_chunks, hash_ids, load_saved_map, save_map
from .manifest import (
    DATA_DIR,
    MANIFEST,
    Manifest,
    SegmentRef,
    check_sealed,
    read_manifest,
    write_manifest,
)
from .reembed import pending_files
from .rows import string_index, strings_at
from . import saved_arrays
from .typed_meta import decode_json_rows, kept_columns, typed_columns
from .segments import (
    arrow_to_vectors,
    build_segment,
    check_segment_dim,
    check_vector_values,
    read_segment,
    read_segment_meta,
    read_tombstones,
    assemble_segment,
    vectors_to_arrow,
    write_parquet,
    write_tombstones,
)

log = logging.getLogger(__name__)

INDEX_DIR = "index"
DOCS_CACHE = "docs"  # under INDEX_DIR: derived Arrow IPC copies of each segment's id/text/metadata
IDS_DIR = "ids"  # under INDEX_DIR: the id map's sorted hashes and labels, saved (storage/saved_arrays.py)
FILTERS_DIR = "filters"  # under INDEX_DIR: the filter columns, saved by gyeol.filters.saved
FILTERS_FILES = saved_arrays.fileset("columns")
# True: segments up to VERIFY_AT_OPEN_MAX_BYTES have their crc32 checked at open (damage is a
# CorruptionError there, whatever is read later); larger ones, like every segment when False, are
# checked just before this handle first reads their bytes (an index rebuild, a docs-cache rebuild,
# compact()), so an open that finds its derived files intact does not stream gigabytes it does not
# need, and no damaged byte is ever used. benchmarks/checksum_cost.py measures it (docs/durability.md).
VERIFY_SEGMENTS_AT_OPEN = True
VERIFY_AT_OPEN_MAX_BYTES = 16 << 20


@dataclass(frozen=True)
class Rows:
    """A validated batch ready to commit."""

    ids: list[str]
    texts: list[str | None]
    metadata_json: list[str]
    vectors: np.ndarray  # (n, dim) float32, normalised for cosine
    hashes: np.ndarray  # hash_ids(ids)


class SegmentStore:
    """Committed rows of one collection; labels are dense row numbers across segments."""

    def __init__(self, directory: Path | None, manifest: Manifest) -> None:
        self.directory = directory
        self.manifest = manifest
        self.dim = int(manifest.config["dim"])
        self._id_chunks: list[pa.Array] = []
        self._text_chunks: list[pa.Array] = []
        self._meta_chunks: list[pa.Array] = []
        self._vector_chunks: list[np.ndarray] = []  # in-memory databases only: Parquet is elsewhere the source
        self._live = np.zeros(0, dtype=bool)
        self.idmap = IdMap()
        self._columns: tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray] | None = None
        self._id_index: tuple[list[int], list] | None = None  # per-chunk (offsets, bytes) views for ids_of
        self._mapped_chunks = 0  # leading chunks that are memory-mapped from the docs cache
        self._n_rows = 0
        self._unverified: dict[str, FileSum] = {}  # segments whose crc32 is checked before their first read
        self._n_live = 0
        self._writable = directory is not None  # a read-only open says otherwise
        self._ids_saved = False  # whether index/ids holds the id map's base run of this generation

    def _folder(self) -> Path:
        """The database folder, for the steps only an on-disk store takes (open, sweep)."""
        assert self.directory is not None, "an in-memory store has no folder"
        return self.directory

    # ----------------------------------------------------------------- opening

    @classmethod
    def create(cls, directory: Path | None, config: dict) -> "SegmentStore":
        manifest = Manifest(version=1, generation=1, next_label=0, config=config)
        if directory is not None:
            (directory / DATA_DIR).mkdir(parents=True, exist_ok=True)
            manifest = write_manifest(directory, manifest)
        return cls(directory, manifest)

    @classmethod
    def open(cls, directory: Path, *, writable: bool) -> "SegmentStore":
        _check_folders(directory)
        for attempt in range(3):
            manifest = read_manifest(directory)
            store = cls(directory, manifest)
            try:
                store._load(writable)
            except CorruptionError:
                # a writer may have compacted away the files this manifest named: read it again
                if attempt < 2 and read_manifest(directory).version != manifest.version:
                    continue
                raise
            if writable:
                store._sweep()
            return store
        raise AssertionError("unreachable")

    def _load(self, writable: bool) -> None:
        """Read the committed state, checking every file against the manifest: CorruptionError naming the file.

        The precise checks (names, dim, label ranges, ids) come first and the checksums last, so a
        damaged file is reported by what is wrong with it where that can be told.
        """
        directory = self._folder()
        data = directory / DATA_DIR
        where = directory / MANIFEST.meta_name
        for name in self.manifest.files():  # a file symlinked elsewhere is never read
            confined(data / name, data, where)
        for seg in self.manifest.segments:  # the footer only: the dim the manifest says must be the data's
            check_segment_dim(data / seg.file, self.dim, where)
        tombstones = [read_tombstones(data / name) for name in self.manifest.tombstones]
        for name, labels in zip(self.manifest.tombstones, tombstones):
            bad = labels[(labels < 0) | (labels >= self.manifest.next_label)]
            if len(bad):
                raise CorruptionError(f"tombstone {data / name} holds label {int(bad[0])}, outside "
                                      f"0..{self.manifest.next_label - 1} that {where} names")
        check_sealed(directory, self.manifest)
        sums = self.manifest.checksums
        self._unverified = {seg.file: sums[seg.file] for seg in self.manifest.segments if seg.file in sums}
        if VERIFY_SEGMENTS_AT_OPEN:
            for seg in self.manifest.segments:
                if seg.file in self._unverified and self._unverified[seg.file].bytes <= VERIFY_AT_OPEN_MAX_BYTES:
                    self.verify_segment(seg)
        for name in self.manifest.tombstones:
            if name in sums:
                check_file(data / name, sums[name], what="tombstone", where=where)
        self._writable = writable
        caches = DocsCaches(directory / INDEX_DIR / DOCS_CACHE, writable)
        for seg in self.manifest.segments:
            table = self._docs_table(seg, caches)
            for batch in table.to_batches():  # one row group at a time: small temporaries
                ids, texts, metas = batch.columns
                self._mapped_chunks = len(self._id_chunks) + 1  # loaded chunks are never folded
                self._append_columns(ids, texts, metas)
        caches.commit({f"{seg.file}.arrow" for seg in self.manifest.segments})
        self._live = np.ones(self.manifest.next_label, dtype=bool)
        for labels in tombstones:
            self._live[labels] = False
        if self.n_labels != self.manifest.next_label:
            raise CorruptionError(
                f"segments hold {self.n_labels} rows but the manifest expects {self.manifest.next_label}"
            )
        self._n_live = int(np.count_nonzero(self._live))
        self._load_idmap()
        self._check_unique_ids()
        self._save_idmap_when_due()

    def _load_idmap(self) -> None:
        """The id map: its saved base run (index/ids) mapped, the labels after it hashed; or all hashed."""
        n = self.n_labels
        saved = load_saved_map(self._folder() / INDEX_DIR / IDS_DIR, self.manifest.generation, n)
        if saved is not None:
            hashes, labels, covered = saved
            self.idmap.adopt(hashes, labels, covered)
            if covered < n:
                self.idmap.add(self._hash_labels(covered, n), np.arange(covered, n, dtype=np.int64))
            self._ids_saved = True
            return
        live = np.flatnonzero(self._live)
        self.idmap.reset(self._hash_labels(0, n)[live], live, n)

    def _hash_labels(self, start: int, stop: int) -> np.ndarray:
        """hash_ids of the ids of labels start..stop-1, one chunk at a time."""
        return hash_chunks(self._id_chunks, start, stop)

    def save_idmap(self) -> None:
        """A writer saves an id map that grew since its last save (close, checkpoints)."""
        if self.idmap.tail_size or not self._ids_saved:
            self._save_idmap_when_due(force=self.n_labels >= saved_arrays.SAVE_MIN_TAIL // 32)

    def _save_idmap_when_due(self, *, force: bool = False) -> None:
        """Fold the id map's tail into its base run when it has grown (a writer on disk also saves it)."""
        idmap = self.idmap
        due = saved_arrays.save_due(idmap.covered, idmap.tail_size)
        unsaved = self._writable and not self._ids_saved and self.n_labels >= saved_arrays.SAVE_MIN_TAIL
        if not (due or unsaved or force):
            return
        hashes, labels = idmap.folded(self._live)
        idmap.adopt(hashes, labels, self.n_labels)
        if self._writable and self.directory is not None:
            folder = self.directory / INDEX_DIR / IDS_DIR
            self._ids_saved = save_map(folder, hashes, labels, self.manifest.generation, self.n_labels)

    def verify_segment(self, seg: SegmentRef) -> None:
        """Check a segment against the crc32 its manifest records, once per handle (CorruptionError naming it)."""
        expected = self._unverified.get(seg.file)
        if expected is not None:
            directory = self._folder()
            check_file(directory / DATA_DIR / seg.file, expected, what="segment", where=directory / MANIFEST.meta_name)
            # two searches may check one segment at once (they share the read lock): both pass, one forgets it
            self._unverified.pop(seg.file, None)

    def _check_unique_ids(self) -> None:
        """CorruptionError when two live labels hold the same id (hash ties are compared as strings)."""
        tied = self.idmap.tied_labels(self._live)
        if not len(tied):
            return
        seen: dict[str, int] = {}
        for label, doc_id in zip(tied.tolist(), self.ids.take(pa.array(tied, pa.int64())).to_pylist()):
            if doc_id in seen:
                raise CorruptionError(f"id {doc_id!r} is live at labels {seen[doc_id]} and {label} in "
                                      f"{self._folder() / DATA_DIR}: the segments contradict each other")
            seen[doc_id] = label

    def _docs_table(self, seg: SegmentRef, caches: "DocsCaches") -> pa.Table:
        """A segment's id, text and metadata columns, memory-mapped from the derived Arrow IPC cache.

        Parquet pages must be decoded into RAM; an uncompressed IPC file maps straight in, so
        texts cost page cache rather than heap. The writer creates a missing or damaged cache
        (a damaged one with a WARNING); a reader decodes the Parquet and writes nothing.
        """
        directory = self._folder()
        table = caches.open(f"{seg.file}.arrow", seg.rows)
        if table is not None:
            return table
        self.verify_segment(seg)
        table = read_segment(directory / DATA_DIR / seg.file, list(DOCS_COLUMNS))
        if table.num_rows != seg.rows:
            raise CorruptionError(f"segment {seg.file} has {table.num_rows} rows, manifest says {seg.rows}")
        return caches.write(f"{seg.file}.arrow", table)

    def _sweep(self) -> None:
        """Remove files of interrupted writes: temp files and data files no manifest names."""
        directory = self._folder()
        data = directory / DATA_DIR
        sweep_temp_files(directory)
        sweep_temp_files(data)
        index_root = directory / INDEX_DIR
        if index_root.is_dir():  # an index save cut short leaves its temp file in index/<tier>/
            for part in index_root.iterdir():
                if part.is_dir():
                    sweep_temp_files(part)
        named = self.manifest.files()
        # an interrupted re-embedding's batches stay while it can resume (storage/reembed.py)
        MANIFEST.sweep(directory, named | pending_files(directory, self.manifest))
        sweep_unnamed(directory / INDEX_DIR / DOCS_CACHE, CACHE_NAME, {f"{n}.arrow" for n in named})
        saved_arrays.sweep(directory / INDEX_DIR / IDS_DIR, IDS_FILES)
        saved_arrays.sweep(directory / INDEX_DIR / FILTERS_DIR, FILTERS_FILES)

    # ----------------------------------------------------------------- reading

    @property
    def n_labels(self) -> int:
        return self._n_rows

    @property
    def live(self) -> np.ndarray:
        """Boolean mask over labels; True for live rows. Do not mutate."""
        return self._live

    @property
    def n_live(self) -> int:
        return self._n_live

    @property
    def has_deletes(self) -> bool:
        return self.n_live != len(self._live)

    def _column_views(self) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
        if self._columns is None:
            self._columns = (
                pa.chunked_array(self._id_chunks, pa.string()),
                pa.chunked_array(self._text_chunks, pa.string()),
                pa.chunked_array(self._meta_chunks, pa.string()),
            )
        return self._columns

    def ids_of(self, labels: np.ndarray) -> list[str]:
        """The id strings of a few labels, read straight from the Arrow buffers (the search hot path)."""
        if self._id_index is None:
            self._id_index = string_index(self._id_chunks)
        return strings_at(self._id_index, labels)

    @property
    def ids(self) -> pa.ChunkedArray:
        """The id of every label (dead included), indexable by label."""
        return self._column_views()[0]

    @property
    def texts(self) -> pa.ChunkedArray:
        return self._column_views()[1]

    @property
    def metadata_json(self) -> pa.ChunkedArray:
        return self._column_views()[2]

    def labels_of(self, ids: list[str]) -> np.ndarray:
        """Label of each id, -1 where the id is not live."""
        return self.idmap.lookup(ids, hash_ids(ids), self.ids_of, self._live)

    def vectors(self, first_label: int = 0) -> np.ndarray:
        """Stored vectors of labels first_label.. (dead included), read from the segments."""
        if self.directory is None:
            allv = np.concatenate(self._vector_chunks) if self._vector_chunks else np.empty((0, self.dim), np.float32)
            return allv[first_label:]
        parts = []
        for seg in self.manifest.segments:
            end = seg.first_label + seg.rows
            if end <= first_label:
                continue
            parts.append(self.segment_vectors(seg)[max(0, first_label - seg.first_label) :])
        return np.concatenate(parts) if parts else np.empty((0, self.dim), np.float32)

    def iter_vector_batches(self, first_label: int = 0) -> Iterator[np.ndarray]:
        """The same vectors as vectors(), one segment at a time."""
        if self.directory is None:
            yield self.vectors(first_label)
            return
        for seg in self.manifest.segments:
            if seg.first_label + seg.rows <= first_label:
                continue
            yield self.segment_vectors(seg)[max(0, first_label - seg.first_label) :]

    def segment_vectors(self, seg: SegmentRef) -> np.ndarray:
        """One segment's vectors, checked: finite, and unit length in a cosine collection."""
        path = self._folder() / DATA_DIR / seg.file
        self.verify_segment(seg)
        vectors = arrow_to_vectors(read_segment(path, ["vector"]).column("vector"), self.dim)
        if len(vectors) != seg.rows:
            raise CorruptionError(f"segment {path} holds {len(vectors)} vectors, {MANIFEST.meta_name} says {seg.rows}")
        return check_vector_values(vectors, path, unit=self.manifest.config.get("metric") == "cosine")

    def segment_meta(self, seg: SegmentRef) -> tuple[dict[str, pa.Array], list[str], pa.Array]:
        """One segment's typed metadata columns, untyped keys and labels (storage/typed_meta.py), checked;
        a segment written before typed columns has them made from its JSON."""
        self.verify_segment(seg)
        return read_segment_meta(self._folder() / DATA_DIR / seg.file, seg.first_label, seg.rows,
                                 lambda: self.metadata_json.slice(seg.first_label, seg.rows).to_pylist())

    # ----------------------------------------------------------------- writing

    def fresh_segment_name(self, first_label: int) -> str:
        return _segment_name(self.manifest.generation, first_label)

    def docs_cache_folder(self) -> Path:
        return self._folder() / INDEX_DIR / DOCS_CACHE

    def swap_segments(self, manifest: Manifest) -> None:
        """Commit manifest, whose segments hold the same labels as ours in other files (storage/merging.py)."""
        assert (manifest.next_label, manifest.generation, manifest.tombstones) == (
            self.manifest.next_label, self.manifest.generation, self.manifest.tombstones)
        self.manifest = write_manifest(self._folder(), manifest)  # the rows in memory stay as they are

    def commit(self, rows: Rows | None, delete_labels: np.ndarray) -> np.ndarray:
        """Append rows and tombstone labels in one commit; give back the new rows' labels."""
        delete_labels = np.unique(np.asarray(delete_labels, dtype=np.int64))
        first = self.manifest.next_label
        n_new = 0 if rows is None else len(rows.ids)
        segments = list(self.manifest.segments)
        tombstones = list(self.manifest.tombstones)
        table = None
        written: list[Path] = []
        try:
            if rows is not None and n_new:
                table = build_segment(rows.ids, rows.texts, rows.metadata_json, rows.vectors, first_label=first)
                if self.directory is not None:
                    name = _segment_name(self.manifest.generation, first)
                    write_parquet(self.directory / DATA_DIR / name, table)
                    written.append(self.directory / DATA_DIR / name)
                    segments.append(SegmentRef(name, first, n_new))
            if len(delete_labels) and self.directory is not None:
                name = f"tomb-{self.manifest.generation:04d}-{fresh_token()}.parquet"
                write_tombstones(self.directory / DATA_DIR / name, delete_labels)
                written.append(self.directory / DATA_DIR / name)
                tombstones.append(name)
            manifest = self.manifest.next(
                next_label=first + n_new,
                segments=tuple(segments),
                tombstones=tuple(tombstones),
                deleted=self.manifest.deleted + len(delete_labels),
            )
            if self.directory is not None:
                manifest = write_manifest(self.directory, manifest)
        except BaseException:
            for path in written:  # never named by a manifest: safe to drop
                path.unlink(missing_ok=True)
            raise
        self.manifest = manifest
        # the commit is durable; mirror it in memory (nothing below can fail on valid input)
        new_labels = np.arange(first, first + n_new, dtype=np.int64)
        if len(delete_labels):
            self._live[delete_labels] = False
            self._n_live -= len(delete_labels)
        if rows is not None and table is not None:  # n_new rows were built into table
            self._append_columns(table.column("id").chunk(0), table.column("text").chunk(0),
                                 table.column("metadata").chunk(0))
            if self.directory is None:
                # own a copy: rows.vectors may be the caller's array, which they are free to reuse
                self._vector_chunks.append(np.array(rows.vectors, dtype=np.float32, copy=True))
            self._live = np.concatenate([self._live, np.ones(n_new, dtype=bool)])
            self._n_live += n_new
            self.idmap.add(rows.hashes, new_labels)
        self._save_idmap_when_due()
        return new_labels

    def compact(self) -> np.ndarray:
        """Rewrite live rows as one segment with labels 0..n-1; give back the old labels kept."""
        keep = np.flatnonzero(self._live)
        vectors = self.vectors()[keep]
        take = pa.array(keep, pa.int64())
        ids = self.ids.take(take).combine_chunks() if len(keep) else pa.array([], pa.string())
        texts = self.texts.take(take).combine_chunks() if len(keep) else pa.array([], pa.string())
        metas = self.metadata_json.take(take).combine_chunks() if len(keep) else pa.array([], pa.string())
        meta, untyped = self._kept_meta(keep)
        generation = self.manifest.generation + 1
        old_files = self.manifest.files()
        segments: tuple[SegmentRef, ...] = ()
        table = None
        if len(keep):
            docs = pa.Table.from_arrays([ids, texts, metas], names=["id", "text", "metadata"])
            labels = pa.array(np.arange(len(keep), dtype=np.int64))
            table = assemble_segment(docs, labels, meta, untyped, vectors_to_arrow(vectors))
        if self.directory is not None:
            if table is not None:
                name = _segment_name(generation, 0)
                write_parquet(self.directory / DATA_DIR / name, table)
                segments = (SegmentRef(name, 0, len(keep)),)
        manifest = self.manifest.next(
            generation=generation, next_label=len(keep), segments=segments, tombstones=(), deleted=0
        )
        if self.directory is not None:
            manifest = write_manifest(self.directory, manifest)
            for name in old_files:
                (self.directory / DATA_DIR / name).unlink(missing_ok=True)
                (self.directory / INDEX_DIR / DOCS_CACHE / f"{name}.arrow").unlink(missing_ok=True)
            fsync_dir(self.directory / DATA_DIR)
        self.manifest = manifest
        self._id_chunks, self._text_chunks, self._meta_chunks = [], [], []
        self._columns = None
        self._id_index = None
        self._mapped_chunks = 0
        self._n_rows = 0
        self._vector_chunks = [vectors] if self.directory is None and len(keep) else []
        if len(keep):
            self._append_columns(ids, texts, metas)
        self._live = np.ones(len(keep), dtype=bool)
        labels = np.arange(len(keep), dtype=np.int64)
        self._n_live = len(keep)
        self.idmap.reset(hash_ids(ids) if len(keep) else np.empty(0, np.uint64), labels, len(keep))
        self._ids_saved = False  # the saved map is of the old generation
        self._save_idmap_when_due()
        return keep

    def _kept_meta(self, keep: np.ndarray) -> tuple[pa.Table | None, list[str]]:
        """The typed metadata columns of the labels keep, for compact(): each segment's, unified."""
        if self.directory is None or not len(keep):  # in memory: from the JSON
            return kept_columns([(*typed_columns(decode_json_rows(self.metadata_json.take(pa.array(keep, pa.int64()))
                                                                  .to_pylist())), np.arange(len(keep)))])
        parts = []
        for seg in self.manifest.segments:
            local = keep[(keep >= seg.first_label) & (keep < seg.first_label + seg.rows)] - seg.first_label
            columns, untyped, _ = self.segment_meta(seg)
            parts.append((columns, untyped, local))
        return kept_columns(parts)

    def _append_columns(self, ids: pa.Array, texts: pa.Array, metas: pa.Array) -> None:
        self._columns = None
        self._id_index = None
        self._n_rows += len(ids)
        self._id_chunks.append(ids)
        self._text_chunks.append(texts)
        self._meta_chunks.append(metas)
        m = self._mapped_chunks
        if len(self._id_chunks) - m > 64:  # keep take() fast: fold the chunks added since open into one
            # (memory-mapped chunks stay as they are: folding would copy them onto the heap)
            self._id_chunks = self._id_chunks[:m] + [pa.concat_arrays(self._id_chunks[m:])]
            self._text_chunks = self._text_chunks[:m] + [pa.concat_arrays(self._text_chunks[m:])]
            self._meta_chunks = self._meta_chunks[:m] + [pa.concat_arrays(self._meta_chunks[m:])]

    def destroy(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)


def _check_folders(directory: Path) -> None:
    """CorruptionError when data/, index/ or a folder in index/ leads outside the collection folder."""
    for sub in (directory / DATA_DIR, directory / INDEX_DIR):
        confined(sub, directory, sub)
    index_root = directory / INDEX_DIR
    if index_root.is_dir():
        for part in index_root.iterdir():
            confined(part, index_root, part)


def _segment_name(generation: int, first_label: int) -> str:
    """A fresh segment file name that says its generation and first label."""
    return f"seg-{generation:04d}-{first_label:012d}-{fresh_token()[:8]}.parquet"
