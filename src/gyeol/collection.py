"""Collection: the public facade over one collection's documents and the engine that indexes them.

This class validates every call, holds the locks, and delegates: engine/ keeps the store and
the derived indexes (vector, BM25, metadata columns) in step, search.py runs queries.
Arguments are checked here, once, before anything changes, so a call that raises
changes nothing.

Locking: reads (search, get, count) share a ReadWriteLock, so threads search in parallel;
query texts are embedded and tokenized before it is taken. Writes run one at a time under
a writer mutex and embed their batch there; they take the exclusive side only to commit
and bring the derived indexes up to the commit, so a search waits at most for that swap.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any, Callable

import numpy as np

from . import _validation as v
from .config import CollectionConfig
from .engine import DerivedIndexes, WriteBatch, documents_function, embed_batched, part_size, queries_function
from ._memory import release_now, released
from ._rwlock import ReadWriteLock
from ._tables import CollectionTables, _compile
from .errors import DuplicateIdError, GyeolError, InvalidInputError
from .progress import progress_override
from .search import plan_search
from .storage.store import SegmentStore
from .types import Document, Results


class Collection(CollectionTables):
    """A named set of documents searchable by vector, keyword or both."""

    def __init__(
        self,
        store: SegmentStore,
        config: CollectionConfig,
        *,
        embedder: Any,
        tokenizer: Any,
        tier: str,
        device: str,
        read_only: bool,
        check_open: Callable[[], None],
        check_writable: Callable[[], None],
    ) -> None:
        """Made by a Database, which passes its own guards: check_open raises once it is closed,
        check_writable also when it is read-only."""
        self._config = config
        self._embedder = embedder
        self._rw = ReadWriteLock()  # shared: reads; exclusive: a commit swapping the state in
        self._write_lock = threading.RLock()  # one write at a time, its embedding included
        self._closed = False
        self._db_check_open = check_open
        self._db_check_writable = check_writable
        self._engine = DerivedIndexes(
            store, config, tier=tier, device=device, read_only=read_only, tokenizer=tokenizer,
            embed_documents=self._embed_documents, embed_queries=self._embed_queries,
            has_embedder=lambda: self._embedder is not None,
        )

    # ------------------------------------------------------------------ properties

    @property
    def name(self) -> str:
        return self._config.name

    @property
    def dim(self) -> int:
        return self._config.dim

    @property
    def metric(self) -> str:
        return self._config.metric

    @property
    def tier(self) -> str:
        return self._engine.tier

    @property
    def device(self) -> str:
        return self._engine.device

    @property
    def config(self) -> dict[str, Any]:
        """The persisted configuration (as created), plus this handle's tier and device."""
        out = self._config.to_dict()
        out.update(open_tier=self.tier, open_device=self.device)
        return out

    @property
    def data_path(self) -> Any:
        """The folder of the collection's Parquet segments and tombstones (None in memory): what
        DuckDB or pyarrow read to see the live rows (docs/durability.md)."""
        from .storage.manifest import DATA_DIR

        directory = self._engine.store.directory
        return None if directory is None else directory / DATA_DIR

    @property
    def has_embedder(self) -> bool:
        """Whether this handle can embed texts (an embedder was given, or restored from the config)."""
        return self._embedder is not None

    @property
    def index_info(self) -> dict[str, Any]:
        """What the vector index serving queries is (kind, size, device)."""
        with self._rw.shared():
            self._check_open()
            return self._engine.describe()

    def tune(self, queries: list[str] | None = None, *, vectors: Any = None,
             recall_target: float | None = None) -> dict[str, Any] | None:
        """Tune the vector index's search settings to a recall@10 target; give back what was chosen.

        queries (texts, embedded) or vectors: the queries to tune on; neither = a sample of the
        collection's own vectors. recall_target: None = the last target (0.95 by default); a new
        target is kept for later rebuilds. The settings and measured recall are saved and shown
        in index_info["tuning"]; None for an exact (Flat) index, which has nothing to tune.
        """
        from .config import check_recall_target

        check_recall_target("recall_target", recall_target)
        if queries is not None and vectors is not None:
            raise InvalidInputError("pass queries (texts) or vectors to tune on, not both")
        if queries is not None:
            if not isinstance(queries, list) or not queries or not all(isinstance(q, str) for q in queries):
                raise InvalidInputError(f"queries must be a non-empty list of str, got {type(queries).__name__}")
        if vectors is not None:
            vectors = v.check_vectors(vectors, None, self.dim, name="query vectors")
        with self._write_lock, self._rw.exclusive():  # the index's search settings change under it
            self._check_writable()
            if queries is not None:
                self._require_embedder()
            return self._engine.tune(queries, vectors, recall_target)

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.count()} docs"
        return f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, tier={self.tier!r}, {state})"

    def __len__(self) -> int:
        return self.count()

    # ------------------------------------------------------------------ handle (used by Database)

    def reconfigure(self, *, tier: str, device: str, embedder: Any = None, tokenizer: Any = None) -> None:
        """Internal, for Database.get_collection: serve this open handle from tier and device (a
        resolved "cpu" or "gpu"), with embedder and tokenizer when given (None keeps the current)."""
        with self._write_lock, self._rw.exclusive():
            self._check_open()
            if tokenizer is not None and not self._engine.keyword.enabled:
                self._engine.set_tokenizer(tokenizer)  # raises: checked before anything changes
            if tier != self.tier or device != self.device:
                self._engine.retarget(tier, device)
            if embedder is not None:
                self._embedder = embedder
            if tokenizer is not None:
                self._engine.set_tokenizer(tokenizer)

    def release(self, *, save: bool = True) -> None:
        """Internal, for Database.close and drop_collection: save the derived indexes (unless
        save=False) and release them; later calls raise."""
        with self._write_lock, self._rw.exclusive():
            if self._closed:
                return
            try:
                if save:
                    self._engine.save(consolidate=True)
            finally:
                self._closed = True
                self._engine.close()
        release_now()

    def save_indexes(self, *, keyword: bool = False, progress: bool | None = None) -> None:
        """Write the derived indexes (vector, BM25) so the next open loads instead of rebuilding.

        keyword=True builds the BM25 index first if no keyword search has built it yet (Kiwi
        loads and every text is tokenized), so read-only processes opened later load it from
        disk instead of each tokenizing the whole collection on their first keyword search.
        progress: the tokenizing bar, as add's.
        """
        keyword = v.check_flag("keyword", keyword)
        # a save merges the BM25 tail: no search meanwhile
        with self._write_lock, self._rw.exclusive(), progress_override(progress):
            if keyword:
                self._check_writable()
            else:
                self._check_open()
            self._engine.save(keyword=keyword)

    # ------------------------------------------------------------------ guards and embedding

    def _check_open(self) -> None:
        if self._closed:
            raise GyeolError(f"collection {self.name!r} is closed")
        self._db_check_open()

    def _check_writable(self) -> None:
        self._check_open()
        self._db_check_writable()

    def _require_embedder(self) -> Any:
        if self._embedder is None:
            described = self._config.embedder
            if described is None:
                raise InvalidInputError(
                    f"collection {self.name!r} has no embedder: pass vectors= (or vector= to search)"
                )
            raise InvalidInputError(
                f"collection {self.name!r} was created with a custom embedder ({described.get('name')}); "
                f"pass it again: db.get_collection({self.name!r}, embedder=...)"
            )
        return self._embedder

    def _embed_documents(self, texts: list[str]) -> np.ndarray:
        embedder = self._require_embedder()
        return embed_batched(documents_function(embedder), texts, self.dim, part=part_size(embedder))

    def _embed_queries(self, texts: list[str]) -> np.ndarray:
        embedder = self._require_embedder()
        return embed_batched(queries_function(embedder), texts, self.dim, part=part_size(embedder))

    # ------------------------------------------------------------------ writes

    def add(
        self,
        texts: list[str] | None = None,
        *,
        ids: list[str] | None = None,
        metadata: list[dict[str, Any]] | None = None,
        vectors: Any = None,
        progress: bool | None = None,
    ) -> list[str]:
        """Add new documents; give back their ids. An id already stored raises DuplicateIdError.

        progress: bars for the long steps (embedding, tokenizing, indexing) once one runs past about
        a second; None follows gyeol.set_progress, True / False force them for this call.
        """
        with self._write_lock, progress_override(progress):  # no other write changes the ids; searches go on
            self._check_writable()
            batch = self._check_batch(texts, ids, metadata, vectors, generate_ids=True)
            if not batch.ids:
                return []
            existing = self._engine.store.labels_of(batch.ids)
            if (existing >= 0).any():
                dups = [batch.ids[i] for i in np.flatnonzero(existing >= 0)[:10]]
                raise DuplicateIdError(
                    f"ids already exist in {self.name!r}: {', '.join(dups)} (use upsert to replace them)"
                )
            self._write(batch, np.empty(0, np.int64))
            return batch.ids

    def upsert(
        self,
        texts: list[str] | None = None,
        *,
        ids: list[str],
        metadata: list[dict[str, Any]] | None = None,
        vectors: Any = None,
        progress: bool | None = None,
    ) -> list[str]:
        """Insert documents, replacing any stored under the same ids; give back the ids (progress= as add)."""
        with self._write_lock, progress_override(progress):
            self._check_writable()
            if ids is None:
                raise InvalidInputError("upsert needs ids=")
            batch = self._check_batch(texts, ids, metadata, vectors, generate_ids=False)
            if not batch.ids:
                return []
            old = self._engine.store.labels_of(batch.ids)
            self._write(batch, old[old >= 0])
            return batch.ids

    def delete(self, ids: list[str] | None = None, *, where: dict[str, Any] | None = None) -> int:
        """Delete documents by ids, by filter, or both (ids that match the filter); give back how many."""
        with self._write_lock:
            self._check_writable()
            if ids is None and where is None:
                raise InvalidInputError("delete needs ids= or where= (use drop_collection to remove everything)")
            if where is not None and ids is None and isinstance(where, dict) and not where:
                raise InvalidInputError("delete(where={}) would match every document; refused (use drop_collection)")
            labels = self._engine.select(_check_ids(ids), _compile(where))
            if len(labels) == 0:
                return 0
            with self._rw.exclusive():
                self._engine.delete(labels)
            return int(len(labels))

    def add_documents(
        self,
        sources: Any,
        *,
        chunker: Any = None,
        metadata: Any = None,
        progress: bool | None = None,
    ) -> Any:
        """Read, chunk and store files, folders, texts or gyeol.Documents; give back an IngestReport.

        A changed document's chunks are replaced and an unchanged one is skipped (by a hash of
        its text, metadata and chunker), all in one commit. See gyeol.documents and docs/rag.md.
        """
        from .documents import plan, prepare
        with self._write_lock, progress_override(progress):  # searches go on until the commit (_write)
            self._check_writable()
            self._require_embedder()
            # the stored chunks of the incoming documents: an unchanged one is neither chunked nor written
            prepared = prepare(sources, chunker=chunker, metadata=metadata,
                               stored=lambda doc_ids: self.get(where={"doc_id": {"$in": doc_ids}}))
            ingest = plan(prepared, prepared.stored)
            if ingest.ids:
                batch = self._check_batch(ingest.texts, ingest.ids, ingest.metadata, None, generate_ids=False)
                replaced = self._engine.store.labels_of(ingest.replaced_ids) if ingest.replaced_ids else None
                replaced = np.empty(0, np.int64) if replaced is None else replaced[replaced >= 0]
                taken = self._engine.store.labels_of(batch.ids)
                clash = [batch.ids[i] for i in np.flatnonzero((taken >= 0) & ~np.isin(taken, replaced))[:10]]
                if clash:
                    raise DuplicateIdError(f"chunk ids already used by other documents: {', '.join(clash)}")
                self._write(batch, replaced)
            return ingest.report

    def compact(self, *, progress: bool | None = None) -> None:
        """Rewrite live documents as one segment, drop tombstones, rebuild and save the indexes.

        progress: a bar once it runs past about a second (None: as gyeol.set_progress says).
        """
        with self._write_lock, self._rw.exclusive(), progress_override(progress):
            self._check_writable()
            self._engine.compact()
        release_now()

    def reembed(self, embedder: Any, *, batch_size: int | None = None, progress: Any = None) -> Any:
        """Move every document to another embedding model; give back a ReembedReport.

        The new vectors and index are built beside the old ones and switched in one commit (the
        new dim and embedder identity with them); until then readers see the old collection, and
        a call cut short (even by kill -9) is continued by calling reembed again with the same
        embedder. Ids, texts and metadata stay; labels are renumbered as compact does.
        batch_size: documents per durable batch (None: 2048). progress: None (a bar once it runs
        past about a second, as gyeol.set_progress says), True, False, or a callable(done, total).
        See docs/api.md.
        """
        from .engine.reembed import AfterCommitError, reembed

        with self._write_lock, self._rw.exclusive():
            self._check_writable()
            try:
                done = reembed(self._engine, self._config, embedder, batch_size=batch_size, progress=progress)
            except AfterCommitError:
                self._closed = True  # its indexes describe the old state, which is gone from disk
                raise
            self._engine, self._config, self._embedder = done.engine, done.config, done.embedder
            return done.report

    def _check_batch(self, texts, ids, metadata, vectors, *, generate_ids: bool) -> WriteBatch:
        """The checked parts of a write (embedding and normalising are left to the engine's stage)."""
        texts = v.check_texts(texts)
        if texts is None and vectors is None:
            raise InvalidInputError("add needs texts, vectors, or both")
        if texts is not None:
            n = len(texts)
        else:
            arr = np.asarray(vectors) if not isinstance(vectors, np.ndarray) else vectors
            n = arr.shape[0] if arr.ndim >= 1 else 0
        if ids is None:
            if not generate_ids:
                raise InvalidInputError("ids are required")
            ids = [uuid.uuid4().hex for _ in range(n)]
        else:
            ids = v.check_ids(ids)
            if len(ids) != n:
                raise InvalidInputError(f"got {len(ids)} ids for {n} documents")
        metas, metas_json = v.check_metadata(metadata, n)
        if vectors is not None:
            vectors = v.check_vectors(vectors, n, self.dim)
        else:
            if any(t is None for t in texts):
                raise InvalidInputError("texts contain None; pass vectors= for documents without text")
            self._require_embedder()
        return WriteBatch(ids=ids, texts=texts, metadata=metas, metadata_json=metas_json, vectors=vectors)

    def _write(self, batch: WriteBatch, replaced: np.ndarray) -> None:
        """Stage the batch (embedding it) while searches go on, then commit it exclusively."""
        engine = self._engine
        staged = engine.stage(batch, replaced)
        with self._rw.exclusive():
            persist = engine.apply(staged)
        persist(self._rw.exclusive)  # the derived files: searches go on meanwhile (it reads the indexes only)
        if engine.merge_segments(self._rw.exclusive):  # still one write: searches wait only for each swap
            release_now()  # a merge reads whole segments: give their pages back
        else:
            released(len(batch.ids))  # Kiwi's threads and pyarrow leave freed pages behind (see _memory)

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        """How many live documents the collection holds."""
        self._follow_writer()
        with self._rw.shared():
            self._check_open()
            return self._engine.store.n_live

    def get(
        self,
        ids: list[str] | None = None,
        *,
        where: dict[str, Any] | None = None,
        limit: int | None = None,
        offset: int = 0,
        include_vectors: bool = False,
    ) -> list[Document]:
        """Documents by ids (input order, missing omitted), by filter, or all; limit/offset page them."""
        self._follow_writer()
        with self._rw.shared():
            self._check_open()
            if limit is not None:
                v.check_k(limit, name="limit")
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
            labels = self._engine.select(_check_ids(ids), _compile(where))
            labels = labels[offset : None if limit is None else offset + limit]
            return self._engine.documents(labels, include_vectors)

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str | None = None,
        *,
        vector: Any = None,
        k: int = 10,
        mode: str = "hybrid",
        where: dict[str, Any] | None = None,
        alpha: float | str | None = None,
        fusion: str | None = None,
        rrf_k: float = 60,
        candidates: int | None = None,
        rerank: Any = None,
        rerank_depth: int = 50,
        expand: str | None = None,
        progress: bool | None = None,
    ) -> Results:
        """The k best documents for a query text and/or vector, best first.

        alpha: weight of the vector side (1.0 vector only, 0.0 keyword only); None or "auto"
        and fusion=None choose for you (today alpha 0.5 and "rrf"). candidates: hits each side
        of a hybrid search ranks before fusing (None: max(k, 10) for rrf, max(2k, 20) for
        relative_score). A hybrid search given only a vector runs as a vector search, and so does
        the default hybrid search of a collection created with tokenizer=None (no keyword side).
        rerank: a gyeol.rerank Reranker or a callable (query, texts) -> scores; the search
        ranks max(k, rerank_depth) hits, the reranker rescores them and the k best come back.
        expand="parent": the k best parent documents of add_documents' chunks instead, each
        with its whole text (gyeol.context.expand_parents). progress: the bars of a long first keyword
        search (it tokenizes the collection) or a batch's embedding; None follows gyeol.set_progress.
        """
        with progress_override(progress):
            if rerank is None and expand is None:
                return self._search(query, vector, True, k, mode, where, alpha, fusion, rrf_k, candidates)[0]
            from .stages import search_with_stages

            # each stage takes the shared lock itself: a commit between two stages is seen by the later one
            return search_with_stages(
                lambda depth: self._search(query, vector, True, depth, mode, where, alpha, fusion, rrf_k,
                                           candidates)[0],
                query, k=k, rerank=rerank, rerank_depth=rerank_depth, expand=expand,
                vectors_of=self._vectors_of, parents_of=self._chunks_of,
            )

    def _chunks_of(self, doc_ids: list[str]) -> list[Document]:
        """Every stored chunk of the parent documents doc_ids (add_documents' doc_id metadata)."""
        return self.get(where={"doc_id": {"$in": doc_ids}})

    def _vectors_of(self, ids: list[str]) -> np.ndarray:
        """The stored vectors of ids (all live), in order."""
        docs = self.get(ids, include_vectors=True)
        return np.stack([np.asarray(d.vector, np.float32) for d in docs]) if docs else np.empty((0, self.dim))

    def search_many(
        self,
        queries: list[str] | None = None,
        *,
        vectors: Any = None,
        k: int = 10,
        mode: str = "hybrid",
        where: dict[str, Any] | None = None,
        alpha: float | str | None = None,
        fusion: str | None = None,
        rrf_k: float = 60,
        candidates: int | None = None,
        rerank: Any = None,
        rerank_depth: int = 50,
        expand: str | None = None,
        progress: bool | None = None,
    ) -> list[Results]:
        """One Results per query (options as in search), the vector side searched in one batched call.

        rerank / rerank_depth / expand as in search, for each query: the first stage ranks
        max(k, rerank_depth) hits for every query in one batch, then each query's are reranked.
        """
        with progress_override(progress):
            if rerank is None and expand is None:
                return self._search(queries, vectors, False, k, mode, where, alpha, fusion, rrf_k, candidates)
            from .stages import search_many_with_stages

            return search_many_with_stages(
                lambda depth: self._search(queries, vectors, False, depth, mode, where, alpha, fusion, rrf_k,
                                           candidates),
                k=k, rerank=rerank, rerank_depth=rerank_depth, expand=expand,
                vectors_of=self._vectors_of, parents_of=self._chunks_of,
            )

    def _search(self, queries: Any, vectors: Any, single: bool, k: Any, mode: Any, where: Any, alpha: Any,
                fusion: Any, rrf_k: Any, candidates: Any) -> list[Results]:
        while True:
            self._check_open()
            self._follow_writer()
            config, engine = self._config, self._engine
            if mode == "hybrid" and fusion is None and (alpha is None or (isinstance(alpha, str) and alpha == "auto")) \
                    and not engine.keyword.enabled:
                mode = "vector"  # tokenizer=None: the default search has only a vector side to rank
            plan = plan_search(queries, vectors, single=single, dim=config.dim, metric=config.metric, k=k,
                               mode=mode, alpha=alpha, fusion=fusion, rrf_k=rrf_k, candidates=candidates)
            if plan.embeds:
                self._require_embedder()
            expr = None if where is None else _compile(where)
            # embedding and tokenizing the queries take no lock: commits go on meanwhile
            plan, terms = engine.prepare(plan)
            rw = self._rw
            rw.acquire_shared()  # rw.shared() without the generator's cost, on every search
            try:
                self._check_open()
                if engine is self._engine:  # else re-embedded meanwhile: plan again for the new model
                    found = engine.search(plan, expr, terms)
                    if plan.queries is None:
                        return found
                    return [res.with_query(q) for res, q in zip(found, plan.queries)]  # for highlights
            finally:
                rw.release_shared()

    def _follow_writer(self) -> None:
        """A read-only handle takes its writer's latest commit (exclusively: it swaps the store)."""
        if self._engine.refresh_due():
            with self._write_lock, self._rw.exclusive():
                self._check_open()
                self._engine.refresh()

    # ------------------------------------------------------------------ evaluation

    def evaluate(self, queries: Any, qrels: Any, *, k: int = 10, modes: Any = None) -> Any:
        """Give back an EvaluationReport: MRR@10, recall@k and nDCG@10 per mode (see gyeol.evaluation)."""
        from .evaluation import evaluate

        return evaluate(self, queries, qrels, k=k, modes=modes)


def _check_ids(ids: Any) -> list[str] | None:
    """None, or the checked list of ids (an empty one stays empty)."""
    if ids is None:
        return None
    return v.check_ids(ids) if ids else []
