"""The disk tier checks its IVF lists per chunk on first probe, not the whole file at open."""

from __future__ import annotations

import json

import numpy as np
import pytest

import gyeol
from gyeol.errors import CorruptionError
from gyeol.index.disk import build_disk, load_disk

DIM = 16


def _built(tmp_path, monkeypatch, n=4000, nlist=16):
    import faiss

    rng = np.random.default_rng(3)
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(DIM), DIM, nlist)
    ivf.train(x)
    ivf.nprobe = 1
    disk = build_disk(ivf, x, tmp_path, metric="l2", nprobe=1, rebuild_at=None)
    state = disk.save(tmp_path)
    return x, state


def _list_of(state, tmp_path, query):
    import faiss

    index = faiss.read_index(str(tmp_path / state["base"]["file"]))
    return int(index.quantizer.search(query[None], 1)[1][0, 0])


def test_open_checks_the_head_only_and_a_probe_checks_its_lists(tmp_path, monkeypatch):
    x, state = _built(tmp_path, monkeypatch)
    sums = state["base"]["lists"]
    assert len(sums["lists_crc32"]) == 16
    opened = load_disk(tmp_path, state, metric="l2", dim=DIM)
    assert not opened.base.list_sums.done.any()  # nothing of the lists read at open
    ranked = opened.search(x[:1], 5)
    assert ranked.labels[0, 0] == 0
    done = opened.base.list_sums.done
    assert done.any() and not done.all()  # only the probed list


def test_a_damaged_list_byte_raises_on_the_query_that_probes_it(tmp_path, monkeypatch):
    x, state = _built(tmp_path, monkeypatch)
    path = tmp_path / state["base"]["file"]
    target = _list_of(state, tmp_path, x[0])
    opened = load_disk(tmp_path, state, metric="l2", dim=DIM)
    start = int(opened.base.list_sums.begins[target])
    del opened
    data = bytearray(path.read_bytes())
    data[start + 3] ^= 0x40  # a byte of the first vector of that list
    path.write_bytes(bytes(data))
    damaged = load_disk(tmp_path, state, metric="l2", dim=DIM)  # the open does not read the lists
    other = next(i for i in range(len(x)) if _list_of(state, tmp_path, x[i]) != target)
    damaged.search(x[other : other + 1], 5)  # a query probing another list still answers
    with pytest.raises(CorruptionError, match=f"list {target} "):
        damaged.search(x[:1], 5)
    with pytest.raises(CorruptionError):
        load_disk(tmp_path, state, metric="l2", dim=DIM).reconstruct(np.array([0]))  # reads any list: checks all


def test_a_damaged_head_byte_is_refused_at_open(tmp_path, monkeypatch):
    _, state = _built(tmp_path, monkeypatch)
    path = tmp_path / state["base"]["file"]
    data = bytearray(path.read_bytes())
    data[state["base"]["lists"]["start"] - 8] ^= 0x01  # in the list sizes
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptionError, match="head"):
        load_disk(tmp_path, state, metric="l2", dim=DIM)


def test_a_file_with_only_a_whole_file_crc_still_opens(tmp_path, monkeypatch):
    x, state = _built(tmp_path, monkeypatch)
    del state["base"]["lists"]  # as written before per-chunk sums
    opened = load_disk(tmp_path, state, metric="l2", dim=DIM)
    assert opened.base.list_sums is None
    assert opened.search(x[:1], 5).labels[0, 0] == 0


def test_verify_finds_damage_in_a_list_no_query_touched(tmp_path):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, DIM)).astype(np.float32)
    with gyeol.connect(tmp_path) as db:
        col = db.create_collection("c", embedder=None, dim=DIM, tier="disk", index=gyeol.IVF(nlist=16, nprobe=1))
        col.add([f"t{i}" for i in range(len(x))], ids=[str(i) for i in range(len(x))], vectors=x)
    assert gyeol.verify(tmp_path).ok
    [path] = tmp_path.glob("collections/*/index/disk/index-*.faiss")
    meta = json.loads(path.with_name("vector.json").read_text())
    state = meta["index"]["base"] if meta["index"]["type"] == "disk" else meta["index"]
    assert "lists" in state
    data = bytearray(path.read_bytes())
    data[-5] ^= 0x10  # the last list's last id
    path.write_bytes(bytes(data))
    assert not gyeol.verify(tmp_path).ok


def test_list_checksums_recorded_for_another_index_type_are_refused(tmp_path, monkeypatch):
    """A state naming list checksums for a file that holds no bare IVF-Flat index (its head checksum
    matching) is refused with CorruptionError: the checks would read the wrong bytes as lists."""
    import faiss

    from gyeol._checksum import crc_buffer
    from gyeol.index.faiss_index import load_faiss

    _, state = _built(tmp_path, monkeypatch)
    base = dict(state["base"])
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, DIM)).astype(np.float32)
    sq = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatL2(DIM), DIM, 16, faiss.ScalarQuantizer.QT_8bit)
    sq.train(x)
    sq.add(x)
    path = tmp_path / base["file"]
    faiss.write_index(sq, str(path))
    data = path.read_bytes()
    base.update(bytes=len(data), crc32=None,
                lists={"start": len(data), "head_crc32": crc_buffer(memoryview(data)), "lists_crc32": [0] * 16})
    with pytest.raises(CorruptionError, match="no IVF-Flat index"):
        load_faiss(tmp_path, base, metric="l2", mmap=True)
