"""A data directory that cannot be turned against its user: damage is reported, never swept away,
and nothing outside the database directory is read, written or deleted whatever its files say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

import gyeol
from gyeol.errors import CorruptionError, FilterError, InvalidInputError, StorageLockedError
from gyeol.filters import MAX_FILTER_DEPTH

from conftest import DIM, new_collection, random_vectors, snapshot


def make_db(db_path: Path, names=("docs",), n: int = 8) -> None:
    """A closed database holding one small collection per name (one delete each, so a tombstone)."""
    rng = np.random.default_rng(3)
    with gyeol.connect(db_path) as db:
        for name in names:
            col = new_collection(db, name)
            col.add([f"doc {i} of {name}" for i in range(n)], ids=[f"{name}{i}" for i in range(n)],
                    vectors=random_vectors(rng, n))
            col.delete([f"{name}0"])


def folders(db_path: Path) -> list[Path]:
    return sorted((db_path / "collections").iterdir())


# --------------------------------------------------------------------------- a missing catalog


@pytest.mark.parametrize("read_only", [False, True])
def test_a_missing_catalog_beside_collection_folders_is_corruption_not_a_sweep(read_only, db_path):
    make_db(db_path, names=("a", "b"))
    (db_path / "catalog.json").unlink()
    before = snapshot(db_path)
    with pytest.raises(CorruptionError, match="catalog.json is missing"):
        gyeol.connect(db_path, read_only=read_only)
    assert snapshot(db_path) == before  # both collections are still there, byte for byte


def test_a_new_database_commits_an_empty_catalog_at_once(db_path):
    with gyeol.connect(db_path) as db:
        assert (db_path / "catalog.json").is_file()  # so a create cut short never meets a missing catalog
        assert db.list_collections() == []
    with gyeol.connect(db_path, read_only=True) as reader:
        assert reader.list_collections() == []


def test_sweeps_delete_only_what_gyeol_named_and_no_commit_names(db_path, tmp_path):
    make_db(db_path)
    (folder,) = folders(db_path)
    outside = tmp_path / "outside"
    (outside / "data").mkdir(parents=True)
    (outside / "data" / "seg-0001-000000000099-0badf00d.parquet").write_bytes(b"canary")
    canaries = snapshot(outside)
    collections = db_path / "collections"
    gyeol_leftovers = [
        collections / "c-0123456789abcdef",  # an interrupted create: gyeol's naming, in no catalog
        folder / "data" / "seg-0001-000000000099-0badf00d.parquet",
        folder / "data" / "tomb-0001-0badf00d0bad.parquet",
        db_path / ".catalog.json.0badf00d.tmp",
    ]
    not_gyeols = [
        collections / "my-notes",
        collections / "c-0123456789abcdef0",  # one digit too many
        collections / "C-0123456789ABCDEF",
        folder / "data" / "mine.parquet",
        folder / "data" / "seg-1.parquet",
        db_path / ".notes.tmp",
        db_path / "README",
    ]
    for path in gyeol_leftovers[:1] + not_gyeols[:3]:
        (path / "data").mkdir(parents=True)
        (path / "data" / "keep.txt").write_text("mine")
    for path in gyeol_leftovers[1:] + not_gyeols[3:]:
        path.write_bytes(b"mine")
    link = collections / "c-fedcba9876543210"  # gyeol's naming, but a link to someone else's folder
    link.symlink_to(outside, target_is_directory=True)
    with gyeol.connect(db_path) as db:
        assert db.get_collection("docs").count() == 7
    assert [str(p) for p in gyeol_leftovers if p.exists()] == []
    assert [str(p) for p in not_gyeols if not p.exists()] == []
    assert link.is_symlink() and snapshot(outside) == canaries


# --------------------------------------------------------------------------- confinement


@pytest.fixture
def full_db(db_path):
    """A closed database whose collection has saved vector and BM25 indexes and a docs cache."""
    make_db(db_path)
    with gyeol.connect(db_path) as db:
        db.get_collection("docs").search("doc", k=2, mode="keyword")
    return db_path


@pytest.fixture
def victim(tmp_path):
    """Someone else's files beside the database: they must never be read, changed or deleted."""
    root = tmp_path / "victim"
    (root / "data").mkdir(parents=True)
    for name in ("victim.parquet", "data/seg-0001-000000000000-0badf00d.parquet", "index-0123456789ab.faiss",
                 "vectors-0123456789ab.f32", "bm25.0123456789ab.df.npy", "notes.txt"):
        (root / name).write_bytes(b"someone else's bytes " + name.encode())
    return root


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def collection_folder(db_path: Path) -> Path:
    (folder,) = folders(db_path)
    return folder


def craft(kind: str, db_path: Path, victim: Path) -> None:
    folder = collection_folder(db_path)
    manifest = folder / "manifest.json"
    if kind == "catalog absolute":
        edit_json(db_path / "catalog.json", lambda d: d["collections"].update(docs=str(victim)))
    elif kind == "catalog ../..":
        edit_json(db_path / "catalog.json", lambda d: d["collections"].update(docs="../../victim"))
    elif kind == "catalog NUL":
        edit_json(db_path / "catalog.json", lambda d: d["collections"].update(docs="c-0123456789abcde\x00"))
    elif kind == "collection folder symlink":
        shutil.copytree(folder, victim / "col")  # a whole, valid collection, but outside the database
        shutil.rmtree(folder)
        folder.symlink_to(victim / "col", target_is_directory=True)
    elif kind == "segment absolute":
        edit_json(manifest, lambda d: d["segments"][0].update(file=str(victim / "victim.parquet")))
    elif kind == "segment ../..":
        edit_json(manifest, lambda d: d["segments"][0].update(file="../../../../victim/victim.parquet"))
    elif kind == "tombstone absolute":
        edit_json(manifest, lambda d: d.update(tombstones=[str(victim / "victim.parquet")]))
    elif kind == "segment symlink":
        seg = next((folder / "data").glob("seg-*.parquet"))
        seg.unlink()
        seg.symlink_to(victim / "data" / "seg-0001-000000000000-0badf00d.parquet")
    elif kind == "data folder symlink":
        shutil.copytree(folder / "data", victim / "data2")
        shutil.rmtree(folder / "data")
        (folder / "data").symlink_to(victim / "data2", target_is_directory=True)
    elif kind == "index folder symlink":
        shutil.rmtree(folder / "index" / "memory")
        (folder / "index" / "memory").symlink_to(victim, target_is_directory=True)
    else:
        raise AssertionError(kind)


SOURCE_CRAFTS = ["catalog absolute", "catalog ../..", "catalog NUL", "collection folder symlink", "segment absolute",
                 "segment ../..", "tombstone absolute", "segment symlink", "data folder symlink",
                 "index folder symlink"]


@pytest.mark.parametrize("kind", SOURCE_CRAFTS)
def test_crafted_names_are_corruption_at_open_and_nothing_outside_is_touched(kind, full_db, victim, monkeypatch):
    craft(kind, full_db, victim)
    before = snapshot(victim)
    opened: list[str] = []
    real_open = pa.memory_map
    monkeypatch.setattr(pa, "memory_map", lambda p, *a, **k: opened.append(str(p)) or real_open(p, *a, **k))
    named = ("catalog.json" if kind.startswith("catalog") else "leads outside" if "folder" in kind
             else "manifest.json")
    for read_only in (True, False):
        with pytest.raises(CorruptionError, match=named):
            with gyeol.connect(full_db, read_only=read_only) as db:
                db.get_collection("docs")
    assert not [p for p in opened if str(victim) in str(Path(p).resolve())]
    if not kind.startswith("catalog"):  # drop and a writer's sweeps still never reach outside
        with gyeol.connect(full_db) as db:
            db.drop_collection("docs")
            assert db.list_collections() == []
    assert snapshot(victim) == before
    assert (victim / "notes.txt").exists()


@pytest.mark.parametrize("meta", ["vector.json", "bm25.json"])
@pytest.mark.parametrize("where", ["absolute", "../..", "symlink"])
def test_crafted_index_meta_names_are_never_followed_and_the_index_is_rebuilt(meta, where, full_db, victim,
                                                                             monkeypatch, caplog):
    import faiss

    part = "memory" if meta == "vector.json" else "bm25"
    index_dir = collection_folder(full_db) / "index" / part
    target = victim / ("index-0123456789ab.faiss" if meta == "vector.json" else "bm25.0123456789ab.df.npy")
    if where == "symlink":
        name = target.name
        (index_dir / name).symlink_to(target)
    else:
        name = str(target) if where == "absolute" else f"../../../../../victim/{target.name}"

    def point(data):
        if meta == "vector.json":
            data["index"].update(file=name, bytes=target.stat().st_size)  # the size check alone would pass
        else:
            data["files"]["df"]["file"] = name

    edit_json(index_dir / meta, point)
    before = snapshot(victim)
    read: list[str] = []
    real_read = faiss.read_index
    monkeypatch.setattr(faiss, "read_index", lambda p, *a: read.append(str(p)) or real_read(p, *a))
    real_load = np.load
    monkeypatch.setattr(np, "load", lambda p, *a, **k: read.append(str(p)) or real_load(p, *a, **k))
    with caplog.at_level("WARNING"):
        with gyeol.connect(full_db) as db:
            col = db.get_collection("docs")
            hits = col.search("doc", vector=np.ones(DIM, np.float32), k=3, mode="keyword" if part == "bm25" else "vector")
            assert len(hits.ids) == 3
    assert any(meta in r.getMessage() and "rebuil" in r.getMessage() for r in caplog.records)
    assert not [p for p in read if str(victim) in str(Path(p).resolve())]
    assert snapshot(victim) == before


# --------------------------------------------------------------------------- errors that escaped the tree


def nested(depth: int, leaf):
    where = leaf
    for _ in range(depth):
        where = {"$and": [where]}
    return where


def deep_list(depth: int):
    value = 1
    for _ in range(depth):
        value = [value]
    return value


@pytest.fixture
def opened(full_db):
    db = gyeol.connect(full_db)
    yield db, db.get_collection("docs")
    db.close()


def test_connect_to_a_path_with_nul_is_invalid_input(tmp_path):
    for read_only in (False, True):
        with pytest.raises(InvalidInputError, match="NUL"):
            gyeol.connect(f"{tmp_path}/a\x00b", read_only=read_only)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["\ud800", "a\udfffb", "docs\udc80"])
def test_a_collection_name_with_a_lone_surrogate_is_invalid_and_creates_nothing(name, opened, full_db):
    db, _ = opened
    before = snapshot(full_db)
    with pytest.raises(InvalidInputError, match="not valid Unicode"):
        new_collection(db, name)
    assert snapshot(full_db) == before and db.list_collections() == ["docs"]


@pytest.mark.parametrize("vector", [["a"] * DIM, [object()] * DIM, "text", {"x": 1}, [[1.0, 2.0], [1.0]],
                                    [1e300] * DIM, [None] * DIM, b"\x00" * DIM])
def test_a_non_numeric_query_vector_is_invalid_input(vector, opened, full_db):
    _, col = opened
    before = snapshot(full_db)
    with pytest.raises(InvalidInputError):
        col.search(vector=vector, k=3, mode="vector")
    assert snapshot(full_db) == before


@pytest.mark.parametrize("where", [nested(5_000, {"i": 1}), nested(MAX_FILTER_DEPTH + 1, {"i": 1}),
                                   {"$or": [nested(40, {"i": 1}), {"i": 2}]}, {"i": deep_list(5_000)},
                                   {"i": {"$in": deep_list(5_000)}}, {"$or": [deep_list(5_000)]}])
def test_deep_filters_are_a_filter_error(where, opened, full_db):
    _, col = opened
    with pytest.raises(FilterError):
        col.search(vector=np.ones(DIM, np.float32), k=3, mode="vector", where=where)


def test_filters_nest_up_to_the_documented_depth(opened):
    _, col = opened
    hits = col.search(vector=np.ones(DIM, np.float32), k=10, mode="vector",
                      where=nested(MAX_FILTER_DEPTH - 1, {"$or": [{"i": 1}, {"i": {"$exists": False}}]}))
    assert len(hits.ids) == 7


# --------------------------------------------------------------------------- the manifest against the data


def write_tombstone_labels(folder: Path, labels: list[int]) -> None:
    from gyeol.storage.segments import write_tombstones

    (tomb,) = (folder / "data").glob("tomb-*.parquet")
    write_tombstones(tomb, np.asarray(labels, np.int64))


def change_dim(folder: Path) -> None:
    edit_json(folder / "manifest.json", lambda d: d["config"].update(dim=DIM + 1))


MANIFEST_DAMAGE = {
    "negative tombstone": (lambda f: write_tombstone_labels(f, [-1]), "tomb-.* holds label -1"),
    "tombstone past next_label": (lambda f: write_tombstone_labels(f, [8]), "tomb-.* holds label 8"),
    "segment listed twice": (lambda f: edit_json(f / "manifest.json", lambda d: d.update(
        segments=[d["segments"][0], {**d["segments"][0], "first_label": 8}], next_label=16)), "more than once"),
    "tombstone listed twice": (lambda f: edit_json(f / "manifest.json", lambda d: d.update(
        tombstones=d["tombstones"] * 2)), "more than once"),
    "labels not contiguous": (lambda f: edit_json(f / "manifest.json", lambda d: d["segments"][0].update(
        first_label=3)), "expected the next label 0"),
    "dim changed": (change_dim, f"says dim {DIM + 1}"),
}


@pytest.mark.parametrize("damage", sorted(MANIFEST_DAMAGE))
def test_a_manifest_at_odds_with_its_data_is_corruption_at_open(damage, full_db):
    do, message = MANIFEST_DAMAGE[damage]
    folder = collection_folder(full_db)
    do(folder)
    before = snapshot(full_db)
    for read_only in (True, False):
        with pytest.raises(CorruptionError, match=message):
            with gyeol.connect(full_db, read_only=read_only) as db:
                db.get_collection("docs")
    assert snapshot(full_db) == before


# --------------------------------------------------------------------------- one process, two opens


def test_a_second_writer_open_in_the_same_process_says_so_and_how_to_close_it(db_path):
    first = gyeol.connect(db_path)
    new_collection(first)
    with pytest.raises(StorageLockedError, match="already open for writing in this process") as info:
        gyeol.connect(db_path / ".." / db_path.name)  # the same folder by another spelling
    assert "another process" not in str(info.value) and "close()" in str(info.value)
    with gyeol.connect(db_path, read_only=True) as reader:  # reading beside it is fine
        assert reader.list_collections() == ["docs"]
    first.close()
    with gyeol.connect(db_path) as again:
        assert again.list_collections() == ["docs"]
