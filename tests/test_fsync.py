"""fsync discipline: every durable write flushes its files and their folders before its commit point.

A SIGKILL keeps the page cache (test_crash.py); a power cut does not, so the commit protocol of
gyeol._fileset needs its fsyncs, in order. Here os.fsync / os.fdatasync, os.replace /
os.rename and os.mkdir are recorded (the fsynced path read from /proc/self/fd) while one public
call runs, and the trace is checked against the rules:

A. a file's content is fsynced before os.replace gives it its name;
B. a name made by a replace or a mkdir is made durable (its folder fsynced) after it and before
   the commit that makes it reachable: the last replace of a commit file (catalog.json,
   manifest.json, vector.json, bm25.json, ...) in a folder that holds it; data files (outside
   index/) always, even when no commit follows in the call;
C. the commit file itself is fsynced before its replace (A) and its folder after (before the call
   returns);
D. the call replaced the commit files it must (manifest.json for a row write, catalog.json for a
   create or drop), in that order.

test_the_checker_fails_without_each_fsync proves that a missing fsync fails these rules.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from conftest import new_collection, random_vectors
from helpers.reembed_models import NewModel

import gyeol

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads fsynced paths from /proc/self/fd")

DERIVED_DIR = "index"  # files under a collection's index/ are derived: rebuilt when lost


def is_commit(path: str) -> bool:
    """Commit files are gyeol's JSON files (catalog.json, manifest.json, vector.json, bm25.json, ...)."""
    return path.endswith(".json")


def _real(path: Any) -> str:
    """An absolute path with its folder's symlinks resolved (the file itself may be gone)."""
    path = os.fspath(path)
    return os.path.join(os.path.realpath(os.path.dirname(path) or "."), os.path.basename(path))


@dataclass
class Trace:
    """The file-system calls one public call made under root, in order."""

    root: str
    events: list[tuple[str, ...]] = field(default_factory=list)
    on: bool = False

    def add(self, *event: str) -> None:
        if self.on and all(p == self.root or p.startswith(self.root.rstrip(os.sep) + os.sep) for p in event[1:]):
            self.events.append(event)

    def fsyncs(self) -> list[str]:
        return [e[1] for e in self.events if e[0] == "fsync"]


@pytest.fixture
def trace(tmp_path, monkeypatch) -> Trace:
    recorded = Trace(os.path.realpath(tmp_path))
    real = {name: getattr(os, name) for name in ("fsync", "fdatasync", "replace", "rename", "mkdir")}

    def syncer(name: str) -> Callable:
        def sync(fd: Any) -> None:
            number = fd if isinstance(fd, int) else fd.fileno()
            recorded.add("fsync", os.readlink(f"/proc/self/fd/{number}"))
            return real[name](fd)
        return sync

    def renamer(name: str) -> Callable:
        def rename(src: Any, dst: Any, **kwargs: Any) -> None:
            out = real[name](src, dst, **kwargs)
            recorded.add("replace", _real(src), _real(dst))
            return out
        return rename

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        real["mkdir"](path, *args, **kwargs)
        recorded.add("mkdir", _real(path))

    for name in ("fsync", "fdatasync"):
        monkeypatch.setattr(os, name, syncer(name))
    for name in ("replace", "rename"):
        monkeypatch.setattr(os, name, renamer(name))
    monkeypatch.setattr(os, "mkdir", mkdir)
    return recorded


# --------------------------------------------------------------------------- the rules


def inside(path: str, folder: str) -> bool:
    return path.startswith(folder + os.sep)


def is_derived(path: str, root: str) -> bool:
    return f"{os.sep}{DERIVED_DIR}{os.sep}" in path[len(root):] or path.endswith(f"{os.sep}{DERIVED_DIR}")


def violations(events: list[tuple[str, ...]], root: str, must_commit: tuple[str, ...]) -> list[str]:
    """What in events breaks rules A-D (empty when the discipline holds)."""
    problems = []
    fsynced_at: dict[str, list[int]] = {}
    for i, event in enumerate(events):
        if event[0] == "fsync":
            fsynced_at.setdefault(event[1], []).append(i)

    def fsynced(path: str, after: int, before: int) -> bool:
        return any(after < j < before for j in fsynced_at.get(path, ()))

    rel = lambda p: os.path.relpath(p, root)  # noqa: E731
    end = len(events)
    for i, event in enumerate(events):
        if event[0] == "fsync":
            continue
        made = event[-1]  # the new name: a replace's destination, or the made folder
        folder = os.path.dirname(made)
        if event[0] == "replace" and not fsynced(event[1], -1, i):  # A
            problems.append(f"A: {rel(made)} was given its name before its content was fsynced")
        if is_commit(made):  # C: the commit itself is durable before the call returns
            if not fsynced(folder, i, end):
                problems.append(f"C: {rel(folder)} was not fsynced after the commit of {rel(made)}")
            continue
        if made == root:
            continue  # the database folder itself: its parent is the user's, not gyeol's
        # the commit that makes the name reachable: the last one after it in a folder that holds it
        # (a new collection's manifest, then the catalog that names its folder)
        commit = max((j for j in range(i + 1, end) if events[j][0] == "replace" and is_commit(events[j][-1])
                      and inside(made, os.path.dirname(events[j][-1]))), default=None)
        if commit is None and is_derived(made, root):
            continue  # a derived file no commit names yet (a cache, a mapped index): rebuilt when lost
        if not fsynced(folder, i, end if commit is None else commit):
            point = "the end of the call" if commit is None else f"the commit of {rel(events[commit][-1])}"
            problems.append(f"B: {rel(folder)} was not fsynced between making {rel(made)} and {point}")
    committed = [os.path.basename(e[-1]) for e in events if e[0] == "replace" and is_commit(e[-1])]
    it = iter(committed)
    if not all(name in it for name in must_commit):  # D: in order (a subsequence)
        problems.append(f"D: expected commits of {list(must_commit)}, found {committed}")
    return problems


# --------------------------------------------------------------------------- the durable operations


@dataclass
class Ctx:
    path: Path
    db: gyeol.Database
    col: gyeol.Collection | None = None


def populated(path: Path) -> Ctx:
    db = gyeol.connect(path)
    col = new_collection(db, index=None)
    rng = np.random.default_rng(5)
    col.add([f"w{i % 4} doc {i}" for i in range(20)], ids=[f"s{i}" for i in range(20)],
            metadata=[{"g": i % 3} for i in range(20)], vectors=random_vectors(rng, 20))
    col.delete(["s0"])
    return Ctx(path, db, col)


def with_bm25_delta(path: Path) -> Ctx:
    """populated, then one more add: its BM25 terms are saved as a delta beside the base save."""
    ctx = populated(path)
    ctx.col.add(["w1 later doc"], ids=["late"], vectors=vecs(1))
    return ctx


def empty_db(path: Path) -> Ctx:
    return Ctx(path, gyeol.connect(path))


def vecs(n: int) -> np.ndarray:
    return random_vectors(np.random.default_rng(n), n)


# name -> (setup, the recorded call, commit files it must replace, in order)
DURABLE: dict[str, tuple[Callable[[Path], Ctx], Callable[[Ctx], Any], tuple[str, ...]]] = {
    "connect a new database (empty catalog)": (lambda p: Ctx(p, None),
                                               lambda c: setattr(c, "db", gyeol.connect(c.path)), ("catalog.json",)),
    "create_collection (the first)": (empty_db, lambda c: new_collection(c.db), ("manifest.json", "catalog.json")),
    "create_collection (another)": (populated, lambda c: new_collection(c.db, "more"),
                                    ("manifest.json", "catalog.json")),
    "add": (populated, lambda c: c.col.add(["new one", "new two"], ids=["n1", "n2"], vectors=vecs(2)),
            ("manifest.json",)),
    "upsert": (populated, lambda c: c.col.upsert(["again", "new"], ids=["s3", "n9"], vectors=vecs(2)),
               ("manifest.json",)),
    "delete by ids": (populated, lambda c: c.col.delete(["s1", "s2"]), ("manifest.json",)),
    "delete by where": (populated, lambda c: c.col.delete(where={"g": 1}), ("manifest.json",)),
    "compact": (populated, lambda c: c.col.compact(), ("manifest.json", "vector.json")),
    "drop_collection": (populated, lambda c: c.db.drop_collection("docs"), ("catalog.json",)),
    # BM25 is saved with each commit (a delta, or whole): save_indexes(keyword=True) folds the deltas into one
    "save_indexes(keyword=True)": (with_bm25_delta, lambda c: c.col.save_indexes(keyword=True),
                                   ("vector.json", "bm25.json")),
    "close (index saves)": (populated, lambda c: (c.col.search("w1", mode="keyword"), c.db.close()),
                            ("vector.json",)),
    "get_collection(tier='disk') then close": (populated, lambda c: (c.db.get_collection("docs", tier="disk"),
                                                                      c.db.close()), ("vector.json",)),
    "get_collection(tier='hybrid') then close": (populated, lambda c: (c.db.get_collection("docs", tier="hybrid"),
                                                                        c.db.close()), ("vector.json",)),
    # 19 live documents in batches of 7: three segments, each recorded in reembed.json, then the switch
    "reembed": (populated, lambda c: c.col.reembed(NewModel(), batch_size=7, progress=False),
                ("reembed.json",) * 3 + ("manifest.json", "vector.json")),
}


@pytest.mark.parametrize("op", list(DURABLE))
def test_each_durable_operation_fsyncs_its_files_and_folders_before_its_commit(op, trace, tmp_path):
    setup, call, must_commit = DURABLE[op]
    ctx = setup(tmp_path / "kb")
    try:
        trace.on = True
        call(ctx)
        trace.on = False
        problems = violations(trace.events, str(Path(trace.root) / "kb"), must_commit)
        listing = "\n".join("  " + " ".join(os.path.relpath(p, trace.root) if p.startswith("/") else p for p in e)
                            for e in trace.events)
        assert not problems, "\n".join(problems) + f"\n{len(trace.fsyncs())} fsyncs; the trace:\n{listing}"
    finally:
        trace.on = False
        if ctx.db is not None:
            ctx.db.close()


def test_an_add_makes_exactly_the_four_fsyncs_of_its_commit_in_order(trace, tmp_path):
    """segment content, data/ (its name), manifest content, the collection folder (the commit), in order."""
    ctx = populated(tmp_path / "kb")
    trace.on = True
    ctx.col.add(["one more"], ids=["n1"], vectors=vecs(1))
    trace.on = False
    folder = Path(os.path.dirname(next(e[-1] for e in trace.events if e[-1].endswith("manifest.json"))))
    kinds = []
    for path in trace.fsyncs():
        p = Path(path)
        kinds.append("segment" if p.name.startswith(".seg-") else "manifest" if p.name.startswith(".manifest.json")
                     else "data/" if p == folder / "data" else "collection/" if p == folder else str(p))
    # the commit's four; then, after it, the BM25 delta of the new document (index/bm25: derived, rebuilt if lost)
    assert kinds[:4] == ["segment", "data/", "manifest", "collection/"]
    assert all("/index/bm25" in kind for kind in kinds[4:]), kinds
    replaced = [Path(e[-1]).name for e in trace.events if e[0] == "replace"]
    assert replaced[:2] == [replaced[0], "manifest.json"] and replaced[0].startswith("seg-")
    assert replaced[-1] == "bm25.json" and all(name.startswith("bm25.") for name in replaced[2:]), replaced
    events = trace.events
    seg_sync = next(i for i, e in enumerate(events) if e[0] == "fsync" and Path(e[1]).name.startswith(".seg-"))
    manifest_replace = next(i for i, e in enumerate(events) if e[0] == "replace" and e[-1].endswith("manifest.json"))
    assert seg_sync < manifest_replace  # the data file is on disk before the manifest names it
    ctx.db.close()


def test_reembed_makes_each_batch_durable_before_the_progress_record_that_names_it(trace, tmp_path):
    """Rule B checks the batches against the manifest commit; a resume trusts reembed.json, so each
    segment and data/ are fsynced before the progress record naming it, and the record before the switch."""
    ctx = populated(tmp_path / "kb")
    trace.on = True
    ctx.col.reembed(NewModel(), batch_size=7, progress=False)
    trace.on = False
    ctx.db.close()
    events = trace.events
    data = next(os.path.dirname(e[-1]) for e in events
                if e[0] == "replace" and os.path.basename(e[-1]).startswith("seg-"))
    progress = [i for i, e in enumerate(events) if e[0] == "replace" and e[-1].endswith("reembed.json")]
    switch = next(i for i, e in enumerate(events) if e[0] == "replace" and e[-1].endswith("manifest.json"))
    assert len(progress) == 3 and progress[-1] < switch
    for n, at in enumerate(progress):
        since = progress[n - 1] if n else -1
        made = [i for i, e in enumerate(events[:at]) if e[0] == "replace" and os.path.dirname(e[-1]) == data
                and i > since]
        assert len(made) == 1, f"progress record {n} follows {len(made)} new segments"
        assert any(events[i] == ("fsync", events[made[0]][1]) for i in range(since + 1, made[0])), (
            f"batch {n} was named before its content was fsynced")
        assert any(events[i] == ("fsync", data) for i in range(made[0] + 1, at)), (
            f"data/ was not fsynced between batch {n} and the record naming it")
        folder = os.path.dirname(events[at][-1])
        assert any(e == ("fsync", folder) for e in events[at + 1 : switch]), (
            f"the folder of reembed.json was not fsynced after record {n}, before the switch")


def test_an_in_memory_database_never_fsyncs(trace, rng):
    trace.root = "/"  # record everything
    trace.on = True
    db = gyeol.connect()
    col = new_collection(db)
    col.add(["a b"], ids=["a"], vectors=random_vectors(rng, 1))
    col.delete(["a"])
    col.compact()
    db.close()
    trace.on = False
    assert trace.fsyncs() == []


# --------------------------------------------------------------------------- the checker fails when one is missing


def good_add_trace(root: str) -> list[tuple[str, ...]]:
    c = f"{root}/collections/c-0123456789abcdef"
    return [
        ("fsync", f"{c}/data/.seg-1.tmp"), ("replace", f"{c}/data/.seg-1.tmp", f"{c}/data/seg-1.parquet"),
        ("fsync", f"{c}/data"),
        ("fsync", f"{c}/.manifest.json.1.tmp"), ("replace", f"{c}/.manifest.json.1.tmp", f"{c}/manifest.json"),
        ("fsync", c),
    ]


def test_the_checker_passes_the_protocol_and_fails_without_each_fsync():
    root = "/db"
    good = good_add_trace(root)
    assert violations(good, root, ("manifest.json",)) == []
    for i, event in enumerate(good):
        if event[0] != "fsync":
            continue
        problems = violations(good[:i] + good[i + 1:], root, ("manifest.json",))
        assert problems, f"dropping the fsync of {event[1]} went unnoticed"
    swapped = good[:2] + good[3:5] + [good[2]] + good[5:]  # data/ fsynced only after the manifest replace
    assert any(p.startswith("B:") for p in violations(swapped, root, ("manifest.json",)))
    late = [good[1], good[0]] + good[2:]  # the segment fsynced after its rename
    assert any(p.startswith("A:") for p in violations(late, root, ("manifest.json",)))
    assert any(p.startswith("D:") for p in violations(good[:3], root, ("manifest.json",)))
