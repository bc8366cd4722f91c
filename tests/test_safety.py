"""A data directory that cannot be turned against its user: damage is reported, never swept away,
and nothing outside the database directory is read, written or deleted whatever its files say."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import gyeol
from gyeol.errors import CorruptionError

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
