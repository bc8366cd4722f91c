"""LlamaIndex integration: a gyeol collection as a LlamaIndex vector store.

    from llama_index.core import StorageContext, VectorStoreIndex
    from gyeol.integrations.llamaindex import GyeolLlamaIndexStore
    store = GyeolLlamaIndexStore.create(dim=384, path="./kb")        # LlamaIndex embeds; gyeol stores
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))

Needs the extra `llamaindex` (llama-index-core). Nodes come with LlamaIndex's embeddings, so the
collection is created without an embedder (`embedder=None`); its Kiwi BM25 index still serves
`VectorStoreQueryMode.TEXT_SEARCH` / `SPARSE` (keyword) and `HYBRID` (gyeol's hybrid, `alpha` as
given) from `query_str`. `MMR` reranks with gyeol's `MMRReranker`. Metadata filters become gyeol
where-dicts (==, !=, >, >=, <, <=, in, nin, contains; and / or).
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence

from ..errors import BackendUnavailableError, InvalidInputError

try:
    from llama_index.core.bridge.pydantic import PrivateAttr
    from llama_index.core.schema import BaseNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        FilterCondition,
        FilterOperator,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise BackendUnavailableError(
        'gyeol.integrations.llamaindex needs llama-index-core: pip install "gyeol[llamaindex]"'
    ) from exc

__all__ = ["GyeolLlamaIndexStore", "to_where"]

_OPERATORS = {
    FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt", FilterOperator.GTE: "$gte",
    FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte", FilterOperator.IN: "$in", FilterOperator.NIN: "$nin",
    FilterOperator.CONTAINS: "$contains",
}


def to_where(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """Give back the gyeol where-dict for LlamaIndex MetadataFilters (None for none)."""
    if filters is None or not filters.filters:
        return None
    parts: list[dict[str, Any]] = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            sub = to_where(item)
            if sub is not None:
                parts.append(sub)
            continue
        op = _OPERATORS.get(item.operator)
        if op is None:
            raise InvalidInputError(f"filter operator {item.operator.value!r} is not supported by gyeol")
        parts.append({item.key: {op: item.value}})
    if filters.condition == FilterCondition.NOT:
        raise InvalidInputError("filter condition 'not' is not supported by gyeol")
    if len(parts) == 1:
        return parts[0]
    return {"$or" if filters.condition == FilterCondition.OR else "$and": parts}


class GyeolLlamaIndexStore(BasePydanticVectorStore):
    """A LlamaIndex vector store over one gyeol collection (vectors given by LlamaIndex)."""

    stores_text: bool = True
    flat_metadata: bool = False

    _collection: Any = PrivateAttr()
    _database: Any = PrivateAttr(default=None)

    def __init__(self, collection: Any, *, database: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._collection = collection
        self._database = database  # keeps an in-memory database alive as long as the store

    @classmethod
    def create(cls, dim: int, *, path: str | None = None, collection_name: str = "llamaindex",
               **collection_options: Any) -> "GyeolLlamaIndexStore":
        """Give back a store over a new collection of `dim`-dimensional vectors (path=None: in memory)."""
        import gyeol

        db = gyeol.connect(path) if path is not None else gyeol.connect()
        collection_options.setdefault("embedder", None)
        col = db.create_collection(collection_name, dim=dim, **collection_options)
        return cls(col, database=db)

    @classmethod
    def class_name(cls) -> str:
        return "GyeolLlamaIndexStore"

    @property
    def client(self) -> Any:
        return self._collection

    @property
    def collection(self) -> Any:
        return self._collection

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> List[str]:
        """Upsert nodes (text, metadata, LlamaIndex's embedding) by node id; give back their ids."""
        nodes = list(nodes)
        if not nodes:
            return []
        missing = [n.node_id for n in nodes if n.embedding is None]
        if missing:
            raise InvalidInputError(f"nodes need an embedding; {len(missing)} have none, e.g. {missing[0]!r}")
        ids = [n.node_id for n in nodes]
        texts = [n.get_content() for n in nodes]
        metadata = [node_to_metadata_dict(n, remove_text=True, flat_metadata=self.flat_metadata) for n in nodes]
        self._collection.upsert(texts, ids=ids, metadata=metadata, vectors=[n.embedding for n in nodes])
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document `ref_doc_id`."""
        self._collection.delete(where={"ref_doc_id": ref_doc_id})

    def delete_nodes(self, node_ids: Optional[List[str]] = None, filters: Optional[MetadataFilters] = None,
                     **delete_kwargs: Any) -> None:
        where = to_where(filters)
        if node_ids is None and where is None:
            raise InvalidInputError("delete_nodes needs node_ids or filters")
        if node_ids is not None and not node_ids:
            return
        self._collection.delete(node_ids, where=where)

    def clear(self) -> None:
        ids = [doc.id for doc in self._collection.get()]
        if ids:
            self._collection.delete(ids)

    def get_nodes(self, node_ids: Optional[List[str]] = None,
                  filters: Optional[MetadataFilters] = None) -> List[BaseNode]:
        docs = self._collection.get(node_ids, where=to_where(filters), include_vectors=True)
        return [self._node(doc.id, doc.text, doc.metadata, getattr(doc, "vector", None)) for doc in docs]

    @staticmethod
    def _node(node_id: str, text: str | None, metadata: dict[str, Any], vector: Any = None) -> BaseNode:
        node = metadata_dict_to_node(dict(metadata), text=text or "")
        node.id_ = node_id
        if vector is not None:
            node.embedding = [float(x) for x in vector]
        return node

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """Run the query as a gyeol search; similarities are gyeol's scores (cosine for vector)."""
        where = to_where(query.filters)
        if query.doc_ids:
            doc_filter = {"ref_doc_id": {"$in": list(query.doc_ids)}}
            where = doc_filter if where is None else {"$and": [where, doc_filter]}
        if query.node_ids:
            raise InvalidInputError("VectorStoreQuery.node_ids is not supported; use doc_ids or filters")
        options: dict[str, Any] = {"k": query.similarity_top_k, "where": where}
        mode = query.mode
        if mode in (VectorStoreQueryMode.TEXT_SEARCH, VectorStoreQueryMode.SPARSE):
            res = self._collection.search(query.query_str, mode="keyword", **options)
        elif mode == VectorStoreQueryMode.HYBRID:
            res = self._collection.search(query.query_str, vector=query.query_embedding, mode="hybrid",
                                          alpha=query.alpha, **options)
        elif mode in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            if query.query_embedding is None:
                raise InvalidInputError(f"a {mode.value} query needs query_embedding")
            if mode == VectorStoreQueryMode.MMR:
                from ..rerank import MMRReranker

                relevance = 0.5 if query.mmr_threshold is None else float(query.mmr_threshold)
                options.update(rerank=MMRReranker(1.0 - relevance), rerank_depth=kwargs.get("mmr_prefetch_k", 50))
            res = self._collection.search(vector=query.query_embedding, mode="vector", **options)
        else:
            raise InvalidInputError(f"query mode {mode.value!r} is not supported by gyeol")
        nodes = [self._node(hit.id, hit.text, hit.metadata) for hit in res]
        return VectorStoreQueryResult(nodes=nodes, similarities=[float(s) for s in res.scores], ids=list(res.ids))
