"""A read-only handle reads the memory tier's saved HNSW or Flat index as views into its file (nothing
copied at open, pages shared between processes) and copies it into RAM before it adds any row: rows
the writer committed after its save, at open or while following it. FAISS aborts the process on an
add to a view, so these tests would not fail quietly: they would crash."""

from __future__ import annotations

import numpy as np
import pytest

import gyeol

DIM = 16


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _exact_top(vectors: np.ndarray, query: np.ndarray, k: int) -> list[int]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.argsort(-(unit @ (query / np.linalg.norm(query))), kind="stable")[:k].tolist()


def _inner(col):
    return col._engine.vectors.index


INDEXES = {"flat": lambda: gyeol.Flat(), "hnsw": lambda: gyeol.HNSW(ef_search=256, recall_target=None)}


def _saved(tmp_path, name: str, n: int = 600):
    data = _vectors(n, 1)
    with gyeol.connect(tmp_path) as db:
        col = db.create_collection("c", embedder=None, dim=DIM, tokenizer=None, index=INDEXES[name]())
        col.add([f"t{i}" for i in range(n)], ids=[str(i) for i in range(n)], vectors=data)
    return data


@pytest.mark.parametrize("name", list(INDEXES))
def test_a_reader_views_the_saved_index_and_finds_what_the_writer_finds(tmp_path, name):
    data = _saved(tmp_path, name)
    with gyeol.connect(tmp_path, read_only=True) as reader:
        col = reader.get_collection("c")
        assert _inner(col).viewed and col.index_info["viewed"]
        for q in _vectors(5, 2):
            got = [int(i) for i in col.search(vector=q, k=10, mode="vector").ids]
            assert got == _exact_top(data, q, 10)
    with gyeol.connect(tmp_path) as writer:  # a writer owns its index: it adds to it
        assert not _inner(writer.get_collection("c")).viewed


@pytest.mark.parametrize("name", list(INDEXES))
def test_a_reader_copies_its_view_before_adding_the_rows_a_writer_committed_later(tmp_path, name):
    data = _saved(tmp_path, name)
    more = _vectors(200, 3)
    with gyeol.connect(tmp_path) as writer:
        wcol = writer.get_collection("c")
        reader = gyeol.connect(tmp_path, read_only=True)
        rcol = reader.get_collection("c")
        assert _inner(rcol).viewed
        wcol.add([f"m{i}" for i in range(200)], ids=[str(600 + i) for i in range(200)], vectors=more)
        both = np.concatenate([data, more])
        for q in more[:5]:  # the reader follows the commit: the new rows are added to its index
            got = [int(i) for i in rcol.search(vector=q, k=10, mode="vector").ids]
            assert got == _exact_top(both, q, 10)
        assert not _inner(rcol).viewed and _inner(rcol).ntotal == 800
        # a reader opened now catches up at open: the committed rows past the writer's last save
        late = gyeol.connect(tmp_path, read_only=True)
        lcol = late.get_collection("c")
        assert not _inner(lcol).viewed and _inner(lcol).ntotal == 800
        q = more[7]
        assert [int(i) for i in lcol.search(vector=q, k=10, mode="vector").ids] == _exact_top(both, q, 10)
        late.close()
        reader.close()
