"""Metadata filters: compile_where's validation, and MetadataColumns.mask against a reference."""

from __future__ import annotations

import json
import operator
import random
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, example, given, note, settings
from hypothesis import strategies as st

from gyeol.errors import CorruptionError, FilterError, InvalidInputError
from gyeol.filters import And, Compare, MatchAll, MetadataColumns, Or, compile_where

# --------------------------------------------------------------------------- the reference


def _is_num(x: Any) -> bool:
    return type(x) in (int, float)


def _scalar_eq(a: Any, b: Any) -> bool:
    if type(a) is bool or type(b) is bool:
        return type(a) is bool and type(b) is bool and a == b
    if a is None or b is None:
        return a is None and b is None
    if _is_num(a) and _is_num(b):
        return a == b
    if type(a) is str and type(b) is str:
        return a == b
    return False


def _value_eq(stored: Any, operand: Any) -> bool:
    if isinstance(operand, list):
        return (
            isinstance(stored, list)
            and len(stored) == len(operand)
            and all(_scalar_eq(a, b) for a, b in zip(stored, operand))
        )
    return not isinstance(stored, list) and _scalar_eq(stored, operand)


_ORDER = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _ordered(stored: Any, op: str, operand: Any) -> bool:
    same_kind = (
        (type(stored) is bool and type(operand) is bool)
        or (_is_num(stored) and _is_num(operand))
        or (type(stored) is str and type(operand) is str)
    )
    return same_kind and _ORDER[op](stored, operand)


def _ref_op(metadata: dict[str, Any], key: str, op: str, operand: Any) -> bool:
    present = key in metadata
    stored = metadata.get(key)
    if op == "$eq":
        return present and _value_eq(stored, operand)
    if op == "$ne":
        return not (present and _value_eq(stored, operand))
    if op in _ORDER:
        return present and _ordered(stored, op, operand)
    if op in ("$in", "$nin"):
        hit = (
            present and not isinstance(stored, list) and any(_scalar_eq(stored, v) for v in operand)
        )
        return hit if op == "$in" else not hit
    if op == "$exists":
        return present == operand
    if op == "$contains":
        return present and isinstance(stored, list) and any(_scalar_eq(e, operand) for e in stored)
    raise AssertionError(op)


def reference(metadata: dict[str, Any], where: dict[str, Any]) -> bool:
    """Evaluate a where-dict on one document, the slow and obvious way."""
    for key, value in where.items():
        if key == "$and":
            ok = all(reference(metadata, child) for child in value)
        elif key == "$or":
            ok = any(reference(metadata, child) for child in value)
        elif isinstance(value, dict):
            ok = all(_ref_op(metadata, key, op, operand) for op, operand in value.items())
        else:
            ok = _ref_op(metadata, key, "$eq", value)
        if not ok:
            return False
    return True


def reference_mask(metadatas: list[dict[str, Any]], where: dict[str, Any]) -> np.ndarray:
    return np.array([reference(m, where) for m in metadatas], dtype=bool)


def columns_of(metadatas: list[dict[str, Any]], batch: int = 7) -> MetadataColumns:
    columns = MetadataColumns()
    for start in range(0, len(metadatas), batch):
        columns.append(metadatas[start : start + batch])
    return columns


def json_columns_of(metadatas: list[dict[str, Any]], batch: int = 5) -> MetadataColumns:
    columns = MetadataColumns()
    for start in range(0, len(metadatas), batch):
        rows = [json.dumps(m, ensure_ascii=False) for m in metadatas[start : start + batch]]
        columns.append_json(pa.array(rows, pa.string()))
    return columns


# --------------------------------------------------------------------------- strategies

KEYS = ["a", "b", "가", "tags"]  # "tags" only ever holds lists of strings
# A small pool of values, so that stored values repeat; plus some free draws.
POOL = [None, True, False, 0, 1, 2, -1, 0.0, 1.0, 1.5, 2.0, "", "a", "b", "ab", "B", "가", "1"]
pooled = st.sampled_from(POOL)
scalars = st.one_of(
    *[pooled] * 6, st.integers(-3, 3), st.floats(-3, 3, allow_nan=False), st.text(max_size=2)
)
values = st.one_of(scalars, scalars, scalars, st.lists(scalars, max_size=3))
tags = st.lists(st.sampled_from(["x", "y", "z", "", "가"]), max_size=3)
documents = st.tuples(
    st.one_of(
        *[st.dictionaries(st.sampled_from(KEYS[:3]), values, min_size=1, max_size=3)] * 4,
        st.just({}),
    ),
    st.one_of(st.none(), tags),
).map(lambda pair: pair[0] if pair[1] is None else {**pair[0], "tags": pair[1]})
metadatas_st = st.one_of(
    st.lists(documents, max_size=5), st.lists(documents, min_size=10, max_size=60)
)


OPERATORS = ["$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$contains"]


class WhereMaker:
    """Random where-dicts whose operands are mostly values the documents hold under that key.

    A seeded Random, not hypothesis's own combinators, picks the shapes, so that every
    operator and nesting appears about equally often (one_of leans on its first branches).
    """

    def __init__(self, rng: random.Random, metadatas: list[dict[str, Any]]) -> None:
        self.rng = rng
        self.stored = {key: [m[key] for m in metadatas if key in m] for key in KEYS}

    def scalar(self, key: str) -> Any:
        rng = self.rng
        stored = [e for v in self.stored[key] for e in (v if isinstance(v, list) else [v])]
        if stored and rng.random() < 0.7:
            return rng.choice(stored)
        r = rng.random()
        if r < 0.7:
            return rng.choice(POOL)
        if r < 0.85:
            return rng.uniform(-3, 3)
        return "".join(rng.choice("ab가B1 ") for _ in range(rng.randint(0, 2)))

    def long_list(self, key: str) -> list[Any]:
        """Nine or more strings, or numbers: past the few-targets path of $in."""
        rng = self.rng
        want_str = rng.random() < 0.5
        same_kind = [
            v
            for v in self.stored[key]
            if not isinstance(v, list) and (type(v) is str if want_str else _is_num(v))
        ]
        kept = rng.sample(same_kind, len(same_kind) // 2)
        while len(kept) < 9 + rng.randint(0, 3):
            kept.append(
                "".join(rng.choice("ab가B1") for _ in range(rng.randint(0, 2)))
                if want_str
                else rng.choice([rng.randint(-3, 3), rng.uniform(-3, 3)])
            )
        return kept

    def value(self, key: str) -> Any:
        lists = [v for v in self.stored[key] if isinstance(v, list)]
        r = self.rng.random()
        if r < 0.15 and lists:
            return list(self.rng.choice(lists))
        if r < 0.25:
            return [self.scalar(key) for _ in range(self.rng.randint(0, 2))]
        return self.scalar(key)

    def operand(self, op: str, key: str) -> Any:
        if op in ("$eq", "$ne"):
            return self.value(key)
        if op in ("$in", "$nin"):
            if self.rng.random() < 0.3:
                return self.long_list(key)
            return [self.scalar(key) for _ in range(self.rng.randint(1, 3))]
        if op == "$exists":
            return self.rng.random() < 0.5
        if op == "$contains":
            return self.scalar(key)
        operand = self.scalar(key)
        return operand if operand is not None else self.rng.choice([1, "a", True])

    def leaf(self) -> dict[str, Any]:
        where: dict[str, Any] = {}
        for key in self.rng.sample(KEYS, self.rng.choice([1, 1, 2])):
            if self.rng.random() < 0.25:
                where[key] = self.value(key)
            else:
                ops = self.rng.sample(OPERATORS, self.rng.choice([1, 1, 2]))
                where[key] = {op: self.operand(op, key) for op in ops}
        return where

    def where(self, depth: int = 0) -> dict[str, Any]:
        r = self.rng.random()
        if depth >= 2 or r < 0.45:
            return self.leaf()
        children = [self.where(depth + 1) for _ in range(self.rng.randint(1, 3))]
        if r < 0.65:
            return {"$and": children}
        if r < 0.9:
            return {"$or": children}
        return {**self.leaf(), "$or": children}


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    metadatas=metadatas_st,
    rng=st.integers(0, 2**32 - 1).map(random.Random),
    batch=st.integers(1, 9),
)
def test_mask_matches_reference(
    metadatas: list[dict[str, Any]], rng: random.Random, batch: int
) -> None:
    maker = WhereMaker(rng, metadatas)
    by_dict, by_json = columns_of(metadatas, batch), json_columns_of(metadatas, batch)
    for _ in range(3):
        where = maker.where()
        note(f"where = {where!r}")
        expr = compile_where(where)
        expected = reference_mask(metadatas, where)
        got = by_dict.mask(expr)
        assert got.dtype == bool and got.shape == (len(metadatas),)
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(by_json.mask(expr), expected)


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(metadatas=metadatas_st, rng=st.integers(0, 2**32 - 1).map(random.Random), split=st.integers(0, 60))
@example(metadatas=[{"a": None}, {}, {"tags": ["x", "x", "x"]}], rng=random.Random(3628800), split=3)
def test_saved_columns_mapped_back_match_reference_before_and_after_appends(
    tmp_path_factory, metadatas: list[dict[str, Any]], rng: random.Random, split: int
) -> None:
    """filters/saved.py: columns saved, mapped back read-only, queried, then appended to (copy on write)."""
    from gyeol.filters.saved import load_columns, save_columns

    split = min(split, len(metadatas))
    folder = tmp_path_factory.mktemp("columns")
    assert save_columns(folder, columns_of(metadatas[:split]), 3)
    assert load_columns(folder, 4, split) is None and load_columns(folder, 3, split - 1) is None  # other commits
    restored = load_columns(folder, 3, split)
    assert restored is not None and restored.n == split
    maker = WhereMaker(rng, metadatas)
    where = maker.where()
    note(f"where = {where!r}")
    np.testing.assert_array_equal(restored.mask(compile_where(where)), reference_mask(metadatas[:split], where))
    for start in range(split, len(metadatas), 7):
        restored.append(metadatas[start : start + 7])
    for _ in range(2):
        where = maker.where()
        note(f"where = {where!r}")
        np.testing.assert_array_equal(restored.mask(compile_where(where)), reference_mask(metadatas, where))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(metadatas=metadatas_st, rng=st.integers(0, 2**32 - 1).map(random.Random))
def test_mask_stays_right_when_queries_and_appends_interleave(
    metadatas: list[dict[str, Any]], rng: random.Random
) -> None:
    maker = WhereMaker(rng, metadatas)
    wheres = [maker.where() for _ in range(3)]
    note(f"wheres = {wheres!r}")
    columns = MetadataColumns()
    for start in range(0, len(metadatas), 6):
        columns.append(metadatas[start : start + 6])
        seen = metadatas[: start + 6]
        for where in wheres:
            np.testing.assert_array_equal(
                columns.mask(compile_where(where)), reference_mask(seen, where)
            )


# --------------------------------------------------------------------------- explicit cases

DOCS: list[dict[str, Any]] = [
    {"lang": "ko", "year": 2020, "tags": ["news", "kr"], "flag": True},
    {"lang": "en", "year": 2021.0, "tags": ["blog"], "flag": 1},
    {"lang": "ko", "year": 2019.5, "flag": False, "score": None},
    {"year": "2022", "tags": [], "flag": 1.0},
    {},
    {"lang": "ja", "year": 2023, "tags": ["news", 1, True, None]},
]


def ids(where: dict[str, Any], docs: list[dict[str, Any]] = DOCS) -> list[int]:
    got = np.flatnonzero(columns_of(docs, batch=4).mask(compile_where(where))).tolist()
    assert got == np.flatnonzero(reference_mask(docs, where)).tolist()
    assert got == np.flatnonzero(json_columns_of(docs, batch=3).mask(compile_where(where))).tolist()
    return got


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"lang": "ko"}, [0, 2]),
        ({"lang": {"$ne": "ko"}}, [1, 3, 4, 5]),  # missing key: $ne is True (MongoDB)
        ({"lang": {"$nin": ["ko", "en"]}}, [3, 4, 5]),
        ({"lang": {"$exists": False}}, [3, 4]),
        ({"score": {"$exists": True}}, [2]),  # a stored null is present
        ({"score": None}, [2]),
        ({"score": {"$in": [None, 5]}}, [2]),
        ({"score": {"$nin": [None]}}, [0, 1, 3, 4, 5]),
        ({"flag": True}, [0]),  # bool is not a number: True != 1, 1.0
        ({"flag": 1}, [1, 3]),  # int equals float
        ({"flag": {"$in": [True, 1]}}, [0, 1, 3]),
        ({"flag": {"$gt": False}}, [0]),
        ({"year": 2021}, [1]),
        ({"year": {"$gte": 2020}}, [0, 1, 5]),  # the string "2022" is simply not a number
        ({"year": {"$gt": "2000"}}, [3]),
        ({"year": {"$in": [2020, "2022", 2019.5]}}, [0, 2, 3]),
        ({"lang": {"$gt": "ja", "$lte": "ko"}}, [0, 2]),
        ({"tags": {"$contains": "news"}}, [0, 5]),
        ({"tags": {"$contains": 1}}, [5]),  # 1 is in [..., 1, True, ...]; True is not 1
        ({"tags": {"$contains": True}}, [5]),
        ({"tags": {"$contains": None}}, [5]),
        ({"lang": {"$contains": "ko"}}, []),  # $contains on a scalar field
        ({"tags": ["news", "kr"]}, [0]),
        ({"tags": []}, [3]),
        ({"tags": {"$ne": ["blog"]}}, [0, 2, 3, 4, 5]),
        ({"tags": "news"}, []),  # scalar equality never matches a list
        ({"tags": {"$in": ["news"]}}, []),
        ({"missing": {"$gt": 0}}, []),
        ({"missing": {"$ne": 0}}, [0, 1, 2, 3, 4, 5]),
        ({}, [0, 1, 2, 3, 4, 5]),
        ({"$or": [{"lang": "en"}, {"$and": [{"lang": "ko"}, {"year": {"$lt": 2020}}]}]}, [1, 2]),
        (
            {"$and": [{"$or": [{"flag": 1}, {"flag": True}]}, {"tags": {"$exists": True}}]},
            [0, 1, 3],
        ),
        ({"lang": "ko", "$or": [{"year": 2020}, {"flag": False}]}, [0, 2]),
        ({"$and": [{}]}, [0, 1, 2, 3, 4, 5]),
    ],
)
def test_explicit_cases(where: dict[str, Any], expected: list[int]) -> None:
    assert ids(where) == expected


def test_int_and_float_equality_and_ordering() -> None:
    docs = [{"x": 1}, {"x": 1.0}, {"x": 1.5}, {"x": True}, {"x": "1"}, {"x": -0.0}]
    assert ids({"x": 1.0}, docs) == [0, 1]
    assert ids({"x": {"$lte": 1}}, docs) == [0, 1, 5]
    assert ids({"x": 0}, docs) == [5]
    assert ids({"x": {"$in": [1, "1"]}}, docs) == [0, 1, 4]


def test_list_equality_keeps_bools_apart_from_numbers() -> None:
    docs = [{"t": [True]}, {"t": [1]}, {"t": [1.0]}, {"t": [True, "a"]}, {"t": True}]
    assert ids({"t": [1]}, docs) == [1, 2]
    assert ids({"t": [True]}, docs) == [0]
    assert ids({"t": {"$eq": [True, "a"]}}, docs) == [3]
    assert ids({"t": {"$contains": 1.0}}, docs) == [1, 2]


def test_contains_when_elements_outnumber_nothing_but_labels() -> None:
    # as many list elements as labels, yet not one per label
    assert ids({"t": {"$contains": "a"}}, [{"t": ["a", "a"]}, {}]) == [0]
    assert ids({"t": {"$contains": "b"}}, [{"t": ["a", "b"]}, {"t": "b"}]) == [0]


def test_string_ordering_includes_equal_strings() -> None:
    assert ids({"lang": {"$gte": "ko"}}) == [0, 2]
    assert ids({"lang": {"$lt": "ko"}}) == [1, 5]
    assert ids({"lang": {"$lte": "en"}}) == [1]
    assert ids({"lang": {"$gt": "가"}}) == []
    assert ids({"k": {"$gt": "가"}}, [{"k": "나"}, {"k": "z"}, {"k": "가"}]) == [0]


def test_lists_of_strings_keep_order_and_labels() -> None:
    docs = [{"t": ["a", "b"]}, {"t": ["b", "a"]}, {"t": ["b"]}, {"t": []}, {"t": ["a", "a", "c"]}]
    assert ids({"t": ["a", "b"]}, docs) == [0]
    assert ids({"t": ["b", "a"]}, docs) == [1]
    assert ids({"t": {"$contains": "b"}}, docs) == [0, 1, 2]
    assert ids({"t": {"$contains": "c"}}, docs) == [4]
    assert ids({"t": {"$ne": []}}, docs) == [0, 1, 2, 4]


def test_in_with_many_targets() -> None:
    docs = [{"s": f"w{i}", "x": i, "m": [f"w{i}", i][i % 2]} for i in range(30)] + [{}]
    words = [f"w{i}" for i in range(0, 30, 3)] + ["absent", 2]
    numbers = [float(i) for i in range(1, 30, 4)] + [100, 200, "w1", True]
    assert ids({"s": {"$in": words}}, docs) == list(range(0, 30, 3))
    assert ids({"s": {"$nin": words}}, docs) == [i for i in range(31) if i % 3 or i == 30]
    assert ids({"x": {"$in": numbers}}, docs) == list(range(1, 30, 4))
    assert ids({"m": {"$in": words + numbers}}, docs) == [
        0,
        1,
        5,
        6,
        9,
        12,
        13,
        17,
        18,
        21,
        24,
        25,
        29,
    ]
    # ordering over many distinct strings: "w2" <= "w20" < ... < "w29" < "w3" < ... < "w9"
    assert ids({"s": {"$gte": "w2"}}, docs) == list(range(2, 10)) + list(range(20, 30))
    assert ids({"s": {"$lt": "w10"}}, docs) == [0, 1]


def test_dense_key_covering_every_label() -> None:
    docs = [{"year": 2000 + i % 7, "lang": ["ko", "en"][i % 2]} for i in range(50)]
    assert ids({"year": {"$gte": 2005}}, docs) == [i for i in range(50) if i % 7 >= 5]
    assert ids({"lang": {"$ne": "ko"}}, docs) == list(range(1, 50, 2))
    assert ids({"year": {"$exists": True}}, docs) == list(range(50))


def test_numpy_scalars_are_accepted_as_operands() -> None:
    expr = compile_where(
        {"year": {"$gte": np.int64(2020), "$lt": np.float32(2022.5)}, "flag": np.bool_(True)}
    )
    assert ids({"year": {"$gte": 2020, "$lt": 2022.5}, "flag": True}) == [0]
    assert np.flatnonzero(columns_of(DOCS).mask(expr)).tolist() == [0]


def test_compile_where_normalises_structure() -> None:
    assert compile_where({}) == MatchAll()
    assert compile_where({"a": 1}) == Compare("a", "$eq", 1)
    assert compile_where({"a": [1, "x"]}) == Compare("a", "$eq", (1, "x"))
    assert compile_where({"a": {"$gt": 1, "$lt": 5}}) == And(
        (Compare("a", "$gt", 1), Compare("a", "$lt", 5))
    )
    assert compile_where({"$or": [{"a": 1}, {"b": {"$in": [1, 2]}}]}) == Or(
        (Compare("a", "$eq", 1), Compare("b", "$in", (1, 2)))
    )


def test_append_and_append_json_give_identical_masks() -> None:
    rng = np.random.default_rng(0)
    docs = []
    for i in range(500):
        doc: dict[str, Any] = {}
        if rng.random() < 0.8:
            doc["year"] = (
                int(rng.integers(1990, 2025))
                if rng.random() < 0.7
                else float(rng.random() * 30 + 1990)
            )
        if rng.random() < 0.5:
            doc["lang"] = str(rng.choice(["ko", "en", "ja"]))
        if rng.random() < 0.3:
            doc["tags"] = [
                str(t) for t in rng.choice(["a", "b", "c", "d"], size=int(rng.integers(0, 3)))
            ]
        docs.append(doc)
    by_dict, by_json = columns_of(docs, 64), json_columns_of(docs, 100)
    assert by_dict.n == by_json.n == 500
    for where in [
        {"year": {"$gte": 2000, "$lt": 2010.5}},
        {"lang": {"$in": ["ko", "ja"]}, "tags": {"$contains": "a"}},
        {"$or": [{"lang": {"$ne": "en"}}, {"tags": ["a", "b"]}]},
        {"lang": {"$gt": "ja"}},
    ]:
        expected = reference_mask(docs, where)
        np.testing.assert_array_equal(by_dict.mask(compile_where(where)), expected)
        np.testing.assert_array_equal(by_json.mask(compile_where(where)), expected)


def test_append_json_accepts_chunked_arrays_and_nulls() -> None:
    rows = pa.chunked_array([pa.array(['{"a": 1}', None]), pa.array(["{}", '{"a": [1]}'])])
    columns = MetadataColumns()
    columns.append_json(rows)
    assert columns.n == 4
    assert columns.mask(compile_where({"a": {"$exists": False}})).tolist() == [
        False,
        True,
        True,
        False,
    ]


@pytest.mark.parametrize("bad", ['{"a": ', "[1, 2]", '"text"', '{"a": 1}, {"b": 2}', " ", "1"])
def test_append_json_rejects_damaged_rows(bad: str) -> None:
    columns = MetadataColumns()
    with pytest.raises(CorruptionError):
        columns.append_json(pa.array(['{"a": 1}', bad]))
    assert columns.n == 0


@pytest.mark.parametrize(
    "batch",
    [
        [{"a": 1}, {"a": {"nested": 1}}],
        [{"a": 1}, {"a": [1, [2]]}],
        [{"a": 1}, {"a": 10**400}],
        [{"a": 1}, "not a dict"],
        [{"a": 1}, {"": 1}],
        [{"a": 1}, {3: 1}],
    ],
)
def test_failed_append_changes_nothing(batch: list[Any]) -> None:
    columns = columns_of([{"a": 2, "b": "x"}, {"a": 1}])
    with pytest.raises(InvalidInputError):
        columns.append(batch)
    assert columns.n == 2
    assert columns.mask(compile_where({"a": 1})).tolist() == [False, True]
    assert columns.mask(compile_where({"a": {"$exists": False}})).tolist() == [False, False]
    columns.append([{"a": 1}])
    assert columns.mask(compile_where({"a": 1})).tolist() == [False, True, True]


def test_empty_collection_and_unknown_keys() -> None:
    columns = MetadataColumns()
    assert columns.mask(compile_where({"a": 1})).shape == (0,)
    columns.append([{}, {}])
    assert columns.mask(compile_where({"a": {"$nin": [1]}})).tolist() == [True, True]
    assert columns.mask(compile_where({"a": {"$lt": "z"}})).tolist() == [False, False]


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("where", "says"),
    [
        (None, "Expected a dict at where, found NoneType"),
        ([{"a": 1}], "Expected a dict at where, found list"),
        ("a = 1", "Expected a dict at where, found str"),
        ({"": 1}, "non-empty string key"),
        ({1: 1}, "non-empty string key"),
        ({"$foo": 1}, "Unknown operator '$foo'"),
        ({"$eq": 1}, "Unknown operator '$eq'"),
        ({"a": {"$foo": 1}}, "Unknown operator '$foo'"),
        ({"a": {"$gt": 1, "x": 2}}, "starting with '$'"),
        ({"a": {}}, "at least one operator"),
        ({"a": {"b": 1}}, "starting with '$'"),
        ({"a": {1, 2}}, "Expected a scalar, a list of scalars or an operator dict"),
        ({"a": object()}, "Expected a scalar"),
        ({"a": [1, [2]]}, "only str, int, float, bool or None items"),
        ({"a": [{"b": 1}]}, "only str, int, float, bool or None items"),
        ({"$and": []}, "non-empty list of dicts for $and"),
        ({"$or": {"a": 1}}, "non-empty list of dicts for $or"),
        ({"$and": {"a": 1}}, "non-empty list of dicts for $and"),
        ({"$or": [{"a": 1}, "b"]}, "Expected a dict at where['$or'][1], found str"),
        ({"$and": [{"a": {"$gt": None}}]}, "Expected a number, str or bool for $gt"),
        ({"a": {"$gt": [1]}}, "Expected a number, str or bool for $gt"),
        ({"a": {"$lte": {"x": 1}}}, "Expected a number, str or bool for $lte"),
        ({"a": {"$gte": None}}, "Expected a number, str or bool for $gte"),
        ({"a": {"$lt": object()}}, "Expected a number, str or bool for $lt"),
        ({"a": {"$eq": {"x": 1}}}, "for $eq"),
        ({"a": {"$ne": [[1]]}}, "for $ne"),
        ({"a": {"$in": 1}}, "Expected a list of scalars for $in"),
        ({"a": {"$in": "ab"}}, "Expected a list of scalars for $in"),
        ({"a": {"$in": []}}, "non-empty list of scalars for $in"),
        ({"a": {"$nin": [1, [2]]}}, "items in the list for $nin"),
        ({"a": {"$nin": None}}, "Expected a list of scalars for $nin"),
        ({"a": {"$exists": 1}}, "True or False for $exists"),
        ({"a": {"$exists": "yes"}}, "True or False for $exists"),
        ({"a": {"$contains": ["x"]}}, "for $contains"),
        ({"a": {"$contains": {"x": 1}}}, "for $contains"),
        ({"a": {"$gt": 10**400}}, "float64 range"),
    ],
)
def test_filter_errors(where: Any, says: str) -> None:
    with pytest.raises(FilterError) as info:
        compile_where(where)
    assert says in str(info.value)
    assert isinstance(info.value, InvalidInputError) and isinstance(info.value, ValueError)


def test_error_message_names_the_place_and_the_found_value() -> None:
    with pytest.raises(
        FilterError, match=r"\$gt at where\['\$or'\]\[0\]\['year'\]\['\$gt'\], found list: \[2020\]"
    ):
        compile_where({"$or": [{"year": {"$gt": [2020]}}]})


junk_keys = st.one_of(
    st.sampled_from(["a", "$and", "$or", "$in", "$gt", "$exists", "$contains", "", "$x"]),
    st.integers(),
)
junk = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=3), st.just(object())
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(junk_keys, inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(where=junk)
def test_compile_where_raises_only_filter_error(where: Any) -> None:
    try:
        expr = compile_where(where)
    except FilterError:
        return
    columns_of(DOCS).mask(expr)  # whatever compiles also evaluates


def test_saved_columns_of_the_older_format_are_not_used(tmp_path):
    """Format 1 could mark an element's repeated labels dense ({"tags": ["x", "x", "x"]} over 3 rows
    matched every row); such a save is rebuilt from the segments, not read."""
    import json

    from gyeol._checksum import seal_json
    from gyeol.filters.saved import load_columns, save_columns

    metadatas = [{"a": None}, {}, {"tags": ["x", "x", "x"]}]
    assert save_columns(tmp_path, columns_of(metadatas), 3)
    restored = load_columns(tmp_path, 3, 3)
    assert restored is not None
    np.testing.assert_array_equal(restored.mask(compile_where({"tags": {"$contains": "x"}})), [False, False, True])
    meta_path = tmp_path / "columns.json"
    meta = json.loads(meta_path.read_text())
    meta.pop("crc32")
    del meta["columns_format"]
    meta_path.write_bytes(seal_json(meta))
    assert load_columns(tmp_path, 3, 3) is None
