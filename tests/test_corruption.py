"""The damage policy, file kind by file kind: every kind of file gyeol writes is truncated, has a page
zeroed, has bits flipped and is swapped with another of its kind.

- derived files (vector index, rescoring rows, docs cache, BM25, fusion calibration): the damage
  is logged at WARNING, the file is rebuilt from the Parquet segments, and every search answers
  exactly as an undamaged twin does;
- source files (segment, tombstone, manifest, catalog): CorruptionError at open naming the file,
  for readers and writers alike, and nothing on disk changes.
No case may end in another exception type or in a silently different answer.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

import gyeol
from gyeol._checksum import seal_json
from gyeol.errors import CorruptionError

from conftest import snapshot

SIZES = {"memory": 300, "hybrid": 200, "disk": 250}  # different sizes: no two collections' files are alike
DIM = 8
QUERIES = np.random.default_rng(11).normal(size=(4, DIM)).astype(np.float32)
KEYWORDS = ["w3 w5", "doc17 w2", "w12"]


def _texts(tier: str, n: int) -> list[str]:
    return [f"{tier} doc{i} w{i % 7} w{i % 11} w{i % 13}" for i in range(n)]


@pytest.fixture(scope="module", autouse=True)
def small_saves():
    """Collections this small save their id map and filter columns too (storage/saved_arrays.py)."""
    from gyeol.storage import saved_arrays

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(saved_arrays, "SAVE_MIN_TAIL", 16)
        yield


def build(root: Path) -> None:
    """Three collections (one per tier), each with two segments, a tombstone, and every derived file saved."""
    rng = np.random.default_rng(7)
    with gyeol.connect(root) as db:
        for tier, n in SIZES.items():
            col = db.create_collection(tier, embedder=None, dim=DIM, tier=tier, tokenizer="whitespace")
            half = n // 2
            col.add(_texts(tier, n)[:half], ids=[f"{tier}{i}" for i in range(half)],
                    vectors=rng.normal(size=(half, DIM)).astype(np.float32),
                    metadata=[{"g": i % 5, "tag": f"t{i % 3}"} for i in range(half)])
    with gyeol.connect(root) as db:  # the disk tier's second batch goes to its delta file
        for tier, n in SIZES.items():
            col = db.get_collection(tier)
            half = n // 2
            col.add(_texts(tier, n)[half:], ids=[f"{tier}{i}" for i in range(half, n)],
                    vectors=rng.normal(size=(n - half, DIM)).astype(np.float32),
                    metadata=[{"g": i % 5, "tag": [f"t{i % 3}"]} for i in range(half, n)])
            col.delete([f"{tier}1", f"{tier}{n - 1}"])
            col.search(KEYWORDS[0], vector=QUERIES[0], k=3)  # auto hybrid: BM25 built, fusion measured
    with gyeol.connect(root) as db:  # a writer's open writes the docs caches and docs.json
        for tier in SIZES:
            db.get_collection(tier)


def answers(root: Path, read_only: bool) -> dict:
    """What every collection answers: vector, keyword and hybrid searches, and a get."""
    out = {}
    with gyeol.connect(root, read_only=read_only) as db:
        for tier in SIZES:
            col = db.get_collection(tier)
            got = [[(h.id, round(h.score, 5)) for h in col.search(vector=q, k=5, mode="vector")] for q in QUERIES]
            got += [[(h.id, round(h.score, 5)) for h in col.search(k, k=5, mode="keyword")] for k in KEYWORDS]
            got += [[(h.id, round(h.score, 5)) for h in col.search(k, vector=q, k=5)] for k, q in zip(KEYWORDS, QUERIES)]
            got.append([(d.id, d.text) for d in col.get([f"{tier}{i}" for i in (0, 1, 2, 150, 199)])])
            got.append(col.count())
            got.append(sorted(d.id for d in col.get(where={"$or": [{"g": 2}, {"tag": {"$contains": "t1"}}]})))
            out[tier] = got
    return out


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("corruption") / "kb"
    build(root)
    return root, answers(root, read_only=True)


@pytest.fixture
def twin(template, tmp_path) -> tuple[Path, dict]:
    """A private copy of the template database and the template's answers."""
    root, expected = template
    return Path(shutil.copytree(root, tmp_path / "kb")), expected


def folder_of(root: Path, tier: str) -> Path:
    catalog = json.loads((root / "catalog.json").read_text())
    return root / "collections" / catalog["collections"][tier]


# kind -> (source?, collection, glob, swap partner (collection, glob), meaningful leading bytes)
KINDS = {
    "segment": (True, "memory", "data/seg-*.parquet", ("memory", "data/seg-*.parquet"), None),
    "tombstone": (True, "memory", "data/tomb-*.parquet", ("hybrid", "data/tomb-*.parquet"), None),
    "manifest": (True, "memory", "manifest.json", ("disk", "manifest.json"), None),
    "catalog": (True, None, "catalog.json", None, None),
    "vector.json (memory)": (False, "memory", "index/memory/vector.json", ("hybrid", "index/hybrid/vector.json"), None),
    "vector.json (disk)": (False, "disk", "index/disk/vector.json", ("memory", "index/memory/vector.json"), None),
    "faiss (memory)": (False, "memory", "index/memory/index-*.faiss", ("disk", "index/disk/index-*.faiss"), None),
    "faiss (disk)": (False, "disk", "index/disk/index-*.faiss", ("memory", "index/memory/index-*.faiss"), None),
    # .f32 files are preallocated: only the first n rows are data (hybrid 198, disk 248 rows of 32 bytes)
    "f32 (hybrid)": (False, "hybrid", "index/hybrid/vectors-*.f32", ("disk", "index/disk/delta-*.f32"), 4096),
    "f32 (disk delta)": (False, "disk", "index/disk/delta-*.f32", ("hybrid", "index/hybrid/vectors-*.f32"), 4096),
    "docs cache": (False, "memory", "index/docs/*.arrow", ("memory", "index/docs/*.arrow"), None),
    "docs.json": (False, "memory", "index/docs/docs.json", ("hybrid", "index/docs/docs.json"), None),
    "bm25 array": (False, "memory", "index/bm25/bm25.*.post_doc.npy", ("memory", "index/bm25/bm25.*.post_tf.npy"), None),
    "bm25.json": (False, "memory", "index/bm25/bm25.json", ("hybrid", "index/bm25/bm25.json"), None),
    "fusion auto.json": (False, "memory", "index/fusion/auto.json", ("hybrid", "index/fusion/auto.json"), None),
    "id map": (False, "memory", "index/ids/ids-*.bin", ("hybrid", "index/ids/ids-*.bin"), None),
    "ids.json": (False, "memory", "index/ids/ids.json", ("hybrid", "index/ids/ids.json"), None),
    "filter columns": (False, "memory", "index/filters/columns-*.bin", ("hybrid", "index/filters/columns-*.bin"), None),
    "columns.json": (False, "memory", "index/filters/columns.json", ("hybrid", "index/filters/columns.json"), None),
}
OPS = ("truncate", "zero a page", "flip bits", "swap")


def target(root: Path, tier: str | None, pattern: str, index: int = 0) -> Path:
    base = root if tier is None else folder_of(root, tier)
    found = sorted(base.glob(pattern))
    assert len(found) > index, f"the template has no {pattern} in {tier}"
    return found[index]


def damage(root: Path, kind: str, op: str) -> list[Path]:
    """Damage the file of kind in root by op; give back the files damaged."""
    _, tier, pattern, partner, span = KINDS[kind]
    path = target(root, tier, pattern)
    data = bytearray(path.read_bytes())
    span = min(span or len(data), len(data))
    assert span > 0
    if op == "truncate":
        path.write_bytes(bytes(data[: span // 2]))
    elif op == "zero a page":
        start = (span // 2) // 4096 * 4096
        end = min(start + 4096, len(data))
        data[start:end] = bytes(end - start)
        path.write_bytes(bytes(data))
    elif op == "flip bits":
        for pos in np.linspace(span // 8, span - 1, 4).astype(int):
            data[pos] ^= 0x01
        path.write_bytes(bytes(data))
    else:
        other_tier, other_pattern = partner
        other = target(root, other_tier, other_pattern, 1 if (other_tier, other_pattern) == (tier, pattern) else 0)
        other_data = other.read_bytes()
        assert other_data != bytes(data), "a swap of identical files would damage nothing"
        path.write_bytes(other_data)
        other.write_bytes(bytes(data))
        return [path, other]
    return [path]


CASES = [(kind, op) for kind in KINDS for op in OPS if not (kind == "catalog" and op == "swap")]


@pytest.mark.parametrize("kind,op", CASES, ids=[f"{k}-{o}" for k, o in CASES])
def test_every_kind_of_damage_is_rebuilt_with_a_warning_or_refused_at_open(kind, op, twin, caplog):
    root, expected = twin
    damaged = damage(root, kind, op)
    source = KINDS[kind][0]
    if source:
        before = snapshot(root)
        for read_only in (True, False):
            with pytest.raises(CorruptionError) as info:
                with gyeol.connect(root, read_only=read_only) as db:
                    for tier in SIZES:
                        db.get_collection(tier)
            assert any(p.name in str(info.value) for p in damaged), str(info.value)
        assert snapshot(root) == before  # refused before anything was swept or rewritten
        report = gyeol.verify(root)
        assert not report.ok and any(f.status in ("damaged", "missing") for f in report.files), report
        return
    before = snapshot(root)
    assert not gyeol.verify(root).ok  # verify sees derived damage too
    with caplog.at_level(logging.WARNING, logger="gyeol"):
        assert answers(root, read_only=True) == expected  # a reader rebuilds in memory and writes nothing
    assert snapshot(root) == before
    assert any(r.levelno == logging.WARNING for r in caplog.records), f"{kind} {op}: no warning"
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gyeol"):
        assert answers(root, read_only=False) == expected
    assert any(r.levelno == logging.WARNING for r in caplog.records), f"{kind} {op}: no warning from the writer"
    report = gyeol.verify(root)  # the writer rebuilt and saved the derived file
    assert report.ok, report


def test_verify_reports_an_undamaged_database_ok_and_changes_nothing(twin):
    root, _ = twin
    before = snapshot(root)
    report = gyeol.verify(root)
    assert report.ok and not report.problems
    kinds = {f.kind for f in report.files}
    assert {"catalog", "manifest", "segment", "tombstone", "vector meta", "vector index", "vectors", "docs meta",
            "docs cache", "bm25 meta", "bm25 array", "fusion"} <= kinds
    assert snapshot(root) == before
    as_dict = report.to_dict()
    assert as_dict["ok"] is True and len(as_dict["files"]) == len(report.files)
    assert "ok" in repr(report)


def test_verify_names_missing_extra_and_damaged_files_without_touching_them(twin):
    root, _ = twin
    folder = folder_of(root, "memory")
    seg = target(root, "memory", "data/seg-*.parquet")
    seg.unlink()
    (folder / "data" / "seg-0001-000000000999-0badf00d.parquet").write_bytes(b"left over")
    damage(root, "faiss (memory)", "flip bits")
    before = snapshot(root)
    report = gyeol.verify(root)
    assert snapshot(root) == before
    by_status = {(f.status, f.kind) for f in report.problems}
    assert ("missing", "segment") in by_status and ("extra", "data file") in by_status
    assert ("damaged", "vector index") in by_status
    assert not report.ok
    assert seg.name in repr(report)


@pytest.mark.parametrize("argv_json", [False, True])
def test_the_command_line_exit_status_says_what_verify_found(twin, capsys, argv_json):
    from gyeol.cli import main

    root, _ = twin
    flags = ["--json"] if argv_json else []
    assert main(["verify", str(root), *flags]) == 0
    out = capsys.readouterr().out
    if argv_json:
        assert json.loads(out)["ok"] is True
    damage(root, "segment", "flip bits")
    assert main(["verify", str(root), *flags]) == 1
    out = capsys.readouterr().out
    assert (json.loads(out)["ok"] is False) if argv_json else "DAMAGE FOUND" in out
    assert main(["verify", str(root / "nowhere")]) == 2
    assert main([]) == 2
    assert main(["verify"]) == 2


def test_python_dash_m_gyeol_runs_the_command_line(twin):
    import subprocess
    import sys

    from conftest import subprocess_env

    root, _ = twin
    done = subprocess.run([sys.executable, "-m", "gyeol", "verify", str(root)], capture_output=True, text=True,
                          env=subprocess_env(), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "ok" in done.stdout


# --------------------------------------------------------------------------- crafted, consistently sealed files


def reseal(path: Path, change) -> None:
    """Edit a sealed JSON file and seal it again, as someone who knows the format would."""
    meta = json.loads(path.read_text())
    meta.pop("crc32", None)
    change(meta)
    path.write_bytes(seal_json(meta))


def test_a_resealed_manifest_whose_checksum_lies_names_the_segment(twin):
    root, _ = twin
    folder = folder_of(root, "memory")
    seg = target(root, "memory", "data/seg-*.parquet")
    reseal(folder / "manifest.json", lambda m: m["checksums"][seg.name].update(crc32=(m["checksums"][seg.name]["crc32"] + 1) % 2**32))
    for read_only in (True, False):
        with pytest.raises(CorruptionError, match=seg.name):
            with gyeol.connect(root, read_only=read_only) as db:
                db.get_collection("memory")


def test_a_format_2_manifest_must_carry_its_checksums(twin):
    root, _ = twin
    folder = folder_of(root, "memory")
    reseal(folder / "manifest.json", lambda m: m.pop("checksums"))
    with pytest.raises(CorruptionError, match="manifest.json"):
        with gyeol.connect(root, read_only=True) as db:
            db.get_collection("memory")


def test_docs_json_naming_files_elsewhere_is_never_followed(twin, caplog):
    root, expected = twin
    docs = folder_of(root, "memory") / "index" / "docs"
    reseal(docs / "docs.json", lambda m: m["files"].update({"../../../../victim.arrow": {"crc32": 1, "bytes": 1}}))
    assert answers(root, read_only=False) == expected


def test_duplicate_live_ids_across_segments_are_corruption_at_open(tmp_path):
    """Two segments that both hold a live id (a crafted or mixed-up directory) are refused, not served twice."""
    from gyeol.storage.manifest import read_manifest, write_manifest
    from gyeol.storage.segments import build_segment, write_parquet
    from gyeol.storage.manifest import SegmentRef

    root = tmp_path / "kb"
    with gyeol.connect(root) as db:
        db.create_collection("c", embedder=None, dim=DIM, tokenizer="whitespace").add(
            ["a", "b"], ids=["x", "y"], vectors=np.eye(2, DIM, dtype=np.float32))
    folder = folder_of(root, "c")
    manifest = read_manifest(folder)
    name = "seg-0001-000000000002-0badf00d.parquet"
    write_parquet(folder / "data" / name, build_segment(["x"], ["again"], ["{}"], np.eye(1, DIM, dtype=np.float32)))
    write_manifest(folder, manifest.next(next_label=3, segments=manifest.segments + (SegmentRef(name, 2, 1),)))
    with pytest.raises(CorruptionError, match="'x' is live at labels 0 and 2"):
        with gyeol.connect(root, read_only=True) as db:
            db.get_collection("c")


def test_vectors_that_are_not_unit_length_in_a_cosine_collection_are_corruption_when_read(tmp_path):
    """A segment written with vectors that are not what gyeol stores (here: a format-1-like manifest with
    no checksums, so only the value checks stand) is refused when an index is built from it."""
    from gyeol.storage.segments import build_segment, write_parquet

    root = tmp_path / "kb"
    with gyeol.connect(root) as db:
        db.create_collection("c", embedder=None, dim=DIM, tokenizer="whitespace").add(
            ["a", "b"], ids=["x", "y"], vectors=np.eye(2, DIM, dtype=np.float32))
    folder = folder_of(root, "c")
    seg = target(root, "c", "data/seg-*.parquet")
    write_parquet(seg, build_segment(["x", "y"], ["a", "b"], ["{}", "{}"], np.full((2, DIM), 1e30, np.float32)))
    meta = json.loads((folder / "manifest.json").read_text())
    meta = {k: v for k, v in meta.items() if k not in ("crc32", "checksums")}
    meta["format"] = 1
    (folder / "manifest.json").write_text(json.dumps(meta))
    shutil.rmtree(folder / "index")
    with pytest.raises(CorruptionError, match=f"{seg.name} holds a vector of norm"):
        with gyeol.connect(root, read_only=True) as db:
            db.get_collection("c")


@pytest.mark.parametrize("lazy_by", ["switch", "size"])
def test_with_segments_checked_lazily_a_damaged_segment_is_refused_before_its_bytes_are_used(twin, monkeypatch,
                                                                                              lazy_by):
    """VERIFY_SEGMENTS_AT_OPEN = False, or a segment above VERIFY_AT_OPEN_MAX_BYTES: an open that needs no
    segment bytes answers from its intact derived files; the first read of the segment (compact, an index
    rebuild) raises CorruptionError naming it."""
    import gyeol.storage.store as store

    if lazy_by == "switch":
        monkeypatch.setattr(store, "VERIFY_SEGMENTS_AT_OPEN", False)
    else:  # every segment of the twin counts as large
        monkeypatch.setattr(store, "VERIFY_AT_OPEN_MAX_BYTES", 0)
    root, expected = twin
    seg = target(root, "memory", "data/seg-*.parquet")
    data = bytearray(seg.read_bytes())
    data[len(data) // 2] ^= 0x01  # inside a data page: the footer (read at every open) stays intact
    seg.write_bytes(bytes(data))
    assert answers(root, read_only=True) == expected  # the docs cache and the index are intact and verified
    with gyeol.connect(root) as db:
        col = db.get_collection("memory")
        with pytest.raises(CorruptionError, match=seg.name):
            col.compact()
        assert col.count() == SIZES["memory"] - 2  # the refused compact changed nothing
    shutil.rmtree(folder_of(root, "memory") / "index")  # every derived file must now come from the segments
    for read_only in (True, False):
        with pytest.raises(CorruptionError, match=seg.name):
            with gyeol.connect(root, read_only=read_only) as db:
                db.get_collection("memory")
