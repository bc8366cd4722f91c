"""Collection: the public facade over a store, a vector index, a BM25 index and metadata filters.

The maths lives elsewhere: storage/ commits rows, index/ searches vectors,
lexical/ scores BM25, filters.py evaluates where-clauses, fusion.py fuses and
search.py runs queries. This class validates, orders the steps so that a call
that raises changes nothing, and keeps the derived indexes in step with commits.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from . import _validation as v
from .config import MODES, CollectionConfig, check_choice
from .errors import CorruptionError, DuplicateIdError, GyeolError, InvalidInputError, ReadOnlyError
from .index import build_index, load_index, save_index
from .storage.manifest import MANIFEST_NAME, read_manifest
from .storage.store import INDEX_DIR, Rows, SegmentStore
from .storage.idmap import hash_ids
from .search import read_rows, run_search
from .types import Document, Results

if TYPE_CHECKING:
    from .database import Database

log = logging.getLogger(__name__)

EMBED_BATCH = 256
PROGRESS_ABOVE = 2_048  # show a progress bar when embedding more texts than this
CHECKPOINT_VECTORS = 200_000  # unsaved vectors (and at least as many as saved) before the index is saved
LEXICAL_SAVE_AFTER = 20_000  # a lazy BM25 build that tokenized this many texts is saved at once


class Collection:
    """A named set of documents searchable by vector, keyword or both."""

    def __init__(
        self,
        db: "Database",
        store: SegmentStore,
        config: CollectionConfig,
        *,
        embedder: Any,
        tokenizer: Any,
        tier: str,
        device: str,
    ) -> None:
        self._db = db
        self._store = store
        self._config = config
        self._embedder = embedder
        self._tokenizer = tokenizer
        self._tier = tier
        self._device = device
        self._lock = threading.RLock()
        self._closed = False
        self._vindex = None
        self._vindex_saved = -1  # ntotal at the last save; -1 = never saved in this process
        self._lexical = None
        self._lexical_dirty = False
        self._metadata = None
        self._scratch: tempfile.TemporaryDirectory | None = None
        directory = store.directory
        self._manifest_path = None if directory is None else str(directory / MANIFEST_NAME)
        self._manifest_stamp = self._stamp()
        self._open_vector_index()

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
        return self._tier

    @property
    def device(self) -> str:
        return self._device

    @property
    def config(self) -> dict[str, Any]:
        """The persisted configuration (as created), plus this handle's tier and device."""
        out = self._config.to_dict()
        out.update(open_tier=self._tier, open_device=self._device)
        return out

    @property
    def index_info(self) -> dict[str, Any]:
        """What the vector index serving queries is (kind, size, device)."""
        self._check_open()
        return self._vindex.describe()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self.count()} docs"
        return f"Collection({self.name!r}, dim={self.dim}, metric={self.metric!r}, tier={self.tier!r}, {state})"

    def __len__(self) -> int:
        return self.count()

    # ------------------------------------------------------------------ derived indexes

    def _index_dir(self, part: str) -> Path | None:
        directory = self._store.directory
        return None if directory is None else directory / INDEX_DIR / part

    def _open_vector_index(self) -> None:
        """Load or build the vector index; a reader whose snapshot a writer just compacted away moves on."""
        for attempt in range(5):
            try:
                self._open_vector_index_once()
                return
            except CorruptionError:
                # compact() deletes the old segments right after its manifest commit; a read-only
                # handle that read the previous manifest finds them gone: take the new snapshot
                if attempt == 4 or not self._snapshot_moved():
                    raise
                self._reopen_store()

    def _snapshot_moved(self) -> bool:
        """True for a read-only handle whose manifest is no longer the committed one."""
        directory = self._store.directory
        if not self._db.read_only or directory is None:
            return False
        try:
            return read_manifest(directory).version != self._store.manifest.version
        except CorruptionError:
            return False

    def _reopen_store(self) -> None:
        """Read-only handles: load the latest committed snapshot and forget what was derived from the old one."""
        self._manifest_stamp = self._stamp()  # before the read: a commit after it is seen next time
        self._store = SegmentStore.open(self._store.directory, writable=False)
        self._lexical = None
        self._metadata = None
        self._vindex_saved = -1

    def _open_vector_index_once(self) -> None:
        manifest = self._store.manifest
        directory = self._index_dir(self._tier)
        index = None
        if directory is not None:
            index = load_index(
                directory,
                generation=manifest.generation,
                tier=self._tier,
                metric=self.metric,
                dim=self.dim,
                next_label=manifest.next_label,
                device=self._device,
                read_only=self._db.read_only,
            )
            if index is not None:
                self._vindex_saved = index.ntotal
        if index is None:
            index = self._build_vector_index()
        elif index.ntotal < manifest.next_label:
            for batch in self._store.iter_vector_batches(index.ntotal):
                index.add(batch)
        self._vindex = index
        if index.wants_rebuild():
            self._vindex = self._build_vector_index()

    def _build_vector_index(self):
        vectors = self._store.vectors()
        return build_index(
            self._config.index,
            tier=self._tier,
            metric=self.metric,
            dim=self.dim,
            vectors=vectors,
            directory=self._build_dir(),
            device=self._device,
        )

    def _build_dir(self) -> Path | None:
        """Where a new index may put its files: the writer's index folder, or a reader's own scratch."""
        directory = self._index_dir(self._tier)
        if directory is None or not self._db.read_only or self._tier == "memory":
            return directory
        if self._scratch is None:  # a reader never writes into the writer's folders
            self._scratch = tempfile.TemporaryDirectory(prefix="gyeol-reader-")
        return Path(self._scratch.name) / self._tier

    def _lexical_index(self):
        """The BM25 index, loaded or built on first keyword use (Kiwi loads only then)."""
        if self._lexical is not None:
            return self._lexical
        from .lexical.bm25 import BM25Index

        tokenizer = self._require_tokenizer()
        store = self._store
        directory = self._index_dir("bm25")
        index = None
        if directory is not None:
            index = BM25Index.load(
                directory, store.manifest.generation, self._config.bm25, max_labels=store.n_labels,
                terms=self._terms_signature(),
            )
        if index is None:
            index = BM25Index(self._config.bm25)
        start = index.n_labels
        if start < store.n_labels:
            texts = store.texts.slice(start).to_pylist()
            index.add(tokenizer.tokenize_batch([t or "" for t in texts]))
            self._lexical_dirty = True
        if store.has_deletes:
            index.delete(np.flatnonzero(~store.live))
        self._lexical = index
        if store.n_labels - start >= LEXICAL_SAVE_AFTER:  # minutes of Kiwi work: keep it past a crash
            self._save_lexical()
        return index

    def _terms_signature(self) -> dict[str, Any]:
        """How this collection's BM25 terms are made: its tokenizer's description and version."""
        from .lexical.tokenizers import TERMS_VERSION

        return {"tokenizer": self._config.tokenizer, "version": TERMS_VERSION}

    def _metadata_columns(self):
        """Typed metadata columns for filters, built on first filtered call."""
        if self._metadata is None:
            from .filters import MetadataColumns

            columns = MetadataColumns()
            if self._store.n_labels:
                columns.append_json(self._store.metadata_json)
            self._metadata = columns
        return self._metadata

    def _require_tokenizer(self):
        if self._tokenizer is None:
            raise InvalidInputError(
                f"collection {self.name!r} was created with a custom tokenizer; pass it again: "
                f"db.get_collection({self.name!r}, tokenizer=...)"
            )
        return self._tokenizer

    def _require_embedder(self):
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

    def save_indexes(self, *, keyword: bool = False) -> None:
        """Write the derived indexes (vector, BM25) so the next open loads instead of rebuilding.

        keyword=True builds the BM25 index first if no keyword search has built it yet (Kiwi
        loads and every text is tokenized), so read-only processes opened later load it from
        disk instead of each tokenizing the whole collection on their first keyword search.
        """
        keyword = v.check_flag("keyword", keyword)
        with self._lock:
            if keyword:
                self._check_writable()
                self._lexical_index()
            else:
                self._check_open()
            self._save_indexes()

    def _save_indexes(self) -> None:
        if self._store.directory is None or self._db.read_only:
            return
        generation = self._store.manifest.generation
        if self._vindex is not None and self._vindex.ntotal != self._vindex_saved:
            save_index(self._vindex, self._index_dir(self._tier), generation=generation, tier=self._tier,
                       metric=self.metric)
            self._vindex_saved = self._vindex.ntotal
        self._save_lexical()

    def _save_lexical(self) -> None:
        if self._store.directory is None or self._db.read_only:
            return
        if self._lexical is not None and self._lexical_dirty:
            directory = self._index_dir("bm25")
            directory.mkdir(parents=True, exist_ok=True)
            self._lexical.save(directory, self._store.manifest.generation, terms=self._terms_signature())
            self._lexical_dirty = False

    # ------------------------------------------------------------------ guards

    def _check_open(self) -> None:
        if self._closed:
            raise GyeolError(f"collection {self.name!r} is closed")
        self._db._check_open()

    def _check_writable(self) -> None:
        self._check_open()
        if self._db.read_only:
            raise ReadOnlyError(f"database {self._db.path} is open read-only; writes are refused")

    def _stamp(self) -> tuple | None:
        """The manifest's (mtime, size, inode): cheap to read on every call of a read-only handle."""
        if self._manifest_path is None:
            return None
        try:
            st = os.stat(self._manifest_path)
        except FileNotFoundError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def _refresh_if_stale(self) -> None:
        """Read-only handles follow the writer: reload when its manifest changed."""
        if not self._db.read_only or self._store.directory is None:
            return
        if self._stamp() == self._manifest_stamp:
            return
        self._reopen_store()
        self._open_vector_index()

    def _retarget(self, tier: str, device: str) -> None:
        """Serve this handle from another tier or device, loading or rebuilding that index."""
        with self._lock:
            self._check_open()
            self._save_indexes()  # so switching back loads instead of rebuilding
            self._tier, self._device = tier, device
            self._vindex_saved = -1
            self._open_vector_index()

    def _close(self) -> None:
        """Save derived indexes and release memory; later calls raise."""
        with self._lock:
            if self._closed:
                return
            try:
                self._save_indexes()
            finally:
                self._closed = True
                self._vindex = None
                self._lexical = None
                self._metadata = None
                if self._scratch is not None:
                    self._scratch.cleanup()
                    self._scratch = None

    # ------------------------------------------------------------------ writes

    def add(
        self,
        texts: list[str] | None = None,
        *,
        ids: list[str] | None = None,
        metadata: list[dict[str, Any]] | None = None,
        vectors: Any = None,
    ) -> list[str]:
        """Add new documents; give back their ids. An id already stored raises DuplicateIdError."""
        with self._lock:
            self._check_writable()
            rows, metas = self._prepare(texts, ids, metadata, vectors, generate_ids=True)
            if not rows.ids:
                return []
            existing = self._store.labels_of(rows.ids)
            if (existing >= 0).any():
                dups = [rows.ids[i] for i in np.flatnonzero(existing >= 0)[:10]]
                raise DuplicateIdError(
                    f"ids already exist in {self.name!r}: {', '.join(dups)} (use upsert to replace them)"
                )
            self._write(rows, metas, np.empty(0, np.int64))
            return rows.ids

    def upsert(
        self,
        texts: list[str] | None = None,
        *,
        ids: list[str],
        metadata: list[dict[str, Any]] | None = None,
        vectors: Any = None,
    ) -> list[str]:
        """Insert documents, replacing any stored under the same ids; give back the ids."""
        with self._lock:
            self._check_writable()
            if ids is None:
                raise InvalidInputError("upsert needs ids=")
            rows, metas = self._prepare(texts, ids, metadata, vectors, generate_ids=False)
            if not rows.ids:
                return []
            old = self._store.labels_of(rows.ids)
            self._write(rows, metas, old[old >= 0])
            return rows.ids

    def delete(self, ids: list[str] | None = None, *, where: dict[str, Any] | None = None) -> int:
        """Delete documents by ids, by filter, or both (ids that match the filter); give back how many."""
        with self._lock:
            self._check_writable()
            if ids is None and where is None:
                raise InvalidInputError("delete needs ids= or where= (use drop_collection to remove everything)")
            if where is not None and ids is None and isinstance(where, dict) and not where:
                raise InvalidInputError("delete(where={}) would match every document; refused (use drop_collection)")
            labels = self._select(ids, where)
            if len(labels) == 0:
                return 0
            self._store.commit(None, labels)
            self._after_delete(labels)
            return int(len(labels))

    def compact(self) -> None:
        """Rewrite live documents as one segment, drop tombstones, rebuild and save the indexes."""
        with self._lock:
            self._check_writable()
            had_lexical = self._lexical is not None
            self._store.compact()
            self._lexical = None
            self._metadata = None
            self._vindex_saved = -1
            self._vindex = self._build_vector_index()
            if had_lexical:  # rebuilt from the compacted segment (marked dirty, or saved already if large)
                self._lexical_index()
            self._save_indexes()

    def _prepare(self, texts, ids, metadata, vectors, *, generate_ids: bool) -> tuple[Rows, list[dict]]:
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
            vecs = v.check_vectors(vectors, n, self.dim)
        else:
            if any(t is None for t in texts):
                raise InvalidInputError("texts contain None; pass vectors= for documents without text")
            vecs = self._embed(texts)
        if self.metric == "cosine" and n:
            vecs = v.normalise(vecs)
        if texts is None:
            texts = [None] * n
        rows = Rows(ids=ids, texts=texts, metadata_json=metas_json, vectors=vecs, hashes=hash_ids(ids))
        return rows, metas

    def _embed(self, texts: list[str]) -> np.ndarray:
        embedder = self._require_embedder()
        if not texts:
            return np.empty((0, self.dim), np.float32)
        batches = range(0, len(texts), EMBED_BATCH)
        if len(texts) > PROGRESS_ABOVE:
            from tqdm.auto import tqdm

            batches = tqdm(batches, desc=f"embedding {len(texts)} texts", unit="batch")
        parts = []
        for start in batches:
            out = np.asarray(embedder.embed(texts[start : start + EMBED_BATCH]), dtype=np.float32)
            expected = min(EMBED_BATCH, len(texts) - start)
            if out.ndim != 2 or out.shape[0] != expected:
                raise InvalidInputError(f"embedder returned shape {out.shape} for {expected} texts")
            parts.append(out)
        return v.check_vectors(np.concatenate(parts), len(texts), self.dim, name="embeddings")

    def _write(self, rows: Rows, metas: list[dict], replaced: np.ndarray) -> None:
        tokens = None
        if self._lexical is not None:  # tokenize before the commit: a failure must change nothing
            tokens = self._tokenizer.tokenize_batch([t or "" for t in rows.texts])
        self._store.commit(rows, replaced)
        self._vindex.add(rows.vectors)
        if self._vindex.wants_rebuild():
            self._vindex = self._build_vector_index()
            self._vindex_saved = -1
        self._maybe_checkpoint()
        if len(replaced):
            self._after_delete(replaced)
        if tokens is not None:
            self._lexical.add(tokens)
            self._lexical_dirty = True
        if self._metadata is not None:
            try:
                self._metadata.append(metas)
            except Exception:  # the commit stands; rebuild the columns from it on the next filter
                self._metadata = None
                raise

    def _maybe_checkpoint(self) -> None:
        """Save the derived indexes once enough vectors are unsaved, so a crashed writer's successor
        catches up from the checkpoint instead of rebuilding; the threshold doubles with the size."""
        saved = max(self._vindex_saved, 0)
        if self._vindex.ntotal - saved >= max(CHECKPOINT_VECTORS, saved):
            self._save_indexes()

    def _after_delete(self, labels: np.ndarray) -> None:
        if self._lexical is not None:
            self._lexical.delete(labels)
            self._lexical_dirty = True

    # ------------------------------------------------------------------ reads

    def count(self) -> int:
        """How many live documents the collection holds."""
        with self._lock:
            self._check_open()
            self._refresh_if_stale()
            return self._store.n_live

    def _select(self, ids: list[str] | None, where: dict[str, Any] | None) -> np.ndarray:
        """Live labels matching ids (input order, missing dropped) and/or where (label order)."""
        mask = self._where_mask(where) if where is not None else None
        if ids is not None:
            ids = v.check_ids(ids) if ids else []
            labels = self._store.labels_of(ids) if ids else np.empty(0, np.int64)
            labels = labels[labels >= 0]
            if mask is not None:
                labels = labels[mask[labels]]
            return labels
        return np.flatnonzero(mask)

    def _where_mask(self, where: dict[str, Any]) -> np.ndarray:
        """Live labels that match where, as a boolean mask."""
        from .filters import compile_where

        expr = compile_where(where)
        return self._metadata_columns().mask(expr) & self._store.live

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
        with self._lock:
            self._check_open()
            self._refresh_if_stale()
            if limit is not None:
                v.check_k(limit)
            if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
                raise InvalidInputError(f"offset must be a non-negative integer, got {offset!r}")
            if ids is None and where is None:
                labels = np.flatnonzero(self._store.live)
            else:
                labels = self._select(ids, where)
            labels = labels[offset : None if limit is None else offset + limit]
            return self._documents(labels, include_vectors)

    def _documents(self, labels: np.ndarray, include_vectors: bool) -> list[Document]:
        if len(labels) == 0:
            return []
        ids, texts, metas = self._rows(labels)
        vectors = None
        if include_vectors:
            vectors = self._vindex.reconstruct(labels)
            if vectors is None:
                vectors = self._store.vectors()[labels]
        return [
            Document(ids[i], texts[i], metas[i], None if vectors is None else vectors[i])
            for i in range(len(labels))
        ]

    def _rows(self, labels: np.ndarray) -> tuple[list[str], list[str | None], list[dict[str, Any]]]:
        store = self._store
        ids = store.ids.take(pa.array(labels, pa.int64())).to_pylist()
        texts, metas = read_rows(store.texts, store.metadata_json, labels)
        return ids, texts, metas

    # ------------------------------------------------------------------ search

    def search(
        self,
        query: str | None = None,
        *,
        vector: Any = None,
        k: int = 10,
        mode: str = "hybrid",
        where: dict[str, Any] | None = None,
        alpha: float = 0.5,
        fusion: str = "rrf",
        rrf_k: float = 60,
        candidates: int | None = None,
    ) -> Results:
        """The k best documents for a query text and/or vector, best first."""
        vectors = None if vector is None else v.check_query_vector(vector, self.dim)
        queries = None if query is None else [query]
        return self._search(queries, vectors, checked=True, k=k, mode=mode, where=where, alpha=alpha,
                            fusion=fusion, rrf_k=rrf_k, candidates=candidates)[0]

    def search_many(
        self,
        queries: list[str] | None = None,
        *,
        vectors: Any = None,
        k: int = 10,
        mode: str = "hybrid",
        where: dict[str, Any] | None = None,
        alpha: float = 0.5,
        fusion: str = "rrf",
        rrf_k: float = 60,
        candidates: int | None = None,
    ) -> list[Results]:
        """One Results per query, with the vector side searched in one batched call."""
        return self._search(queries, vectors, checked=False, k=k, mode=mode, where=where, alpha=alpha,
                            fusion=fusion, rrf_k=rrf_k, candidates=candidates)

    def _search(self, queries, vectors, *, checked: bool, mode: str, **options: Any) -> list[Results]:
        with self._lock:
            self._check_open()
            self._refresh_if_stale()
            check_choice("mode", mode, MODES)
            return run_search(self, queries, vectors, mode=mode, vectors_checked=checked, **options)
