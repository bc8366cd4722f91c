"""The first half hour of a new user: vector-only search, Results slices, numpy/pandas inputs, progress."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from conftest import DIM, HashEmbedder, exact_search, new_collection

import gyeol
from gyeol import progress as progress_mod


@pytest.fixture
def col(rng):
    db = gyeol.connect()
    col = new_collection(db)
    vectors = rng.standard_normal((30, DIM)).astype(np.float32)
    ids = [f"d{i}" for i in range(30)]
    col.add([f"text {i} word{i % 3}" for i in range(30)], ids=ids, vectors=vectors,
            metadata=[{"i": i} for i in range(30)])
    return col, ids, vectors


def test_vector_alone_runs_a_vector_search_in_the_default_mode(col, rng):
    col, ids, vectors = col
    q = rng.standard_normal(DIM).astype(np.float32)
    expected = exact_search(ids, vectors, q, "cosine", 5)[0]
    assert col.search(vector=q, k=5).ids == expected
    assert col.search(vector=q, k=5, mode="vector").ids == expected
    with pytest.raises(gyeol.InvalidInputError):
        col.search(vector=q, k=5, mode="keyword")


def test_a_slice_of_results_is_results(col, rng):
    col, _, _ = col
    res = col.search(vector=rng.standard_normal(DIM), k=10)
    top = res[:3]
    assert isinstance(top, gyeol.Results)
    assert top.ids == res.ids[:3]
    assert [h.text for h in top] == [h.text for h in res][:3]
    assert list(top.to_pandas()["id"]) == res.ids[:3]
    assert top.to_arrow().column("id").to_pylist() == res.ids[:3]
    assert res[::-1].ids == res.ids[::-1]
    assert res[1:2].scores == [res[1].score]
    assert res[5:5].ids == [] and len(res[20:]) == 0
    rows = res[:2].to_list()
    assert rows[0]["id"] == res.ids[0] and rows[0]["metadata"] == res[0].metadata


def test_texts_from_numpy_and_pandas_and_numpy_metadata_stored_as_python():
    db = gyeol.connect()
    col = db.create_collection("c", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add(np.array(["alpha beta", "gamma"]), ids=np.array(["a", "b"]),
            metadata=[{"n": np.int64(3), "f": np.float32(0.5), "ok": np.bool_(True), "s": np.str_("x")},
                      {"l": [np.int32(1), np.int64(2)], "arr": np.array([1.5, 2.5])}])
    col.add(pd.Series(["delta", "epsilon"]), ids=pd.Series(["c", "d"]))
    docs = col.get(["a", "b", "c"])
    assert [d.text for d in docs] == ["alpha beta", "gamma", "delta"]
    meta = docs[0].metadata
    assert meta == {"n": 3, "f": 0.5, "ok": True, "s": "x"}
    assert [type(meta[k]) for k in ("n", "f", "ok", "s")] == [int, float, bool, str]
    assert docs[1].metadata == {"l": [1, 2], "arr": [1.5, 2.5]}
    assert col.get(where={"n": 3})[0].id == "a"


def test_texts_as_a_tuple(tmp_path):
    with gyeol.connect(tmp_path / "kb") as db:
        col = db.create_collection("c", embedder=HashEmbedder(), tokenizer="whitespace")
        texts = ("alpha beta", np.str_("gamma delta"), "epsilon")
        ids = col.add(texts)  # ids generated, one per text, in order
        assert len(ids) == 3 and len(set(ids)) == 3 and texts == ("alpha beta", "gamma delta", "epsilon")
        col.add(("zeta",), ids=("z",), metadata=({"n": np.int64(1)},))
        col.upsert(("eta theta",), ids=("z",))
        docs = col.get([*ids, "z"])
        assert [d.text for d in docs] == ["alpha beta", "gamma delta", "epsilon", "eta theta"]
        assert [type(d.text) for d in docs] == [str] * 4
        assert col.search("gamma", mode="keyword", k=1).ids == [ids[1]]
        assert col.search("gamma delta", mode="vector", k=1).ids == [ids[1]]
        listed = gyeol.connect().create_collection("l", embedder=HashEmbedder(), tokenizer="whitespace")
        listed.add(list(texts), ids=ids)  # the same texts as a list: the same rows, vectors included
        assert col.to_list(columns=["id", "text", "vector"])[:3] == listed.to_list(columns=["id", "text", "vector"])
    with gyeol.connect(tmp_path / "kb", read_only=True) as db:
        again = db.get_collection("c", embedder=HashEmbedder())
        assert again.count() == 4 and again.get(["z"])[0].text == "eta theta"


@pytest.mark.parametrize("bad", [
    np.array([["a", "b"]]),                   # 2-d
    np.array([1, 2]),                          # not texts
])
def test_bad_array_texts_are_refused_and_change_nothing(bad):
    db = gyeol.connect()
    col = db.create_collection("c", embedder=HashEmbedder(), tokenizer="whitespace")
    with pytest.raises(gyeol.InvalidInputError):
        col.add(bad)
    with pytest.raises(gyeol.InvalidInputError):
        col.add(["x"], metadata=[{"v": np.float64("nan")}])
    with pytest.raises(gyeol.InvalidInputError):
        col.add(["x"], metadata=[{"v": np.array([[1, 2]])}])
    assert col.count() == 0


def test_dir_lists_every_public_name():
    names = dir(gyeol)
    for name in gyeol.__all__:
        assert name in names, name
    assert "load_sample" in names and "set_progress" in names
    # the types examples/app.py annotates with, resolved lazily to the classes they name
    from gyeol.chunking import Chunk
    from gyeol.context import Context
    from gyeol.documents import IngestReport

    for name, cls in (("Context", Context), ("IngestReport", IngestReport), ("Chunk", Chunk)):
        assert name in names and name in gyeol.__all__ and getattr(gyeol, name) is cls, name


def test_progress_is_switchable(monkeypatch, progress_bars):
    seen = progress_bars
    from gyeol.engine.embedding import EMBED_BATCH, embed_batched

    embed_batched(HashEmbedder().embed, ["a"] * (EMBED_BATCH + 1), DIM)
    assert seen and seen[-1][0] == EMBED_BATCH + 1 and seen[-1][2] == progress_mod.DELAY_S
    seen.clear()
    embed_batched(HashEmbedder().embed, ["a"] * 10, DIM)  # one call: never a bar
    assert not seen
    gyeol.set_progress(False)
    try:
        embed_batched(HashEmbedder().embed, ["a"] * (EMBED_BATCH + 1), DIM)
        assert not seen
    finally:
        monkeypatch.setattr(progress_mod, "_enabled", None)
    monkeypatch.setenv("GYEOL_PROGRESS", "0")
    assert not progress_mod.progress_enabled()
    with pytest.raises(gyeol.InvalidInputError):
        gyeol.set_progress("no")


def test_first_keyword_build_reports_progress(monkeypatch, progress_bars):
    from gyeol.engine import keyword_side

    monkeypatch.setattr(keyword_side, "TOKENIZE_PART", 4)
    db = gyeol.connect()
    col = new_collection(db)
    texts = [f"w{i} common" for i in range(11)]
    col.add(texts, ids=[str(i) for i in range(11)], vectors=np.eye(DIM, dtype=np.float32)[:11] + 0.1)
    assert col.search("w7", mode="keyword", k=1).ids == ["7"]  # parts tokenized in order
    assert any("tokenizing 11" in desc for _, desc, _ in progress_bars)


def test_without_tqdm_progress_logs(monkeypatch, caplog):
    import builtins

    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)
    with caplog.at_level(logging.INFO, logger="gyeol"):
        with progress_mod.progress(3, "demo", enabled=True) as bar:
            bar.update(3)
    assert "demo: 3 of 3" in caplog.text


def test_collection_tables(col):
    col, ids, _ = col
    assert list(col.to_pandas(limit=3)["id"]) == ids[:3]
    assert col.to_arrow(where={"i": 4}).column("id").to_pylist() == ["d4"]
    assert "d0" in col._repr_html_()
