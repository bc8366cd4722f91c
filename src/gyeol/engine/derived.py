"""DerivedIndexes: the vector index, BM25 index and metadata columns of one collection, kept in step.

Everything here is derived from the store's committed rows and can be rebuilt from them. A
write is staged first (embedded, normalised, tokenized: whatever can fail), then applied: the
store commits, and every derived structure follows. Read-only handles follow a writer's
commits by watching its manifest.

Threads: the Collection runs searches side by side and a write's apply alone (engine/ holds no
lock of its own for that); what a search builds lazily (BM25, metadata columns, auto-fusion
parameters) is built under its own lock, once, while other searches wait for it.
"""

from __future__ import annotations

import logging
import dataclasses
import os
from dataclasses import dataclass
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Callable, cast

import numpy as np
import pyarrow as pa

from .. import _validation as v
from ..config import CollectionConfig
from ..errors import CorruptionError, GyeolError
from ..progress import progress
from ..ranked import Ranked
from ..search import SearchPlan, run_search
from ..storage.idmap import hash_ids
from ..storage.manifest import MANIFEST_NAME, read_manifest
from ..storage.merging import merge_segments
from ..storage.rows import read_rows
from ..storage.store import Rows, SegmentStore
from ..types import Document, Results
from .auto_fusion import AutoFusionState
from .keyword_side import KeywordSide
from .metadata_side import FilterColumns
from .vector_side import VectorSide

if TYPE_CHECKING:
    from ..filters import Expr, MetadataColumns
    from ..lexical.counts import TermCounts

log = logging.getLogger(__name__)

EmbedFunction = Callable[[list[str]], np.ndarray]

# A reader retries opening this many times when the writer compacts away the snapshot it read.
OPEN_ATTEMPTS = 5


@dataclass(frozen=True)
class WriteBatch:
    """A checked write: ids, texts (None where a document has none), metadata, and vectors if given."""

    ids: list[str]
    texts: list[str | None] | None
    metadata: list[dict[str, Any]]
    metadata_json: list[str]
    vectors: np.ndarray | None  # (n, dim) float32; None: embed the texts


@dataclass(frozen=True)
class StagedWrite:
    """A write ready to apply: rows to commit, labels they replace, and their BM25 term counts."""

    rows: Rows
    metadata: list[dict[str, Any]]
    replaced: np.ndarray
    counts: "TermCounts | None"  # None: this handle has no tokenizer (a custom one not passed again)


class DerivedIndexes:
    """One collection's store and the indexes derived from it: vectors, BM25 and metadata columns."""

    def __init__(
        self,
        store: SegmentStore,
        config: CollectionConfig,
        *,
        tier: str,
        device: str,
        read_only: bool,
        tokenizer: Any,
        embed_documents: EmbedFunction,
        embed_queries: EmbedFunction,
        has_embedder: Callable[[], bool] = lambda: True,
    ) -> None:
        self.store = store  # replaced when a read-only handle follows the writer: never keep it
        self._config = config
        self._read_only = read_only
        self._embed_documents = embed_documents
        self._embed_queries = embed_queries
        self._has_embedder = has_embedder
        self.vectors = VectorSide(config, tier=tier, device=device, read_only=read_only)
        self.keyword = KeywordSide(config, tokenizer, read_only=read_only)
        self.auto_fusion = AutoFusionState()  # measured on the first auto hybrid search
        self._filters = FilterColumns(writer=not read_only)  # metadata columns: loaded, kept, saved
        directory = store.directory
        self._manifest_path = None if directory is None else str(directory / MANIFEST_NAME)
        self._manifest_stamp = self._stamp()
        self._switched: str | None = None  # why a read-only handle can no longer follow its writer
        self._open_vectors()

    @property
    def tier(self) -> str:
        return self.vectors.tier

    @property
    def device(self) -> str:
        return self.vectors.device

    def describe(self) -> dict[str, Any]:
        """What the vector index serving queries is (kind, size, device, RAM, tuning)."""
        return self.vectors.describe()

    def tune(self, queries: list[str] | None, vectors: np.ndarray | None,
             recall_target: float | None) -> dict[str, Any] | None:
        """Tune the vector index to recall_target on these queries (texts embedded; None: a sample), then save."""
        if queries is not None:
            vectors = self._embed_queries(queries)
        if vectors is not None and self._config.metric == "cosine":
            vectors = v.normalise(vectors, name="query vectors")
        record = self.vectors.tune(self.store, vectors, recall_target)
        self.vectors.save(self.store)
        return record

    # ------------------------------------------------------------------ following the writer

    def refresh_due(self) -> bool:
        """True for a read-only handle whose writer committed since (refresh() then moves it on)."""
        if not self._read_only or self.store.directory is None:
            return False
        return self._switched is not None or self._stamp() != self._manifest_stamp

    def refresh(self) -> None:
        """Read-only handles: take the writer's latest commit when its manifest changed."""
        if not self._read_only or self.store.directory is None:
            return
        if self._switched is not None:
            raise GyeolError(self._switched)
        if self._stamp() == self._manifest_stamp:
            return
        self._reopen_store()
        self._open_vectors()

    def _open_vectors(self) -> None:
        """Load or build the vector index; a reader whose snapshot a writer just compacted away moves on."""
        for attempt in range(OPEN_ATTEMPTS):
            try:
                self.vectors.open(self.store)
                return
            except CorruptionError:
                # compact() deletes the old segments right after its manifest commit; a read-only
                # handle that read the previous manifest finds them gone: take the new snapshot
                if attempt == OPEN_ATTEMPTS - 1 or not self._snapshot_moved():
                    raise
                self._reopen_store()

    def _snapshot_moved(self) -> bool:
        """True for a read-only handle whose manifest is no longer the committed one."""
        directory = self.store.directory
        if not self._read_only or directory is None:
            return False
        try:
            return read_manifest(directory).version != self.store.manifest.version
        except CorruptionError:
            return False

    def _reopen_store(self) -> None:
        """Load the latest committed snapshot and forget what was derived from the old one."""
        self._manifest_stamp = self._stamp()  # before the read: a commit after it is seen next time
        directory = self.store.directory
        assert directory is not None  # only an on-disk read-only handle's snapshot moves
        store = SegmentStore.open(directory, writable=False)
        if store.manifest.config != self.store.manifest.config:
            # the writer re-embedded the collection (col.reembed): this handle's embedder and
            # dim belong to the old vectors, so it must not serve the new ones
            embedder = store.manifest.config.get("embedder") or {}
            self._switched = (
                f"collection {self._config.name!r} was re-embedded by its writer (now {embedder.get('name')!r}, "
                f"dim {store.manifest.config.get('dim')}) after this read-only handle opened it; "
                "connect again and open it with the new embedder"
            )
            raise GyeolError(self._switched)
        self.store = store
        self.keyword.follow(self.store)  # adds the writer's saved deltas: nothing is tokenized again
        self._filters.reset()
        self.vectors.forget_saved()

    def _stamp(self) -> tuple | None:
        """The manifest's (mtime, size, inode): cheap to read on every call of a read-only handle."""
        if self._manifest_path is None:
            return None
        try:
            st = os.stat(self._manifest_path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    # ------------------------------------------------------------------ writes

    def stage(self, batch: WriteBatch, replaced: np.ndarray) -> StagedWrite:
        """Everything a checked write needs before its commit, done while a failure changes nothing:
        vectors (embedded from the texts when not given; normalised for cosine) and BM25 term counts."""
        ids, texts, vectors = batch.ids, batch.texts, batch.vectors
        n = len(ids)
        if vectors is None:
            # Collection._check_batch: without vectors there are texts, none of them None
            vectors = self._embed_documents(cast("list[str]", texts))
        if self._config.metric == "cosine" and n:
            vectors = v.normalise(vectors)
        if texts is None:
            texts = [None] * n
        rows = Rows(ids=ids, texts=texts, metadata_json=batch.metadata_json, vectors=vectors, hashes=hash_ids(ids))
        counts = self.keyword.stage(self.store, texts)
        return StagedWrite(rows, batch.metadata, replaced, counts)

    def apply(self, staged: StagedWrite) -> Callable[[Callable[[], AbstractContextManager]], None]:
        """Commit a staged write and bring every derived index up to it in memory; give back what writes
        the derived files after it (BM25 delta, checkpoint, filter columns) and folds a grown BM25 tail in, reading the
        indexes only: the writer calls it outside the exclusive section, before any other write, with
        swap (the exclusive section) to hold while it swaps merged postings in."""
        first_label = self.store.manifest.next_label
        self.store.commit(staged.rows, staged.replaced)
        self.vectors.add(staged.rows.vectors, self.store)
        if len(staged.replaced):
            self.keyword.delete(self.store, staged.replaced)
        keyword_due = self.keyword.append(self.store, staged.counts, first_label)
        checkpoint_due = self.vectors.checkpoint_due()
        self._filters.after_commit(self.store, staged.metadata)

        def persist(swap: Callable[[], AbstractContextManager]) -> None:
            if keyword_due:
                assert staged.counts is not None
                self.keyword.persist(self.store, staged.counts, first_label, swap)  # beside the commit
            if checkpoint_due:
                self.save()
            self._filters.persist(self.store)  # the filter columns, when due
        return persist

    def merge_segments(self, swap: Callable[[], AbstractContextManager]) -> int:
        """Merge small segments as the tiered policy says (storage/merging.py); swap() is held only
        around each manifest commit. Labels stay, so no derived index changes; give back how many merges ran."""
        if self._read_only:
            return 0
        try:
            return merge_segments(self.store, swap)
        except OSError as exc:  # the write before stands and no merge half-committed: the next write tries again
            log.warning("could not merge the segments of %r (%s); the next write tries again", self._config.name, exc)
            return 0

    def delete(self, labels: np.ndarray) -> None:
        """Tombstone live labels in one commit (the vector index keeps them: searches mask them out)."""
        self.store.commit(None, labels)
        self.keyword.delete(self.store, labels)

    def compact(self) -> None:
        """Rewrite live rows as one segment, then renumber or rebuild the indexes over the new labels, and save them."""
        # four steps on one bar (shown once compact has run past about a second); the index
        # build and any tokenizing count their own progress on bars of their own
        with progress(4, f"compacting {self.store.n_live} documents", unit="step") as steps:
            if self.keyword.tokenizer is not None:
                self.keyword.index(self.store)  # in step with the rows about to be renumbered
            steps.update(1)
            kept = self.store.compact()
            steps.update(1)
            self.keyword.compacted(self.store, kept)  # postings renumbered: nothing tokenized again
            self._filters.compacted(self.store)
            self.vectors.rebuild(self.store)
            steps.update(1)
            self.save()
            steps.update(1)

    def successor(self, store: SegmentStore, config: CollectionConfig) -> "DerivedIndexes":
        """Indexes over another store and config (after col.reembed), on this handle's tier, device,
        tokenizer and embedding seams; the vector index is loaded from disk or built."""
        return DerivedIndexes(store, config, tier=self.tier, device=self.device, read_only=self._read_only,
                              tokenizer=self.keyword.tokenizer, embed_documents=self._embed_documents,
                              embed_queries=self._embed_queries)

    def retarget(self, tier: str, device: str) -> None:
        """Serve queries from another tier or device, loading or rebuilding that index."""
        self.vectors.retarget(tier, device, self.store)

    def set_tokenizer(self, tokenizer: Any) -> None:
        self.keyword.set_tokenizer(tokenizer)
        self.auto_fusion.reset()

    def save(self, *, keyword: bool = False, consolidate: bool = False) -> None:
        """Write the changed derived indexes (writers on disk only); keyword=True builds BM25 first
        and folds its deltas into one save; consolidate=True folds them when BM25 is in memory (at
        close: the next process then maps one index instead of joining up to half of it from deltas).

        A writer also measures auto fusion's parameters here when none fit the collection's size
        (the first time it has enough documents, and again once it has doubled or halved), so
        that no process pays for the calibration on its first hybrid search.
        """
        if self._read_only or self.store.directory is None:
            return
        if keyword:
            self.keyword.index(self.store)
        self.vectors.save(self.store)
        self.keyword.save(self.store, consolidate=keyword or consolidate)
        self._filters.save(self.store)
        self.store.save_idmap()
        if self.keyword.tokenizer is not None and self._has_embedder():
            try:
                self.auto_fusion.get(self.store, self._rank_vector, self._rank_keyword)
            except Exception as exc:  # the indexes are saved; the first auto search measures instead
                log.warning("auto fusion was not measured at save (%r); the first hybrid search will", exc)
        self.auto_fusion.save(self.store)

    def close(self) -> None:
        """Release every derived structure and a reader's scratch files."""
        self.vectors.close()
        self.keyword.reset()
        self._filters.reset()

    # ------------------------------------------------------------------ reads

    def mask(self, expr: "Expr") -> np.ndarray:
        """Live labels that match a compiled filter, as a boolean mask."""
        return self._filters.mask(self.store, expr) & self.store.live

    def _columns(self) -> "MetadataColumns":
        """Typed metadata columns for filters: the saved ones and the rows after them (filters/saved.py)."""
        return self._filters.get(self.store)

    def select(self, ids: list[str] | None, expr: "Expr | None") -> np.ndarray:
        """Live labels of ids (input order, missing dropped) that match expr; with ids None, all that match."""
        mask = self.mask(expr) if expr is not None else None
        if ids is None:
            return np.flatnonzero(self.store.live if mask is None else mask)
        labels = self.store.labels_of(ids) if ids else np.empty(0, np.int64)
        labels = labels[labels >= 0]
        if mask is not None:
            labels = labels[mask[labels]]
        return labels

    def documents(self, labels: np.ndarray, include_vectors: bool) -> list[Document]:
        """The documents of labels, in order."""
        if len(labels) == 0:
            return []
        store = self.store
        ids = store.ids.take(pa.array(labels, pa.int64())).to_pylist()
        texts, metas = read_rows(store.texts, store.metadata_json, labels)
        vectors = None
        if include_vectors:
            vectors = self.vectors.index.reconstruct(labels)
            if vectors is None:
                vectors = store.vectors()[labels]
        return [
            Document(ids[i], texts[i], metas[i], None if vectors is None else vectors[i])
            for i in range(len(labels))
        ]

    def prepare(self, plan: SearchPlan) -> tuple[SearchPlan, list[list[str]] | None]:
        """The plan with its query texts embedded, and their BM25 terms (None: not needed or no tokenizer).

        Work a search does before it reads any index, so the Collection runs it outside its lock;
        an empty collection embeds and tokenizes nothing.
        """
        if plan.n == 0 or self.store.n_live == 0:
            return plan, None
        if plan.embeds:
            assert plan.queries is not None  # plan_search: a plan that embeds has texts
            vectors = self._embed_queries(plan.queries)
            if self._config.metric == "cosine":
                vectors = v.normalise(vectors, name="query vectors")
            plan = dataclasses.replace(plan, vectors=vectors, embeds=False)
        terms = None
        if plan.use_keyword and self.keyword.tokenizer is not None:
            assert plan.queries is not None  # plan_search: a keyword side has texts
            terms = self.keyword.tokenize_queries(plan.queries)
        return plan, terms

    def search(self, plan: SearchPlan, expr: "Expr | None", terms: list[list[str]] | None = None) -> list[Results]:
        """Run a validated search over the live documents that match expr (None: all); terms: the
        queries' BM25 terms when prepare() made them."""
        store = self.store
        allowed: np.ndarray | None
        if expr is not None:
            allowed = self.mask(expr)
        else:
            allowed = self._live_mask()
        return run_search(
            plan,
            store=store,
            vector_index=self.vectors.searcher(),
            keyword=lambda queries, depth, allowed: self.keyword.search(self.store, queries, depth, allowed, terms),
            allowed=allowed,
            embed_queries=self._embed_queries,
            metric=self._config.metric,
            auto_params=lambda: self.auto_fusion.get(self.store, self._rank_vector, self._rank_keyword),
        )

    def _live_mask(self) -> np.ndarray | None:
        """The labels a search may return: the live ones, or None when nothing was ever deleted."""
        return self.store.live if self.store.has_deletes else None

    def _rank_vector(self, queries: list[str]) -> list[list[int]]:
        """Each query's 10 best live labels by vector (auto-fusion calibration)."""
        vectors = self._embed_queries(queries)
        if self._config.metric == "cosine":
            vectors = v.normalise(vectors, name="query vectors")
        allowed = self._live_mask()
        return [row.labels.tolist() for row in self.vectors.searcher().search(vectors, 10, allowed).rows()]

    def _rank_keyword(self, queries: list[str]) -> list[list[int]]:
        """Each query's 10 best live labels by BM25 (auto-fusion calibration)."""
        allowed = self._live_mask()
        return [row.labels.tolist() for row in self._keyword_search(queries, 10, allowed)]

    def _keyword_search(self, queries: list[str], depth: int, allowed: np.ndarray | None) -> list[Ranked]:
        return self.keyword.search(self.store, queries, depth, allowed)
