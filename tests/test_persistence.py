"""Persistence: reopen sees the committed state; readers follow a writer; a SIGKILL loses nothing acknowledged."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    DIM,
    HashEmbedder,
    exact_search,
    new_collection,
    random_vectors,
    snapshot,
    start_helper,
)
from helpers import streams
from helpers.probe import doc_vectors
from helpers.reader_loop import ANCHORS, check_documents, doc_vector

import gyeol
from gyeol.errors import StorageLockedError

METRICS = ["cosine", "ip", "l2"]


def full_state(col: gyeol.Collection, queries: np.ndarray) -> tuple:
    """count; ids, texts, metadata and vectors in label order; vector search results for queries."""
    docs = col.get(include_vectors=True)
    results = col.search_many(vectors=queries, k=7, mode="vector")
    return (
        col.count(),
        [(d.id, d.text, json.dumps(d.metadata, sort_keys=True)) for d in docs],
        np.stack([d.vector for d in docs]) if docs else None,
        [(r.ids, np.round(r.scores, 5).tolist()) for r in results],
    )


def assert_same_state(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    assert a[1] == b[1]
    np.testing.assert_array_equal(a[2], b[2])
    assert a[3] == b[3]


def write_history(col: gyeol.Collection, rng: np.random.Generator) -> None:
    """A mix of every kind of write, leaving tombstones and several segments."""
    col.add([f"first {i}" for i in range(40)], ids=[f"a{i}" for i in range(40)],
            metadata=[{"i": i, "even": i % 2 == 0, "w": i / 7} for i in range(40)], vectors=random_vectors(rng, 40))
    col.upsert([f"replaced {i}" for i in range(5)] + ["brand new"], ids=[f"a{i}" for i in range(5)] + ["u0"],
               metadata=[{"v": 2}] * 6, vectors=random_vectors(rng, 6))
    col.delete([f"a{i}" for i in range(30, 40)] + ["nope"])
    col.add([f"second {i}" for i in range(10)], ids=[f"b{i}" for i in range(10)], vectors=random_vectors(rng, 10))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("index", [gyeol.Flat(), gyeol.HNSW(m=8)], ids=["flat", "hnsw"])
def test_reopen_sees_exactly_the_committed_state(metric, index, db_path, rng):
    queries = random_vectors(rng, 5)
    db = gyeol.connect(db_path)
    col = new_collection(db, metric=metric, index=index)
    write_history(col, rng)
    expected = full_state(col, queries)
    assert expected[0] == 41
    db.close()

    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs")
        assert (col.dim, col.metric) == (DIM, metric)
        assert_same_state(full_state(col, queries), expected)
        col.compact()
        assert_same_state(full_state(col, queries), expected)

    with gyeol.connect(db_path, read_only=True) as db:
        assert_same_state(full_state(db.get_collection("docs"), queries), expected)


@pytest.mark.parametrize("saved_midway", [False, True], ids=["never-saved", "saved-midway"])
def test_reopen_without_close_sees_every_returned_write(saved_midway, db_path, rng):
    queries = random_vectors(rng, 3)
    db = gyeol.connect(db_path)
    col = new_collection(db)
    write_history(col, rng)
    if saved_midway:  # the saved index covers fewer labels than the store: reopen must catch it up
        col.save_indexes()
        col.add(["late"], ids=["late"], vectors=random_vectors(rng, 1))
        col.upsert(["late again"], ids=["a7"], vectors=random_vectors(rng, 1))
        col.delete(["b3"])
    expected = full_state(col, queries)
    db._dir_lock.release()  # as if the process had died: no close(), no index save
    with gyeol.connect(db_path) as again:
        assert_same_state(full_state(again.get_collection("docs"), queries), expected)


def test_default_index_grows_from_flat_to_hnsw_and_persists(db_path, rng):
    from gyeol.index import FLAT_BELOW

    queries = random_vectors(rng, 20)
    db = gyeol.connect(db_path)
    col = new_collection(db, metric="l2", index=None)
    n = FLAT_BELOW - 10
    vectors = random_vectors(rng, n + 40)
    ids = [f"g{i}" for i in range(n + 40)]
    col.add(vectors=vectors[:n], ids=ids[:n])
    assert col.index_info["kind"] == "flat"
    col.delete(ids[:: 7])
    col.add(vectors=vectors[n:], ids=ids[n:])  # crosses the threshold: rebuilt as HNSW over every label
    assert col.index_info["kind"] == "hnsw"
    live = [i for i in range(n + 40) if i % 7]
    deleted = {ids[i] for i in range(0, n + 40, 7)}
    results = col.search_many(vectors=queries, k=10, mode="vector")
    hits = 0
    for query, result in zip(queries, results):
        assert len(result) == 10 and not set(result.ids) & deleted
        ref_ids, _ = exact_search([ids[i] for i in live], vectors[live], query, "l2", 10)
        hits += len(set(ref_ids) & set(result.ids))
    assert hits / 200 >= 0.9
    expected = full_state(col, queries)
    db.close()
    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs")
        assert col.index_info["kind"] == "hnsw"
        assert_same_state(full_state(col, queries), expected)


@pytest.mark.parametrize("damage", ["missing", "garbage", "stale"])
def test_derived_vector_index_is_rebuilt_when_missing_or_damaged(damage, db_path, rng):
    queries = random_vectors(rng, 3)
    db = gyeol.connect(db_path)
    col = new_collection(db, metric="l2")
    write_history(col, rng)
    expected = full_state(col, queries)
    db.close()
    index_files = [p for p in db_path.rglob("index/*/*") if p.is_file()]
    assert index_files, "close() should have saved the vector index"
    for path in index_files:
        if damage == "missing":
            path.unlink()
        elif damage == "garbage":
            path.write_bytes(b"\x00garbage" * 10)
        elif path.suffix == ".json":  # claims to cover more labels than exist
            meta = json.loads(path.read_text())
            if "ntotal" in meta:
                meta["ntotal"] += 1000
            path.write_text(json.dumps(meta))
    with gyeol.connect(db_path) as db:
        assert_same_state(full_state(db.get_collection("docs"), queries), expected)


def test_leftovers_of_interrupted_writes_are_swept_by_the_next_writer(db_path, rng):
    queries = random_vectors(rng, 3)
    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        write_history(col, rng)
        expected = full_state(col, queries)
    (folder,) = (db_path / "collections").iterdir()
    index_dirs = [p for p in (folder / "index").iterdir() if p.is_dir()]
    assert index_dirs, "close() should have saved an index"
    leftovers = [
        db_path / ".catalog.json.0badf00d.tmp",
        folder / ".manifest.json.0badf00d.tmp",
        folder / "data" / ".seg-0001-000000000099-0badf00d.parquet.0badf00d.tmp",
        folder / "data" / "seg-0001-000000000099-0badf00d.parquet",  # written, never committed
        folder / "data" / "tomb-0001-0badf00d0bad.parquet",
        *[d / ".vector.faiss.0badf00d.tmp" for d in index_dirs],
    ]
    orphan = db_path / "collections" / "c-0123456789abcdef"  # a create cut short before its catalog commit
    (orphan / "data").mkdir(parents=True)
    for path in leftovers:
        path.write_bytes(b"half a file")
    before = snapshot(db_path)
    with gyeol.connect(db_path, read_only=True) as reader:  # readers never delete anything
        assert_same_state(full_state(reader.get_collection("docs"), queries), expected)
    assert snapshot(db_path) == before
    with gyeol.connect(db_path) as db:
        assert_same_state(full_state(db.get_collection("docs"), queries), expected)
    remaining = [str(p.relative_to(db_path)) for p in leftovers if p.exists()]
    assert remaining == [], f"not swept: {remaining}"
    assert not orphan.exists()


def test_id_hashes_match_a_reference_fnv1a():
    from gyeol.storage.idmap import hash_ids

    def fnv1a(text: str) -> int:
        h = 0xCBF29CE484222325
        for byte in text.encode("utf-8"):
            h = ((h ^ byte) * 0x100000001B3) % 2**64
        return h

    ids = ["a", "ab", "ba", "한국어", "x" * 300, "e\u0301", "é", "\x00", "id-42", "👩‍💻", "a" * 7, "a" * 8]
    assert hash_ids(ids).tolist() == [fnv1a(i) for i in ids]
    assert hash_ids([]).tolist() == []


def test_id_map_resolves_hash_collisions_by_the_stored_id():
    import pyarrow as pa

    from gyeol.storage.idmap import IdMap

    stored = pa.chunked_array([pa.array(["alpha", "beta", "gamma", "delta", "gamma"])])
    id_of = lambda labels: stored.take(pa.array(labels)).to_pylist()  # noqa: E731
    idmap = IdMap()
    same = np.uint64(12345)  # pretend all the ids share one hash
    live = np.ones(4, dtype=bool)
    idmap.reset(np.full(4, same, dtype=np.uint64), np.arange(4), 4)
    got = idmap.lookup(["gamma", "alpha", "omega", "delta"], np.full(4, same, dtype=np.uint64), id_of, live)
    assert got.tolist() == [2, 0, -1, 3]
    live[2] = False  # deleted: a lookup keeps live labels only
    got = idmap.lookup(["gamma", "beta"], np.full(2, same, dtype=np.uint64), id_of, live)
    assert got.tolist() == [-1, 1]
    live = np.append(live, True)  # "gamma" again, in the tail run: found there, and tied with nothing live
    idmap.add(np.full(1, same, dtype=np.uint64), np.array([4]))
    got = idmap.lookup(["gamma", "delta"], np.full(2, same, dtype=np.uint64), id_of, live)
    assert got.tolist() == [4, 3]
    assert idmap.tied_labels(live).tolist() == [0, 1, 3, 4]  # one hash: all live labels share it


def test_collections_and_catalog_persist(db_path, rng):
    with gyeol.connect(db_path) as db:
        for name in ["b", "a", "한글"]:
            new_collection(db, name).add(["x"], ids=[name], vectors=random_vectors(rng, 1))
        db.drop_collection("b")
    with gyeol.connect(db_path) as db:
        assert db.list_collections() == ["a", "한글"]
        assert [d.id for d in db.get_collection("한글").get()] == ["한글"]
        new_collection(db, "b")  # the dropped name is free again
        assert db.get_collection("b").count() == 0


_AUDIT_SINKS: list[list[tuple]] = []


def _audit(event: str, args: tuple) -> None:
    if not _AUDIT_SINKS:
        return
    if event == "open":
        path, mode, flags = args
        writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC))
        if writing:
            _AUDIT_SINKS[-1].append((event, path))
    elif event in ("os.mkdir", "os.rename", "os.remove", "os.rmdir", "os.truncate", "shutil.rmtree"):
        _AUDIT_SINKS[-1].append((event, args[0]))


@contextlib.contextmanager
def audit_file_writes():
    """Record every file write Python code makes meanwhile (an audit hook; C++ writers are not seen)."""
    if not getattr(audit_file_writes, "installed", False):
        sys.addaudithook(_audit)  # cannot be removed: it does nothing while no sink is listening
        audit_file_writes.installed = True
    sink: list[tuple] = []
    _AUDIT_SINKS.append(sink)
    try:
        yield sink
    finally:
        _AUDIT_SINKS.pop()


def test_in_memory_database_writes_nothing(tmp_path, monkeypatch, rng):
    cwd = tmp_path / "cwd"
    private_tmp = tmp_path / "tmp"
    cwd.mkdir()
    private_tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(private_tmp))
    monkeypatch.setattr(tempfile, "tempdir", str(private_tmp))
    home_before = snapshot(Path.home() / ".gyeol") if (Path.home() / ".gyeol").exists() else None

    with audit_file_writes() as writes:  # what Python code opens for writing, anywhere
        db = gyeol.connect()
        col = new_collection(db, embedder=HashEmbedder())
        write_history(col, rng)
        col.compact()
        col.search("first 3", k=5)
        col.search("first 3", k=5, mode="keyword")
        col.save_indexes()
        other = new_collection(db, "other", metric="l2", index=gyeol.HNSW(m=8))
        other.add(["a"], ids=["a"], vectors=random_vectors(rng, 1))
        db.drop_collection("other")
        db.close()

    assert writes == []
    assert list(cwd.iterdir()) == []
    assert list(private_tmp.iterdir()) == []
    if home_before is not None:
        assert snapshot(Path.home() / ".gyeol") == home_before


def test_two_in_memory_databases_are_independent(rng):
    one, two = gyeol.connect(), gyeol.connect()
    new_collection(one).add(["x"], ids=["x"], vectors=random_vectors(rng, 1))
    assert two.list_collections() == []
    new_collection(two)
    assert two.get_collection("docs").count() == 0 and one.get_collection("docs").count() == 1


# --------------------------------------------------------------------------- readers beside a writer


def test_reader_in_the_same_process_follows_the_writer(db_path, rng):
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer)
    vectors = random_vectors(rng, 30)
    wcol.add([f"t{i}" for i in range(20)], ids=[f"r{i}" for i in range(20)], vectors=vectors[:20])

    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs")
    assert rcol.count() == 20
    assert rcol.search(vector=vectors[3], k=1, mode="vector").ids == ["r3"]

    wcol.add([f"t{i}" for i in range(20, 30)], ids=[f"r{i}" for i in range(20, 30)], vectors=vectors[20:])
    assert rcol.count() == 30
    assert rcol.search(vector=vectors[25], k=1, mode="vector").ids == ["r25"]
    wcol.delete(["r25"])
    assert rcol.search(vector=vectors[25], k=1, mode="vector").ids != ["r25"]
    assert rcol.get(["r25", "r24"])[0].id == "r24"
    wcol.upsert(["new text"], ids=["r0"], vectors=vectors[1:2])
    assert [d.text for d in rcol.get(["r0"])] == ["new text"]
    wcol.compact()
    assert rcol.count() == 29
    assert sorted(d.id for d in rcol.get()) == sorted(f"r{i}" for i in range(30) if i != 25)
    assert rcol.search("t7", k=1, mode="keyword").ids == ["r7"]
    new_collection(writer, "later")
    assert "later" in reader.list_collections()
    assert reader.get_collection("later").count() == 0
    reader.close()
    writer.close()


def _counting_tokenizer(seen: list[str]):
    """A whitespace tokenizer that records every text it is given."""
    def counting(text: str) -> list[str]:
        seen.append(text)
        return text.lower().split()

    return counting


def test_large_lazy_bm25_build_is_saved_at_once(db_path, rng, monkeypatch):
    """The first keyword search over a large collection saves the BM25 it built, before any close,
    so a reader (or the writer's successor after a crash) loads it instead of tokenizing again."""
    import gyeol.engine.keyword_side

    monkeypatch.setattr(gyeol.engine.keyword_side, "LEXICAL_SAVE_AFTER", 25)
    seen: list[str] = []
    counting = _counting_tokenizer(seen)
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer, tokenizer=counting)
    n = 40
    wcol.add([f"doc {i} word{i}" for i in range(n)], ids=[f"r{i}" for i in range(n)],
             vectors=random_vectors(rng, n))
    assert wcol.search("word7", k=1, mode="keyword").ids == ["r7"]
    assert len(seen) == n + 1  # every text once, then the query

    seen.clear()
    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs", tokenizer=counting)
    assert rcol.search("word31", k=1, mode="keyword").ids == ["r31"]
    assert seen == ["word31"]  # loaded from disk: only the query was tokenized
    reader.close()
    writer.close()


@pytest.mark.parametrize("tokenizer", ["kiwi", "whitespace"])
def test_saved_bm25_is_reused_only_while_its_terms_are_made_the_same_way(tokenizer, db_path, rng, monkeypatch):
    from gyeol.lexical import BM25Index, tokenizers

    texts = ["검색 시스템을 만들었다. It runs.", "the film ended. 영화가 끝났다", "system runs daily"]
    with gyeol.connect(db_path) as db:
        col = new_collection(db, tokenizer=tokenizer)
        col.add(texts, ids=["a", "b", "c"], vectors=random_vectors(rng, 3))
        expected = col.search("runs film", k=3, mode="keyword").ids
    loads: list = []
    original = BM25Index.load.__func__

    def spy(cls, *args, **kwargs):
        loads.append(original(cls, *args, **kwargs))
        return loads[-1]

    monkeypatch.setattr(BM25Index, "load", classmethod(spy))
    with gyeol.connect(db_path) as db:
        assert db.get_collection("docs").search("runs film", k=3, mode="keyword").ids == expected
    assert loads[-1] is not None  # same tokenizer, same terms: the saved index is loaded

    monkeypatch.setattr(tokenizers, "TERMS_VERSION", tokenizers.TERMS_VERSION + 1)
    with gyeol.connect(db_path) as db:
        assert db.get_collection("docs").search("runs film", k=3, mode="keyword").ids == expected
    assert loads[-1] is None  # terms made another way: rebuilt from the stored texts
    with gyeol.connect(db_path) as db:
        db.get_collection("docs").search("runs film", k=3, mode="keyword")
    assert loads[-1] is not None  # and saved again under the new description


def test_reader_in_another_process_follows_the_writer(db_path):
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer, dim=8)
    wcol.add([f"doc {j}" for j in range(10)], ids=[f"p{j}" for j in range(10)], vectors=doc_vectors(list(range(10))))
    reader = start_helper("probe.py", db_path)
    try:
        reader.stdin.write("open_reader\nstate docs\n")
        assert json.loads(reader.stdout.readline()) == {"ok": True}
        seen = json.loads(reader.stdout.readline())
        assert seen["count"] == 10 and seen["ids"] == sorted(f"p{j}" for j in range(10))
        assert seen["top"] == seen["ids"]  # every doc is its own nearest neighbour

        wcol.add([f"doc {j}" for j in range(10, 25)], ids=[f"p{j}" for j in range(10, 25)],
                 vectors=doc_vectors(list(range(10, 25))))
        wcol.delete(["p3"])
        reader.stdin.write("state docs\n")
        seen = json.loads(reader.stdout.readline())
        expected = sorted(f"p{j}" for j in range(25) if j != 3)
        assert seen["count"] == 24 and seen["ids"] == expected and seen["top"] == expected

        wcol.compact()
        reader.stdin.write("state docs\nadd docs 100 1\n")
        seen = json.loads(reader.stdout.readline())
        assert seen["ids"] == expected and seen["top"] == expected
        assert json.loads(reader.stdout.readline())["error"] == "ReadOnlyError"
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    assert wcol.count() == 24
    writer.close()


def _compact_when_a_reader_opens(monkeypatch, writer_col: gyeol.Collection) -> list[bool]:
    """Make the writer compact right after the next read-only SegmentStore.open: the race, made certain."""
    from gyeol.storage.store import SegmentStore

    real_open = SegmentStore.open.__func__
    fired: list[bool] = []

    def open_then_compact(cls, directory, *, writable):
        store = real_open(cls, directory, writable=writable)
        if not writable and not fired:
            fired.append(True)
            writer_col.compact()  # deletes the segment files the reader's snapshot names
        return store

    monkeypatch.setattr(SegmentStore, "open", classmethod(open_then_compact))
    return fired


def _history_with_tombstones(col: gyeol.Collection) -> None:
    numbers = list(range(40))
    col.add([f"doc {j}" for j in numbers], ids=[f"i{j}" for j in numbers],
            vectors=np.stack([doc_vector(j) for j in numbers]))
    col.delete([f"i{j}" for j in range(0, 40, 4)])


def test_reader_opening_while_the_writer_compacts(db_path, monkeypatch):
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer, dim=8, metric="l2")
    _history_with_tombstones(wcol)
    fired = _compact_when_a_reader_opens(monkeypatch, wcol)
    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs")
    assert fired
    assert rcol.count() == 30
    assert sorted(d.id for d in rcol.get()) == sorted(d.id for d in wcol.get())
    assert check_documents(rcol)[1] is None
    reader.close()
    writer.close()


def test_reader_refreshing_while_the_writer_compacts(db_path, monkeypatch):
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer, dim=8, metric="l2")
    _history_with_tombstones(wcol)
    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs")
    assert rcol.count() == 30
    wcol.add(["doc 40"], ids=["i40"], vectors=doc_vector(40)[None])
    fired = _compact_when_a_reader_opens(monkeypatch, wcol)
    assert rcol.count() == 31  # refreshes: opens the new snapshot, which the writer compacts at once
    assert fired
    assert rcol.search(vector=doc_vector(40), k=1, mode="vector").ids == ["i40"]
    assert check_documents(rcol)[1] is None
    reader.close()
    writer.close()


def test_reader_process_beside_a_compacting_writer(db_path):
    """A reader process loops over open/get/search while this process adds, deletes and compacts."""
    writer = gyeol.connect(db_path)
    col = new_collection(writer, dim=8, metric="l2")

    def add(numbers: range) -> None:
        col.add([f"doc {j}" for j in numbers], ids=[f"i{j}" for j in numbers],
                vectors=np.stack([doc_vector(j) for j in numbers]))

    add(range(50))
    reader = start_helper("reader_loop.py", db_path, "docs", 2.5)
    next_doc = 50
    try:
        while reader.poll() is None:
            for _ in range(3):
                add(range(next_doc, next_doc + 10))
                next_doc += 10
            col.delete([f"i{j}" for j in range(max(ANCHORS, next_doc - 20), next_doc - 15)])
            col.upsert(["doc 12"], ids=["i12"], vectors=doc_vector(12)[None])
            col.compact()
        out, err = reader.communicate(timeout=30)
    finally:
        if reader.poll() is None:
            reader.kill()
            reader.communicate()
    report = json.loads(out)
    assert report["rounds"] > 0, err
    assert report["errors"] == {} and report["bad"] == {}, report
    writer.close()


# --------------------------------------------------------------------------- SIGKILL during writes


def run_until_killed(db_path: Path, mode: str, start: int, min_acks: int, delay: float) -> list[int]:
    """Start a write stream, SIGKILL it delay seconds after its min_acks-th acknowledgement; give back the acks."""
    child = start_helper("streams.py", db_path, mode, start)
    acks: list[int] = []
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        while len(acks) < min_acks:
            line = child.stdout.readline()
            assert line, f"the stream died on its own: {child.stderr.read()}"
            acks.append(int(line))
        time.sleep(delay)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        acks += [int(line) for line in child.stdout.read().split()]
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdin.close()
        child.stdout.close()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL
    assert acks == list(range(start, start + len(acks)))
    return acks


def make_stream_collection(db_path: Path) -> None:
    with gyeol.connect(db_path) as db:
        new_collection(db, streams.COLLECTION, dim=streams.DIM, metric=streams.METRIC)


def check_batch(docs: dict[str, gyeol.Document], b: int, *, expect_ids: list[str]) -> None:
    ids, texts, metadata, vectors = streams.batch(b)
    for i, doc_id in enumerate(ids):
        if doc_id not in expect_ids:
            assert doc_id not in docs
            continue
        doc = docs[doc_id]
        assert (doc.text, doc.metadata) == (texts[i], metadata[i])
        np.testing.assert_array_equal(doc.vector, vectors[i])


KILLS = [(1, 0.0), (3, 0.013), (2, 0.041), (5, 0.097)]  # (acks before the kill, then seconds)


def test_sigkill_during_adds_keeps_every_acknowledged_batch_whole(db_path):
    make_stream_collection(db_path)
    start = 0
    for min_acks, delay in KILLS:
        acks = run_until_killed(db_path, "add", start, min_acks, delay)
        with gyeol.connect(db_path) as db:  # the dead writer's lock is gone with it
            col = db.get_collection(streams.COLLECTION)
            docs = {d.id: d for d in col.get(include_vectors=True)}
            present = sorted({int(doc_id[1:].split("-")[0]) for doc_id in docs})
            last = acks[-1]
            assert present[: last + 1] == list(range(last + 1)), "an acknowledged batch is missing"
            assert present in (list(range(last + 1)), list(range(last + 2))), present
            for b in present:
                check_batch(docs, b, expect_ids=streams.batch_ids(b))  # all 50, with their data
            assert col.count() == streams.BATCH * len(present)
            probe = streams.batch(present[-1])[3][7]
            assert col.search(vector=probe, k=1, mode="vector").ids == [f"b{present[-1]}-7"]
            start = present[-1] + 1


def test_sigkill_during_upserts_leaves_one_whole_version(db_path):
    make_stream_collection(db_path)
    with gyeol.connect(db_path) as db:
        ids, texts, metadata, vectors = streams.version(0)
        db.get_collection(streams.COLLECTION).add(texts, ids=ids, metadata=metadata, vectors=vectors)
    start = 0
    for min_acks, delay in KILLS[:2]:
        acks = run_until_killed(db_path, "upsert", start, min_acks, delay)
        with gyeol.connect(db_path) as db:
            col = db.get_collection(streams.COLLECTION)
            docs = col.get(include_vectors=True)
            assert col.count() == streams.BATCH == len(docs)
            versions = {d.metadata["v"] for d in docs}
            assert len(versions) == 1, f"a mix of versions survived: {versions}"
            (v,) = versions
            assert v in (acks[-1] + 1, acks[-1] + 2)
            ids, texts, metadata, vectors = streams.version(v)
            by_id = {d.id: d for d in docs}
            for i, doc_id in enumerate(ids):
                assert (by_id[doc_id].text, by_id[doc_id].metadata) == (texts[i], metadata[i])
                np.testing.assert_array_equal(by_id[doc_id].vector, vectors[i])
            assert col.search(vector=vectors[4], k=1, mode="vector").ids == ["d4"]
            start = v


def test_sigkill_during_deletes_removes_whole_batches(db_path):
    make_stream_collection(db_path)
    batches = 60
    with gyeol.connect(db_path) as db:
        col = db.get_collection(streams.COLLECTION)
        for b in range(batches):
            ids, texts, metadata, vectors = streams.batch(b)
            col.add(texts, ids=ids, metadata=metadata, vectors=vectors)
    start = 0
    for min_acks, delay in KILLS[:2]:
        acks = run_until_killed(db_path, "delete", start, min_acks, delay)
        with gyeol.connect(db_path) as db:
            col = db.get_collection(streams.COLLECTION)
            docs = {d.id: d for d in col.get(include_vectors=True)}
            present = sorted({int(doc_id[1:].split("-")[0]) for doc_id in docs})
            first = present[0]
            assert first in (acks[-1] + 1, acks[-1] + 2)
            assert present == list(range(first, batches))
            for b in present:
                check_batch(docs, b, expect_ids=streams.batch_ids(b))
            start = first


def test_sigkill_during_compaction_keeps_the_state(db_path):
    make_stream_collection(db_path)
    start = 0
    for min_acks, delay in [(1, 0.005), (2, 0.03), (1, 0.06)]:
        acks = run_until_killed(db_path, "compact", start, min_acks, delay)
        with gyeol.connect(db_path) as db:
            col = db.get_collection(streams.COLLECTION)
            docs = {d.id: d for d in col.get(include_vectors=True)}
            present = sorted({int(doc_id[1:].split("-")[0]) for doc_id in docs})
            last = acks[-1]
            assert present in (list(range(last + 1)), list(range(last + 2))), present
            odd = streams.batch_ids(0)[1::2]
            for b in present[:-1]:  # finished iterations: added, half deleted, compacted
                check_batch(docs, b, expect_ids=[i.replace("b0-", f"b{b}-") for i in odd])
            b = present[-1]
            n = sum(doc_id.startswith(f"b{b}-") for doc_id in docs)
            if b <= last:
                assert n == streams.BATCH // 2
            else:  # the killed iteration: after its add, or after its delete
                assert n in (streams.BATCH, streams.BATCH // 2)
            kept = streams.batch_ids(b) if n == streams.BATCH else [i.replace("b0-", f"b{b}-") for i in odd]
            check_batch(docs, b, expect_ids=kept)
            if n == streams.BATCH:  # finish the interrupted iteration the way the stream would have
                col.delete(streams.batch_ids(b)[::2])
            # no leftover files of the interrupted compaction or write survive the writer's reopen
            data = db_path / "collections"
            assert not list(data.rglob("*.tmp"))
            start = b + 1
    with gyeol.connect(db_path) as db:
        manifest_files = set()
        for manifest in db_path.rglob("manifest.json"):
            meta = json.loads(manifest.read_text())
            manifest_files |= {s["file"] for s in meta["segments"]} | set(meta["tombstones"])
        on_disk = {p.name for p in db_path.rglob("data/*.parquet")}
        assert on_disk == manifest_files


def test_a_killed_writer_leaves_no_stale_lock(db_path):
    make_stream_collection(db_path)
    child = start_helper("streams.py", db_path, "add", 0)
    try:
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(StorageLockedError):
            gyeol.connect(db_path)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        for pipe in (child.stdin, child.stdout, child.stderr):
            pipe.close()
    gyeol.connect(db_path).close()


def test_probe_helper_reports_unknown_commands(db_path):
    """The probe replies for every command, so a test reading its replies cannot hang on a typo."""
    gyeol.connect(db_path).close()
    probe = start_helper("probe.py", db_path)
    out, _ = probe.communicate("bogus\n", timeout=30)
    assert json.loads(out) == {"error": "UnknownCommand", "message": "bogus"}
