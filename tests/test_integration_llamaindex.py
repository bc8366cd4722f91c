"""The LlamaIndex vector store against llama-index-core's own SimpleVectorStore (extra `llamaindex`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.embeddings import BaseEmbedding  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores import SimpleVectorStore  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition, FilterOperator, MetadataFilter, MetadataFilters, VectorStoreQuery, VectorStoreQueryMode)

import gyeol  # noqa: E402
from gyeol.integrations.llamaindex import GyeolLlamaIndexStore, to_where  # noqa: E402

from conftest import SRC, HashEmbedder  # noqa: E402

DIM = 16


def _nodes(n=30, seed=0):
    rng = np.random.default_rng(seed)
    nodes = []
    for i in range(n):
        node = TextNode(id_=f"n{i}", text=f"passage {i} 서울" if i % 3 == 0 else f"passage {i} 부산",
                        metadata={"group": i % 4, "lang": "ko" if i % 2 else "en"},
                        embedding=rng.standard_normal(DIM).tolist())
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i // 5}")
        nodes.append(node)
    return nodes


@pytest.fixture()
def pair():
    ours, reference = GyeolLlamaIndexStore.create(DIM, tokenizer="whitespace"), SimpleVectorStore()
    ours.add(_nodes())
    reference.add(_nodes())
    return ours, reference


def _same(ours, reference, query):
    got, want = ours.query(query), reference.query(query)
    assert got.ids == want.ids
    np.testing.assert_allclose(got.similarities, want.similarities, rtol=1e-5, atol=1e-5)
    return got


def test_query_matches_simple_vector_store(pair):
    rng = np.random.default_rng(7)
    for _ in range(5):
        got = _same(*pair, VectorStoreQuery(query_embedding=rng.standard_normal(DIM).tolist(), similarity_top_k=5))
        assert all(node.ref_doc_id.startswith("doc") and node.metadata["group"] in range(4) for node in got.nodes)


def test_filters_and_doc_ids_match_simple_vector_store(pair):
    vec = np.random.default_rng(3).standard_normal(DIM).tolist()
    filters = MetadataFilters(filters=[MetadataFilter(key="group", value=1),
                                       MetadataFilter(key="lang", value="ko")], condition=FilterCondition.AND)
    _same(*pair, VectorStoreQuery(query_embedding=vec, similarity_top_k=4, filters=filters))
    filters = MetadataFilters(filters=[MetadataFilter(key="group", value=2, operator=FilterOperator.GTE)])
    _same(*pair, VectorStoreQuery(query_embedding=vec, similarity_top_k=4, filters=filters))
    ours, reference = pair
    by_ref = MetadataFilters(filters=[MetadataFilter(key="ref_doc_id", value=["doc1", "doc4"],
                                                     operator=FilterOperator.IN)])
    got = ours.query(VectorStoreQuery(query_embedding=vec, similarity_top_k=4, doc_ids=["doc1", "doc4"]))
    assert got.ids == reference.query(VectorStoreQuery(query_embedding=vec, similarity_top_k=4, filters=by_ref)).ids


def test_delete_by_ref_doc_matches_simple_vector_store(pair):
    ours, reference = pair
    for store in pair:
        store.delete("doc2")
    vec = np.random.default_rng(5).standard_normal(DIM).tolist()
    got = _same(ours, reference, VectorStoreQuery(query_embedding=vec, similarity_top_k=30))
    assert len(got.ids) == 25 and not any(node.ref_doc_id == "doc2" for node in got.nodes)
    ours.delete_nodes(["n0", "n1"])
    assert ours.collection.count() == 23
    assert [n.node_id for n in ours.get_nodes(["n3"])] == ["n3"]
    ours.clear()
    assert ours.collection.count() == 0


def test_keyword_hybrid_and_mmr_modes(pair):
    ours, _ = pair
    res = ours.query(VectorStoreQuery(query_str="서울", similarity_top_k=20, mode=VectorStoreQueryMode.TEXT_SEARCH))
    assert sorted(res.ids) == sorted(f"n{i}" for i in range(30) if i % 3 == 0)
    vec = np.random.default_rng(1).standard_normal(DIM).tolist()
    hybrid = ours.query(VectorStoreQuery(query_str="서울", query_embedding=vec, similarity_top_k=5, alpha=0.5,
                                         mode=VectorStoreQueryMode.HYBRID))
    assert hybrid.ids == ours.collection.search("서울", vector=vec, k=5, mode="hybrid", alpha=0.5).ids
    mmr = ours.query(VectorStoreQuery(query_embedding=vec, similarity_top_k=5, mmr_threshold=0.6,
                                      mode=VectorStoreQueryMode.MMR))
    assert mmr.ids == ours.collection.search(vector=vec, k=5, mode="vector", rerank=gyeol.MMRReranker(0.4)).ids


def test_bad_input_is_typed(pair):
    ours, _ = pair
    with pytest.raises(gyeol.InvalidInputError):
        ours.add([TextNode(id_="x", text="no vector")])
    with pytest.raises(gyeol.InvalidInputError):
        to_where(MetadataFilters(filters=[MetadataFilter(key="a", value="b", operator=FilterOperator.TEXT_MATCH)]))
    with pytest.raises(gyeol.InvalidInputError):
        ours.query(VectorStoreQuery(similarity_top_k=3))
    assert ours.collection.count() == 30


class _HashEmbedding(BaseEmbedding):
    def _get_text_embedding(self, text):
        return HashEmbedder().embed([text])[0].tolist()

    def _get_query_embedding(self, query):
        return self._get_text_embedding(query)

    async def _aget_query_embedding(self, query):
        return self._get_text_embedding(query)


def test_vector_store_index_end_to_end():
    store = GyeolLlamaIndexStore.create(HashEmbedder().dim)
    docs = [Document(text="서울 지하철 노선", doc_id="a"), Document(text="부산 바다 여행", doc_id="b"),
            Document(text="제주 한라산 등산", doc_id="c")]
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                            embed_model=_HashEmbedding())
    hits = index.as_retriever(similarity_top_k=1).retrieve("부산 바다")
    assert hits[0].node.ref_doc_id == "b" and hits[0].node.get_content() == "부산 바다 여행"
    index.delete_ref_doc("b")
    assert index.as_retriever(similarity_top_k=1).retrieve("부산 바다")[0].node.ref_doc_id != "b"


def test_import_gyeol_does_not_import_llama_index():
    code = "import sys, gyeol; assert not any(m.startswith('llama_index') for m in sys.modules), 'llama_index loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(SRC)})
