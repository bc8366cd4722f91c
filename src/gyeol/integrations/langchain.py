"""LangChain integration: a gyeol collection as a LangChain `VectorStore` and as a retriever.

    from gyeol.integrations.langchain import GyeolRetriever, GyeolVectorStore
    store = GyeolVectorStore.from_texts(texts, embeddings, path="./kb")   # any LangChain Embeddings
    store = GyeolVectorStore(col)                 # an existing collection, its own embedder
    store.similarity_search("설치 방법", k=4); store.as_retriever(search_type="mmr")
    retriever = GyeolRetriever(col, k=4)          # gyeol's hybrid search as a LangChain retriever

Needs the extra `langchain` (langchain-core). Searches default to mode="vector" (LangChain's
meaning of similarity search); pass `mode="hybrid"` (or "keyword") to the store for gyeol's
hybrid ranking. `filter=` takes a gyeol where-dict. Scores are gyeol's: cosine similarity for a
vector search, the fused score for hybrid. `GyeolRetriever` searches in gyeol's default hybrid
mode unless told otherwise.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from ..errors import BackendUnavailableError, InvalidInputError

try:
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.retrievers import BaseRetriever
    from langchain_core.vectorstores import VectorStore
    from pydantic import Field
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise BackendUnavailableError(
        'gyeol.integrations.langchain needs langchain-core: pip install "gyeol[langchain]"'
    ) from exc

__all__ = ["GyeolVectorStore", "GyeolRetriever", "LangChainEmbedder", "GyeolEmbeddings"]

_MODES = ("vector", "keyword", "hybrid")


class LangChainEmbedder:
    """A LangChain `Embeddings` object as a gyeol embedder (embed_documents / embed_queries)."""

    def __init__(self, embeddings: Any) -> None:
        if not callable(getattr(embeddings, "embed_documents", None)) or not callable(
                getattr(embeddings, "embed_query", None)):
            raise InvalidInputError(
                f"expected a LangChain Embeddings (embed_documents, embed_query), got {type(embeddings).__name__}")
        self.embeddings = embeddings
        self.name = f"langchain:{type(embeddings).__name__}"

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embeddings.embed_documents(list(texts)), dtype=np.float32)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return np.asarray([self.embeddings.embed_query(text) for text in texts], dtype=np.float32)


class GyeolEmbeddings(Embeddings):
    """A gyeol embedder (a name such as "default", or any embedder object) as LangChain `Embeddings`."""

    def __init__(self, embedder: Any = "default") -> None:
        from ..embedders.registry import resolve_embedder

        self.embedder, _ = resolve_embedder(embedder)
        if self.embedder is None:
            raise InvalidInputError("GyeolEmbeddings needs an embedder, got None")

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        from ..embedders import embed_documents

        return embed_documents(self.embedder, list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        from ..embedders import embed_queries

        return embed_queries(self.embedder, [text])[0].tolist()


def _to_document(hit: Any) -> Document:
    return Document(id=hit.id, page_content=hit.text or "", metadata=dict(hit.metadata or {}))


class GyeolVectorStore(VectorStore):
    """A LangChain VectorStore over one gyeol collection (which embeds texts with its own embedder)."""

    def __init__(self, collection: Any, *, embedding: Embeddings | None = None, mode: str = "vector",
                 database: Any = None) -> None:
        if mode not in _MODES:
            raise InvalidInputError(f"mode must be one of {', '.join(_MODES)}, got {mode!r}")
        self.collection = collection
        self.mode = mode
        self._embedding = embedding
        self._database = database  # keeps an in-memory database alive as long as the store

    @property
    def embeddings(self) -> Embeddings | None:
        return self._embedding

    @classmethod
    def create(cls, embedding: Embeddings, *, path: str | None = None, collection_name: str = "langchain",
               mode: str = "vector", **collection_options: Any) -> "GyeolVectorStore":
        """Give back a store over a new (or, with exist_ok=True, existing) collection embedding with `embedding`.

        path=None is an in-memory database; collection_options go to `create_collection`.
        """
        import gyeol

        db = gyeol.connect(path) if path is not None else gyeol.connect()
        col = db.create_collection(collection_name, embedder=LangChainEmbedder(embedding), **collection_options)
        return cls(col, embedding=embedding, mode=mode, database=db)

    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict] | None = None, *,
                   ids: list[str] | None = None, **kwargs: Any) -> "GyeolVectorStore":
        """Give back a new store (see `create` for path, collection_name, mode) holding `texts`."""
        store = cls.create(embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    def add_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                  ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Upsert texts: an id already stored is replaced; missing ids (None entries too) get a uuid4."""
        texts = list(texts)
        if ids is not None and len(ids) != len(texts):
            raise InvalidInputError(f"got {len(ids)} ids for {len(texts)} texts")
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(f"got {len(metadatas)} metadatas for {len(texts)} texts")
        if not texts:
            return []
        given: list[Any] = list(ids) if ids is not None else [None] * len(texts)
        filled = [str(i) if i is not None else str(uuid.uuid4()) for i in given]
        meta = [dict(m) if m else None for m in metadatas] if metadatas is not None else None
        self.collection.upsert(texts, ids=filled, metadata=meta)
        return filled

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ids (unknown ids are ignored); `where=` deletes by a gyeol filter."""
        where = kwargs.get("where")
        if ids is None and where is None:
            raise InvalidInputError("delete needs ids or where=")
        if ids is not None and len(ids) == 0 and where is None:
            return True
        self.collection.delete(list(ids) if ids is not None else None, where=where)
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        if not ids:
            return []
        return [Document(id=d.id, page_content=d.text or "", metadata=dict(d.metadata or {}))
                for d in self.collection.get(list(ids))]

    def _search(self, query: str | None, vector: Any, k: int, filter: dict | None, **options: Any) -> Any:
        mode = options.pop("mode", self.mode if vector is None else "vector")
        return self.collection.search(query, vector=vector, k=k, mode=mode, where=filter, **options)

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """Give back (Document, gyeol score) pairs, best first; kwargs go to `col.search`."""
        return [(_to_document(hit), float(hit.score)) for hit in self._search(query, None, k, filter, **kwargs)]

    def similarity_search(self, query: str, k: int = 4, filter: dict | None = None,
                          **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict | None = None,
                                    **kwargs: Any) -> list[Document]:
        return [_to_document(hit) for hit in self._search(None, embedding, k, filter, **kwargs)]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict | None = None, **kwargs: Any) -> list[Document]:
        """MMR through gyeol's `MMRReranker(diversity=1 - lambda_mult)` over the first `fetch_k` hits."""
        from ..rerank import MMRReranker

        hits = self._search(query, None, k, filter, rerank=MMRReranker(1.0 - lambda_mult),
                            rerank_depth=max(fetch_k, k), **kwargs)
        return [_to_document(hit) for hit in hits]

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict | None = None,
                                                **kwargs: Any) -> list[Document]:
        from ..rerank import MMRReranker

        hits = self._search(None, embedding, k, filter, rerank=MMRReranker(1.0 - lambda_mult),
                            rerank_depth=max(fetch_k, k), **kwargs)
        return [_to_document(hit) for hit in hits]

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        """Relevance in [0, 1] for vector searches: (1 + cosine) / 2, or 1 - L2 distance / sqrt(2)."""
        if self.mode != "vector":
            raise NotImplementedError("relevance scores in [0, 1] exist only for mode='vector'")
        metric = self.collection.metric
        if metric == "cosine":
            return lambda score: (1.0 + score) / 2.0
        if metric == "l2":
            return lambda score: 1.0 + score / 2.0 ** 0.5  # gyeol's l2 score is minus the distance
        raise NotImplementedError(f"no [0, 1] relevance for metric {metric!r}")


class GyeolRetriever(BaseRetriever):
    """A LangChain retriever over one gyeol collection: `invoke(query)` gives the k best Documents.

    k, mode ("hybrid" by default, "vector" or "keyword") and filter (a gyeol where-dict) are set
    here and may be overridden per call (`retriever.invoke(q, k=2, filter={...})`); search_kwargs
    and other call keywords go to `col.search` (alpha=, fusion=, rerank=, rerank_depth=, expand=).
    """

    collection: Any
    k: int = 4
    mode: str = "hybrid"
    filter: dict[str, Any] | None = None
    search_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(self, collection: Any = None, **kwargs: Any) -> None:
        # checked here, so that a bad value is gyeol's InvalidInputError, not pydantic's ValidationError
        from ..collection import Collection

        if not isinstance(collection, Collection):
            raise InvalidInputError(f"GyeolRetriever needs a gyeol Collection, got {type(collection).__name__}")
        _check_search(kwargs)
        super().__init__(**{**kwargs, "collection": collection})

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                **kwargs: Any) -> list[Document]:
        _check_search(kwargs)
        options = {**self.search_kwargs, **kwargs}
        where = options.pop("filter", self.filter)
        options.setdefault("k", self.k)
        options.setdefault("mode", self.mode)
        options.setdefault("where", where)
        return [_to_document(hit) for hit in self.collection.search(query, **options)]


def _check_search(options: dict[str, Any]) -> None:
    """InvalidInputError for a k that is no positive integer or an unknown mode among options."""
    from .._validation import check_k

    if "k" in options:
        check_k(options["k"])
    if "mode" in options and options["mode"] not in _MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(_MODES)}, got {options['mode']!r}")
