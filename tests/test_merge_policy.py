"""Tiered segment merging (storage/merging.py): the policy on simulated sizes, then real adds
checked against a model across reopen, beside a reader that opened before the merges."""

from __future__ import annotations

import json
import logging
import os
import random

import numpy as np
import pytest
from conftest import assert_same_ranking, exact_search, new_collection, random_vectors, stored_form
from helpers.forked_writer import no_fsync

import gyeol
from gyeol.storage import merging
from gyeol.storage.manifest import DATA_DIR, read_manifest
from gyeol.storage.merging import MERGE_FACTOR, plan_merges


def simulate(batches: list[int], factor: int = MERGE_FACTOR) -> tuple[list[int], int, int]:
    """Segment sizes after adds of these batch sizes, with the most segments seen and rows written."""
    sizes: list[int] = []
    most = written = 0
    for rows in batches:
        sizes.append(rows)
        written += rows
        while runs := plan_merges(sizes, factor):
            start, stop = runs[0]
            assert 0 <= start < stop <= len(sizes) and stop - start == factor
            written += sum(sizes[start:stop])
            sizes[start:stop] = [sum(sizes[start:stop])]
        most = max(most, len(sizes))
    return sizes, most, written


def test_plan_merges_runs_are_contiguous_windows_that_never_overlap():
    rng = random.Random(7)
    for _ in range(200):
        sizes = [rng.choice([1, 5, 900, 4000, 70_000]) for _ in range(rng.randrange(0, 60))]
        runs = plan_merges(sizes)
        flat = [i for start, stop in runs for i in range(start, stop)]
        assert flat == sorted(set(flat))
        assert all(stop - start == MERGE_FACTOR for start, stop in runs)
    assert plan_merges([5] * (MERGE_FACTOR - 1)) == []
    assert plan_merges([5] * MERGE_FACTOR) == [(0, MERGE_FACTOR)]
    with pytest.raises(ValueError):
        plan_merges([1, 2], factor=1)


@pytest.mark.parametrize("batch", [1, 10, 1000])
def test_a_thousand_adds_stay_within_twenty_segments_at_every_step(batch):
    sizes, most, written = simulate([batch] * 1000)
    assert sum(sizes) == 1000 * batch
    assert most <= 20, most
    if batch == 1000:  # each row rewritten about once per level: log_6(1000) levels
        assert written / (1000 * batch) < 5


def test_mixed_batch_sizes_stay_logarithmic():
    rng = random.Random(3)
    batches = [rng.choice([1, 3, 50, 1000, 5000, rng.randrange(1, 20_000)]) for _ in range(1000)]
    sizes, most, _ = simulate(batches)
    assert sum(sizes) == sum(batches) and most <= 24
    # a big segment between small ones does not strand them: alternating sizes still merge
    _, most, _ = simulate([1 if i % 2 else 100_000 for i in range(1000)])
    assert most <= 24
    # without a policy (what add() did before): one segment per add
    assert len(simulate(batches, factor=10**9)[0]) == 1000


# --------------------------------------------------------------------------- real adds


@pytest.fixture
def fast_fsync(monkeypatch):
    """Hundreds of commits: a SIGKILL-free test needs no fsync (test_fsync.py checks the fsyncs)."""
    monkeypatch.setattr(os, "fsync", no_fsync)


def _docs(rng, start: int, n: int):
    ids = [f"d{i}" for i in range(start, start + n)]
    texts = [f"w{i % 7} u{i}" for i in range(start, start + n)]
    metadata = [{"n": i, "g": i % 3} for i in range(start, start + n)]
    return ids, texts, metadata, random_vectors(rng, n)


def _check(col, model: dict, rng) -> None:
    """The collection holds exactly the model's documents, and its searches equal exact ones."""
    assert col.count() == len(model)
    got = {d.id: d for d in col.get(include_vectors=True)}
    assert sorted(got) == sorted(model)
    for doc_id, (text, meta, vector) in model.items():
        assert (got[doc_id].text, got[doc_id].metadata) == (text, meta)
        np.testing.assert_allclose(got[doc_id].vector, stored_form(vector[None], "cosine")[0], rtol=1e-5, atol=1e-6)
    ids = sorted(model)
    vectors = np.stack([model[i][2] for i in ids])
    for query in random_vectors(rng, 3):
        res = col.search(vector=query, k=5, mode="vector")
        assert_same_ranking(res.ids, res.scores, *exact_search(ids, vectors, query, "cosine", 5))
    for doc_id in random.Random(1).sample(ids, min(10, len(ids))):  # each text's own term finds it
        assert col.search(f"u{doc_id[1:]}", k=1, mode="keyword").ids == [doc_id]


def test_small_adds_merge_and_reopen_equals_the_model(db_path, rng, fast_fsync):
    model: dict[str, tuple] = {}
    db = gyeol.connect(db_path)
    col = new_collection(db)
    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs")  # opened before any merge: its files are swept under it
    serial = 0
    for step in range(240):
        n = 1 + step % 3
        ids, texts, metas, vectors = _docs(rng, serial, n)
        serial += n
        col.add(texts, ids=ids, metadata=metas, vectors=vectors)
        model.update({i: (t, m, v) for i, t, m, v in zip(ids, texts, metas, vectors)})
        if step % 25 == 7:  # tombstones in ranges that merge later
            gone = sorted(model)[::9]
            col.delete(gone)
            for i in gone:
                del model[i]
        if step % 40 == 11:  # upserts: a tombstone and a new row in one commit
            old, new_vectors = sorted(model)[:2], random_vectors(rng, 2)
            col.upsert([f"new {i}" for i in old], ids=old, metadata=[{"up": True}] * 2, vectors=new_vectors)
            model.update({i: (f"new {i}", {"up": True}, vector) for i, vector in zip(old, new_vectors)})
        if step == 120:
            _check(rcol, model, rng)  # the reader follows the writer across merges
    manifest = read_manifest(col._engine.store.directory)
    assert 240 // MERGE_FACTOR > len(manifest.segments) and len(manifest.segments) <= 20
    files = set(os.listdir(col._engine.store.directory / DATA_DIR))
    assert files == manifest.files()  # the merged-away segments are gone
    _check(col, model, rng)
    _check(rcol, model, rng)
    reader.close()
    db.close()
    with gyeol.connect(db_path) as db:
        _check(db.get_collection("docs"), model, rng)
    with gyeol.connect(db_path, read_only=True) as db:
        _check(db.get_collection("docs"), model, rng)


def test_merged_segments_keep_their_docs_caches(db_path, rng, fast_fsync):
    """A merge writes the merged segment's docs cache and records it: a reopen decodes no Parquet for it."""
    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        for i in range(MERGE_FACTOR):
            ids, texts, metas, vectors = _docs(rng, i, 1)
            col.add(texts, ids=ids, metadata=metas, vectors=vectors)
        directory = col._engine.store.directory
        [merged] = read_manifest(directory).segments
        assert merged.rows == MERGE_FACTOR
        recorded = json.loads((directory / "index" / "docs" / "docs.json").read_text())["files"]
        assert set(recorded) == {f"{merged.file}.arrow"}
    from gyeol.storage import store as store_module

    reads = []
    real = store_module.read_segment

    def counting(path, columns=None):
        reads.append(columns)
        return real(path, columns)

    store_module.read_segment = counting
    try:
        with gyeol.connect(db_path, read_only=True) as db:
            col = db.get_collection("docs")
            assert col.get(["d3"])[0].text == "w3 u3"
            assert col._engine.store.ids.num_chunks == 1  # one record batch, not one per add
    finally:
        store_module.read_segment = real
    assert ["id", "text", "metadata"] not in reads


def test_a_merge_that_fails_changes_nothing(db_path, rng, fast_fsync, monkeypatch, caplog):
    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        for i in range(MERGE_FACTOR - 1):
            ids, texts, metas, vectors = _docs(rng, i, 1)
            col.add(texts, ids=ids, metadata=metas, vectors=vectors)

        def full(*args, **kwargs):
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(merging, "write_atomic", full)
        ids, texts, metas, vectors = _docs(rng, 100, 1)
        with caplog.at_level(logging.WARNING):
            col.add(texts, ids=ids, metadata=metas, vectors=vectors)  # the add stands
        assert "could not merge" in caplog.text
        directory = col._engine.store.directory
        assert len(read_manifest(directory).segments) == MERGE_FACTOR
        assert col.get(["d100"])[0].text == "w2 u100"
        monkeypatch.undo()
        ids, texts, metas, vectors = _docs(rng, 101, 1)
        col.add(texts, ids=ids, metadata=metas, vectors=vectors)  # the next write merges
        assert len(read_manifest(directory).segments) < MERGE_FACTOR
        assert col.count() == MERGE_FACTOR + 1
