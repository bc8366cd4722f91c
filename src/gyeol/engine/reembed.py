"""col.reembed: move a collection to another embedding model, built beside the old vectors, switched in one commit.

How it runs on disk (storage/reembed.py holds the file side):

1. The live documents are read in label order and embedded `batch_size` at a time through the
   same batched seam as add (engine/embedding.py). Each batch becomes a Parquet segment of
   the next generation under data/, then `reembed.json` records it (atomically). No manifest
   names these segments yet: readers and a reopened collection see the old state, complete.
2. The new vector index is built from the new vectors (fresh file names, beside the old index),
   and the saved auto-fusion calibration is deleted: it measured the old vector scores.
3. One manifest commit switches everything: the new segments (labels renumbered 0..n-1, as
   compact does; tombstones dropped), the new config (dim may change) and the new embedder's
   identity. Then the progress file goes, the old segments are swept, the new index is saved
   and the BM25 index is rebuilt over the new labels if it had been built (same texts, same
   scores).

A crash before step 3 leaves the old collection; calling reembed again with the same embedder
continues from the batches recorded, when the progress file still matches the committed
manifest and the embedder's identity (otherwise they are discarded and it starts over). A
crash after it leaves the new collection; derived indexes are rebuilt on open when missing.
In memory, the same steps run without files: the old store is left untouched until the swap.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, cast

import numpy as np
import pyarrow as pa

from .. import _validation as v
from ..config import CollectionConfig, check_dim
from ..embedders import check_identity, describe_embedder, resolve_embedder
from ..errors import EmbedderMismatchError, GyeolError, InvalidInputError
from ..index import build_index, save_index, validate_spec
from ..progress import Progress, progress_enabled, progress_override
from ..storage.idmap import hash_ids
from ..storage.manifest import DATA_DIR, Manifest, write_manifest
from ..storage.reembed import (
    ReembedProgress,
    discard,
    read_progress,
    remove_progress,
    verified,
    write_batch,
    write_progress,
)
from ..storage.segments import arrow_to_vectors, read_segment
from ..storage.store import Rows, SegmentStore
from .auto_fusion import discard_saved
from .derived import DerivedIndexes
from .embedding import documents_function, embed_batched, part_size
from .vector_side import index_dir

__all__ = ["REEMBED_BATCH", "ReembedReport", "Reembedded", "AfterCommitError", "reembed"]

log = logging.getLogger(__name__)

REEMBED_BATCH = 2_048  # documents per batch: one segment, one progress record

ProgressCallback = Callable[[int, int], Any]


@dataclass(frozen=True)
class ReembedReport:
    """What col.reembed did: documents now on the new model, how many it embedded, how many it reused."""

    documents: int  # live documents, all now embedded with the new model
    embedded: int  # embedded by this call
    reused: int  # already there: batches an interrupted call wrote (or all, when already on this model)
    dim: int
    embedder: str  # the new model's name


@dataclass(frozen=True)
class Reembedded:
    """The state a Collection takes on after a re-embedding."""

    engine: DerivedIndexes
    config: CollectionConfig
    embedder: Any
    report: ReembedReport


class AfterCommitError(GyeolError):
    """The switch committed (the collection on disk is re-embedded) but this handle could not follow it."""


def reembed(engine: DerivedIndexes, config: CollectionConfig, embedder: Any, *, batch_size: Any = None,
            progress: Any = None) -> Reembedded:
    """Re-embed every live document of engine's store with embedder; see the module docstring.

    Raises before the switch changes nothing that a reader or a reopen sees (only the batches
    recorded for a resume stay on disk). AfterCommitError: the switch is durable, but the new
    indexes could not be opened in this process.
    """
    size = _check_batch_size(batch_size)
    if progress is not None and not isinstance(progress, bool) and not callable(progress):
        raise InvalidInputError(f"progress must be None, True, False or a callable(done, total), got {progress!r}")
    if embedder is None:
        raise InvalidInputError(
            "reembed needs an embedder (\"default\", a model name, an Embedder object or a callable "
            "list[str] -> array): gyeol embeds every document's text with it; got None"
        )
    model, desc = resolve_embedder(embedder)
    identity = describe_embedder(model, desc)  # name, dim, prompts, fingerprint (runs the model once)
    assert identity is not None
    dim = check_dim(int(identity["dim"]))
    store = engine.store
    target = dataclasses.replace(config, dim=dim, embedder=identity)
    for tier in dict.fromkeys((config.tier, engine.tier)):
        validate_spec(config.index, tier=tier, metric=config.metric, dim=dim, in_memory=store.directory is None)
    live = np.flatnonzero(store.live)
    if _already_on(config, model, dim):  # a call repeated after a crash that followed the switch, say
        if store.directory is not None:  # a leftover of a run towards another model cannot resume now
            discard(store.directory, _recorded(store.directory))
        return Reembedded(engine, config, model, ReembedReport(documents=len(live), embedded=0, reused=len(live),
                                                               dim=dim, embedder=str(identity.get("name"))))
    _check_texts(store, live)
    notify = _Progress(progress, len(live))
    try:  # progress=True / False holds for the steps within too (the index build's bar)
        with progress_override(progress if isinstance(progress, bool) else None):
            if store.directory is None:
                new_engine, reused = _in_memory(engine, target, model, live, size, notify), 0
            else:
                new_engine, reused = _on_disk(engine, store.directory, target, model, live, size, notify)
    finally:
        notify.close()
    report = ReembedReport(documents=len(live), embedded=len(live) - reused, reused=reused, dim=dim,
                           embedder=str(identity.get("name")))
    log.info("re-embedded %s: %s", config.name, report)
    return Reembedded(new_engine, target, model, report)


# --------------------------------------------------------------------------- the two stores


def _on_disk(engine: DerivedIndexes, directory: Path, config: CollectionConfig, model: Any, live: np.ndarray,
             size: int, notify: "_Progress") -> tuple[DerivedIndexes, int]:
    store = engine.store
    manifest = store.manifest
    progress = _resume(directory, manifest, model, config, len(live))
    reused = progress.done
    notify(reused)
    for start in range(reused, len(live), size):
        ids, texts, metas = _rows(store, live[start : start + size])
        vectors = _embed(model, texts, config, notify)
        seg = write_batch(directory, progress.generation, start, ids, texts, metas, vectors)
        try:
            progress = progress.with_segment(seg)
            write_progress(directory, progress)
        except BaseException:
            (directory / DATA_DIR / seg.file).unlink(missing_ok=True)  # named by nothing
            raise
        notify(progress.done)
    vectors = _read_vectors(directory, progress, config.dim)
    # the new index is built before the switch: a build that fails leaves the old collection as it was
    index = build_index(config.index, tier=engine.tier, metric=config.metric, dim=config.dim, vectors=vectors,
                        directory=index_dir(store, engine.tier), device=engine.device)
    discard_saved(store)  # calibrated on the old vector scores; a crash from here on measures again
    switched = manifest.next(generation=progress.generation, next_label=len(live), config=config.to_dict(),
                             segments=progress.segments, tombstones=(), deleted=0)
    write_manifest(directory, switched)  # the commit point
    try:
        remove_progress(directory)
        new_store = SegmentStore.open(directory, writable=True)  # sweeps the old segments
        save_index(index, _folder(index_dir(new_store, engine.tier)), generation=switched.generation,
                   tier=engine.tier, metric=config.metric)
        new_engine = engine.successor(new_store, config)  # loads the index just saved
        _follow_keyword(engine, new_engine)
    except BaseException as exc:
        raise AfterCommitError(
            f"collection {config.name!r} is re-embedded on disk, but this handle could not open the result "
            f"({type(exc).__name__}: {exc}); close the database and open it again"
        ) from exc
    engine.close()
    return new_engine, reused


def _in_memory(engine: DerivedIndexes, config: CollectionConfig, model: Any, live: np.ndarray, size: int,
               notify: "_Progress") -> DerivedIndexes:
    store = engine.store
    parts = []
    for start in range(0, len(live), size):
        _, texts, _ = _rows(store, live[start : start + size])
        parts.append(_embed(model, texts, config, notify))
        notify(min(start + size, len(live)))
    old = store.manifest
    new_store = SegmentStore(None, Manifest(version=old.version + 1, generation=old.generation + 1, next_label=0,
                                            config=config.to_dict()))
    if len(live):
        ids, texts, metas = _rows(store, live)
        new_store.commit(Rows(ids=ids, texts=texts, metadata_json=metas, vectors=np.concatenate(parts),
                              hashes=hash_ids(ids)), np.empty(0, np.int64))
    new_engine = engine.successor(new_store, config)
    _follow_keyword(engine, new_engine)
    engine.close()
    return new_engine


def _follow_keyword(engine: DerivedIndexes, new_engine: DerivedIndexes) -> None:
    """Rebuild (and save) BM25 over the renumbered labels when the old handle had it built (as compact)."""
    if engine.keyword.built:
        new_engine.keyword.index(new_engine.store)
        new_engine.keyword.save(new_engine.store)


# --------------------------------------------------------------------------- resuming


def _resume(directory: Path, manifest: Manifest, model: Any, config: CollectionConfig, rows: int) -> ReembedProgress:
    """The recorded progress when it continues this very re-embedding; a fresh one (old batches discarded) otherwise."""
    fresh = ReembedProgress(source_version=manifest.version, source_generation=manifest.generation, rows=rows,
                            embedder=dict(config.embedder or {}))
    try:
        recorded = read_progress(directory)
    except GyeolError as exc:  # unreadable: what it names cannot be trusted, the sweep removes leftovers
        log.warning("%s; the re-embedding starts over", exc)
        remove_progress(directory)
        return fresh
    if recorded is None:
        return fresh
    why = _mismatch(recorded, manifest, model, config, rows)
    if why is None and not verified(directory, recorded, config.dim):
        why = "a recorded batch is missing or incomplete"
    if why is None:
        log.info("resuming the re-embedding of %s: %d of %d documents done", config.name, recorded.done, rows)
        return recorded
    log.info("discarding an interrupted re-embedding of %s (%s); starting over", config.name, why)
    discard(directory, recorded)
    return fresh


def _already_on(config: CollectionConfig, model: Any, dim: int) -> bool:
    """Whether the collection's vectors already come from model (the same identity and dim)."""
    stored = config.embedder
    if not stored or "probe" not in stored or stored.get("dim") != dim:
        return False
    try:
        check_identity(stored, model, collection=config.name)
    except EmbedderMismatchError:
        return False
    return True


def _recorded(directory: Path) -> ReembedProgress | None:
    """The recorded progress, or None when there is none or it is unreadable."""
    try:
        return read_progress(directory)
    except GyeolError:
        return None


def _mismatch(recorded: ReembedProgress, manifest: Manifest, model: Any, config: CollectionConfig,
              rows: int) -> str | None:
    """Why recorded cannot be continued by this call (None when it can)."""
    if not recorded.matches(manifest) or recorded.rows != rows:
        return f"it read manifest version {recorded.source_version}, the collection is now at {manifest.version}"
    if recorded.embedder.get("dim") != config.dim:
        return f"it embedded with dim {recorded.embedder.get('dim')}, this embedder makes {config.dim}"
    try:
        check_identity(recorded.embedder, model, collection=config.name)
    except EmbedderMismatchError as exc:
        return f"another embedder: {exc}"
    return None


# --------------------------------------------------------------------------- rows and vectors


def _check_texts(store: SegmentStore, live: np.ndarray) -> None:
    """InvalidInputError naming the live documents that have no text (added with vectors only)."""
    if not len(live):
        return
    texts = store.texts.take(pa.array(live, pa.int64()))
    if texts.null_count:
        missing = live[np.asarray(texts.is_null().to_numpy(zero_copy_only=False), dtype=bool)]
        ids = store.ids.take(pa.array(missing[:5], pa.int64())).to_pylist()
        raise InvalidInputError(
            f"reembed embeds every document's text, but {len(missing)} documents have none (added with vectors "
            f"only): {', '.join(map(repr, ids))}{', ...' if len(missing) > 5 else ''}; delete them or upsert texts first"
        )


def _rows(store: SegmentStore, labels: np.ndarray) -> tuple[list[str], list[str | None], list[str]]:
    """ids, texts (_check_texts: none is None) and metadata JSON of labels, in order."""
    take = pa.array(labels, pa.int64())
    return (store.ids.take(take).to_pylist(), store.texts.take(take).to_pylist(),
            store.metadata_json.take(take).to_pylist())


def _embed(model: Any, texts: list[str | None], config: CollectionConfig, notify: "_Progress") -> np.ndarray:
    """The new model's document vectors of texts, checked (shape, dim, finite) and normalised for cosine."""
    # the re-embedding bar counts these documents, moved by each call to the model
    vectors = embed_batched(documents_function(model), cast("list[str]", texts), config.dim,
                            part=part_size(model), counted=notify.embedded)
    return v.normalise(vectors, name="embeddings") if config.metric == "cosine" and len(vectors) else vectors


def _read_vectors(directory: Path, progress: ReembedProgress, dim: int) -> np.ndarray:
    parts = [arrow_to_vectors(read_segment(directory / DATA_DIR / seg.file, ["vector"]).column("vector"), dim)
             for seg in progress.segments]
    return np.concatenate(parts) if parts else np.empty((0, dim), np.float32)


def _folder(directory: Path | None) -> Path:
    assert directory is not None  # an on-disk store has index folders
    return directory


def _check_batch_size(batch_size: Any) -> int:
    if batch_size is None:
        return REEMBED_BATCH
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise InvalidInputError(f"batch_size must be a positive integer or None, got {batch_size!r}")
    return batch_size


class _Progress:
    """progress=: None (a bar once re-embedding runs past about a second, unless gyeol.set_progress(False)
    or GYEOL_PROGRESS=0), True / False (a bar or none, whatever those say), or a callable(done, total)."""

    def __init__(self, progress: Any, total: int) -> None:
        self.total = total
        self._callback: ProgressCallback | None = None
        self._bar: Progress | None = None
        if progress is not None and not isinstance(progress, bool):
            self._callback = progress
        elif progress or (progress is None and progress_enabled()):
            self._bar = Progress(total, f"re-embedding {total} documents", unit="doc", enabled=True)

    def __call__(self, done: int) -> None:
        """Report that done documents are embedded and recorded."""
        if self._callback is not None:
            self._callback(done, self.total)
        if self._bar is not None:
            self._bar.update(done - self._bar.done)

    def embedded(self, n: int) -> None:
        """n more documents are embedded, not yet recorded: the bar moves (a callable hears of recorded batches)."""
        if self._bar is not None:
            self._bar.update(n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
