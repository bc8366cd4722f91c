"""Crash test: SIGKILL a writer at random points of every write path, then reopen and compare with a model.

Each round forks a child from this (already imported) test process. The child runs a short list
of operations on the database and reports through a pipe each one that returned (acknowledged).
The parent SIGKILLs it at a random moment (a delay from the fork, so opens are hit too) or the
child kills itself at an injected point (just before or after its N-th os.replace / os.unlink /
os.rename / os.rmdir / os.mkdir, so every step of the commit protocol is hit; the fork, pipe and
kill machinery is tests/helpers/forked_writer.py). Then the parent
reopens the directory and checks, against a model of the acknowledged operations:

- reopening (writer, and on some rounds a reader first) never raises;
- every acknowledged operation is there, and the one in flight is either wholly there or
  wholly absent (the state equals the model after the acknowledged ops, or after one more);
- vector and keyword searches equal exact references (numpy; the Lucene BM25 formula);
- the data folders hold exactly the files their manifests name (and an interrupted reembed's
  recorded batches, while its reembed.json matches the manifest), and no temp files;
- after a kill during a reembed (to a deterministic model of another dim, in several batches),
  the collection is wholly the old model's or wholly the new one's (dim, embedder, every
  vector), and calling reembed again completes it, reusing exactly the batches recorded.

The write paths are the WRITE_PATHS table below: one function per path that plans the next
round's operations from the model. To add a path, write its Op classes (run in the child,
apply to the model) and a planner, and add a line to the table.

The run stops at GYEOL_CRASH_KILLS kills (default 210; at least 200 must land) or after
GYEOL_CRASH_SECONDS (default 100); GYEOL_CRASH_PATHS (comma-separated parts of path names) runs
only some paths; GYEOL_CRASH_SEED picks another random run. fsync is a no-op here (a SIGKILL
keeps the page cache; test_fsync.py checks the fsyncs), and the directories live in /dev/shm
where it exists, so a kill costs tens of milliseconds.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from conftest import assert_same_ranking, exact_search
from helpers.forked_writer import no_fsync, run_round

import gyeol
from gyeol.embedders import PROBE_TEXT

pytestmark = pytest.mark.skipif(sys.platform != "linux" or not hasattr(os, "fork"),
                                reason="forks writers and reads /proc")

DIM = 8
KILLS = int(os.environ.get("GYEOL_CRASH_KILLS", "210"))
SECONDS = float(os.environ.get("GYEOL_CRASH_SECONDS", "100"))
MIN_KILLS = 200
BASE = "docs"  # the collection every path starts with
BM25_PARAMS = gyeol.BM25(variant="lucene")  # a reference with no floor: written out in lucene_scores
TIERS = ("memory", "hybrid", "disk")

# --------------------------------------------------------------------------- the model

Doc = tuple  # (text, metadata as sorted JSON, vector bytes)


@dataclass
class Model:
    """What the database must hold: collection name -> (metric, vector space, id -> Doc).

    The vector space is (the embedder's name, dim): (None, DIM) until a reembed moves a collection.
    """

    metrics: dict[str, str] = field(default_factory=dict)
    docs: dict[str, dict[str, Doc]] = field(default_factory=dict)
    spaces: dict[str, tuple[str | None, int]] = field(default_factory=dict)

    def copy(self) -> "Model":
        return Model(dict(self.metrics), {name: dict(docs) for name, docs in self.docs.items()}, dict(self.spaces))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and (self.metrics, self.spaces, self.docs) == (
            other.metrics, other.spaces, other.docs)


def doc_of(text: str, metadata: dict, vector: np.ndarray) -> Doc:
    return (text, json.dumps(metadata, sort_keys=True), np.asarray(vector, np.float32).tobytes())


class Writer:
    """The child's side: one writing Database and its open handles."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db = gyeol.connect(path)
        self.handles: dict[str, gyeol.Collection] = {}

    def col(self, name: str) -> gyeol.Collection:
        if name not in self.handles:
            self.handles[name] = self.db.get_collection(name)
        return self.handles[name]

    def reconnect(self) -> None:
        self.db.close()
        self.handles.clear()
        self.db = gyeol.connect(self.path)


# --------------------------------------------------------------------------- operations


class Op:
    """One write: run() does it in the child, apply() does the same to the model."""

    def run(self, w: Writer) -> None:
        raise NotImplementedError

    def apply(self, m: Model) -> None:
        pass  # most non-row writes (index saves, reopen, compact) leave the documents as they were

    def tiers(self) -> tuple[str, ...]:
        """Tiers whose saved index this op may leave behind (checked on reopen)."""
        return ()


@dataclass
class Add(Op):
    name: str
    ids: list[str]
    texts: list[str]
    metadata: list[dict]
    vectors: np.ndarray

    def run(self, w: Writer) -> None:
        w.col(self.name).add(self.texts, ids=self.ids, metadata=self.metadata, vectors=self.vectors)

    def apply(self, m: Model) -> None:
        docs = m.docs[self.name]
        for i, doc_id in enumerate(self.ids):
            docs[doc_id] = doc_of(self.texts[i], self.metadata[i], self.vectors[i])


@dataclass
class Upsert(Add):
    def run(self, w: Writer) -> None:
        w.col(self.name).upsert(self.texts, ids=self.ids, metadata=self.metadata, vectors=self.vectors)


@dataclass
class Delete(Op):
    """By ids, or by a where filter (pred: the same filter on a metadata dict, for the model)."""

    name: str
    ids: list[str] | None = None
    where: dict | None = None
    pred: Callable[[dict], bool] | None = None

    def run(self, w: Writer) -> None:
        w.col(self.name).delete(self.ids, where=self.where)

    def apply(self, m: Model) -> None:
        docs = m.docs[self.name]
        if self.ids is not None:
            for doc_id in self.ids:
                docs.pop(doc_id, None)
        else:
            assert self.pred is not None
            for doc_id in [d for d, doc in docs.items() if self.pred(json.loads(doc[1]))]:
                del docs[doc_id]


@dataclass
class Compact(Op):
    name: str

    def run(self, w: Writer) -> None:
        w.col(self.name).compact()


@dataclass
class KeywordSearch(Op):
    """Not a write: builds BM25 in memory, so the next save or close writes it."""

    name: str

    def run(self, w: Writer) -> None:
        w.col(self.name).search("w1 w2", mode="keyword", k=3)


@dataclass
class SaveIndexes(Op):
    name: str

    def run(self, w: Writer) -> None:
        w.col(self.name).save_indexes(keyword=True)


@dataclass
class Close(Op):
    """db.close() (saves every open collection's indexes), then a fresh connect."""

    def run(self, w: Writer) -> None:
        w.reconnect()


@dataclass
class Retier(Op):
    name: str
    tier: str

    def run(self, w: Writer) -> None:
        w.handles[self.name] = w.db.get_collection(self.name, tier=self.tier)

    def tiers(self) -> tuple[str, ...]:
        return (self.tier,)


@dataclass
class Create(Op):
    name: str
    metric: str

    def run(self, w: Writer) -> None:
        w.handles[self.name] = create(w.db, self.name, self.metric)

    def apply(self, m: Model) -> None:
        m.metrics[self.name] = self.metric
        m.docs[self.name] = {}
        m.spaces[self.name] = (None, DIM)


@dataclass
class Drop(Op):
    name: str

    def run(self, w: Writer) -> None:
        w.handles.pop(self.name, None)
        w.db.drop_collection(self.name)

    def apply(self, m: Model) -> None:
        del m.metrics[self.name], m.docs[self.name], m.spaces[self.name]


class HashModel:
    """A deterministic embedder: each word hashes to a fixed random direction (per model); a text sums its words."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim
        self.embedded: list[str] = []  # the documents embed_documents saw (gyeol's identity probe included)
        self._words: dict[str, np.ndarray] = {}

    def vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.split():
                if word not in self._words:
                    seed = hashlib.blake2b(f"{self.name}:{word}".encode(), digest_size=8).digest()
                    rng = np.random.default_rng(int.from_bytes(seed, "little"))
                    self._words[word] = rng.standard_normal(self.dim).astype(np.float32)
                out[i] += self._words[word]
        return out

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.vectors(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self.vectors(texts)


# reembed moves a collection back and forth between two models of other dims than DIM
MODELS = {model.name: model for model in (HashModel("crash-a", 12), HashModel("crash-b", 6))}


@dataclass
class Reembed(Op):
    name: str
    model: HashModel
    batch_size: int

    def run(self, w: Writer) -> None:
        w.col(self.name).reembed(self.model, batch_size=self.batch_size, progress=False)

    def apply(self, m: Model) -> None:
        docs = m.docs[self.name]
        ids = sorted(docs)
        vectors = self.model.vectors([docs[i][0] for i in ids]) if ids else []
        for doc_id, vector in zip(ids, vectors):
            docs[doc_id] = doc_of(docs[doc_id][0], json.loads(docs[doc_id][1]), vector)
        m.spaces[self.name] = (self.model.name, self.model.dim)


def create(db: gyeol.Database, name: str, metric: str) -> gyeol.Collection:
    return db.create_collection(name, embedder=None, dim=DIM, metric=metric, tokenizer="whitespace",
                                bm25=BM25_PARAMS)


# --------------------------------------------------------------------------- planning rounds

_serial = itertools.count()


def fresh_docs(rng: random.Random, n: int, ids: list[str] | None = None):
    """(ids, texts, metadata, vectors) of n new documents (texts of digit words: never stemmed or stopped)."""
    ids = ids if ids is not None else [f"d{next(_serial)}" for _ in range(n)]
    texts = [" ".join(f"w{rng.randrange(12)}" for _ in range(rng.randrange(1, 6))) + f" u{doc_id[1:]}"
             for doc_id in ids]
    metadata = [{"g": rng.randrange(5), "n": int(doc_id[1:])} for doc_id in ids]
    vectors = np.random.default_rng(rng.randrange(2**32)).standard_normal((n, DIM)).astype(np.float32)
    return ids, texts, metadata, vectors


def add(rng: random.Random, name: str, lo: int = 1, hi: int = 25) -> Add:
    return Add(name, *fresh_docs(rng, rng.randrange(lo, hi + 1)))


def upsert(rng: random.Random, m: Model, name: str) -> Upsert:
    present = sorted(m.docs[name])
    old = rng.sample(present, min(len(present), rng.randrange(1, 15)))
    new = [f"d{next(_serial)}" for _ in range(rng.randrange(0, 6))]
    return Upsert(name, *fresh_docs(rng, len(old) + len(new), old + new))


def delete_ids(rng: random.Random, m: Model, name: str) -> Delete:
    present = sorted(m.docs[name])
    ids = rng.sample(present, min(len(present), rng.randrange(1, 20))) + ["never-stored"]
    rng.shuffle(ids)
    return Delete(name, ids=ids)


def delete_where(rng: random.Random, name: str) -> Delete:
    g, lo, hi = rng.randrange(5), rng.randrange(4), rng.randrange(next(_serial) + 1)
    where, pred = rng.choice([
        ({"g": g}, lambda md: md["g"] == g),
        ({"g": {"$in": [g, (g + 2) % 5]}}, lambda md: md["g"] in (g, (g + 2) % 5)),
        ({"$and": [{"g": {"$gte": lo}}, {"n": {"$lt": hi}}]}, lambda md: md["g"] >= lo and md["n"] < hi),
        ({"$or": [{"g": {"$lt": 1}}, {"n": {"$gte": hi}}]}, lambda md: md["g"] < 1 or md["n"] >= hi),
    ])
    return Delete(name, where=where, pred=pred)


def keep_small(rng: random.Random, m: Model, name: str, ops: list[Op]) -> None:
    """Keep collections to a few hundred documents so every reopen stays cheap."""
    if len(m.docs.get(name, ())) > 220:
        ops.append(Delete(name, ids=rng.sample(sorted(m.docs[name]), 120)))


def plan_add(rng, m):
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    return ops + [add(rng, BASE) for _ in range(3)]


def plan_upsert(rng, m):
    ops: list[Op] = [] if len(m.docs[BASE]) > 20 else [add(rng, BASE, 20, 30)]
    keep_small(rng, m, BASE, ops)
    return ops + [upsert(rng, m, BASE) for _ in range(3)]  # planned against the model as it is now


def plan_delete_ids(rng, m):
    ops: list[Op] = [add(rng, BASE, 40, 60)]
    scratch = m.copy()
    ops[0].apply(scratch)
    for _ in range(2):
        ops.append(delete_ids(rng, scratch, BASE))
        ops[-1].apply(scratch)
    return ops


def plan_delete_where(rng, m):
    ops: list[Op] = [add(rng, BASE, 40, 60)]
    return ops + [delete_where(rng, BASE) for _ in range(2)]


def plan_compact(rng, m):
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    ops += [add(rng, BASE, 10, 30), KeywordSearch(BASE)]
    scratch = m.copy()
    for op in ops:
        op.apply(scratch)
    return ops + [delete_ids(rng, scratch, BASE), Compact(BASE), add(rng, BASE), Compact(BASE)]


def plan_index_saves(rng, m):
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    return ops + [add(rng, BASE), KeywordSearch(BASE), Close(), add(rng, BASE), SaveIndexes(BASE)]


def plan_collections(rng, m):
    ops: list[Op] = []
    extra = [name for name in m.docs if name != BASE]
    rng.shuffle(extra)
    if len(extra) >= 3:
        ops.append(Drop(extra.pop()))
    name = f"c{next(_serial)}"
    ops += [Create(name, rng.choice(["ip", "l2"])), add(rng, name, 1, 10)]
    if extra:
        ops.append(Drop(extra.pop()))
    return ops + [Create(f"c{next(_serial)}", "l2")]


def add_in_space(rng: random.Random, m: Model, name: str, lo: int, hi: int) -> Add:
    """An add whose vectors are those of the model the collection is on (random before any reembed)."""
    op = add(rng, name, lo, hi)
    model = MODELS.get(m.spaces[name][0])
    if model is not None:
        op.vectors = model.vectors(op.texts)
    return op


def plan_reembed(rng, m):
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    scratch = m.copy()
    ops.append(add_in_space(rng, scratch, BASE, 5, 40))
    target = MODELS["crash-b" if scratch.spaces[BASE][0] == "crash-a" else "crash-a"]
    ops.append(Reembed(BASE, target, batch_size=rng.randrange(8, 40)))  # several batches: 30 to 260 documents
    ops[-1].apply(scratch)
    return ops + [add_in_space(rng, scratch, BASE, 1, 10)]


def plan_tiers(rng, m):
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    for tier in rng.sample(TIERS, 2):
        ops += [Retier(BASE, tier), add(rng, BASE, 1, 8)]
    return ops


def plan_merge(rng, m):
    """Tiny adds, enough for at least one segment merge per round (storage/merging.py), and a delete."""
    ops: list[Op] = []
    keep_small(rng, m, BASE, ops)
    ops += [add(rng, BASE, 1, 3) for _ in range(4)]
    scratch = m.copy()
    for op in ops:
        op.apply(scratch)
    return ops + [delete_ids(rng, scratch, BASE)] + [add(rng, BASE, 1, 3) for _ in range(4)]


# One line per write path: name -> planner(rng, model) giving the next round's operations.
WRITE_PATHS: dict[str, Callable[[random.Random, Model], list[Op]]] = {
    "add": plan_add,
    "upsert": plan_upsert,
    "delete by ids": plan_delete_ids,
    "delete by where": plan_delete_where,
    "compact": plan_compact,
    "index saves (close, save_indexes keyword=True)": plan_index_saves,
    "create and drop collections": plan_collections,
    "reopen on another tier": plan_tiers,
    "reembed (to another model and dim, in batches)": plan_reembed,
    "merge (tiny adds past storage/merging.py's MERGE_FACTOR)": plan_merge,
}


# --------------------------------------------------------------------------- checking a reopen


def lucene_scores(texts: list[str], query: list[str]) -> np.ndarray:
    """BM25 with Lucene's idf over whitespace tokens, written out (BM25_PARAMS)."""
    corpus = [t.split() for t in texts]
    lengths = np.array([len(d) for d in corpus], dtype=np.float64)
    scores = np.zeros(len(corpus))
    k1, b = BM25_PARAMS.k1, BM25_PARAMS.b
    for term in query:
        tf = np.array([d.count(term) for d in corpus], dtype=np.float64)
        df = np.count_nonzero(tf)
        if df:
            idf = np.log(1 + (len(corpus) - df + 0.5) / (df + 0.5))
            scores += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * lengths / lengths.mean()))
    return scores


def read_state(db: gyeol.Database) -> Model:
    got = Model()
    for name in db.list_collections():
        col = db.get_collection(name)
        got.metrics[name] = col.metric
        got.spaces[name] = ((col.config.get("embedder") or {}).get("name"), col.dim)
        got.docs[name] = {d.id: doc_of(d.text, d.metadata, d.vector) for d in col.get(include_vectors=True)}
    return got


def check_searches(col: gyeol.Collection, docs: dict[str, Doc], metric: str, rng: random.Random) -> None:
    """Vector search equals exact search; keyword search equals the BM25 reference; both over docs."""
    ids = sorted(docs)
    dim = col.dim
    vectors = np.stack([np.frombuffer(docs[i][2], np.float32) for i in ids]) if ids else np.zeros((0, dim))
    queries = np.random.default_rng(rng.randrange(2**32)).standard_normal((2, dim)).astype(np.float32)
    for query, got in zip(queries, col.search_many(vectors=queries, k=6, mode="vector")):
        ref_ids, ref_scores = exact_search(ids, vectors, query, metric, 6)
        assert_same_ranking(got.ids, got.scores, ref_ids, ref_scores)
    g = rng.randrange(5)  # filters (the saved filter columns) and id lookups (the saved id map) hold too
    assert sorted(d.id for d in col.get(where={"g": g})) == [i for i in ids if json.loads(docs[i][1]).get("g") == g]
    asked = rng.sample(ids, min(len(ids), 5)) + ["never-stored"]
    assert [d.id for d in col.get(asked)] == [i for i in asked if i in docs]
    terms = [f"w{rng.randrange(12)}", f"w{rng.randrange(12)}"]
    got = col.search(" ".join(terms), k=8, mode="keyword")
    scores = lucene_scores([docs[i][0] for i in ids], terms) if ids else np.zeros(0)
    want = np.sort(scores[scores > 0])[::-1][:8]
    # few distinct words make ties common, also at the cut: compare the scores, then each hit's own score
    np.testing.assert_allclose(got.scores, want, rtol=1e-4, atol=1e-4)
    by_id = dict(zip(ids, scores))
    assert len(set(got.ids)) == len(got.ids)
    for hit_id, score in zip(got.ids, got.scores):
        assert abs(by_id.get(hit_id, -1.0) - score) <= 1e-4, f"{hit_id}: score {score}, reference {by_id.get(hit_id)}"


def check_files(path: Path) -> None:
    """After a writer's reopen: no temp files, and each data folder holds exactly what its manifest names."""
    leftovers = [p for p in path.rglob("*.tmp")]
    assert not leftovers, f"temp files survived the reopen: {leftovers}"
    for manifest in path.glob("collections/*/manifest.json"):
        meta = json.loads(manifest.read_text())
        entries = meta["segments"] + meta["tombstones"]  # dicts with a "file", or bare names
        named = {e["file"] if isinstance(e, dict) else e for e in entries}
        progress = manifest.parent / "reembed.json"
        if progress.exists():  # an interrupted reembed's batches stay for a resume while they still apply
            recorded = json.loads(progress.read_text())
            source = (recorded["source_version"], recorded["source_generation"])
            assert source == (meta["version"], meta["generation"]), \
                f"{progress} survived a writer's open but does not match its manifest"
            named |= {seg["file"] for seg in recorded["segments"]}
        on_disk = {p.name for p in (manifest.parent / "data").iterdir()}
        assert on_disk == named, f"{manifest.parent.name}: on disk {sorted(on_disk ^ named)} differ"
        for saved in ("ids/ids.json", "filters/columns.json"):  # saved arrays: the one file their JSON names
            meta_path = manifest.parent / "index" / saved
            held = {p.name for p in meta_path.parent.glob("*.bin")}
            assert held == ({json.loads(meta_path.read_text())["file"]} if meta_path.exists() else set()), \
                f"{meta_path.parent}: holds {sorted(held)}"


def check_reopen(path: Path, candidates: list[Model], tiers: set[str], rng: random.Random,
                 reader_first: bool) -> int:
    """Reopen and give back which candidate state the directory holds (failing when it is neither)."""
    if reader_first:  # a reader meets the crashed writer's leftovers before any writer sweeps them
        with gyeol.connect(path, read_only=True) as reader:
            seen = read_state(reader)
        assert seen in candidates, describe_mismatch(seen, candidates)
    with gyeol.connect(path) as db:
        got = read_state(db)
        assert got in candidates, describe_mismatch(got, candidates)
        which = candidates.index(got)
        for name, docs in got.docs.items():
            col = db.get_collection(name)
            for tier in [col.tier, *sorted(tiers - {col.tier})] if name == BASE else [col.tier]:
                col = db.get_collection(name, tier=tier)
                check_searches(col, docs, got.metrics[name], rng)
            if col.tier != "memory":
                db.get_collection(name, tier="memory")
        check_files(path)
    return which


def describe_mismatch(got: Model, candidates: list[Model]) -> str:
    lines = ["the reopened state is neither the acknowledged state nor the one after the op in flight"]
    for label, want in zip(("acknowledged", "with the op in flight"), candidates):
        if got.metrics != want.metrics or got.spaces != want.spaces:
            lines.append(f"{label}: collections {sorted(got.metrics.items())} != {sorted(want.metrics.items())} "
                         f"or spaces {sorted(got.spaces.items())} != {sorted(want.spaces.items())}")
            continue
        for name in want.docs:
            missing = sorted(set(want.docs[name]) - set(got.docs[name]))[:5]
            extra = sorted(set(got.docs[name]) - set(want.docs[name]))[:5]
            changed = sorted(i for i in set(want.docs[name]) & set(got.docs[name])
                             if want.docs[name][i] != got.docs[name][i])[:5]
            if missing or extra or changed:
                lines.append(f"{label}, {name}: missing {missing}, extra {extra}, changed {changed}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the test


@dataclass
class PathState:
    """One write path's directory, model, and what its rounds measured."""

    name: str
    directory: Path
    model: Model
    kills: int = 0
    rounds: int = 0
    in_flight_applied: int = 0
    open_s: float = 0.0  # fork to ready, and ready to done: measured by complete rounds
    run_s: float = 0.0
    calls_at_ready: int = 0  # kill-point calls of the open, and of a whole round
    calls: int = 1
    resumed_with_batches: int = 0  # reembed: a second call reused batches the killed one recorded


def new_path_state(name: str, directory: Path, rng: random.Random) -> PathState:
    model = Model()
    with gyeol.connect(directory) as db:
        col = create(db, BASE, "l2")
        seed = Create(BASE, "l2"), add(rng, BASE, 30, 30)
        col.add(seed[1].texts, ids=seed[1].ids, metadata=seed[1].metadata, vectors=seed[1].vectors)
        for op in seed:
            op.apply(model)
    return PathState(name, directory, model)


def one_round(state: PathState, rng: random.Random) -> None:
    ops = WRITE_PATHS[state.name](rng, state.model)
    models = [state.model]
    for op in ops:
        models.append(models[-1].copy())
        op.apply(models[-1])
    # the first round runs to completion and measures the path; then the kill modes take turns
    mode = "complete" if state.rounds == 0 else rng.choice(["delay", "inject", "inject"])
    delay, kill_at, after = None, 0, False
    if mode == "delay":
        delay = rng.uniform(0, state.open_s + state.run_s)
    elif mode == "inject":
        # mostly inside the operations; now and then anywhere, the open included
        first = 1 if rng.random() < 0.25 else state.calls_at_ready + 1
        kill_at, after = rng.randint(first, max(first, state.calls)), rng.random() < 0.5
    outcome = run_round(state.directory, ops, Writer, delay=delay, kill_at=kill_at, kill_after=after)
    state.rounds += 1
    if not outcome.killed:
        assert outcome.acks == len(ops)
        state.open_s = max(state.open_s, outcome.open_s)
        state.run_s = max(state.run_s, outcome.run_s) if mode == "complete" else state.run_s
        state.calls = max(state.calls, outcome.calls)
        state.calls_at_ready = outcome.calls_at_ready
    a = outcome.acks
    candidates = models[a : a + 2]
    tiers = {t for op in ops[: a + 1] for t in op.tiers()}
    try:
        which = check_reopen(state.directory, candidates, tiers, rng, reader_first=state.rounds % 4 == 0)
    except AssertionError as exc:
        raise AssertionError(f"path {state.name!r}, round {state.rounds} ({mode}, delay={delay}, "
                             f"kill_at={kill_at}, after={after}): {a} of {len(ops)} ops acknowledged, "
                             f"in flight: {ops[a] if a < len(ops) else None}\n{exc}") from None
    state.kills += outcome.killed
    state.in_flight_applied += which == 1 and a < len(ops)
    state.model = candidates[which]
    if a < len(ops) and isinstance(ops[a], Reembed):
        state.model, reused = resume_reembed(state.directory, ops[a], state.model, candidates[1])
        state.resumed_with_batches += reused > 0
    if state.rounds % 6 == 0:  # the parent compacts now and then, so segments do not pile up across rounds
        with gyeol.connect(state.directory) as db:
            for name in db.list_collections():
                db.get_collection(name).compact()


def recorded_rows(path: Path) -> int:
    """Documents an interrupted reembed recorded (reembed.json) in path, whose one collection it moves; 0 if none."""
    progress = list((path / "collections").glob("*/reembed.json"))
    assert len(progress) <= 1 and len(list((path / "collections").iterdir())) == 1, progress
    return sum(seg["rows"] for seg in json.loads(progress[0].read_text())["segments"]) if progress else 0


def resume_reembed(path: Path, op: Reembed, found: Model, done: Model) -> tuple[Model, int]:
    """After a kill during op: calling reembed again completes it, reusing every batch recorded.

    Gives the state and how many recorded documents the old state's resume reused."""
    model = HashModel(op.model.name, op.model.dim)  # a fresh instance: counts what this call embeds
    recorded = recorded_rows(path) if found != done else None
    with gyeol.connect(path) as db:
        report = db.get_collection(op.name).reembed(model, batch_size=op.batch_size, progress=False)
        got = read_state(db)
    documents = len(done.docs[op.name])
    assert got == done, describe_mismatch(got, [done])
    if recorded is None:  # the switch had committed: nothing to embed again
        assert (report.embedded, report.reused) == (0, documents), report
    else:
        assert (report.reused, report.embedded) == (recorded, documents - recorded), (report, recorded)
        embedded = [t for t in model.embedded if not t == PROBE_TEXT]
        assert len(embedded) == documents - recorded, (len(embedded), report)
    return done, recorded or 0


@pytest.fixture
def cheap_process(monkeypatch):
    """No fsync (a SIGKILL keeps the page cache; see no_fsync) and one FAISS thread, in parent and children."""
    import faiss

    monkeypatch.setattr(os, "fsync", no_fsync)
    from gyeol.storage import saved_arrays

    monkeypatch.setattr(saved_arrays, "SAVE_MIN_TAIL", 8)  # the id map and filter columns save on most writes
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # tiny searches: a thread pool only spins; and forked children have none
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture
def crash_dir(tmp_path):
    """A RAM-backed folder when there is one: a SIGKILL keeps the page cache, so the file system does not
    change what a reopen finds, and a disk shared with other jobs makes each small write wait."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="gyeol-crash-", dir=shm))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_sigkill_at_random_points_of_every_write_path_loses_no_acknowledged_write(crash_dir, cheap_process):
    rng = random.Random(int(os.environ.get("GYEOL_CRASH_SEED", "20261201")))
    only = os.environ.get("GYEOL_CRASH_PATHS")  # e.g. "compact,tier": run the paths whose names hold one
    names = [n for n in WRITE_PATHS if only is None or any(part in n for part in only.split(","))]
    states = [new_path_state(name, crash_dir / f"p{i}", rng) for i, name in enumerate(names)]
    start = time.monotonic()
    while sum(s.kills for s in states) < KILLS and time.monotonic() - start < SECONDS:
        for state in states:
            one_round(state, rng)
    elapsed = time.monotonic() - start
    kills = sum(s.kills for s in states)
    table = "\n".join(f"  {s.name}: {s.kills} kills in {s.rounds} rounds, in-flight op found applied "
                      f"{s.in_flight_applied} times"
                      + (f", resumed from recorded batches {s.resumed_with_batches} times" if s.resumed_with_batches
                         else "") for s in states)
    print(f"\n{kills} kills in {elapsed:.1f} s\n{table}")
    assert kills >= min(KILLS, MIN_KILLS), f"only {kills} kills in {elapsed:.1f} s:\n{table}"
    per_path = 5 if KILLS >= MIN_KILLS else 1  # a short run (GYEOL_CRASH_KILLS=30) still hits every path
    for s in states:
        assert s.kills >= per_path, f"{s.name}: only {s.kills} kills:\n{table}"
