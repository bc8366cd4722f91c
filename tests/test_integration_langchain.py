"""The LangChain VectorStore against langchain-tests' standard suite and exact search (extra `langchain`)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("langchain_core")
langchain_tests = pytest.importorskip("langchain_tests.integration_tests")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from langchain_core.vectorstores import VectorStoreRetriever  # noqa: E402

import gyeol  # noqa: E402
from gyeol.integrations.langchain import GyeolEmbeddings, GyeolVectorStore, LangChainEmbedder  # noqa: E402

from conftest import SRC  # noqa: E402


class TestGyeolStandard(langchain_tests.VectorStoreIntegrationTests):
    """LangChain's own expectations for add / search / delete / get_by_ids, sync and async."""

    @pytest.fixture()
    def vectorstore(self):
        return GyeolVectorStore.create(self.get_embeddings(), tokenizer="whitespace")  # in memory, new per test


TEXTS = ["서울 지하철 노선도", "부산 해운대 바다", "서울 한강 공원", "제주도 한라산 등산", "kiwi morpheme analyser",
         "the quick brown fox", "brown bears in the forest", "서울 남산 타워"]


@pytest.fixture()
def store():
    return GyeolVectorStore.from_texts(TEXTS, DeterministicFakeEmbedding(size=16),
                                       metadatas=[{"i": i, "ko": i < 4 or i == 7} for i in range(len(TEXTS))],
                                       ids=[f"t{i}" for i in range(len(TEXTS))], tokenizer="whitespace")


def _exact(store, query, k, metadata_ok=lambda m: True):
    emb = store.embeddings
    q = np.asarray(emb.embed_query(query))
    docs = np.asarray(emb.embed_documents(TEXTS))
    sims = docs @ q / np.linalg.norm(docs, axis=1) / np.linalg.norm(q)
    order = [i for i in np.argsort(-sims, kind="stable") if metadata_ok({"i": int(i), "ko": i < 4 or i == 7})]
    return [f"t{i}" for i in order[:k]], sims


def test_similarity_search_matches_exact_cosine(store):
    for query in ["서울", "brown fox", "바다"]:
        expected, sims = _exact(store, query, 5)
        got = store.similarity_search_with_score(query, k=5)
        assert [d.id for d, _ in got] == expected
        np.testing.assert_allclose([s for _, s in got], [sims[int(i[1:])] for i in expected], rtol=1e-5, atol=1e-5)


def test_filter_is_a_gyeol_where(store):
    expected, _ = _exact(store, "서울", 3, lambda m: m["ko"])
    assert [d.id for d in store.similarity_search("서울", k=3, filter={"ko": True})] == expected


def test_relevance_scores_are_in_unit_range(store):
    got = store.similarity_search_with_relevance_scores("서울", k=8)
    assert all(0.0 <= s <= 1.0 for _, s in got)
    _, sims = _exact(store, "서울", 8)
    assert [s for _, s in got] == pytest.approx(sorted((1 + sims) / 2, reverse=True), abs=1e-5)


def test_by_vector_and_mmr(store):
    vec = store.embeddings.embed_query("서울")
    assert [d.id for d in store.similarity_search_by_vector(vec, k=3)] == _exact(store, "서울", 3)[0]
    plain = store.similarity_search("서울", k=4)
    assert [d.id for d in store.max_marginal_relevance_search("서울", k=4, lambda_mult=1.0)] == [d.id for d in plain]
    reference = store.collection.search("서울", k=4, mode="vector", rerank=gyeol.MMRReranker(0.5), rerank_depth=8)
    mmr = store.max_marginal_relevance_search("서울", k=4, fetch_k=8, lambda_mult=0.5)
    assert [d.id for d in mmr] == reference.ids


def test_retriever_and_hybrid_mode(store):
    retriever = store.as_retriever(search_kwargs={"k": 2})
    assert isinstance(retriever, VectorStoreRetriever)
    assert [d.id for d in retriever.invoke("서울")] == _exact(store, "서울", 2)[0]
    hybrid = GyeolVectorStore(store.collection, mode="keyword")
    assert [d.id for d in hybrid.similarity_search("한강", k=1)] == ["t2"]  # the only text with the word


def test_bad_input_is_typed(store):
    with pytest.raises(gyeol.InvalidInputError):
        store.add_texts(["a", "b"], ids=["only-one"])
    with pytest.raises(gyeol.InvalidInputError):
        GyeolVectorStore(store.collection, mode="fuzzy")
    with pytest.raises(gyeol.InvalidInputError):
        LangChainEmbedder(object())
    assert store.collection.count() == len(TEXTS)


def test_gyeol_embedder_as_langchain_embeddings():
    from conftest import HashEmbedder

    emb = GyeolEmbeddings(HashEmbedder())
    docs = emb.embed_documents(["서울 지하철", "부산"])
    assert len(docs) == 2 and len(docs[0]) == HashEmbedder().dim
    np.testing.assert_allclose(emb.embed_query("서울 지하철"), HashEmbedder().embed(["서울 지하철"])[0],
                               rtol=1e-6)


def test_import_gyeol_does_not_import_langchain():
    code = "import sys, gyeol; assert not any(m.startswith('langchain') for m in sys.modules), 'langchain loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, env={"PYTHONPATH": str(SRC)})
