"""A hypothesis state machine for keyword, hybrid and filtered searches over the derived indexes.

A persisted Collection runs against a plain model, id -> (text, metadata, stored vector),
across add / upsert / delete / delete(where=) / compact / close+reopen, with searches
interleaved between the writes. The references are independent of gyeol's engine:

- keyword: rank_bm25's BM25Okapi over every live document, tokenized with the same public
  tokenizer (document lengths without the tokenizer's length_skips terms, counted here);
  hits are the documents that hold a query term and pass the filter;
- vector: exact numpy search (conftest) over the documents that pass the filter;
- hybrid: RRF / relative-score fusion (API.md's definitions, written out here) of the two
  reference rankings, each cut at the documented depth;
- where: the filter evaluated in Python with the semantics of gyeol.filters' docstring.

Equal scores may come back in any order, so a ranking is checked by its scores (rank by rank)
and by each hit's own reference score; in hybrid, a document inside a tie group may hold any
rank of its group, so its fused score is checked against the interval those ranks allow.
"""

from __future__ import annotations

import functools
import math
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from conftest import exact_scores, stored_form
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from rank_bm25 import BM25Okapi

import gyeol
from gyeol.errors import DuplicateIdError

DIM = 5
ID_POOL = [f"d{i}" for i in range(34)] + ["한글", "a b"]
VECTOR_TOL = 1e-4  # float32 index scores against float64 references
KEYWORD_TOL = 1e-6  # float64 BM25 against rank_bm25
FUSED_TOL = 1e-9
BM25_DEFAULTS = gyeol.BM25()  # the collections use the defaults; rank_bm25 is given the same k1, b, epsilon

# Plain terms, terms the whitespace tokenizer lowercases, stems or strips, and a stopword:
# the reference tokenizes with the same public tokenizer, so all of them must agree.
WHITESPACE_WORDS = ["w0", "w1", "w2", "apple", "Apples", "searching", "search,", "the", "검색"]
KIWI_WORDS = ["검색", "검색을", "문서를", "문서", "빠르다", "점심을", "먹었다", "날씨가", "Apple", "the"]

# metadata: a small vocabulary so filters match some documents and not others;
# "n" is mostly an int but sometimes a float, a bool, a str, a list or null, which every operator must handle.
N_VALUES = [0, 1, 2, 3, 4, 2.5, True, "2", None, [1, 2]]
S_VALUES = ["a", "b", "c", None, ["a", "b"]]
metadata_dict = st.fixed_dictionaries(
    {}, optional={"n": st.sampled_from(N_VALUES), "s": st.sampled_from(S_VALUES)}
)

n_scalar = st.sampled_from([0, 1, 2, 3, 4, 2.5])
s_scalar = st.sampled_from(["a", "b", "c"])
leaf_filter = st.one_of(
    st.builds(lambda v: {"n": v}, n_scalar),
    st.builds(lambda v: {"s": v}, st.sampled_from(["a", "b", None])),
    st.builds(lambda op, v: {"n": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte", "$ne"]), n_scalar),
    st.builds(lambda lo, hi: {"n": {"$gte": lo, "$lt": hi}}, n_scalar, n_scalar),
    st.builds(lambda op, v: {"s": {op: v}}, st.sampled_from(["$gt", "$gte", "$lt", "$lte"]), s_scalar),
    st.builds(lambda op, v: {"s": {op: v}}, st.sampled_from(["$in", "$nin"]),
              st.lists(s_scalar, min_size=1, max_size=2, unique=True)),
    st.builds(lambda v: {"n": {"$in": v}}, st.lists(n_scalar, min_size=1, max_size=3, unique=True)),
    st.builds(lambda v: {"s": {"$exists": v}}, st.booleans()),
)
where_filter = st.one_of(
    leaf_filter,
    st.builds(lambda a, b: {**a, **b} if a.keys().isdisjoint(b) else {"$and": [a, b]},
              leaf_filter, leaf_filter),
    st.builds(lambda a, b: {"$or": [a, b]}, leaf_filter, leaf_filter),
)
maybe_where = st.one_of(st.none(), where_filter)
K_VALUES = (1, 3, 7, 12, 40)  # every search is checked at each k: below, at and above the hybrid depth


def text_of(words: list[str]) -> st.SearchStrategy[str | None]:
    """Mostly 1-7 words; one text in ten is empty or None (no keyword terms, still a vector)."""
    some = st.lists(st.sampled_from(words), min_size=1, max_size=7).map(" ".join)
    return st.integers(0, 9).flatmap(lambda r: some if r else st.sampled_from(["", None]))


# --------------------------------------------------------------------------- where, in Python


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _equal(stored: Any, value: Any) -> bool:
    if isinstance(stored, list):
        return False  # a scalar comparison is False on a list field
    if _is_number(stored) and _is_number(value):
        return float(stored) == float(value)
    return type(stored) is type(value) and stored == value


def _order(stored: Any, op: str, value: Any) -> bool:
    comparable = (_is_number(stored) and _is_number(value)) or (
        type(stored) is type(value) and isinstance(value, (str, bool)))
    if not comparable:
        return False
    return {"$gt": stored > value, "$gte": stored >= value, "$lt": stored < value, "$lte": stored <= value}[op]


def _test(meta: dict, key: str, op: str, value: Any) -> bool:
    present, stored = key in meta, meta.get(key)
    if op == "$eq":
        return present and _equal(stored, value)
    if op == "$ne":
        return not (present and _equal(stored, value))
    if op == "$in":
        return present and any(_equal(stored, v) for v in value)
    if op == "$nin":
        return not (present and any(_equal(stored, v) for v in value))
    if op == "$exists":
        return present == value
    return present and _order(stored, op, value)


def matches(meta: dict, where: dict) -> bool:
    for key, cond in where.items():
        if key == "$and":
            ok = all(matches(meta, c) for c in cond)
        elif key == "$or":
            ok = any(matches(meta, c) for c in cond)
        elif isinstance(cond, dict):
            ok = all(_test(meta, key, op, value) for op, value in cond.items())
        else:
            ok = _test(meta, key, "$eq", cond)
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------- fusion, from API.md


def hybrid_depth(k: int, fusion: str) -> int:
    """Each side's list length before fusion, as documented (README / search.py): rrf max(k, 10),
    relative_score max(2k, 20)."""
    return max(k, 10) if fusion == "rrf" else max(2 * k, 20)


def tie_ranks(scores: dict[str, float], tol: float) -> dict[str, tuple[int, int]]:
    """Each id's possible ranks (first, last; from 1) when scores within tol may come in any order."""
    order = sorted(scores, key=lambda i: -scores[i])
    out: dict[str, tuple[int, int]] = {}
    start = 0
    for pos in range(1, len(order) + 1):
        if pos == len(order) or scores[order[pos - 1]] - scores[order[pos]] > tol:
            for doc_id in order[start:pos]:
                out[doc_id] = (start + 1, pos)
            start = pos
    return out


def side_bounds(scores: dict[str, float], depth: int, weight: float, fusion: str, rrf_k: float,
                tol: float) -> dict[str, tuple[float, float, str]]:
    """Per id: (lowest, highest) fused contribution this side can give it, and whether the side
    surely ranks it ("in"), surely not ("out") or may ("maybe", a tie at the depth cut)."""
    ranks = tie_ranks(scores, tol)
    kept = sorted(scores.values(), reverse=True)[:depth]
    out = {}
    for doc_id, (first, last) in ranks.items():
        status = "out" if first > depth else "in" if last <= depth else "maybe"
        if status == "out":
            out[doc_id] = (0.0, 0.0, status)
            continue
        if fusion == "rrf":
            lo, hi = weight / (rrf_k + min(last, depth)), weight / (rrf_k + first)
        else:
            top, bottom = kept[0], kept[-1]
            if top == bottom:  # one hit, or all equal: each normalises to 1 (gyeol.fusion's rule)
                lo = hi = weight
            elif top - bottom <= 10 * tol:  # equal but for rounding: the noise normalises to anything
                lo, hi = 0.0, weight
            else:
                slack = 2 * tol / (top - bottom)
                norm = (scores[doc_id] - bottom) / (top - bottom)
                lo, hi = weight * max(0.0, norm - slack), weight * min(1.0, norm + slack)
        out[doc_id] = (0.0 if status == "maybe" else lo, hi, status)
    return out


# --------------------------------------------------------------------------- checks


def check_ranking(res: gyeol.Results, ref: dict[str, float], k: int, tol: float, side: str | None) -> None:
    """res is a best-k of ref (id -> score): the right count, each hit's reference score rank by
    rank equal to the sorted reference, and (side given) hit.score = that side's score."""
    n = min(k, len(ref))
    ids = res.ids
    assert len(ids) == n, f"{len(ids)} hits, expected {n}"
    assert len(set(ids)) == n, f"duplicate ids {ids}"
    assert set(ids) <= ref.keys(), f"hits outside the candidates: {set(ids) - ref.keys()}"
    best = sorted(ref.values(), reverse=True)[:n]
    np.testing.assert_allclose([ref[i] for i in ids], best, rtol=0, atol=tol)
    if side is None:
        return
    for hit in res:
        assert abs(hit.score - ref[hit.id]) <= tol, (hit.id, hit.score, ref[hit.id])
        mine, other = (hit.vector_score, hit.keyword_score) if side == "vector" else (hit.keyword_score,
                                                                                    hit.vector_score)
        assert other is None and mine is not None and abs(mine - ref[hit.id]) <= tol, hit


def check_hybrid(res: gyeol.Results, vec: dict[str, float], kw: dict[str, float], *, k: int, alpha: float,
                 fusion: str, rrf_k: float) -> None:
    """res is the fusion of the two reference rankings cut at the documented depth.

    vec holds every allowed document (the vector side ranks them all), kw those holding a term.
    """
    if alpha == 1.0:
        return check_ranking(res, vec, k, VECTOR_TOL, None)
    if alpha == 0.0:
        return check_ranking(res, kw, k, KEYWORD_TOL, None)
    depth = hybrid_depth(k, fusion)
    sides = [
        (vec, side_bounds(vec, depth, alpha, fusion, rrf_k, VECTOR_TOL), "vector_score", VECTOR_TOL),
        (kw, side_bounds(kw, depth, 1.0 - alpha, fusion, rrf_k, KEYWORD_TOL), "keyword_score", KEYWORD_TOL),
    ]
    bounds = {}
    for doc_id in vec:
        parts = [b.get(doc_id, (0.0, 0.0, "out")) for _, b, _, _ in sides]
        bounds[doc_id] = (sum(p[0] for p in parts), sum(p[1] for p in parts))
    n = min(k, len(vec))  # the vector side alone lists min(depth, allowed) >= n documents
    ids, scores = res.ids, res.scores
    assert len(ids) == n, f"{len(ids)} hits, expected {n}"
    assert len(set(ids)) == n and set(ids) <= vec.keys(), ids
    assert all(a >= b - FUSED_TOL for a, b in zip(scores, scores[1:])), f"not best first: {scores}"
    for hit in res:
        lo, hi = bounds[hit.id]
        assert lo - FUSED_TOL <= hit.score <= hi + FUSED_TOL, (hit.id, hit.score, lo, hi)
        ranked_by_some_side = False
        for ref, side, field, tol in sides:
            status = side.get(hit.id, (0.0, 0.0, "out"))[2]
            got = getattr(hit, field)
            if got is None:
                assert status != "in", f"{hit.id}: {field} is None, but that side ranks it"
            else:
                assert status != "out", f"{hit.id}: {field} {got}, but that side does not rank it"
                assert abs(got - ref[hit.id]) <= tol, (hit.id, field, got, ref[hit.id])
                ranked_by_some_side = True
        assert ranked_by_some_side, f"{hit.id} is ranked by neither side"
    if n:
        cut = scores[-1]
        returned = set(ids)
        for doc_id, (lo, hi) in bounds.items():
            if doc_id not in returned:
                assert lo <= cut + FUSED_TOL, f"{doc_id} left out with a fused score >= {lo} > {cut}"


# --------------------------------------------------------------------------- the machine


@functools.lru_cache(maxsize=None)
def _public_tokenizer(kind: str) -> gyeol.Tokenizer:
    return {"whitespace": gyeol.WhitespaceTokenizer, "kiwi": gyeol.KiwiTokenizer}[kind]()


@functools.lru_cache(maxsize=None)
def _reference_tokens(kind: str, text: str) -> tuple[str, ...]:
    return tuple(_public_tokenizer(kind).tokenize(text))


def reference_tokens(kind: str, text: str) -> list[str]:
    """The terms the public tokenizer of that kind gives text (cached: Kiwi is slow per call)."""
    return list(_reference_tokens(kind, text))


def vectors_for(ids: list[str], seed: int) -> np.ndarray:
    """Distinct vectors per (id, seed), so vector-score ties do not happen."""
    out = np.empty((len(ids), DIM), np.float32)
    for row, doc_id in enumerate(ids):
        out[row] = np.random.default_rng(seed * 1_000 + ID_POOL.index(doc_id)).standard_normal(DIM)
    return out


class SearchesVersusModel(RuleBasedStateMachine):
    """Model: id -> (text, metadata, stored vector). Every write does the same thing to both."""

    TOKENIZER = "whitespace"
    WORDS = WHITESPACE_WORDS
    texts = text_of(WHITESPACE_WORDS)

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="gyeol-sms-"))
        self.db: gyeol.Database | None = None
        self.col: gyeol.Collection | None = None
        self.metric = "cosine"
        self.model: dict[str, tuple[str | None, dict, np.ndarray]] = {}

    @initialize(metric=st.sampled_from(["cosine", "ip", "l2"]),
                ids=st.lists(st.sampled_from(ID_POOL), min_size=20, max_size=len(ID_POOL), unique=True),
                data=st.data())
    def create(self, metric: str, ids: list[str], data) -> None:
        """A collection that starts with some documents, so that searches have something to rank."""
        self.metric = metric
        self.db = gyeol.connect(self.tmp / "kb")
        self.col = self.db.create_collection("sm", embedder=None, dim=DIM, metric=metric,
                                             tokenizer=self.TOKENIZER, index=gyeol.Flat())
        texts, metas, vectors = self._rows(data, ids)
        assert self.col.add(texts, ids=ids, metadata=metas, vectors=vectors) == ids
        self._store(ids, texts, metas, vectors)

    def teardown(self) -> None:
        if self.db is not None:
            self.db.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    # ------------------------------------------------------------------ writes

    def _rows(self, data, ids: list[str]) -> tuple[list[str | None], list[dict], np.ndarray]:
        texts = data.draw(st.lists(self.texts, min_size=len(ids), max_size=len(ids)))
        metas = data.draw(st.lists(metadata_dict, min_size=len(ids), max_size=len(ids)))
        return texts, metas, vectors_for(ids, data.draw(st.integers(0, 30)))

    def _store(self, ids, texts, metas, vectors) -> None:
        stored = stored_form(vectors, self.metric)
        for i, doc_id in enumerate(ids):
            self.model[doc_id] = (texts[i], metas[i], stored[i])

    @rule(ids=st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=8, unique=True), data=st.data())
    def add(self, ids: list[str], data) -> None:
        texts, metas, vectors = self._rows(data, ids)
        if set(ids) & self.model.keys():
            try:
                self.col.add(texts, ids=ids, metadata=metas, vectors=vectors)
            except DuplicateIdError:
                return
            raise AssertionError("an add of stored ids was not refused")
        assert self.col.add(texts, ids=ids, metadata=metas, vectors=vectors) == ids
        self._store(ids, texts, metas, vectors)

    @rule(ids=st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=6, unique=True), data=st.data())
    def upsert(self, ids: list[str], data) -> None:
        texts, metas, vectors = self._rows(data, ids)
        assert self.col.upsert(texts, ids=ids, metadata=metas, vectors=vectors) == ids
        self._store(ids, texts, metas, vectors)

    @rule(ids=st.lists(st.sampled_from(ID_POOL), min_size=1, max_size=5, unique=True))
    def delete(self, ids: list[str]) -> None:
        assert self.col.delete(ids) == sum(doc_id in self.model for doc_id in ids)
        for doc_id in ids:
            self.model.pop(doc_id, None)

    @rule(where=leaf_filter)
    def delete_where(self, where: dict) -> None:
        gone = [doc_id for doc_id, (_, meta, _) in self.model.items() if matches(meta, where)]
        assert self.col.delete(where=where) == len(gone), where
        for doc_id in gone:
            del self.model[doc_id]

    @rule()
    def compact(self) -> None:
        self.col.compact()

    @rule(read_only=st.booleans())
    def reopen(self, read_only: bool) -> None:
        self.db.close()
        if read_only:  # a reader sees what the writer committed, searches included
            with gyeol.connect(self.tmp / "kb", read_only=True) as reader:
                col = reader.get_collection("sm")
                self._check_contents(col)
                self._check_keyword(col, " ".join(self.WORDS[:3]), (5,), None)
        self.db = gyeol.connect(self.tmp / "kb")
        self.col = self.db.get_collection("sm")

    # ------------------------------------------------------------------ references

    def _tokenize(self, text: str | None) -> list[str]:
        return [] if text is None else reference_tokens(self.TOKENIZER, text)

    def _allowed(self, where: dict | None) -> list[str]:
        return [i for i, (_, meta, _) in self.model.items() if where is None or matches(meta, where)]

    def _vector_ref(self, query: np.ndarray, where: dict | None) -> dict[str, float]:
        ids = self._allowed(where)
        if not ids:
            return {}
        scores = exact_scores(np.stack([self.model[i][2] for i in ids]), query, self.metric)
        return dict(zip(ids, scores.tolist()))

    def _keyword_ref(self, query: str, where: dict | None) -> dict[str, float]:
        live = list(self.model)
        corpus = [self._tokenize(self.model[i][0]) for i in live]
        terms = self._tokenize(query)
        holds = [bool(set(terms).intersection(doc)) for doc in corpus]
        if not any(holds):  # (rank_bm25 divides by zero on a corpus without terms)
            return {}
        bm25 = BM25Okapi(corpus, k1=BM25_DEFAULTS.k1, b=BM25_DEFAULTS.b, epsilon=BM25_DEFAULTS.epsilon)
        skips = _public_tokenizer(self.TOKENIZER).length_skips if self.TOKENIZER == "kiwi" else ()
        if skips:  # the default Kiwi tokenizer's bigrams and pairs are scored but not counted in lengths
            bm25.doc_len = [sum(not t.startswith(skips) for t in doc) for doc in corpus]
            bm25.avgdl = sum(bm25.doc_len) / len(corpus) or 1.0
        scores = bm25.get_scores(terms)
        allowed = set(self._allowed(where))
        return {i: float(s) for i, s, h in zip(live, scores, holds) if h and i in allowed}

    def _query_vector(self, seed: int) -> np.ndarray:
        return np.random.default_rng(10_000 + seed).standard_normal(DIM).astype(np.float32)

    # ------------------------------------------------------------------ searches

    def _check_keyword(self, col: gyeol.Collection, query: str, ks: tuple[int, ...], where: dict | None) -> None:
        ref = self._keyword_ref(query, where)
        for k in ks:
            check_ranking(col.search(query, k=k, mode="keyword", where=where), ref, k, KEYWORD_TOL, "keyword")

    def _query_text(self, data) -> str:
        words = data.draw(st.lists(st.sampled_from(self.WORDS + ["zzz"]), min_size=1, max_size=3))
        return " ".join(words)

    @precondition(lambda self: self.col is not None)
    @rule(data=st.data(), where=maybe_where)
    def search_keyword(self, data, where: dict | None) -> None:
        self._check_keyword(self.col, self._query_text(data), K_VALUES, where)

    @precondition(lambda self: self.col is not None)
    @rule(seed=st.integers(0, 1000), where=maybe_where)
    def search_vector(self, seed: int, where: dict | None) -> None:
        query = self._query_vector(seed)
        ref = self._vector_ref(query, where)
        for k in K_VALUES:
            res = self.col.search(vector=query, k=k, mode="vector", where=where)
            check_ranking(res, ref, k, VECTOR_TOL, "vector")

    @precondition(lambda self: self.col is not None)
    @rule(data=st.data(), seed=st.integers(0, 1000), where=maybe_where,
          alpha=st.sampled_from([0.0, 0.3, 0.5, 0.8, 1.0]), rrf_k=st.sampled_from([60, 2]), batched=st.booleans())
    def search_hybrid(self, data, seed: int, where: dict | None, alpha: float, rrf_k: float,
                      batched: bool) -> None:
        queries = [self._query_text(data) for _ in range(2 if batched else 1)]
        vectors = np.stack([self._query_vector(seed + i) for i in range(len(queries))])
        refs = [(self._vector_ref(v, where), self._keyword_ref(q, where)) for q, v in zip(queries, vectors)]
        for fusion in ("rrf", "relative_score"):
            for k in K_VALUES:
                options: dict[str, Any] = dict(k=k, mode="hybrid", where=where, alpha=alpha, fusion=fusion,
                                               rrf_k=rrf_k)
                if batched:
                    results = self.col.search_many(queries, vectors=vectors, **options)
                    assert len(results) == len(queries)
                else:
                    results = [self.col.search(queries[0], vector=vectors[0], **options)]
                for (vec, kw), res in zip(refs, results):
                    check_hybrid(res, vec, kw, k=k, alpha=alpha, fusion=fusion, rrf_k=rrf_k)

    # ------------------------------------------------------------------ contents

    @precondition(lambda self: self.col is not None)
    @invariant()
    def contents_match(self) -> None:
        self._check_contents(self.col)

    def _check_contents(self, col: gyeol.Collection) -> None:
        assert col.count() == len(self.model)
        docs = col.get(ID_POOL)
        assert [d.id for d in docs] == [i for i in ID_POOL if i in self.model]
        for doc in docs:
            text, meta, _ = self.model[doc.id]
            assert (doc.text, doc.metadata) == (text, meta)


class KiwiSearchesVersusModel(SearchesVersusModel):
    """The same machine with Kiwi's Korean morphemes as keyword terms (fewer runs: Kiwi is slower)."""

    TOKENIZER = "kiwi"
    WORDS = KIWI_WORDS
    texts = text_of(KIWI_WORDS)


_SETTINGS = dict(deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
SearchesVersusModel.TestCase.settings = settings(max_examples=35, stateful_step_count=30, **_SETTINGS)
KiwiSearchesVersusModel.TestCase.settings = settings(max_examples=4, stateful_step_count=20, **_SETTINGS)
TestSearchesVersusModel = SearchesVersusModel.TestCase
TestKiwiSearchesVersusModel = KiwiSearchesVersusModel.TestCase


# --------------------------------------------------------------------------- the checks themselves


def test_tie_ranks_and_bounds():
    """The checkers' own arithmetic on a hand-made ranking (so a wrong bound cannot pass silently)."""
    scores = {"a": 3.0, "b": 2.0, "c": 2.0, "d": 1.0}
    assert tie_ranks(scores, 1e-9) == {"a": (1, 1), "b": (2, 3), "c": (2, 3), "d": (4, 4)}
    b = side_bounds(scores, 2, 1.0, "rrf", 60, 1e-9)
    assert b["a"] == (1 / 61, 1 / 61, "in")
    assert b["b"] == (0.0, 1 / 62, "maybe") and b["d"] == (0.0, 0.0, "out")
    r = side_bounds(scores, 3, 0.5, "relative_score", 60, 1e-9)
    assert math.isclose(r["a"][0], 0.5, abs_tol=1e-8) and math.isclose(r["b"][1], 0.0, abs_tol=1e-8)
    assert matches({"n": 2}, {"n": {"$gte": 2, "$lt": 3}}) and not matches({"n": True}, {"n": 1})
    assert matches({}, {"s": {"$nin": ["a"]}}) and not matches({"s": ["a"]}, {"s": {"$in": ["a"]}})
    assert not matches({"n": "2"}, {"n": {"$gt": 1}}) and matches({"n": None}, {"s": {"$exists": False}})
