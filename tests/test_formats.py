"""A database written by an earlier gyeol (on-disk format 1, tests/data/format1_db) still opens.

The fixture was written by tests/data/make_format1_db.py with the code of that time; these
tests open a copy with today's code. The derived indexes must load as they are, not be
rebuilt: a rebuild would hide a change in how their files are read.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import gyeol
from gyeol.config import CollectionConfig
from gyeol.errors import CorruptionError
from gyeol.index import load_index
from gyeol.lexical import BM25Index
from gyeol.storage.manifest import read_catalog, read_manifest

DATA = Path(__file__).resolve().parent / "data"
EXPECTED = json.loads((DATA / "format1_expected.json").read_text())
QUERY = np.linspace(-1.0, 1.0, 8, dtype=np.float32)  # as in make_format1_db.py
KEYWORDS = "alpha w3"
TIERS = ("memory", "hybrid", "disk")


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    """A private copy of the fixture: opening a database may write to it."""
    return Path(shutil.copytree(DATA / "format1_db", tmp_path / "kb"))


def _folder(root: Path, tier: str) -> Path:
    return root / "collections" / read_catalog(root).collections[tier]


@pytest.mark.parametrize("tier", TIERS)
def test_saved_indexes_of_format_1_load_without_a_rebuild(tier, old_db):
    folder = _folder(old_db, tier)
    manifest = read_manifest(folder)
    config = CollectionConfig.from_dict(manifest.config)
    vector = load_index(folder / "index" / tier, generation=manifest.generation, tier=tier,
                        metric=config.metric, dim=config.dim, next_label=manifest.next_label, read_only=True)
    assert vector is not None and vector.ntotal == manifest.next_label
    bm25_dir = folder / "index" / "bm25"
    terms = json.loads((bm25_dir / "bm25.json").read_text())["terms"]
    lexical = BM25Index.load(bm25_dir, manifest.generation, config.bm25, max_labels=manifest.next_label, terms=terms)
    assert lexical is not None
    assert (lexical.n_labels, lexical.n_live) == (manifest.next_label, manifest.next_label - manifest.deleted)


@pytest.mark.parametrize("read_only", [True, False])
def test_format_1_database_answers_as_it_did(read_only, old_db):
    with gyeol.connect(old_db, read_only=read_only) as db:
        assert db.list_collections() == sorted(TIERS)
        for tier in TIERS:
            col = db.get_collection(tier)
            assert col.count() == 108
            got = {
                "vector": col.search(vector=QUERY, k=10, mode="vector").ids,
                "keyword": col.search(KEYWORDS, k=10, mode="keyword").ids,
                "where": col.search(vector=QUERY, k=10, mode="vector", where={"tag": "t1"}).ids,
            }
            assert got == EXPECTED[tier], tier


def test_format_1_database_takes_writes_and_reopens(old_db):
    with gyeol.connect(old_db) as db:
        col = db.get_collection("memory")
        col.add(["alpha gamma"], ids=["new"], vectors=QUERY[None])
        col.delete(["d1"])
    with gyeol.connect(old_db, read_only=True) as db:
        col = db.get_collection("memory")
        assert col.count() == 108
        assert col.search(vector=QUERY, k=1, mode="vector").ids == ["new"]
        assert col.get(["d1"]) == []


def _set_format(path: Path, value: object) -> None:
    meta = json.loads(path.read_text())
    meta["format"] = value
    path.write_text(json.dumps(meta))


@pytest.mark.parametrize("value", [2, None, "1"])
def test_a_manifest_of_another_format_is_refused(value, old_db):
    _set_format(_folder(old_db, "memory") / "manifest.json", value)
    with gyeol.connect(old_db, read_only=True) as db:
        with pytest.raises(CorruptionError, match="format"):
            db.get_collection("memory")
        assert db.get_collection("disk").count() == 108


def test_saved_indexes_of_another_format_are_rebuilt(old_db):
    folder = _folder(old_db, "hybrid")
    terms = json.loads((folder / "index" / "bm25" / "bm25.json").read_text())["terms"]
    _set_format(folder / "index" / "hybrid" / "vector.json", 2)
    _set_format(folder / "index" / "bm25" / "bm25.json", 2)
    manifest = read_manifest(folder)
    config = CollectionConfig.from_dict(manifest.config)
    assert load_index(folder / "index" / "hybrid", generation=manifest.generation, tier="hybrid",
                      metric=config.metric, dim=config.dim, next_label=manifest.next_label) is None
    assert BM25Index.load(folder / "index" / "bm25", manifest.generation, config.bm25,
                          max_labels=manifest.next_label, terms=terms) is None
    with gyeol.connect(old_db) as db:
        col = db.get_collection("hybrid")
        assert col.search(vector=QUERY, k=10, mode="vector").ids == EXPECTED["hybrid"]["vector"]
        assert col.search(KEYWORDS, k=10, mode="keyword").ids == EXPECTED["hybrid"]["keyword"]


def test_bm25_arrays_round_trip_and_inconsistent_arrays_are_corruption():
    from rank_bm25 import BM25Okapi

    docs = [f"w{i % 7} w{i % 5} alpha w{i % 3}".split() for i in range(60)]
    params = gyeol.BM25()
    index = BM25Index(params)
    index.add(docs[:40])
    index.add(docs[40:])  # a tail chunk: export_arrays merges it
    index.delete(np.array([3, 4]))
    arrays = index.export_arrays()
    again = BM25Index.from_arrays(params, arrays, n_labels=index.n_labels, vocabulary_size=index.vocabulary_size)
    live = [d for i, d in enumerate(docs) if i not in (3, 4)]
    reference = BM25Okapi(live).get_scores(["w1", "alpha"])
    np.testing.assert_allclose(np.delete(again.get_scores(["w1", "alpha"]), [3, 4]), reference, rtol=1e-9)
    for name, wrong in [("doc_len", arrays["doc_len"][:-1]), ("term_ptr", arrays["term_ptr"] + 1),
                        ("vocab_data", np.full(len(arrays["vocab_data"]), 0xFF, np.uint8))]:
        with pytest.raises(CorruptionError):
            BM25Index.from_arrays(params, {**arrays, name: wrong}, n_labels=index.n_labels,
                                  vocabulary_size=index.vocabulary_size)
