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
