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
    store = col._store
    labels = rng.permutation(len(ids))[:20].astype(np.int64)
    expected = store.ids.take(pa.array(labels)).to_pylist()
    assert store.ids_of(labels) == expected == [ids[i] for i in labels]
    col.delete(ids[:3])
    col.compact()  # one chunk again, labels renumbered
    labels = np.arange(col.count(), dtype=np.int64)[::-1]
    assert col._store.ids_of(labels) == col._store.ids.take(pa.array(labels)).to_pylist()
    db.close()


def test_derived_index_is_checkpointed_before_close(tmp_path, monkeypatch):
    """A writer that dies without close() leaves a saved index covering most rows, not none."""
    import gyeol.collection
    from gyeol.index.base import read_meta
    from gyeol.storage.store import INDEX_DIR

    monkeypatch.setattr(gyeol.collection, "CHECKPOINT_VECTORS", 50)
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("s", embedder=None, dim=4, tokenizer="whitespace", index=gyeol.Flat())
    rng = np.random.default_rng(1)
    index_dir = col._store.directory / INDEX_DIR / "memory"
    col.add(ids=[f"a{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir) is None  # 30 unsaved: below the threshold
    col.add(ids=[f"b{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir)["ntotal"] == 60
    col.add(ids=[f"c{i}" for i in range(30)], vectors=rng.normal(size=(30, 4)).astype(np.float32))
    assert read_meta(index_dir)["ntotal"] == 60  # the next save waits for 60 more
    db.close()
    assert read_meta(index_dir)["ntotal"] == 90
