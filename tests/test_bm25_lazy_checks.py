"""A loaded BM25 index checks its large arrays chunk by chunk, just before a query first uses a chunk."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gyeol.config import BM25
from gyeol.errors import CorruptionError
from gyeol.lexical import BM25Index, _persist

from test_bm25 import zipf_corpus


@pytest.fixture
def saved(tmp_path: Path, monkeypatch) -> tuple[Path, BM25Index]:
    monkeypatch.setattr(_persist, "CHECK_AT_OPEN_MAX_BYTES", 1024)
    monkeypatch.setattr(_persist, "CHUNK_BYTES", 512)
    index = BM25Index(BM25())
    index.add(zipf_corpus(2000, seed=1))
    index.save(tmp_path, generation=1)
    return tmp_path, index


def _flip(directory: Path, name: str, element: int) -> None:
    """Flip a bit of element (an int32) of the saved array name."""
    entry = json.loads((directory / "bm25.json").read_bytes())["files"][name]
    path = directory / entry["file"]
    raw = bytearray(path.read_bytes())
    offset = len(raw) - 4 * entry["length"] + 4 * element  # .npy: the header, then the data
    raw[offset] ^= 0x01
    path.write_bytes(bytes(raw))


def test_chunk_checksums_are_saved_and_an_intact_load_answers_the_same(saved):
    directory, index = saved
    meta = json.loads((directory / "bm25.json").read_bytes())
    entry = meta["files"]["post_doc"]
    assert entry["chunk_bytes"] == 512 and len(entry["chunk_crc32"]) == -(-4 * entry["length"] // 512)
    assert "chunk_crc32" not in meta["files"]["df"] or 8 * meta["files"]["df"]["length"] > 1024
    loaded = BM25Index.load(directory, 1, BM25(), max_labels=2000)
    for query in (["w0"], ["w5", "w70"], ["w2999"], ["w1", "w300", "w12"]):
        for k in (1, 10, 500):
            got, want = loaded.search(query, k), index.search(query, k)
            assert got.labels.tolist() == want.labels.tolist() and got.scores.tolist() == want.scores.tolist()
    loaded.delete(np.array([3, 4]))  # a change checks what is left first, and goes on
    loaded.add([["w0", "new"]])
    assert loaded.search(["new"], 3).labels.tolist() == [2000]


def test_a_damaged_chunk_fails_the_query_that_uses_it_and_nothing_else(saved):
    directory, index = saved
    arrays = index.export_arrays()
    term_ptr = arrays["term_ptr"]
    last = len(term_ptr) - 2  # the last term's postings sit at the end of post_doc
    _flip(directory, "post_doc", int(term_ptr[last]))
    loaded = BM25Index.load(directory, 1, BM25(), max_labels=2000)
    assert loaded is not None  # the open did not read the damaged chunk
    first = index.search(["w0"], 5)  # the first term added: its postings lead the array, far from the damage
    assert loaded.search(["w0"], 5).labels.tolist() == first.labels.tolist()
    damaged_term = _term_of(index, last)
    with pytest.raises(CorruptionError, match="post_doc: checksum mismatch"):
        loaded.search([damaged_term], 5)
    with pytest.raises(CorruptionError):
        loaded.delete(np.array([0]))  # a change reads every array: it refuses, before changing anything
    assert loaded.n_live == 2000
    with pytest.raises(CorruptionError):
        loaded.search_many([["w0"], [damaged_term]], 5)


def _term_of(index: BM25Index, term_id: int) -> str:
    arrays = index.export_arrays()
    offsets, data = arrays["vocab_offsets"], arrays["vocab_data"]
    return bytes(data[offsets[term_id] : offsets[term_id + 1]]).decode()


def test_a_damaged_vocabulary_chunk_fails_the_lookup_that_reads_it(saved):
    directory, index = saved
    meta = json.loads((directory / "bm25.json").read_bytes())
    assert "chunk_crc32" in meta["files"]["vocab_data"] and "vocab_bucket_ptr" in meta["files"]
    arrays = index.export_arrays()
    last = len(arrays["vocab_offsets"]) - 2  # the last term's bytes end vocab_data, far from the first term's
    entry = meta["files"]["vocab_data"]
    path = directory / entry["file"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) - 1] ^= 0x01  # .npy: the header, then the bytes; the last byte is the last term's
    path.write_bytes(bytes(raw))
    loaded = BM25Index.load(directory, 1, BM25(), max_labels=2000)
    assert loaded is not None  # the open read no vocabulary bytes
    assert loaded.search(["w0"], 5).labels.tolist() == index.search(["w0"], 5).labels.tolist()
    damaged_term = _term_of(index, last)
    with pytest.raises(CorruptionError, match="vocab_data: checksum mismatch"):
        loaded.search([damaged_term], 5)


def test_a_loaded_vocabulary_finds_every_term_and_grows_like_a_fresh_one(tmp_path: Path):
    from gyeol.lexical.vocab import Vocabulary

    terms = ["", "a", "ab", "abc", "b", "ba", "한국어", "한국", "naïve", "\u00e9", "e\u0301", "x" * 300]
    terms += [f"w{i}" for i in range(5000)]
    docs = [terms[i::7] for i in range(7)]
    index = BM25Index(BM25())
    index.add(docs)
    index.save(tmp_path, generation=1)
    loaded = BM25Index.load(tmp_path, 1, BM25(), max_labels=len(docs))
    assert loaded is not None and loaded.vocabulary_size == index.vocabulary_size
    want = dict(zip(terms, Vocabulary.from_arrays(index.export_arrays()).ids(terms).tolist()))
    assert sorted(want.values()) == list(range(len(terms)))  # every term found, each its own id
    asked = terms + ["abcd", "w5000", "한", "A", "x" * 299]
    assert loaded._vocab.ids(asked).tolist() == [want.get(t, -1) for t in asked]
    assert loaded._vocab.ids(asked).tolist() == [want.get(t, -1) for t in asked]  # again, from the cache
    for query in (["a"], ["", "ab"], ["한국어", "w17", "missing"], ["e\u0301"]):
        got, ref = loaded.search(query, 5), index.search(query, 5)
        assert got.labels.tolist() == ref.labels.tolist() and got.scores.tolist() == ref.scores.tolist()
    more = [["new", "a", "w3"], ["newer", "new"]]
    index.add(more)
    loaded.add(more)
    assert loaded.vocabulary_size == index.vocabulary_size == len(terms) + 2
    for query in (["new"], ["newer", "a"], ["w3", "ab"]):
        got, ref = loaded.search(query, 5), index.search(query, 5)
        assert got.labels.tolist() == ref.labels.tolist() and got.scores.tolist() == ref.scores.tolist()
    loaded.save(tmp_path, generation=2)  # the saved terms and the added ones, in id order
    again = BM25Index.load(tmp_path, 2, BM25(), max_labels=len(docs) + 2)
    assert again is not None
    assert again.export_arrays()["vocab_data"].tobytes() == index.export_arrays()["vocab_data"].tobytes()
    assert again.search(["newer"], 3).labels.tolist() == [len(docs) + 1]


def test_arrays_without_the_hash_table_make_it(saved):
    directory, index = saved
    arrays = {name: arr for name, arr in index.export_arrays().items() if not name.startswith("vocab_bucket")}
    again = BM25Index.from_arrays(BM25(), arrays, n_labels=index.n_labels, vocabulary_size=index.vocabulary_size)
    for query in (["w0"], ["w5", "w70"], ["w2999", "nothing"]):
        assert again.search(query, 10).labels.tolist() == index.search(query, 10).labels.tolist()
