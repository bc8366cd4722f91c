"""Threads on one collection: searches run side by side and each sees one committed state.

A writer thread adds, upserts, deletes and compacts while reader threads search; every search
that ranks the whole collection must give back exactly the documents (and versions) of one
state the writer committed. Lazy work that the first searches trigger is done once however
many threads race to it, and a write embedding its batch never holds searches up.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest

import gyeol
from gyeol._rwlock import ReadWriteLock
from gyeol.engine import auto_fusion
from gyeol.filters import MetadataColumns

from conftest import HashEmbedder

DIM = 16
WAIT = 10.0  # seconds before a test gives up on a thread (a deadlock fails instead of hanging)


def _vectors(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


class CountingTokenizer:
    """Whitespace terms; counts the batches of stored texts it tokenized (each one is a BM25 build)."""

    def __init__(self, *, build_delay: float = 0.0, build_size: int = 50) -> None:
        self.builds = 0
        self.build_delay = build_delay
        self.build_size = build_size
        self._lock = threading.Lock()

    def tokenize(self, text: str) -> list[str]:
        return text.lower().split()

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        if len(texts) >= self.build_size:  # a search tokenizes one query; a build tokenizes the collection
            with self._lock:
                self.builds += 1
            time.sleep(self.build_delay)  # widen the window in which other threads may race in
        return [self.tokenize(t) for t in texts]


# ------------------------------------------------------------------ the lock itself


def test_rwlock_shares_readers_and_excludes_writers() -> None:
    lock = ReadWriteLock()
    inside = threading.Barrier(2, timeout=WAIT)

    def reader() -> None:
        with lock.shared():
            inside.wait()  # both readers inside at once, or the barrier times out

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not inside.broken

    order: list[str] = []
    reader_in = threading.Event()
    writer_waiting = threading.Event()

    def slow_reader() -> None:
        with lock.shared():
            reader_in.set()
            writer_waiting.wait(WAIT)
            time.sleep(0.05)
            order.append("reader done")

    def writer() -> None:
        reader_in.wait(WAIT)
        writer_waiting.set()
        with lock.exclusive():
            order.append("writer")

    def late_reader() -> None:
        writer_waiting.wait(WAIT)
        time.sleep(0.02)  # the writer is queued by now: a new reader waits behind it
        with lock.shared():
            order.append("late reader")

    threads = [threading.Thread(target=f) for f in (slow_reader, writer, late_reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert order == ["reader done", "writer", "late reader"]


def test_rwlock_nesting() -> None:
    lock = ReadWriteLock()
    with lock.exclusive():
        with lock.exclusive(), lock.shared():
            pass
    with lock.shared():
        with lock.shared():
            pass
        with pytest.raises(RuntimeError):
            with lock.exclusive():
                pass
    with lock.exclusive():  # everything above was released
        pass


# ------------------------------------------------------------------ snapshots under writes


def _whole_collection_searches(col: gyeol.Collection, query_vector: np.ndarray) -> list[tuple[str, Any]]:
    """Searches whose hits are every live document (k and candidates above the collection's size)."""
    big = 10_000
    out = [
        ("vector", col.search(vector=query_vector, k=big, mode="vector")),
        ("keyword", col.search("common", k=big, mode="keyword")),
        ("hybrid", col.search("common", vector=query_vector, k=big, alpha=0.5, fusion="rrf", candidates=big)),
    ]
    out.append(("count", col.count()))
    return out


@pytest.mark.parametrize("on_disk", [False, True])
def test_searches_during_writes_each_see_one_committed_state(tmp_path, on_disk: bool) -> None:
    db = gyeol.connect(tmp_path / "db" if on_disk else None)
    col = db.create_collection("c", embedder=None, dim=DIM, tokenizer="whitespace", index=gyeol.Flat())
    states: list[dict[str, int]] = []  # id -> version of every state the writer committed
    current: dict[str, int] = {}

    def commit_state() -> None:
        states.append(dict(current))

    def put(ids: list[str], version: int, *, upsert: bool, seed: int) -> None:
        texts = [f"common v{version} doc{i}" for i in ids]
        metas = [{"v": version} for _ in ids]
        (col.upsert if upsert else col.add)(texts, ids=ids, metadata=metas, vectors=_vectors(len(ids), seed))
        current.update({i: version for i in ids})
        commit_state()

    put([f"a{i}" for i in range(40)], 0, upsert=False, seed=0)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen: list[tuple[str, Any]] = []

    def writer() -> None:
        try:
            for step in range(1, 25):
                if step % 6 == 0:
                    col.compact()
                    commit_state()
                elif step % 3 == 0:
                    doomed = sorted(current)[: 5]
                    col.delete(doomed)
                    for i in doomed:
                        del current[i]
                    commit_state()
                elif step % 2 == 0:
                    put(sorted(current)[::4], step, upsert=True, seed=step)
                else:
                    put([f"s{step}-{i}" for i in range(8)], step, upsert=False, seed=step)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            stop.set()

    def reader(seed: int) -> None:
        query = _vectors(1, 1000 + seed)[0]
        try:
            while not stop.is_set():
                for kind, result in _whole_collection_searches(col, query):
                    if kind == "count":
                        seen.append((kind, result))
                    else:  # read texts and metadata now: after later commits, as a caller would
                        seen.append((kind, {hit.id: (hit.metadata["v"], hit.text) for hit in result}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in range(3)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT * 2)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
    committed = [tuple(sorted(s.items())) for s in states]
    sizes = {len(s) for s in states}
    checked = 0
    for kind, result in seen:
        if kind == "count":
            assert result in sizes
            continue
        for doc_id, (version, text) in result.items():
            assert text == f"common v{version} doc{doc_id}"  # text and metadata of the same row
        got = tuple(sorted((doc_id, version) for doc_id, (version, _) in result.items()))
        assert got in committed, f"{kind} search saw a state no commit made ({len(got)} docs)"
        checked += 1
    assert checked >= 3


# ------------------------------------------------------------------ lazy work done once


def _race(n_threads: int, fn) -> list[Any]:
    """Run fn in n_threads threads released at once; give back their results (re-raising an error)."""
    start = threading.Barrier(n_threads, timeout=WAIT)
    results: list[Any] = [None] * n_threads
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            start.wait()
            results[i] = fn()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]
    return results


def _filled(tokenizer: Any, embedder: Any = None, n: int = 120) -> gyeol.Collection:
    col = gyeol.connect().create_collection("c", embedder=embedder, dim=DIM, tokenizer=tokenizer,
                                            index=gyeol.Flat())
    texts = [f"common word{i % 7} text{i} tag{i % 3}" for i in range(n)]
    col.add(texts, ids=[f"d{i}" for i in range(n)], metadata=[{"tag": f"t{i % 3}", "i": i} for i in range(n)],
            vectors=None if embedder is not None else _vectors(n, 0))
    return col


def test_first_keyword_searches_build_bm25_once() -> None:
    tokenizer = CountingTokenizer(build_delay=0.3)
    col = _filled(tokenizer)
    results = _race(4, lambda: col.search("word3", k=5, mode="keyword").ids)
    assert tokenizer.builds == 1
    assert all(r == results[0] for r in results) and len(results[0]) == 5


def test_first_filtered_searches_build_metadata_columns_once(monkeypatch) -> None:
    builds = []
    original = MetadataColumns.append_json

    def slow_append_json(self, metadata_json):
        builds.append(len(metadata_json))
        time.sleep(0.3)
        return original(self, metadata_json)

    monkeypatch.setattr(MetadataColumns, "append_json", slow_append_json)
    col = _filled("whitespace")
    query = _vectors(1, 5)[0]
    results = _race(4, lambda: col.search(vector=query, k=50, mode="vector", where={"tag": "t1"}).ids)
    assert builds == [120]
    assert all(r == results[0] for r in results) and len(results[0]) == 40


def test_first_auto_hybrid_searches_calibrate_once(monkeypatch) -> None:
    calls = []
    original = auto_fusion.calibrate

    def slow_calibrate(*args, **kwargs):
        calls.append(1)
        time.sleep(0.3)
        return original(*args, **kwargs)

    monkeypatch.setattr(auto_fusion, "calibrate", slow_calibrate)
    col = _filled("whitespace", HashEmbedder(DIM), n=150)
    results = _race(4, lambda: col.search("common word2", k=5).ids)  # alpha=None: auto fusion
    assert len(calls) == 1
    assert all(r == results[0] for r in results)


# ------------------------------------------------------------------ writes never hold searches up


class GatedEmbedder(HashEmbedder):
    """Documents wait for `release` once `gate_documents` is set; queries likewise with `gate_queries`."""

    def __init__(self) -> None:
        super().__init__(DIM)
        self.gate_documents = self.gate_queries = False
        self.embedding = threading.Event()
        self.release = threading.Event()

    def _gated(self, texts: list[str], gate: bool) -> np.ndarray:
        if gate:
            self.embedding.set()
            assert self.release.wait(WAIT)
        return self.embed(texts)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._gated(texts, self.gate_documents)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._gated(texts, self.gate_queries)


def _in_thread(fn) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn())
        except BaseException as exc:
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def test_search_is_not_blocked_by_an_add_embedding_its_batch() -> None:
    embedder = GatedEmbedder()
    col = _filled("whitespace", embedder, n=20)
    embedder.gate_documents = True
    writer, written = _in_thread(lambda: col.add(["common slow new text"], ids=["new"]))
    try:
        assert embedder.embedding.wait(WAIT)  # the add is embedding now
        begun = time.monotonic()
        searcher, found = _in_thread(lambda: (col.search("common", k=50, mode="hybrid").ids, col.count()))
        searcher.join(WAIT / 2)
        assert not searcher.is_alive(), "a search waited for another thread's add to finish embedding"
        assert time.monotonic() - begun < WAIT / 2
        ids, count = found[0]
        assert "new" not in ids and count == 20  # the add has not committed yet
    finally:
        embedder.release.set()
        writer.join(WAIT)
    assert written == [["new"]]
    assert "new" in col.search("slow", k=5, mode="keyword").ids and col.count() == 21


def test_a_search_embedding_its_query_does_not_block_a_write() -> None:
    embedder = GatedEmbedder()
    col = _filled("whitespace", embedder, n=20)
    embedder.gate_queries = True
    searcher, found = _in_thread(lambda: col.search("common", k=50, mode="vector").ids)
    try:
        assert embedder.embedding.wait(WAIT)  # the search is embedding its query
        writer, written = _in_thread(lambda: col.add(["common quick"], ids=["quick"], vectors=_vectors(1, 9)))
        writer.join(WAIT / 2)
        assert not writer.is_alive(), "an add waited for another thread's search to embed its query"
        assert written == [["quick"]]
    finally:
        embedder.release.set()
        searcher.join(WAIT)
    assert isinstance(found[0], list) and len(found[0]) in (20, 21)


def test_write_staged_before_bm25_was_built_is_indexed() -> None:
    """An add embedding while a search builds BM25 must still reach the keyword index."""
    embedder = GatedEmbedder()
    col = _filled("whitespace", embedder, n=20)
    embedder.gate_documents = True
    writer, written = _in_thread(lambda: col.add(["zebra stripes"], ids=["z"]))
    try:
        assert embedder.embedding.wait(WAIT)  # staged without BM25 terms: no keyword index yet
        assert col.search("common", k=3, mode="keyword").ids  # builds BM25 now
    finally:
        embedder.release.set()
        writer.join(WAIT)
    assert written == [["z"]]
    assert col.search("zebra", k=3, mode="keyword").ids == ["z"]


@pytest.mark.parametrize("whole", [False, True], ids=["delta", "whole save"])
def test_a_search_is_not_blocked_by_the_bm25_files_written_after_a_commit(tmp_path, monkeypatch, whole) -> None:
    """An add writes its BM25 delta (or the whole index) after the commit's exclusive section: a search
    meanwhile neither waits for it nor misses the committed batch, and the files, once written, are read."""
    import gyeol.engine.keyword_side as keyword_side
    import gyeol.lexical.bm25_files as bm25_files
    import gyeol.lexical.deltas as deltas

    db = gyeol.connect(tmp_path / "db")
    col = db.create_collection("c", embedder=None, dim=DIM, tokenizer="whitespace")
    col.add([f"common w{i}" for i in range(20)], ids=[f"d{i}" for i in range(20)], vectors=_vectors(20, 1))
    if whole:
        monkeypatch.setattr(keyword_side, "MAX_DELTAS", 0)  # the next add saves the whole index
    writing, release = threading.Event(), threading.Event()

    def gated(real):
        def write(*args, **kwargs):
            writing.set()
            assert release.wait(WAIT)
            return real(*args, **kwargs)
        return write

    monkeypatch.setattr(bm25_files, "save_arrays", gated(bm25_files.save_arrays))
    monkeypatch.setattr(deltas, "append_arrays", gated(deltas.append_arrays))
    writer, written = _in_thread(lambda: col.add(["common gated"], ids=["new"], vectors=_vectors(1, 2)))
    try:
        assert writing.wait(WAIT)  # committed; its BM25 files are being written
        searcher, found = _in_thread(lambda: col.search("gated", k=5, mode="keyword").ids)
        searcher.join(WAIT / 2)
        assert not searcher.is_alive(), "a search waited for the BM25 files of a committed add"
        assert found == [["new"]]
    finally:
        release.set()
        writer.join(WAIT)
    assert written == [["new"]]
    db.close()
    monkeypatch.undo()
    with gyeol.connect(tmp_path / "db", read_only=True) as reader:
        assert reader.get_collection("c").search("gated", k=5, mode="keyword").ids == ["new"]


def test_a_search_is_not_blocked_while_the_writer_folds_the_bm25_tail(tmp_path, monkeypatch) -> None:
    """The tail merge a write makes due (seconds at a million documents) runs outside the exclusive section;
    the merged postings are swapped in under it, and score as before."""
    import gyeol.lexical.bm25 as bm25

    monkeypatch.setattr(bm25, "_TAIL_MAX_CHUNKS", 2)  # the third add's tail is due for a merge
    db = gyeol.connect(tmp_path / "db")
    col = db.create_collection("c", embedder=None, dim=DIM, tokenizer="whitespace")
    for i in range(2):
        col.add([f"common w{i} x{j}" for j in range(10)], ids=[f"d{i}-{j}" for j in range(10)],
                vectors=_vectors(10, i))
    before = col.search("common w1", k=30, mode="keyword")
    merging, release = threading.Event(), threading.Event()
    real = bm25.BM25Index.merged_postings

    def gated(self):
        merging.set()
        assert release.wait(WAIT)
        return real(self)

    monkeypatch.setattr(bm25.BM25Index, "merged_postings", gated)
    writer, written = _in_thread(lambda: col.add(["common gated"], ids=["new"], vectors=_vectors(1, 9)))
    try:
        assert merging.wait(WAIT)  # committed; the tail is being merged
        searcher, found = _in_thread(lambda: col.search("gated", k=5, mode="keyword").ids)
        searcher.join(WAIT / 2)
        assert not searcher.is_alive(), "a search waited for the writer's BM25 tail merge"
        assert found == [["new"]]
    finally:
        release.set()
        writer.join(WAIT)
    assert written == [["new"]]
    after = col.search("common w1", k=30, mode="keyword")
    assert after.ids[: len(before.ids)] == before.ids or set(before.ids) <= set(after.ids)
    reference = {h.id: h.score for h in after}
    monkeypatch.undo()
    db.close()
    with gyeol.connect(tmp_path / "db", read_only=True) as reader:  # a fresh build from the saved files
        again = reader.get_collection("c").search("common w1", k=30, mode="keyword")
        assert {h.id: h.score for h in again} == pytest.approx(reference, rel=1e-12)
