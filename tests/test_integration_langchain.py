"""The LangChain VectorStore and retriever against langchain-tests' standard suites and exact search (extra `langchain`)."""

from __future__ import annotations

import asyncio
import functools
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
from gyeol.integrations.langchain import (  # noqa: E402
    GyeolEmbeddings, GyeolRetriever, GyeolVectorStore, LangChainEmbedder,
)

from conftest import SRC  # noqa: E402


class TestGyeolStandard(langchain_tests.VectorStoreIntegrationTests):
    """LangChain's own expectations for add / search / delete / get_by_ids, sync and async."""

    @pytest.fixture()
    def vectorstore(self):
        return GyeolVectorStore.create(self.get_embeddings(), tokenizer="whitespace")  # in memory, new per test


class TestGyeolRetrieverStandard(langchain_tests.RetrieversIntegrationTests):
    """LangChain's own expectations for a retriever: k in the constructor and per call, sync and async."""

    @property
    def retriever_constructor(self) -> type[GyeolRetriever]:
        return GyeolRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"collection": _standard_collection()}

    @property
    def retriever_query_example(self) -> str:
        return "서울 공원"


@functools.cache
def _standard_collection():
    """One in-memory collection of TEXTS for the standard suite (read only there)."""
    return GyeolVectorStore.from_texts(TEXTS, DeterministicFakeEmbedding(size=16), tokenizer="whitespace").collection


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


@pytest.mark.parametrize("options", [{}, {"mode": "vector"}, {"mode": "keyword"}, {"mode": "hybrid", "alpha": 0.3}])
def test_gyeol_retriever_gives_what_col_search_gives(store, options):
    col = store.collection
    mode = options.get("mode", "hybrid")
    extra = {k: v for k, v in options.items() if k != "mode"}
    retriever = GyeolRetriever(col, k=3, mode=mode, search_kwargs=extra)
    for query in ["서울 공원", "brown fox", "한강"]:
        want = col.search(query, k=3, mode=mode, **extra)
        got = retriever.invoke(query)
        assert [d.id for d in got] == want.ids
        assert [(d.page_content, d.metadata) for d in got] == [(h.text, h.metadata) for h in want]
        assert [d.id for d in asyncio.run(retriever.ainvoke(query))] == want.ids


def test_gyeol_retriever_options_and_per_call_overrides(store):
    col = store.collection
    retriever = GyeolRetriever(col, k=2, mode="vector", filter={"ko": True})
    assert [d.id for d in retriever.invoke("서울")] == _exact(store, "서울", 2, lambda m: m["ko"])[0]
    assert [d.id for d in retriever.invoke("서울", k=4, filter={"ko": False})] == \
        _exact(store, "서울", 4, lambda m: not m["ko"])[0]
    assert [d.id for d in retriever.invoke("한강", mode="keyword", filter=None)] == ["t2"]
    mmr = GyeolRetriever(col, k=3, mode="vector", search_kwargs={"rerank": gyeol.MMRReranker(0.7), "rerank_depth": 8})
    want = col.search("서울", k=3, mode="vector", rerank=gyeol.MMRReranker(0.7), rerank_depth=8).ids
    assert [d.id for d in mmr.invoke("서울")] == want != _exact(store, "서울", 3)[0]


@pytest.mark.parametrize("options", [{"k": 0}, {"k": True}, {"k": "3"}, {"mode": "fuzzy"}])
def test_gyeol_retriever_bad_options_are_typed(store, options):
    with pytest.raises(gyeol.InvalidInputError):
        GyeolRetriever(store.collection, **options)
    with pytest.raises(gyeol.InvalidInputError):
        GyeolRetriever(store.collection).invoke("서울", **options)


def test_gyeol_retriever_needs_a_collection(store):
    with pytest.raises(gyeol.InvalidInputError, match="needs a gyeol Collection"):
        GyeolRetriever(store)  # the store, not its collection
    with pytest.raises(gyeol.InvalidInputError, match="needs a gyeol Collection"):
        GyeolRetriever()


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
