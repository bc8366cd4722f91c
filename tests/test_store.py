"""SegmentStore internals that the search hot path relies on."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

import gyeol


def test_ids_of_equals_arrow_take_across_segments_and_unicode(tmp_path):
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("s", embedder=None, dim=4, tokenizer="whitespace")
    rng = np.random.default_rng(0)
    ids = []
    for batch in range(5):  # one segment per add
        batch_ids = [f"문서-{batch}-{i}-é" if i % 2 else f"d{batch}.{i}" for i in range(7)]
        col.add(ids=batch_ids, vectors=rng.normal(size=(7, 4)).astype(np.float32))
        ids += batch_ids
    store = col._engine.store
    labels = rng.permutation(len(ids))[:20].astype(np.int64)
    expected = store.ids.take(pa.array(labels)).to_pylist()
    assert store.ids_of(labels) == expected == [ids[i] for i in labels]
    col.delete(ids[:3])
    col.compact()  # one chunk again, labels renumbered
    labels = np.arange(col.count(), dtype=np.int64)[::-1]
    assert col._engine.store.ids_of(labels) == col._engine.store.ids.take(pa.array(labels)).to_pylist()
    db.close()


def test_derived_index_is_checkpointed_before_close(tmp_path, monkeypatch):
    """A writer that dies without close() leaves a saved index covering most rows, not none."""
    import gyeol.engine.vector_side
    from gyeol.index.base import read_meta
    from gyeol.storage.store import INDEX_DIR

    monkeypatch.setattr(gyeol.engine.vector_side, "CHECKPOINT_VECTORS", 50)
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("s", embedder=None, dim=4, tokenizer="whitespace", index=gyeol.Flat())
    rng = np.random.default_rng(1)
    index_dir = col._engine.store.directory / INDEX_DIR / "memory"
    col.add(ids=[f"a{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir) is None  # 30 unsaved: below the threshold
    col.add(ids=[f"b{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir)["ntotal"] == 60
    col.add(ids=[f"c{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir)["ntotal"] == 60  # the next save waits for 60 more
    db.close()
    assert read_meta(index_dir)["ntotal"] == 90


def _docs_cache(col) -> list:
    from gyeol.storage.store import DOCS_CACHE, INDEX_DIR

    return sorted((col._engine.store.directory / INDEX_DIR / DOCS_CACHE).glob("*.arrow"))


def test_docs_cache_maps_texts_instead_of_decoding_them(tmp_path):
    path = tmp_path / "kb"
    texts = [("본문 " * 200) + str(i) for i in range(2000)]  # ~1.2 MB of text
    with gyeol.connect(path) as db:
        col = db.create_collection("s", embedder=None, dim=4, tokenizer="whitespace")
        col.add(texts[:1000], ids=[f"a{i}" for i in range(1000)], vectors=np.ones((1000, 4), np.float32))
        col.add(texts[1000:], ids=[f"b{i}" for i in range(1000)], vectors=np.ones((1000, 4), np.float32))
    before = pa.total_allocated_bytes()
    db = gyeol.connect(path)  # the writer's open writes the cache, then maps it
    col = db.get_collection("s")
    assert len(_docs_cache(col)) == 2
    assert pa.total_allocated_bytes() - before < 200_000  # texts live in the mapped files, not the heap
    assert [d.text for d in col.get(["a5", "b7"])] == [texts[5], texts[1007]]
    db.close()
    reader = gyeol.connect(path, read_only=True)
    assert reader.get_collection("s").get(["b999"])[0].text == texts[1999]
    reader.close()


def test_damaged_docs_cache_falls_back_to_parquet_and_is_rewritten(tmp_path):
    path = tmp_path / "kb"
    with gyeol.connect(path) as db:
        col = db.create_collection("s", embedder=None, dim=4, tokenizer="whitespace")
        col.add(["x", "y", "z"], ids=["a", "b", "c"], vectors=np.eye(4, dtype=np.float32)[:3])
    with gyeol.connect(path) as db:
        (cache,) = _docs_cache(db.get_collection("s"))
    cache.write_bytes(b"not an arrow file")
    with gyeol.connect(path, read_only=True) as reader:  # a reader decodes Parquet, writes nothing
        assert [d.text for d in reader.get_collection("s").get(["c", "a"])] == ["z", "x"]
    assert cache.read_bytes() == b"not an arrow file"
    with gyeol.connect(path) as db:
        col = db.get_collection("s")
        assert [d.text for d in col.get(["b"])] == ["y"]
        assert pa.ipc.open_file(pa.memory_map(str(cache))).read_all().num_rows == 3  # rewritten
        col.delete(["a"])
        col.compact()
        assert _docs_cache(col) == []  # the old segment's cache went with it
    with gyeol.connect(path) as db:
        col = db.get_collection("s")
        assert len(_docs_cache(col)) == 1 and col.count() == 2
