"""An embedder that misbehaves (wrong dim, NaN/inf, a different row count) in every call that embeds:
add, upsert, search, search_many, evaluate and reembed raise a typed error saying what was expected
and what was found, and change nothing (count, documents, files on disk). Also evaluate's own bad input."""

from __future__ import annotations

import json
import re
from typing import Any, Callable

import numpy as np
import pytest
from conftest import DIM, HashEmbedder, snapshot

import gyeol
from gyeol.errors import DimensionMismatchError, GyeolError, InvalidInputError

PROBE = "gyeol embedder probe"  # the identity probe gyeol embeds once; kept well-behaved here


class Unruly:
    """A HashEmbedder that, once `fault` is set, turns bad on every text but gyeol's identity probe."""

    def __init__(self, dim: int = DIM, name: str = "unruly") -> None:
        self.dim = dim
        self.name = name
        self.fault: str | None = None
        self._good = HashEmbedder(dim)

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = self._good.embed(texts)
        if self.fault is None or (len(texts) == 1 and texts[0].startswith(PROBE)):
            return out
        if self.fault == "wrong dim":
            return np.ones((len(texts), self.dim + 3), np.float32)
        if self.fault == "NaN":
            out[-1, 2] = np.nan
        elif self.fault == "inf":
            out[0, :] = np.inf
        elif self.fault == "too few rows":
            out = out[:-1]
        elif self.fault == "too many rows":
            out = np.vstack([out, out[:1]])
        return out

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._embed(texts)


# fault -> (error class, what the message must say: expected and found)
FAULTS: dict[str, tuple[type, str]] = {
    "wrong dim": (DimensionMismatchError, r"dimension (\d+), the collection's is (\d+)"),
    "NaN": (InvalidInputError, r"1 NaN values in 1 of \d+ rows.*expected finite"),
    "inf": (InvalidInputError, r"\d+ infinite values in 1 of \d+ rows.*expected finite"),
    "too few rows": (InvalidInputError, r"shape \((\d+), \d+\) for (\d+) texts"),
    "too many rows": (InvalidInputError, r"shape \((\d+), \d+\) for (\d+) texts"),
}

CALLS: dict[str, Callable[[gyeol.Collection, Any], Any]] = {
    "add": lambda c, e: c.add(["new text one", "new text two"], ids=["n1", "n2"]),
    "upsert": lambda c, e: c.upsert(["replaced zero", "replaced one"], ids=["s0", "s1"]),
    "search": lambda c, e: c.search("stored doc", k=3, mode="vector"),
    "hybrid search": lambda c, e: c.search("stored doc", k=3),
    "search_many": lambda c, e: c.search_many(["stored doc", "doc 3"], k=3, mode="vector"),
    "evaluate": lambda c, e: c.evaluate({"q": "stored doc 4", "r": "doc 5"}, {"q": ["s4"], "r": ["s5"]}),
    "reembed": lambda c, e: c.reembed(e, batch_size=4, progress=False),
}


@pytest.fixture
def persisted(db_path):
    db = gyeol.connect(db_path)
    embedder = Unruly()
    col = db.create_collection("docs", embedder=embedder, tokenizer="whitespace", index=gyeol.Flat())
    col.add([f"stored doc {i}" for i in range(10)], ids=[f"s{i}" for i in range(10)],
            metadata=[{"i": i} for i in range(10)])
    col.delete(["s9"])
    col.save_indexes(keyword=True)
    yield db, col, embedder
    db.close()


def state(col: gyeol.Collection) -> tuple:
    docs = col.get(include_vectors=True)
    return col.count(), col.dim, [(d.id, d.text, json.dumps(d.metadata), d.vector.tobytes()) for d in docs]


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("call", list(CALLS))
def test_bad_embedder_output_is_typed_and_changes_nothing(call, fault, persisted, db_path):
    db, col, embedder = persisted
    error, match = FAULTS[fault]
    new = Unruly(dim=DIM + 8, name="unruly-new")  # reembed's new model, probed while well-behaved
    col.search("warm up the indexes", k=2)
    before, files = state(col), snapshot(db_path)
    embedder.fault = new.fault = fault
    with pytest.raises(error, match=match) as info:
        CALLS[call](col, new)
    assert isinstance(info.value, GyeolError)
    if fault in ("wrong dim", "too few rows", "too many rows"):  # it names both figures, and they differ
        found, expected = re.search(FAULTS[fault][1], str(info.value)).groups()
        assert found != expected
    embedder.fault = None
    assert snapshot(db_path) == files
    assert state(col) == before
    col.add(["after the fault"], ids=["after"])  # still fully usable
    assert col.count() == before[0] + 1


def test_reembed_refuses_an_embedder_that_fails_its_probe(persisted, db_path):
    db, col, _ = persisted
    before, files = state(col), snapshot(db_path)
    for make, match in ((lambda t: np.full((len(t), 8), np.nan), "NaN"), (lambda t: np.ones((len(t) + 1, 8)), "shape")):
        with pytest.raises(InvalidInputError, match=match):
            col.reembed(gyeol.embedders.CallableEmbedder(make, name="broken"))
        assert snapshot(db_path) == files and state(col) == before


@pytest.mark.parametrize("queries, qrels, match", [
    ({"q": "stored doc"}, {"q": ["s1", "nope", "missing"]}, r"2 document ids not in the collection: 'missing', 'nope'"),
    ({"q": "stored doc"}, {"q": ["s9"]}, r"not in the collection: 's9'"),  # deleted
    ({}, {}, "at least one query"),
    ([], [], "at least one query"),
])
def test_evaluate_bad_input_changes_nothing(queries, qrels, match, persisted, db_path):
    db, col, _ = persisted
    col.search("warm up", k=2)
    before, files = state(col), snapshot(db_path)
    with pytest.raises(InvalidInputError, match=match):
        col.evaluate(queries, qrels)
    assert snapshot(db_path) == files and state(col) == before


def test_evaluate_skips_only_the_modes_a_collection_cannot_serve(db_path):
    """Without an embedder the vector modes are skipped; with one, a failing embedder is an error."""
    with gyeol.connect(db_path) as db:
        col = db.create_collection("plain", embedder=None, dim=DIM, tokenizer="whitespace", index=gyeol.Flat())
        col.add(["stored doc"], ids=["a"], vectors=np.ones((1, DIM)))
        report = col.evaluate({"q": "stored"}, {"q": ["a"]})
        assert [row["name"] for row in report.rows] == ["keyword"]
