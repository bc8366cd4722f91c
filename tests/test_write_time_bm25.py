"""The BM25 index is kept at write time and saved with each commit; readers load it and follow it
without tokenizing stored texts; a crash between a commit and its BM25 delta leaves it short, never
wrong; tokenizer=None collections never tokenize; the writer saves auto fusion's parameters."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import HashEmbedder, new_collection, random_vectors, subprocess_env
from rank_bm25 import BM25Okapi

import gyeol
from gyeol._checksum import seal_json
from gyeol.lexical.deltas import coverage
from gyeol.lexical.tokenizers import TERMS_VERSION


def _counting_tokenizer(seen: list[str]):
    """A whitespace tokenizer that records every text it is given."""
    def counting(text: str) -> list[str]:
        seen.append(text)
        return text.lower().split()

    return counting


def _texts(start: int, n: int) -> list[str]:
    return [f"doc{i} w{i % 7} w{i % 3} common" for i in range(start, start + n)]


def _bm25_dir(db_path):
    (folder,) = (db_path / "collections").iterdir()
    return folder / "index" / "bm25"


def _coverage(db_path, col):
    (manifest,) = db_path.rglob("manifest.json")
    generation = json.loads(manifest.read_text())["generation"]
    return coverage(_bm25_dir(db_path), generation, {"tokenizer": col.config["tokenizer"], "version": TERMS_VERSION})


def test_each_add_saves_its_counts_and_readers_follow_without_tokenizing(db_path, rng):
    seen: list[str] = []
    counting = _counting_tokenizer(seen)
    writer = gyeol.connect(db_path)
    wcol = new_collection(writer, tokenizer=counting)
    wcol.add(_texts(0, 40), ids=[f"r{i}" for i in range(40)], vectors=random_vectors(rng, 40))
    assert len(seen) == 40  # tokenized once, at write time
    wcol.add(_texts(40, 10), ids=[f"r{i}" for i in range(40, 50)], vectors=random_vectors(rng, 10))
    assert _coverage(db_path, wcol).end == 50  # saved with the commits, before any close

    seen.clear()
    reader = gyeol.connect(db_path, read_only=True)
    rcol = reader.get_collection("docs", tokenizer=counting)
    assert rcol.search("doc45", k=1, mode="keyword").ids == ["r45"]
    assert seen == ["doc45"]  # loaded: only the query was tokenized

    wcol.add(_texts(50, 5), ids=[f"r{i}" for i in range(50, 55)], vectors=random_vectors(rng, 5))
    wcol.delete(["r3"])
    seen.clear()
    assert rcol.search("doc52", k=1, mode="keyword").ids == ["r52"]  # the reader follows the writer's commit
    assert rcol.search("doc3", k=1, mode="keyword").ids == []
    assert seen == ["doc52", "doc3"]  # the new batch came from its saved delta
    reader.close()
    writer.close()


def test_scores_after_writes_deletes_and_reopen_equal_rank_bm25(db_path, rng):
    texts = {f"r{i}": t for i, t in enumerate(_texts(0, 60))}
    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        ids = list(texts)
        for start in range(0, 60, 7):  # many small commits: deltas, then whole saves
            chunk = ids[start:start + 7]
            col.add([texts[i] for i in chunk], ids=chunk, vectors=random_vectors(rng, len(chunk)))
        col.upsert(["doc5 brand new words common"], ids=["r5"], vectors=random_vectors(rng, 1))
        texts["r5"] = "doc5 brand new words common"
        col.delete(["r8", "r9"])
        del texts["r8"], texts["r9"]
    with gyeol.connect(db_path, read_only=True) as db:
        col = db.get_collection("docs")
        live = list(texts)
        reference = BM25Okapi([texts[i].split() for i in live])
        for query in ["common w3", "doc5 words", "w1 w2 w6"]:
            expected = reference.get_scores(query.split())
            got = {hit.id: hit.score for hit in col.search(query, k=60, mode="keyword")}
            want = {i: s for i, s in zip(live, expected) if any(t in texts[i].split() for t in query.split())}
            assert got.keys() == want.keys()
            np.testing.assert_allclose([got[i] for i in want], list(want.values()), rtol=1e-9)


def test_deltas_are_bounded_and_save_indexes_keyword_folds_them(db_path, rng):
    import gyeol.engine.keyword_side as keyword_side

    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        col.add(_texts(0, 100), ids=[f"r{i}" for i in range(100)], vectors=random_vectors(rng, 100))
        for i in range(100, 100 + keyword_side.MAX_DELTAS + 3):
            col.add(_texts(i, 1), ids=[f"r{i}"], vectors=random_vectors(rng, 1))
            covered = _coverage(db_path, col)
            assert covered.end == i + 1 and covered.n_deltas <= keyword_side.MAX_DELTAS
            assert covered.delta_labels <= covered.base_labels
        col.save_indexes(keyword=True)
        covered = _coverage(db_path, col)
        assert (covered.n_deltas, covered.base_labels) == (0, col.count())


def test_close_folds_the_deltas_into_one_save(db_path, rng):
    with gyeol.connect(db_path) as db:
        col = new_collection(db)
        col.add(_texts(0, 20), ids=[f"r{i}" for i in range(20)], vectors=random_vectors(rng, 20))
        col.add(_texts(20, 5), ids=[f"r{i}" for i in range(20, 25)], vectors=random_vectors(rng, 5))
        assert len(json.loads((_bm25_dir(db_path) / "bm25.json").read_text())["deltas"]) == 1
    meta = json.loads((_bm25_dir(db_path) / "bm25.json").read_text())
    assert not meta.get("deltas") and meta["n_labels"] == 25
    seen: list[str] = []
    with gyeol.connect(db_path, read_only=True) as db:
        col = db.get_collection("docs", tokenizer=_counting_tokenizer(seen))
        assert col.search("doc22", k=1, mode="keyword").ids == ["r22"]
    assert seen == ["doc22"]  # the query only: nothing tokenized again


def test_a_delta_that_does_not_continue_the_save_is_not_used(db_path, rng):
    db = gyeol.connect(db_path)
    col = new_collection(db)
    col.add(_texts(0, 20), ids=[f"r{i}" for i in range(20)], vectors=random_vectors(rng, 20))
    col.add(_texts(20, 5), ids=[f"r{i}" for i in range(20, 25)], vectors=random_vectors(rng, 5))
    col.release(save=False)  # stopped without the closing save (as a killed writer): the delta stays
    db.close()
    meta_path = _bm25_dir(db_path) / "bm25.json"
    meta = json.loads(meta_path.read_text())
    assert len(meta["deltas"]) == 1
    meta["deltas"][0]["first_label"] = 19  # a chain with an overlap: the delta describes other rows
    meta_path.write_bytes(seal_json(meta))  # sealed again: a sound file that describes a broken chain
    seen: list[str] = []
    with gyeol.connect(db_path, read_only=True) as db:
        col = db.get_collection("docs", tokenizer=_counting_tokenizer(seen))
        assert col.search("doc22", k=1, mode="keyword").ids == ["r22"]
    # the query's terms are made before the index catches up (searches tokenize outside any lock)
    assert seen[0] == "doc22" and seen[1:] == _texts(20, 5)  # the five texts were tokenized again instead


CRASH = textwrap.dedent("""
    import os, sys
    import numpy as np
    import gyeol
    import gyeol.lexical.deltas as deltas
    import gyeol.engine.keyword_side as keyword_side

    def die(*args, **kwargs):  # kill -9 after the Parquet commit, before its BM25 delta or save
        os._exit(9)

    with gyeol.connect(sys.argv[1]) as db:
        col = db.create_collection("docs", embedder=None, dim=4, tokenizer="whitespace", index=gyeol.Flat())
        col.add([f"doc{i} common" for i in range(30)], ids=[f"r{i}" for i in range(30)],
                vectors=np.ones((30, 4), np.float32))
        deltas.append_delta = keyword_side.append_delta = die
        keyword_side.KeywordSide._save_all = die
        col.add([f"doc{i} common late" for i in range(30, 33)], ids=[f"r{i}" for i in range(30, 33)],
                vectors=np.ones((3, 4), np.float32))
""")


@pytest.mark.parametrize("writable", [False, True])
def test_kill_between_the_commit_and_its_bm25_delta_leaves_it_short_never_wrong(db_path, writable):
    proc = subprocess.run([sys.executable, "-c", CRASH, str(db_path)], env=subprocess_env(), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    seen: list[str] = []
    with gyeol.connect(db_path, read_only=not writable) as db:
        col = db.get_collection("docs", tokenizer=_counting_tokenizer(seen))
        assert col.count() == 33  # the commit stands
        assert sorted(col.search("late", k=5, mode="keyword").ids) == ["r30", "r31", "r32"]
        # the query first (tokenized before the index catches up), then only what the save missed
        assert seen == ["late"] + [f"doc{i} common late" for i in range(30, 33)]
        hits = col.search("common", k=40, mode="keyword")
        reference = BM25Okapi([d.text.split() for d in col.get()])
        np.testing.assert_allclose(sorted(hits.scores), sorted(reference.get_scores(["common"])), rtol=1e-9)


def test_tokenizer_none_never_tokenizes_nor_loads_kiwi(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        import numpy as np
        import gyeol
        path = {str(tmp_path / "kb")!r}
        with gyeol.connect(path) as db:
            col = db.create_collection("v", embedder=None, dim=4, tokenizer=None)
            col.add(["a b", "c d"], ids=["x", "y"], vectors=np.eye(4, dtype="float32")[:2])
            assert col.search(vector=[0, 1, 0, 0], k=1).ids == ["y"]
            for kwargs in ({{"mode": "keyword"}}, {{"alpha": 0.3}}):
                try:
                    col.search("a", vector=[1, 0, 0, 0], **kwargs)
                except gyeol.InvalidInputError as exc:
                    assert "tokenizer=None" in str(exc), exc
                else:
                    raise AssertionError(kwargs)
        with gyeol.connect(path) as db:
            col = db.get_collection("v")
            assert col.config["tokenizer"] == {{"kind": "none"}}
            try:
                db.get_collection("v", tokenizer="whitespace")
            except gyeol.InvalidInputError:
                pass
            else:
                raise AssertionError("a tokenizer was accepted")
            assert col.search("a b", vector=[1, 0, 0, 0], k=1).ids == ["x"]  # the default search: vector
        import pathlib
        assert not list(pathlib.Path(path).rglob("bm25*.*")), list(pathlib.Path(path).rglob("bm25*"))
        print("kiwipiepy" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False"]


def test_the_writer_saves_auto_fusion_and_readers_never_calibrate_or_write(db_path, monkeypatch):
    import gyeol.engine.auto_fusion as auto_fusion

    texts = [f"topic{i % 9} passage {i}. more words here w{i % 5}" for i in range(60)]
    with gyeol.connect(db_path) as db:
        col = new_collection(db, embedder=HashEmbedder())
        col.add(texts, ids=[f"r{i}" for i in range(60)])
    (params,) = db_path.rglob("fusion/auto.json")
    assert json.loads(params.read_text())["measured_at"] == 60

    def refuse(*args, **kwargs):
        raise AssertionError("calibrated again")

    monkeypatch.setattr(auto_fusion, "calibrate", refuse)
    with gyeol.connect(db_path, read_only=True) as db:
        assert len(db.get_collection("docs", embedder=HashEmbedder()).search("topic3 passage", k=3)) == 3

    params.unlink()
    monkeypatch.undo()
    before = sorted(p.relative_to(db_path) for p in db_path.rglob("*"))
    with gyeol.connect(db_path, read_only=True) as db:
        assert len(db.get_collection("docs", embedder=HashEmbedder()).search("topic3 passage", k=3)) == 3
    assert sorted(p.relative_to(db_path) for p in db_path.rglob("*")) == before  # measured, not written


def test_compact_renumbers_the_postings_without_tokenizing(db_path, rng):
    seen: list[str] = []
    texts = {f"r{i}": t for i, t in enumerate(_texts(0, 30))}
    with gyeol.connect(db_path) as db:
        col = new_collection(db, tokenizer=_counting_tokenizer(seen))
        col.add(list(texts.values()), ids=list(texts), vectors=random_vectors(rng, 30))
        col.delete(["r0", "r7", "r8", "r29"])
        for gone in ("r0", "r7", "r8", "r29"):
            del texts[gone]
        seen.clear()
        col.compact()
        assert seen == []
        assert col.search("doc9", k=1, mode="keyword").ids == ["r9"]
    with gyeol.connect(db_path, read_only=True) as db:
        col = db.get_collection("docs", tokenizer=_counting_tokenizer(seen))
        hits = col.search("common w2", k=30, mode="keyword")
        assert seen == ["doc9", "common w2"]  # the compacted index was saved and loaded
        reference = BM25Okapi([t.split() for t in texts.values()])
        want = dict(zip(texts, reference.get_scores(["common", "w2"])))
        assert set(hits.ids) == set(want)
        np.testing.assert_allclose(hits.scores, [want[i] for i in hits.ids], rtol=1e-9)


def test_export_folds_the_tail_into_new_arrays_and_leaves_the_index_as_it_was():
    """What a writer saves after the commit's exclusive section: the export changes nothing a search reads,
    and the exported arrays score as rank_bm25 over the live documents."""
    from gyeol.config import BM25
    from gyeol.lexical.bm25 import BM25Index

    docs = [t.split() for t in _texts(0, 300)]
    index = BM25Index(BM25(variant="okapi"))
    for start in range(0, 300, 30):
        index.add(docs[start:start + 30])
    dead = np.arange(0, 300, 13)
    index.delete(dead)
    tail, post_doc = list(index._tail), index._post_doc
    assert tail  # small adds stay in the tail
    arrays = index.export_arrays()
    assert len(index._tail) == len(tail) and all(a is b for a, b in zip(index._tail, tail))
    assert index._post_doc is post_doc  # nothing swapped under a search
    loaded = BM25Index.from_arrays(BM25(variant="okapi"), arrays, n_labels=300,
                                   vocabulary_size=index.vocabulary_size)
    live = np.setdiff1d(np.arange(300), dead)
    reference = BM25Okapi([docs[i] for i in live])
    for query in (["common", "w3"], ["doc7", "w1"], ["w2", "w6", "w5"]):
        np.testing.assert_array_equal(loaded.get_scores(query), index.get_scores(query))
        np.testing.assert_allclose(loaded.get_scores(query)[live], reference.get_scores(query), rtol=1e-9)


def test_concat_counts_equals_counting_the_documents_at_once():
    from gyeol.lexical.counts import concat_counts, count_terms

    docs = [t.split() for t in _texts(0, 50)] + [[], ["common", "common", "new"], ["검색", "검색", "new"], []]
    parts = [count_terms(docs[a:b]) for a, b in ((0, 7), (7, 8), (8, 30), (30, 52), (52, 53), (53, 54))]
    joined, whole = concat_counts(parts), count_terms(docs)
    assert sorted(joined.terms) == sorted(whole.terms)  # each term once
    assert joined.n_docs == whole.n_docs
    np.testing.assert_array_equal(joined.doc_len, whole.doc_len)
    np.testing.assert_array_equal(joined.doc_ptr, whole.doc_ptr)
    for i in range(whole.n_docs):  # the same (term, tf) pairs per document, whatever the term numbering
        lo, hi = whole.doc_ptr[i], whole.doc_ptr[i + 1]
        want = {whole.terms[t]: tf for t, tf in zip(whole.pair_term[lo:hi], whole.pair_tf[lo:hi])}
        got = {joined.terms[t]: tf for t, tf in zip(joined.pair_term[lo:hi], joined.pair_tf[lo:hi])}
        assert got == want
