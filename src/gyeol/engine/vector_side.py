"""The vector index of one collection: loaded or built, caught up, rebuilt, checkpointed, saved, retargeted."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..config import DEFAULT_RECALL_TARGET, CollectionConfig
from ..index import VectorIndex, build_index, load_index, save_index
from ..index.specs import free_knobs
from ..index.tuning import tunable, tune
from ..storage.store import INDEX_DIR, SegmentStore

CHECKPOINT_VECTORS = 200_000  # unsaved vectors (and at least as many as saved) before the index is saved


def index_dir(store: SegmentStore, part: str) -> Path | None:
    """The folder of one derived index (a tier's vector index, "bm25"); None in memory."""
    directory = store.directory
    return None if directory is None else directory / INDEX_DIR / part


class VectorSide:
    """The vector index serving one handle's queries on its tier and device.

    Labels are rows of the store (dead rows included), so the index is always caught up
    to the store's next label; deletes never reach it (searches pass a live mask).
    """

    def __init__(self, config: CollectionConfig, *, tier: str, device: str, read_only: bool) -> None:
        self._config = config
        self.tier = tier
        self.requested_device = device  # "cpu" | "gpu" as resolved at open; `device` says what serves queries
        self._read_only = read_only
        self._index: VectorIndex | None = None
        self._saved = -1  # ntotal at the last save; -1 = never saved in this process
        self._recall_target: float | None = None  # set by tune(): kept through rebuilds
        self._scratch: tempfile.TemporaryDirectory | None = None
        self._gpu_lock = threading.Lock()  # FAISS GPU indexes and their resources are not thread-safe

    @property
    def device(self) -> str:
        """Where the open index serves queries: "gpu" only when it really searches on a GPU
        (an index with no GPU form stays on the CPU under device="gpu", and says "cpu")."""
        return "gpu" if self._index is not None and self._index.device == "gpu" else "cpu"

    @property
    def index(self) -> VectorIndex:
        if self._index is None:
            raise RuntimeError("the vector index is not open")
        return self._index

    def searcher(self) -> Any:
        """What searches call .search(queries, k, allowed) on: the index, which CPU FAISS and numpy
        search from many threads at once, or on a GPU the index behind a lock (one search at a time)."""
        index = self.index
        return index if index.device != "gpu" else _OneAtATime(index, self._gpu_lock)

    def open(self, store: SegmentStore) -> None:
        """Load the saved index and add the rows committed after it, or build one from the stored vectors."""
        manifest = store.manifest
        directory = index_dir(store, self.tier)
        index = None
        if directory is not None:
            index = load_index(
                directory,
                generation=manifest.generation,
                tier=self.tier,
                metric=self._config.metric,
                dim=self._config.dim,
                next_label=manifest.next_label,
                device=self.requested_device,
                read_only=self._read_only,
            )
        if index is None:
            self.rebuild(store)
            return
        self._saved = index.ntotal
        if index.tuning and self._recall_target is None:
            self._recall_target = index.tuning.get("recall_target")
        if index.ntotal < manifest.next_label:
            for batch in store.iter_vector_batches(index.ntotal):
                index.add(batch)
        self._index = index
        if index.wants_rebuild():
            self.rebuild(store)

    def rebuild(self, store: SegmentStore) -> None:
        """Build a new index over every stored vector (for the tier's defaults at today's size)."""
        self._index = build_index(
            self._config.index,
            tier=self.tier,
            metric=self._config.metric,
            dim=self._config.dim,
            vectors=store.vectors(),
            directory=self._build_dir(store),
            device=self.requested_device,
            recall_target=self._recall_target,
        )
        self._saved = -1

    def add(self, vectors: np.ndarray, store: SegmentStore) -> None:
        """Index a committed batch (its labels follow the last); rebuild when the index asks to,
        or tune again once the collection has grown past the point its tuning named."""
        self.index.add(vectors)
        if self.index.wants_rebuild():
            self.rebuild(store)
        elif self.index.tuning and self.index.ntotal >= self.index.tuning.get("retune_at", float("inf")):
            self.tune(store)

    def tune(self, store: SegmentStore, queries: np.ndarray | None = None,
             recall_target: float | None = None) -> dict[str, Any] | None:
        """Tune the index's free search settings to recall_target (None: the last target, or the spec's)
        on queries (None: a sample of the stored vectors); the record, or None for an exact index."""
        index = self.index
        if not tunable(index):
            return None
        spec_target = getattr(self._config.index, "recall_target", DEFAULT_RECALL_TARGET)
        target = recall_target or self._recall_target or spec_target or DEFAULT_RECALL_TARGET
        record = tune(index, store.vectors(), recall_target=target, free=free_knobs(self._config.index),
                      queries=queries)
        if recall_target is not None:
            self._recall_target = recall_target
        self.forget_saved()
        return record

    def describe(self) -> dict[str, Any]:
        """What the index is (kind, size, device, search settings), its RAM and its tuning."""
        index = self.index
        return {**index.describe(), **index.accounting()}

    def checkpoint_due(self) -> bool:
        """True once enough vectors are unsaved that a crashed writer's successor should catch up from
        a checkpoint rather than rebuild; the threshold doubles with the size."""
        saved = max(self._saved, 0)
        return self.index.ntotal - saved >= max(CHECKPOINT_VECTORS, saved)

    def save(self, store: SegmentStore) -> None:
        """Write the index if it changed since its last save (writers on disk only)."""
        directory = index_dir(store, self.tier)
        if directory is None or self._read_only or self._index is None:
            return
        if self._index.ntotal != self._saved:
            save_index(self._index, directory, generation=store.manifest.generation,
                       tier=self.tier, metric=self._config.metric)
            self._saved = self._index.ntotal

    def forget_saved(self) -> None:
        """The next save writes whatever is open (a new snapshot, tier or device was taken)."""
        self._saved = -1

    def retarget(self, tier: str, device: str, store: SegmentStore) -> None:
        """Serve from another tier or device, loading or building that index (this one is saved first)."""
        if tier == self.tier and device == self.requested_device and self._index is not None:
            return  # already serving as asked (an index with no GPU form reports "cpu" under "gpu")
        self.save(store)  # so switching back loads instead of rebuilding
        self.tier, self.requested_device = tier, device
        self.forget_saved()
        self.open(store)

    def close(self) -> None:
        """Drop the index and a reader's scratch files."""
        self._index = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None

    def _build_dir(self, store: SegmentStore) -> Path | None:
        """Where a new index may put its files: the writer's index folder, or a reader's own scratch."""
        directory = index_dir(store, self.tier)
        if directory is None or not self._read_only or self.tier == "memory":
            return directory
        if self._scratch is None:  # a reader never writes into the writer's folders
            self._scratch = tempfile.TemporaryDirectory(prefix="gyeol-reader-")
        return Path(self._scratch.name) / self.tier


class _OneAtATime:
    """An index whose searches run one at a time (a GPU index shares one stream and scratch memory)."""

    def __init__(self, index: VectorIndex, lock: threading.Lock) -> None:
        self._index = index
        self._lock = lock

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Any:
        with self._lock:
            return self._index.search(queries, k, allowed)
