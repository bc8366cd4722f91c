"""A hypothesis state machine: a persisted Collection against a plain dict, across writes and reopens."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from conftest import assert_same_ranking, exact_scores, exact_search, stored_form
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import gyeol
from gyeol.errors import DuplicateIdError

DIM = 6
ID_POOL = [f"id{i}" for i in range(24)] + ["한글", "a b", "x" * 40]

ids_batch = st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=8, unique=True)
metadata_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.one_of(st.booleans(), st.integers(-5, 5), st.text(max_size=3)), max_size=3),
)
metadata_dict = st.dictionaries(st.sampled_from(["a", "b", "키", "n"]), metadata_value, max_size=3)


def vectors_for(ids: list[str], seed: int) -> np.ndarray:
    """Distinct vectors per (id, seed): no two documents share a vector, so ranking ties are rare."""
    out = np.empty((len(ids), DIM), np.float32)
    for row, doc_id in enumerate(ids):
        key = seed * 1_000 + ID_POOL.index(doc_id)
        out[row] = np.random.default_rng(key).standard_normal(DIM)
    return out


class CollectionVersusDict(RuleBasedStateMachine):
    """Model: id -> (text, metadata, stored vector). Every rule does the same thing to both."""

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="gyeol-sm-"))
        self.db: gyeol.Database | None = None
        self.col: gyeol.Collection | None = None
        self.metric = "cosine"
        self.model: dict[str, tuple[str, dict, np.ndarray]] = {}

    @initialize(metric=st.sampled_from(["cosine", "ip", "l2"]))
    def create(self, metric: str) -> None:
        self.metric = metric
        self.db = gyeol.connect(self.tmp / "kb")
        self.col = self.db.create_collection("sm", embedder=None, dim=DIM, metric=metric,
                                             tokenizer="whitespace", index=gyeol.Flat())

    def teardown(self) -> None:
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def _rows(self, ids: list[str], seed: int, metas: list[dict]):
        texts = [f"{doc_id} v{seed}" for doc_id in ids]
        metas = (metas + [{}] * len(ids))[: len(ids)]
        return texts, metas, vectors_for(ids, seed)

    @rule(ids=ids_batch, seed=st.integers(0, 50), metas=st.lists(metadata_dict, max_size=8))
    def add(self, ids: list[str], seed: int, metas: list[dict]) -> None:
        texts, metas, vectors = self._rows(ids, seed, metas)
        if set(ids) & self.model.keys():
            try:
                self.col.add(texts, ids=ids, metadata=metas, vectors=vectors)
            except DuplicateIdError:
                return  # refused whole; the invariants check nothing changed
            raise AssertionError(f"add of stored ids {set(ids) & self.model.keys()} was not refused")
        assert self.col.add(texts, ids=ids, metadata=metas, vectors=vectors) == ids
        stored = stored_form(vectors, self.metric)
        for i, doc_id in enumerate(ids):
            self.model[doc_id] = (texts[i], metas[i], stored[i])

    @rule(ids=ids_batch, seed=st.integers(0, 50), metas=st.lists(metadata_dict, max_size=8))
    def upsert(self, ids: list[str], seed: int, metas: list[dict]) -> None:
        texts, metas, vectors = self._rows(ids, seed, metas)
        assert self.col.upsert(texts, ids=ids, metadata=metas, vectors=vectors) == ids
        stored = stored_form(vectors, self.metric)
        for i, doc_id in enumerate(ids):
            self.model[doc_id] = (texts[i], metas[i], stored[i])

    @rule(ids=st.lists(st.sampled_from(ID_POOL), max_size=8, unique=True))
    def delete(self, ids: list[str]) -> None:
        expected = sum(doc_id in self.model for doc_id in ids)
        assert self.col.delete(ids) == expected
        for doc_id in ids:
            self.model.pop(doc_id, None)

    @rule()
    def compact(self) -> None:
        self.col.compact()

    @rule(read_only=st.booleans())
    def reopen(self, read_only: bool) -> None:
        self.db.close()
        if read_only:  # a reader sees what the writer committed; then the writer comes back
            with gyeol.connect(self.tmp / "kb", read_only=True) as reader:
                self._check_everything(reader.get_collection("sm"))
        self.db = gyeol.connect(self.tmp / "kb")
        self.col = self.db.get_collection("sm")

    @precondition(lambda self: self.col is not None)
    @invariant()
    def matches_the_model(self) -> None:
        self._check_everything(self.col)

    def _check_everything(self, col: gyeol.Collection) -> None:
        assert col.count() == len(self.model)
        asked = list(ID_POOL)
        docs = col.get(asked, include_vectors=True)
        assert [d.id for d in docs] == [doc_id for doc_id in asked if doc_id in self.model]
        for doc in docs:
            text, meta, vector = self.model[doc.id]
            assert (doc.text, doc.metadata) == (text, meta)
            np.testing.assert_allclose(doc.vector, vector, rtol=1e-6, atol=1e-6)
        query = np.random.default_rng(len(self.model)).standard_normal(DIM).astype(np.float32)
        ids = list(self.model)
        vectors = np.stack([self.model[i][2] for i in ids]) if ids else np.empty((0, DIM), np.float32)
        for k in (1, 5, 40):
            result = col.search(vector=query, k=k, mode="vector")
            ref_ids, ref_scores = exact_search(ids, vectors, query, self.metric, k)
            all_scores = dict(zip(ids, exact_scores(vectors, query, self.metric))) if ids else {}
            assert_same_ranking(result.ids, result.scores, ref_ids, ref_scores, all_scores=all_scores)


CollectionVersusDict.TestCase.settings = settings(
    max_examples=30,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestCollectionVersusDict = CollectionVersusDict.TestCase
