"""Every error of API.md this layer raises, each with proof that the failed call changed nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import DIM, HashEmbedder, new_collection, random_vectors, snapshot, start_helper

import gyeol
from gyeol.errors import (
    BackendUnavailableError,
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptionError,
    DimensionMismatchError,
    DuplicateIdError,
    FilterError,
    GyeolError,
    InvalidInputError,
    ReadOnlyError,
    StorageLockedError,
)

N = 12


@pytest.fixture
def populated(db_path):
    """A persisted collection of N documents (ids s0..s11), with its database."""
    db = gyeol.connect(db_path)
    col = new_collection(db, embedder=HashEmbedder())
    rng = np.random.default_rng(7)
    col.add(
        [f"stored doc {i}" for i in range(N)],
        ids=[f"s{i}" for i in range(N)],
        metadata=[{"i": i, "tags": ["a", "b"]} for i in range(N)],
        vectors=random_vectors(rng, N),
    )
    col.delete(["s11"])
    yield db, col
    db.close()


def state(col: gyeol.Collection, path: Path | None) -> tuple[Any, ...]:
    """Everything a failed call must leave as it was: count, documents, vectors, search, files."""
    docs = col.get(include_vectors=True)
    probe = np.ones(col.dim, dtype=np.float32)
    hits = col.search(vector=probe, k=5, mode="vector")
    return (
        col.count(),
        [(d.id, d.text, json.dumps(d.metadata, sort_keys=True), d.vector.tobytes()) for d in docs],
        hits.ids,
        hits.scores,
        snapshot(path) if path is not None else None,
    )


def assert_refused(col: gyeol.Collection, path: Path | None, call: Callable[[], Any], error: type,
                   match: str | None = None) -> None:
    before = state(col, path)
    with pytest.raises(error, match=match) as info:
        call()
    assert isinstance(info.value, GyeolError)
    assert str(info.value), "an error must say what was expected and what was found"
    assert state(col, path) == before


def vecs(n: int, dim: int = DIM, fill: float = 0.5) -> np.ndarray:
    out = np.random.default_rng(n * 31 + dim).standard_normal((n, dim)).astype(np.float32)
    return out + fill


# --------------------------------------------------------------------------- the tree


def test_error_hierarchy_matches_the_api():
    assert issubclass(InvalidInputError, ValueError)
    for cls in (DimensionMismatchError, DuplicateIdError, FilterError):
        assert issubclass(cls, InvalidInputError)
    assert issubclass(CollectionNotFoundError, KeyError)
    assert issubclass(BackendUnavailableError, ImportError)
    for cls in (InvalidInputError, CollectionNotFoundError, CollectionExistsError, StorageLockedError,
                ReadOnlyError, CorruptionError, BackendUnavailableError):
        assert issubclass(cls, GyeolError)
        assert getattr(gyeol, cls.__name__) is cls
    assert str(CollectionNotFoundError("no collection named 'x'")) == "no collection named 'x'"


# --------------------------------------------------------------------------- bad writes

BAD_WRITES: dict[str, tuple[Callable[[gyeol.Collection], Any], type, str | None]] = {
    "add wrong dimension": (lambda c: c.add(["x"], ids=["n1"], vectors=vecs(1, DIM + 1)), DimensionMismatchError,
                            str(DIM + 1)),
    "upsert wrong dimension": (lambda c: c.upsert(["x"], ids=["s1"], vectors=vecs(1, DIM - 1)),
                               DimensionMismatchError, str(DIM)),
    "add 1-d vector": (lambda c: c.add(["x"], ids=["n1"], vectors=vecs(1)[0]), InvalidInputError, "2-dimensional"),
    "add NaN vector": (lambda c: c.add(["x", "y"], ids=["n1", "n2"],
                                       vectors=np.where(np.eye(2, DIM, dtype=bool), np.nan, 1.0)),
                       InvalidInputError, "NaN"),
    "upsert inf vector": (lambda c: c.upsert(["x"], ids=["s0"], vectors=np.full((1, DIM), np.inf)),
                          InvalidInputError, "infinite"),
    "add non-numeric vector": (lambda c: c.add(["x"], ids=["n1"], vectors=[["a"] * DIM]), InvalidInputError, None),
    "add zero vector with cosine": (lambda c: c.add(["x", "y"], ids=["n1", "n2"],
                                                    vectors=np.vstack([vecs(1), np.zeros((1, DIM))])),
                                    InvalidInputError, "zero"),
    "more texts than ids": (lambda c: c.add(["x", "y"], ids=["n1"], vectors=vecs(2)), InvalidInputError, "1 ids"),
    "more ids than texts": (lambda c: c.add(["x"], ids=["n1", "n2"], vectors=vecs(1)), InvalidInputError, None),
    "fewer vectors than texts": (lambda c: c.add(["x", "y"], ids=["n1", "n2"], vectors=vecs(1)),
                                 InvalidInputError, "rows"),
    "more vectors than texts": (lambda c: c.upsert(["x"], ids=["n1"], vectors=vecs(3)), InvalidInputError, None),
    "fewer metadata than texts": (lambda c: c.add(["x", "y"], ids=["n1", "n2"], metadata=[{}], vectors=vecs(2)),
                                  InvalidInputError, "metadata"),
    "duplicate ids in add": (lambda c: c.add(["x", "y"], ids=["n1", "n1"], vectors=vecs(2)), DuplicateIdError, "n1"),
    "duplicate ids in upsert": (lambda c: c.upsert(["x", "y"], ids=["s1", "s1"], vectors=vecs(2)),
                                DuplicateIdError, "s1"),
    "add of a stored id": (lambda c: c.add(["new", "old"], ids=["n1", "s3"], vectors=vecs(2)), DuplicateIdError,
                           "s3"),
    "empty id": (lambda c: c.add(["x"], ids=[""], vectors=vecs(1)), InvalidInputError, "non-empty"),
    "int id": (lambda c: c.add(["x"], ids=[5], vectors=vecs(1)), InvalidInputError, "5"),
    "None id": (lambda c: c.upsert(["x"], ids=[None], vectors=vecs(1)), InvalidInputError, "None"),
    "bytes id": (lambda c: c.add(["x"], ids=[b"n1"], vectors=vecs(1)), InvalidInputError, None),
    "dict metadata value": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": {"b": 1}}], vectors=vecs(1)),
                            InvalidInputError, "dict"),
    "object metadata value": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": object()}], vectors=vecs(1)),
                              InvalidInputError, "object"),
    "set metadata value": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": {1, 2}}], vectors=vecs(1)),
                           InvalidInputError, "set"),
    "NaN metadata value": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": float("nan")}], vectors=vecs(1)),
                           InvalidInputError, "finite"),
    "inf metadata value": (lambda c: c.upsert(["x"], ids=["s1"], metadata=[{"a": float("-inf")}], vectors=vecs(1)),
                           InvalidInputError, "finite"),
    "NaN inside a metadata list": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": [1.0, float("nan")]}],
                                                   vectors=vecs(1)), InvalidInputError, None),
    "nested metadata list": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": [[1, 2]]}], vectors=vecs(1)),
                             InvalidInputError, "list"),
    "dict inside a metadata list": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": [{"b": 1}]}],
                                                    vectors=vecs(1)), InvalidInputError, "dict"),
    # numpy scalars are stored as Python values (issue 12); a non-finite one is still refused
    "numpy NaN metadata": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"a": np.float32("nan")}], vectors=vecs(1)),
                           InvalidInputError, "finite"),
    "non-str metadata key": (lambda c: c.add(["x"], ids=["n1"], metadata=[{1: "a"}], vectors=vecs(1)),
                             InvalidInputError, "key"),
    "empty metadata key": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"": 1}], vectors=vecs(1)),
                           InvalidInputError, "key"),
    "metadata key reserved for filters": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"$and": 1}],
                                                          vectors=vecs(1)), InvalidInputError, "reserved"),
    "lone surrogate in a text": (lambda c: c.add(["fine", "bad \ud800"], ids=["n1", "n2"], vectors=vecs(2)),
                                 InvalidInputError, r"texts\[1\]"),
    "lone surrogate in an id": (lambda c: c.upsert(["x"], ids=["\udc80"], vectors=vecs(1)), InvalidInputError,
                                "Unicode"),
    "lone surrogate in metadata": (lambda c: c.add(["x"], ids=["n1"], metadata=[{"k": ["\ud800"]}],
                                                   vectors=vecs(1)), InvalidInputError, "Unicode"),
    "metadata entry not a dict": (lambda c: c.add(["x"], ids=["n1"], metadata=["a=1"], vectors=vecs(1)),
                                  InvalidInputError, "dict"),
    "bare string texts": (lambda c: c.add("hello", ids=["n1"]), InvalidInputError, "list"),
    "bare string ids": (lambda c: c.add(["x"], ids="n1", vectors=vecs(1)), InvalidInputError, "list"),
    "bare dict metadata": (lambda c: c.add(["x"], ids=["n1"], metadata={"a": 1}, vectors=vecs(1)),
                           InvalidInputError, "list"),
    "non-str text": (lambda c: c.add([3], ids=["n1"], vectors=vecs(1)), InvalidInputError, "str"),
    "upsert without ids": (lambda c: c.upsert(["x"], ids=None, vectors=vecs(1)), InvalidInputError, "ids"),
    "add with nothing": (lambda c: c.add(ids=["n1"]), InvalidInputError, None),
    "bare string ids to delete": (lambda c: c.delete("s1"), InvalidInputError, "list"),
    "delete with no selector": (lambda c: c.delete(), InvalidInputError, None),
    "delete with a bad id": (lambda c: c.delete(["s1", 7]), InvalidInputError, None),
    "embedder gives a wrong dimension": (lambda c: _with_embedder(c, lambda t: np.ones((len(t), DIM + 2))),
                                         DimensionMismatchError, None),
    "embedder gives NaN": (lambda c: _with_embedder(c, lambda t: np.full((len(t), DIM), np.nan)),
                           InvalidInputError, "NaN"),
    "embedder gives too few rows": (lambda c: _with_embedder(c, lambda t: np.ones((1, DIM))),
                                    InvalidInputError, "shape"),
}


def _with_embedder(col: gyeol.Collection, fn: Callable[[list[str]], Any]) -> None:
    """Add two texts through a misbehaving embedder (restoring the good one afterwards)."""
    from gyeol.embedders import CallableEmbedder

    good = col._embedder
    col._embedder = CallableEmbedder(fn)
    try:
        col.add(["first text", "second text"], ids=["n1", "n2"])
    finally:
        col._embedder = good


@pytest.mark.parametrize("case", list(BAD_WRITES))
def test_bad_write_raises_and_changes_nothing(case, populated, db_path):
    db, col = populated
    call, error, match = BAD_WRITES[case]
    assert_refused(col, db_path, lambda: call(col), error, match)
    # the collection is still fully usable, and the refused ids were never taken
    col.add(["after"], ids=["n1"], vectors=vecs(1))
    assert col.count() == N
    assert [d.text for d in col.get(["n1"])] == ["after"]


def test_refused_writes_change_nothing_after_reopen(populated, db_path):
    db, col = populated
    before = state(col, None)
    for call, error, _ in BAD_WRITES.values():
        with pytest.raises(error):
            call(col)
    db.close()
    with gyeol.connect(db_path) as again:
        assert state(again.get_collection("docs"), None) == before


def test_an_embedder_that_raises_changes_nothing(populated, db_path):
    db, col = populated

    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model exploded")

    from gyeol.embedders import CallableEmbedder

    col._embedder = CallableEmbedder(broken)
    before = state(col, db_path)
    with pytest.raises(RuntimeError, match="exploded"):
        col.add(["x"], ids=["n1"])
    assert state(col, db_path) == before


# --------------------------------------------------------------------------- bad reads and searches

BAD_SEARCHES: dict[str, tuple[Callable[[gyeol.Collection], Any], type, str | None]] = {
    "k = 0": (lambda c: c.search(vector=vecs(1)[0], k=0, mode="vector"), InvalidInputError, "k"),
    "k < 0": (lambda c: c.search(vector=vecs(1)[0], k=-3, mode="vector"), InvalidInputError, "-3"),
    "k float": (lambda c: c.search(vector=vecs(1)[0], k=2.5, mode="vector"), InvalidInputError, None),
    "k bool": (lambda c: c.search(vector=vecs(1)[0], k=True, mode="vector"), InvalidInputError, None),
    "k None": (lambda c: c.search(vector=vecs(1)[0], k=None, mode="vector"), InvalidInputError, None),
    "unknown mode": (lambda c: c.search("doc", mode="semantic"), InvalidInputError, "semantic"),
    "unknown fusion": (lambda c: c.search("doc", fusion="max"), InvalidInputError, "max"),
    "alpha out of range": (lambda c: c.search("doc", alpha=1.5), InvalidInputError, "alpha"),
    "query vector wrong dimension": (lambda c: c.search(vector=vecs(1, DIM + 3)[0], mode="vector"),
                                     DimensionMismatchError, None),
    "query vector NaN": (lambda c: c.search(vector=np.full(DIM, np.nan), mode="vector"), InvalidInputError, "NaN"),
    "query zero vector with cosine": (lambda c: c.search(vector=np.zeros(DIM), mode="vector"), InvalidInputError,
                                      "zero"),
    "no query at all": (lambda c: c.search(mode="vector"), InvalidInputError, None),
    "empty query text": (lambda c: c.search("   ", mode="keyword"), InvalidInputError, None),
    "lone surrogate in a query": (lambda c: c.search("stored \udfff", mode="keyword"), InvalidInputError,
                                  "Unicode"),
    "non-str query": (lambda c: c.search(42, mode="keyword"), InvalidInputError, "str"),
    "bare string to search_many": (lambda c: c.search_many("doc"), InvalidInputError, "list"),
    "queries and vectors of different lengths": (lambda c: c.search_many(["a", "b"], vectors=vecs(3)),
                                                 InvalidInputError, None),
    "keyword search without text": (lambda c: c.search(vector=vecs(1)[0], mode="keyword"), InvalidInputError,
                                    None),
    "bare string ids to get": (lambda c: c.get("s1"), InvalidInputError, "list"),
    "get limit 0": (lambda c: c.get(limit=0), InvalidInputError, None),
    "get negative offset": (lambda c: c.get(offset=-1), InvalidInputError, None),
}


@pytest.mark.parametrize("case", list(BAD_SEARCHES))
def test_bad_search_raises_and_changes_nothing(case, populated, db_path):
    db, col = populated
    call, error, match = BAD_SEARCHES[case]
    assert_refused(col, db_path, lambda: call(col), error, match)


@pytest.mark.parametrize("metric", ["ip", "l2"])
def test_zero_vector_is_fine_without_cosine(metric):
    col = new_collection(gyeol.connect(), metric=metric)
    col.add(["zero", "one"], ids=["z", "o"], vectors=np.vstack([np.zeros(DIM), np.ones(DIM)]))
    hits = col.search(vector=np.zeros(DIM), k=2, mode="vector")
    assert sorted(hits.ids) == ["o", "z"]
    if metric == "l2":
        assert hits.ids[0] == "z" and hits.scores[0] == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("mode", ["vector", "keyword", "hybrid"])
def test_search_on_an_empty_collection_gives_empty_results(mode):
    col = new_collection(gyeol.connect(), embedder=HashEmbedder())
    results = col.search("anything at all", k=5, mode=mode)
    assert isinstance(results, gyeol.Results)
    assert len(results) == 0 and results.ids == [] and list(results) == []
    assert col.search_many(["a", "b"], k=3, mode=mode) == [gyeol.Results.empty()] * 2


def test_search_after_deleting_everything_gives_empty_results(rng):
    col = new_collection(gyeol.connect())
    col.add(["a b", "b c"], ids=["x", "y"], vectors=random_vectors(rng, 2))
    col.delete(["x", "y"])
    assert len(col.search("a b", vector=random_vectors(rng, 1)[0], k=3)) == 0
    assert len(col.search("a b", k=3, mode="keyword")) == 0


# --------------------------------------------------------------------------- bad collection options


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"metric": "dot"}, InvalidInputError, "dot"),
        ({"metric": "COSINE"}, InvalidInputError, None),
        ({"tier": "ssd"}, InvalidInputError, "ssd"),
        ({"device": "tpu"}, InvalidInputError, "tpu"),
        ({"dim": 0}, InvalidInputError, "dim"),
        ({"dim": -4}, InvalidInputError, "dim"),
        ({"dim": 3.0}, InvalidInputError, "dim"),
        ({"dim": None}, InvalidInputError, "dim"),
        ({"index": 42}, InvalidInputError, "index"),
        ({"index": "NotAFaissIndex"}, InvalidInputError, None),
        ({"tokenizer": "spaces"}, InvalidInputError, "spaces"),
        ({"bm25": {"k1": 1.2}}, InvalidInputError, "BM25"),
        ({"embedder": 17}, InvalidInputError, "embedder"),
        ({"embedder": ""}, InvalidInputError, None),
    ],
)
def test_bad_collection_options_create_nothing(kwargs, error, match, db_path):
    db = gyeol.connect(db_path)
    new_collection(db, "keep")
    before = snapshot(db_path)
    options = {"embedder": None, "dim": DIM, "tokenizer": "whitespace"}
    options.update(kwargs)
    with pytest.raises(error, match=match):
        db.create_collection("new", **options)
    assert db.list_collections() == ["keep"]
    assert snapshot(db_path) == before
    db.close()


@pytest.mark.parametrize("name", ["", "   ", None, 5, "x" * 257])
def test_bad_collection_names(name):
    db = gyeol.connect()
    with pytest.raises(InvalidInputError):
        db.create_collection(name, embedder=None, dim=DIM, tokenizer="whitespace")
    assert db.list_collections() == []


def test_gpu_without_a_gpu_is_backend_unavailable(db_path):
    from gyeol.index.device import gpu_count

    if gpu_count() > 0:
        pytest.skip("a GPU is present here")
    db = gyeol.connect(db_path)
    before = snapshot(db_path)
    with pytest.raises(BackendUnavailableError, match="gpu"):
        new_collection(db, device="gpu")
    assert snapshot(db_path) == before and db.list_collections() == []
    col = new_collection(db, device="auto")
    assert col.device == "cpu"
    with pytest.raises(BackendUnavailableError):
        db.get_collection("docs", device="gpu")
    db.close()


def test_get_collection_with_unknown_tier_or_device(populated, db_path):
    db, col = populated
    before = state(col, db_path)
    with pytest.raises(InvalidInputError, match="ssd"):
        db.get_collection("docs", tier="ssd")
    with pytest.raises(InvalidInputError, match="tpu"):
        db.get_collection("docs", device="tpu")
    assert state(col, db_path) == before


def test_connect_with_bad_paths(tmp_path):
    with pytest.raises(InvalidInputError):
        gyeol.connect(42)
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(InvalidInputError, match="not a directory"):
        gyeol.connect(tmp_path / "file")
    with pytest.raises(InvalidInputError, match="does not exist"):
        gyeol.connect(tmp_path / "absent", read_only=True)
    assert not (tmp_path / "absent").exists()
    with pytest.raises(InvalidInputError):
        gyeol.connect(read_only=True)


@pytest.mark.parametrize("damage", ["manifest", "catalog", "segment", "tombstone", "segment gone"])
def test_damaged_data_raises_corruption_error(damage, populated, db_path):
    db, col = populated
    db.close()
    (folder,) = (db_path / "collections").iterdir()
    if damage == "manifest":
        (folder / "manifest.json").write_text('{"format": 1, "version": ')
    elif damage == "catalog":
        (db_path / "catalog.json").write_text("[not, json")
    else:
        kind = "tomb" if damage == "tombstone" else "seg"
        path = sorted((folder / "data").glob(f"{kind}-*.parquet"))[0]
        if damage == "segment gone":
            path.unlink()
        else:
            path.write_bytes(path.read_bytes()[: 40])
    with pytest.raises(CorruptionError):
        with gyeol.connect(db_path, read_only=True) as reader:
            reader.get_collection("docs")
    with pytest.raises(CorruptionError):
        with gyeol.connect(db_path) as writer:
            writer.get_collection("docs")


# --------------------------------------------------------------------------- collections by name


def test_collection_not_found_and_exists(populated, db_path):
    db, col = populated
    before = state(col, db_path)
    with pytest.raises(CollectionNotFoundError, match="missing") as info:
        db.get_collection("missing")
    assert isinstance(info.value, KeyError)
    with pytest.raises(CollectionNotFoundError):
        db.drop_collection("missing")
    with pytest.raises(CollectionExistsError, match="docs"):
        db.create_collection("docs", embedder=None, dim=DIM, tokenizer="whitespace")
    with pytest.raises(CollectionExistsError):  # even with other options
        db.create_collection("docs", embedder=None, dim=DIM + 1, metric="l2", tokenizer="whitespace")
    assert state(col, db_path) == before
    assert db.list_collections() == ["docs"]


def test_dropped_collection_handle_is_closed(populated, db_path):
    db, col = populated
    db.drop_collection("docs")
    with pytest.raises(GyeolError):
        col.count()
    with pytest.raises(CollectionNotFoundError):
        db.get_collection("docs")
    assert not any(p.is_dir() for p in (db_path / "collections").iterdir())


# --------------------------------------------------------------------------- closed and read-only handles


def test_use_after_close_raises(populated, db_path):
    db, col = populated
    db.close()
    before = snapshot(db_path)
    calls = [
        lambda: col.add(["x"], ids=["n1"], vectors=vecs(1)),
        lambda: col.upsert(["x"], ids=["s1"], vectors=vecs(1)),
        lambda: col.delete(["s1"]),
        lambda: col.get(["s1"]),
        lambda: col.count(),
        lambda: col.search(vector=vecs(1)[0], mode="vector"),
        lambda: col.search_many(["x"], mode="keyword"),
        lambda: col.compact(),
        lambda: db.create_collection("new", embedder=None, dim=DIM),
        lambda: db.get_collection("docs"),
        lambda: db.list_collections(),
        lambda: db.drop_collection("docs"),
    ]
    for call in calls:
        with pytest.raises(GyeolError, match="closed"):
            call()
    db.close()  # closing twice is fine
    assert snapshot(db_path) == before
    with gyeol.connect(db_path) as again:
        assert again.get_collection("docs").count() == N - 1


def test_writes_on_a_read_only_database_raise(populated, db_path):
    db, col = populated
    db.close()
    before = snapshot(db_path)
    ro = gyeol.connect(db_path, read_only=True)
    rcol = ro.get_collection("docs")
    calls = [
        lambda: rcol.add(["x"], ids=["n1"], vectors=vecs(1)),
        lambda: rcol.upsert(["x"], ids=["s1"], vectors=vecs(1)),
        lambda: rcol.delete(["s1"]),
        lambda: rcol.compact(),
        lambda: ro.create_collection("new", embedder=None, dim=DIM, tokenizer="whitespace"),
        lambda: ro.drop_collection("docs"),
    ]
    for call in calls:
        with pytest.raises(ReadOnlyError, match="read-only"):
            call()
    # reads work, including a keyword search that builds BM25 in memory only
    assert rcol.count() == N - 1
    assert rcol.search("stored doc 3", k=1, mode="keyword").ids[0] == "s3"
    assert rcol.search(vector=vecs(1)[0], k=3, mode="vector").ids
    ro.close()
    assert snapshot(db_path) == before


def test_second_writer_in_the_same_process_is_locked_out(populated, db_path):
    db, col = populated
    before = state(col, db_path)
    with pytest.raises(StorageLockedError, match="read_only=True"):
        gyeol.connect(db_path)
    assert state(col, db_path) == before
    col.add(["still writable"], ids=["n1"], vectors=vecs(1))  # the first writer keeps its lock
    db.close()
    with gyeol.connect(db_path) as second:  # and releases it on close
        assert second.get_collection("docs").count() == N


def test_a_forgotten_writer_releases_its_lock_when_collected(db_path, rng):
    import gc

    db = gyeol.connect(db_path)
    new_collection(db).add(["x"], ids=["x"], vectors=random_vectors(rng, 1))
    del db
    gc.collect()
    with gyeol.connect(db_path) as again:
        assert again.get_collection("docs").count() == 1


def test_second_writer_in_another_process_is_locked_out(populated, db_path):
    db, col = populated
    before = state(col, db_path)
    probe = start_helper("probe.py", db_path)
    try:
        probe.stdin.write("open_writer\n")
        reply = json.loads(probe.stdout.readline())
        assert reply["error"] == "StorageLockedError", reply
        assert "read_only=True" in reply["message"]
        probe.stdin.write("open_reader\nstate docs\n")
        assert json.loads(probe.stdout.readline()) == {"ok": True}
        assert json.loads(probe.stdout.readline())["count"] == N - 1
    finally:
        probe.stdin.close()
        probe.wait(timeout=30)
    assert state(col, db_path) == before


def test_lock_held_by_another_process(db_path):
    with gyeol.connect(db_path) as db:
        new_collection(db, "p", dim=8)
    holder = start_helper("probe.py", db_path)
    try:
        holder.stdin.write("open_writer\nadd p 0 5\n")
        assert json.loads(holder.stdout.readline()) == {"ok": True}
        assert json.loads(holder.stdout.readline())["count"] == 5
        before = snapshot(db_path)
        with pytest.raises(StorageLockedError):
            gyeol.connect(db_path)
        assert snapshot(db_path) == before
        holder.stdin.write("close\n")
        assert json.loads(holder.stdout.readline()) == {"ok": True}
        with gyeol.connect(db_path) as db:  # free again once the holder closed
            assert db.get_collection("p").count() == 5
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
