"""The bad-input catalogue: every public call, given wrong arguments, raises the expected typed error,
says what it found, and changes nothing (count, every file's bytes, search results, collections).

One table, CASES: (id, call, error class of API.md's tree, text the message must hold). The
cases complement tests/test_errors.py, tests/test_safety.py, tests/test_filters.py and
tests/test_evaluation.py rather than repeat them. One database serves every case (module
scope): a case that changed anything fails itself and is caught by the next state check too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from helpers.reembed_models import NewModel

import gyeol
from gyeol.errors import (
    CollectionNotFoundError,
    DimensionMismatchError,
    DuplicateIdError,
    FilterError,
    GyeolError,
    InvalidInputError,
)

DIM = 8
N = 12


@dataclass
class Ctx:
    path: Path  # the database folder
    scratch: Path  # a folder beside it, for connect() cases
    db: gyeol.Database
    col: gyeol.Collection


def v(n: int = 1, dim: int = DIM) -> np.ndarray:
    return np.random.default_rng(n * 7 + dim).standard_normal((n, dim)).astype(np.float32)


QUERY = v(1)[0]


def make(**kwargs: Any) -> Callable[[Ctx], Any]:
    """A create_collection call with good defaults and kwargs overriding them."""
    options = {"embedder": None, "dim": DIM, "tokenizer": "whitespace"}
    options.update(kwargs)
    return lambda c: c.db.create_collection("new", **options)


def add(**kwargs: Any) -> Callable[[Ctx], Any]:
    """An add of one new document with kwargs overriding its parts."""
    options: dict[str, Any] = {"texts": ["a new text"], "ids": ["n1"], "vectors": v(1)}
    options.update(kwargs)
    texts = options.pop("texts")
    return lambda c: c.col.add(texts, **options)


def upsert(**kwargs: Any) -> Callable[[Ctx], Any]:
    options: dict[str, Any] = {"texts": ["a new text"], "ids": ["s1"], "vectors": v(1)}
    options.update(kwargs)
    texts = options.pop("texts")
    return lambda c: c.col.upsert(texts, **options)


def search(**kwargs: Any) -> Callable[[Ctx], Any]:
    options: dict[str, Any] = {"query": "w1 w2", "vector": QUERY}
    options.update(kwargs)
    query = options.pop("query")
    return lambda c: c.col.search(query, **options)


def search_many(**kwargs: Any) -> Callable[[Ctx], Any]:
    options: dict[str, Any] = {"queries": ["w1", "w2 w3"], "vectors": v(2)}
    options.update(kwargs)
    queries = options.pop("queries")
    return lambda c: c.col.search_many(queries, **options)


def where(flt: Any, call: str = "search") -> Callable[[Ctx], Any]:
    """A where filter passed to one of the calls that take one."""
    calls = {
        "search": lambda c: c.col.search(vector=QUERY, k=3, mode="vector", where=flt),
        "keyword": lambda c: c.col.search("w1", k=3, mode="keyword", where=flt),
        "many": lambda c: c.col.search_many(["w1"], k=3, mode="keyword", where=flt),
        "get": lambda c: c.col.get(where=flt),
        "delete": lambda c: c.col.delete(where=flt),
    }
    return calls[call]


def evaluate(queries: Any = None, qrels: Any = None, **kwargs: Any) -> Callable[[Ctx], Any]:
    queries = {"q": "w1 w2"} if queries is None else queries
    qrels = {"q": ["s1"]} if qrels is None else qrels
    return lambda c: c.col.evaluate(queries, qrels, **kwargs)


def reembed(**kwargs: Any) -> Callable[[Ctx], Any]:
    """A reembed to a good model (a hashing embedder of another dim) with kwargs overriding its options."""
    options: dict[str, Any] = {"batch_size": 4, "progress": False}
    options.update(kwargs)
    return lambda c: c.col.reembed(NewModel(), **options)


class NoEmbed:
    """An object that is neither an Embedder nor a callable."""


class Weird:
    def __repr__(self) -> str:
        return "<Weird>"


E, F, NF, D, DUP = InvalidInputError, FilterError, CollectionNotFoundError, DimensionMismatchError, DuplicateIdError

# (id, call, error, text the message must hold)
CASES: list[tuple[str, Callable[[Ctx], Any], type[GyeolError], str]] = [
    # ---------------------------------------------------------------- connect
    ("connect bytes path", lambda c: gyeol.connect(bytes(c.scratch / "b")), E, "bytes"),
    ("connect float path", lambda c: gyeol.connect(3.5), E, "float"),
    ("connect list path", lambda c: gyeol.connect([str(c.scratch / "l")]), E, "list"),
    ("connect dict path", lambda c: gyeol.connect({"path": "x"}), E, "dict"),
    ("connect empty path", lambda c: gyeol.connect(""), E, "''"),
    ("connect NUL in a Path", lambda c: gyeol.connect(Path(f"{c.scratch}/x\x00y")), E, "NUL"),
    # ---------------------------------------------------------------- create_collection: names
    ("create bytes name", lambda c: c.db.create_collection(b"new", embedder=None, dim=DIM), E, "b'new'"),
    ("create list name", lambda c: c.db.create_collection(["new"], embedder=None, dim=DIM), E, "['new']"),
    ("create tab-only name", lambda c: c.db.create_collection("\t\n", embedder=None, dim=DIM), E, "'\\t\\n'"),
    ("create 1000-char name", lambda c: c.db.create_collection("n" * 1000, embedder=None, dim=DIM), E, "1000"),
    # ---------------------------------------------------------------- create_collection: dim, metric, tier, device
    ("create dim str", make(dim="8"), E, "'8'"),
    ("create dim bool", make(dim=True), E, "True"),
    ("create dim list", make(dim=[8]), E, "[8]"),
    ("create dim numpy float", make(dim=np.float64(8.0)), E, "8.0"),
    ("create dim huge negative", make(dim=-(2**70)), E, str(-(2**70))),
    ("create metric None", make(metric=None), E, "None"),
    ("create metric int", make(metric=2), E, "metric 2"),
    ("create metric padded", make(metric=" cosine"), E, "' cosine'"),
    ("create metric list", make(metric=["l2"]), E, "['l2']"),
    ("create tier None", make(tier=None), E, "None"),
    ("create tier upper", make(tier="MEMORY"), E, "'MEMORY'"),
    ("create tier int", make(tier=1), E, "tier 1"),
    ("create device None", make(device=None), E, "None"),
    ("create device cuda", make(device="cuda"), E, "'cuda'"),
    ("create device int", make(device=0), E, "device 0"),
    # ---------------------------------------------------------------- create_collection: index
    ("create index class not instance", make(index=gyeol.Flat), E, "Flat"),
    ("create index dict", make(index={"kind": "hnsw"}), E, "dict"),
    ("create index list", make(index=["Flat"]), E, "list"),
    ("create index bad factory", make(index="IVF16,Flatt"), E, "IVF16,Flatt"),
    ("create index empty factory", make(index=""), E, "''"),
    ("create HNSW m=0", lambda c: gyeol.HNSW(m=0), E, "HNSW.m must be a positive integer, got 0"),
    ("create HNSW m str", lambda c: gyeol.HNSW(m="16"), E, "'16'"),
    ("create HNSW ef_search negative", lambda c: gyeol.HNSW(ef_search=-5), E,
     "ef_search must be a positive integer, got -5"),
    ("create IVF nlist=0", lambda c: gyeol.IVF(nlist=0), E, "nlist must be a positive integer, got 0"),
    ("create IVF nprobe float", lambda c: gyeol.IVF(nprobe=2.5), E, "nprobe must be a positive integer, got 2.5"),
    ("create IVFPQ m not dividing dim", make(index=gyeol.IVFPQ(m=3), tier="hybrid"), E, "IVFPQ.m=3"),
    ("create IVFPQ nbits 0", lambda c: gyeol.IVFPQ(nbits=0), E, "nbits must be an integer in [1, 16], got 0"),
    # ---------------------------------------------------------------- create_collection: embedder, tokenizer, bm25
    ("create embedder float", make(embedder=1.5), E, "float"),
    ("create embedder list", make(embedder=["model"]), E, "list"),
    ("create embedder object", make(embedder=NoEmbed()), E, "NoEmbed"),
    ("create tokenizer int", make(tokenizer=5), E, "int"),
    ("create tokenizer upper", make(tokenizer="Whitespace"), E, "'Whitespace'"),
    ("create tokenizer list", make(tokenizer=["whitespace"]), E, "list"),
    ("create tokenizer object", make(tokenizer=NoEmbed()), E, "NoEmbed"),
    ("create tokenizer empty str", make(tokenizer=""), E, "''"),
    ("create bm25 str", make(bm25="okapi"), E, "str"),
    ("create bm25 class", make(bm25=gyeol.BM25), E, "type"),
    ("create BM25 k1 negative", lambda c: gyeol.BM25(k1=-1.0), E, "-1.0"),
    ("create BM25 b above 1", lambda c: gyeol.BM25(b=1.5), E, "1.5"),
    ("create BM25 unknown variant", lambda c: gyeol.BM25(variant="bm26"), E, "'bm26'"),
    ("create BM25 k1 str", lambda c: gyeol.BM25(k1="1.2"), E, "'1.2'"),
    ("create BM25 k1 nan", lambda c: gyeol.BM25(k1=float("nan")), E, "nan"),
    ("create WhitespaceTokenizer stopwords int", lambda c: gyeol.WhitespaceTokenizer(stopwords=5), E, "int"),
    ("create WhitespaceTokenizer stemming name", lambda c: gyeol.WhitespaceTokenizer(english_stemming="snowball"),
     E, "'snowball'"),
    # ---------------------------------------------------------------- get_collection, drop_collection
    ("get int name", lambda c: c.db.get_collection(5), NF, "named 5"),
    ("get None name", lambda c: c.db.get_collection(None), NF, "None"),
    ("get name with a space", lambda c: c.db.get_collection("docs "), NF, "'docs '"),
    ("get tier int", lambda c: c.db.get_collection("docs", tier=2), E, "tier 2"),
    ("get tier upper", lambda c: c.db.get_collection("docs", tier="Disk"), E, "'Disk'"),
    ("get device cuda", lambda c: c.db.get_collection("docs", device="cuda"), E, "'cuda'"),
    ("get embedder int", lambda c: c.db.get_collection("docs", embedder=17), E, "int"),
    ("get tokenizer unknown", lambda c: c.db.get_collection("docs", tokenizer="spaces"), E, "'spaces'"),
    ("drop None", lambda c: c.db.drop_collection(None), NF, "None"),
    ("drop list", lambda c: c.db.drop_collection(["docs"]), NF, "['docs']"),
    ("drop upper", lambda c: c.db.drop_collection("DOCS"), NF, "'DOCS'"),
    # ---------------------------------------------------------------- add: texts
    ("add texts bytes item", add(texts=[b"raw"]), E, "bytes"),
    ("add texts nested list", add(texts=[["a"]]), E, "list"),
    ("add texts int", add(texts=5), E, "int"),
    ("add texts set", add(texts={"a"}), E, "set"),
    ("add texts numpy array of int", add(texts=np.array([1])), E, "got int"),
    ("add texts 2-d numpy array", add(texts=np.array([["a"]])), E, "shape (1, 1)"),
    ("add texts dict", add(texts={"a": 1}), E, "dict"),
    ("add texts float item", add(texts=[1.5]), E, "float"),
    ("add texts None without vectors", add(texts=[None], vectors=None), E, "None"),
    # ---------------------------------------------------------------- add: ids
    ("add ids tuple of int", add(ids=(7,)), E, "ids[0] must be a non-empty str, got 7"),
    ("add ids float", add(ids=[1.5]), E, "got 1.5"),
    ("add ids nested", add(ids=[["n1"]]), E, "['n1']"),
    ("add ids set", add(ids={"n1"}), E, "set"),
    ("add ids 2-d numpy array", add(ids=np.array([["n1"]])), E, "shape (1, 1)"),
    ("add ids bool", add(ids=[True]), E, "True"),
    ("add ids count", add(texts=["a", "b", "c"], ids=["n1", "n2"], vectors=v(3)), E, "2 ids"),
    # ---------------------------------------------------------------- add: metadata
    ("add metadata bytes value", add(metadata=[{"k": b"x"}]), E, "bytes"),
    ("add metadata complex value", add(metadata=[{"k": 1j}]), E, "complex"),
    ("add metadata Decimal value", add(metadata=[{"k": Decimal("1.5")}]), E, "Decimal"),
    ("add metadata tuple of dict", add(metadata=[{"k": ({"a": 1},)}]), E, "dict"),
    ("add metadata nested dict value", add(metadata=[{"k": {"a": 1}}]), E, "dict"),  # JSON objects: refused
    ("add metadata huge int", add(metadata=[{"k": 10**400}]), E, "401 digits"),
    ("add metadata key with $", add(metadata=[{"$or": 1}]), E, "$or"),
    ("add metadata more than texts", add(metadata=[{}, {}]), E, "metadata"),
    ("add metadata str", add(metadata="k=v"), E, "str"),
    ("add metadata list of lists", add(metadata=[[("k", 1)]]), E, "list"),
    ("add metadata numpy complex value", add(metadata=[{"k": np.complex64(3)}]), E, "complex64"),
    ("add metadata numpy datetime value", add(metadata=[{"k": np.datetime64("2020-01-01")}]), E, "datetime64"),
    ("add metadata None key", add(metadata=[{None: 1}]), E, "None"),
    ("add metadata inf in list", add(metadata=[{"k": [1.0, float("inf")]}]), E, "inf"),
    # ---------------------------------------------------------------- add: vectors
    ("add vectors 3-d", add(vectors=np.ones((1, DIM, 1))), E, f"(1, {DIM}, 1)"),
    ("add vectors ragged", add(texts=["a", "b"], ids=["n1", "n2"], vectors=[[1.0] * DIM, [1.0] * (DIM - 1)]),
     E, "vectors"),
    ("add vectors str", add(vectors="0.1 0.2"), E, "str"),
    ("add vectors dict", add(vectors={"n1": [1.0] * DIM}), E, "dict"),
    ("add vectors complex", add(vectors=np.ones((1, DIM), dtype=complex)), E, "complex"),
    ("add vectors object dtype", add(vectors=np.array([[Weird()] * DIM], dtype=object)), E, "vectors"),
    ("add vectors overflow float32", add(vectors=np.full((1, DIM), 1e39)), E, "infinite"),
    ("add vectors zero rows", add(vectors=np.ones((0, DIM))), E, "rows"),
    ("add vectors wider", add(vectors=v(1, DIM * 2)), D, f"dimension {DIM * 2}"),
    ("add vectors None rows", add(vectors=[None]), E, "vectors"),
    ("add vectors 0-d", add(vectors=np.float32(1.0)), E, "vectors"),
    # ---------------------------------------------------------------- upsert
    ("upsert ids str", upsert(ids="s1"), E, "str"),
    ("upsert ids empty list with a text", upsert(ids=[]), E, "0 ids"),
    ("upsert ids int item", upsert(ids=[3]), E, "ids[0] must be a non-empty str, got 3"),
    ("upsert vectors narrower", upsert(vectors=v(1, DIM - 3)), D, f"dimension {DIM - 3}"),
    ("upsert vectors NaN", upsert(vectors=np.full((1, DIM), np.nan)), E, "NaN"),
    ("upsert zero vector cosine", upsert(vectors=np.zeros((1, DIM))), E, "zero"),
    ("upsert metadata set", upsert(metadata=[{"k": {1}}]), E, "set"),
    ("upsert texts bytes", upsert(texts=[b"x"]), E, "bytes"),
    ("upsert nothing", lambda c: c.col.upsert(ids=["s1"]), E, "texts"),
    # ---------------------------------------------------------------- delete
    ("delete ids int", lambda c: c.col.delete(5), E, "int"),
    ("delete ids None item", lambda c: c.col.delete([None]), E, "None"),
    ("delete ids empty str", lambda c: c.col.delete([""]), E, "''"),
    ("delete ids dict", lambda c: c.col.delete({"s1": 1}), E, "dict"),
    ("delete ids duplicate", lambda c: c.col.delete(["s1", "s1"]), DUP, "s1"),
    ("delete where empty", lambda c: c.col.delete(where={}), E, "where={}"),
    ("delete where str", where("g = 1", "delete"), F, "str"),
    ("delete where unknown op", where({"g": {"$like": 1}}, "delete"), F, "$like"),
    ("delete where $in str", where({"g": {"$in": "12"}}, "delete"), F, "$in"),
    ("delete ids and bad where", lambda c: c.col.delete(["s1"], where={"g": {"$gt": [1]}}), F, "[1]"),
    # ---------------------------------------------------------------- scan, to_arrow, to_pandas
    ("scan unknown column", lambda c: c.col.scan(["id", "vectors"]), E, "'vectors'"),
    ("scan columns a str", lambda c: c.col.scan("id"), E, "'id'"),
    ("scan columns empty", lambda c: c.col.scan([]), E, "[]"),
    ("scan columns twice", lambda c: c.col.scan(["id", "id"]), E, "distinct"),
    ("scan column int", lambda c: c.col.scan([1]), E, "1"),
    ("scan batch_size 0", lambda c: c.col.scan(batch_size=0), E, "batch_size must be a positive integer, got 0"),
    ("scan batch_size float", lambda c: c.col.scan(batch_size=1.5), E, "1.5"),
    ("scan bad where", lambda c: c.col.scan(where={"g": {"$like": 1}}), F, "$like"),
    ("to_arrow unknown column", lambda c: c.col.to_arrow(columns=["label"]), E, "'label'"),
    ("to_arrow limit 0", lambda c: c.col.to_arrow(limit=0), E, "limit must be a positive integer, got 0"),
    ("to_pandas bad where", lambda c: c.col.to_pandas(where={"$or": {"g": 1}}), F, "$or"),
    # ---------------------------------------------------------------- get
    ("get limit negative", lambda c: c.col.get(limit=-1), E, "limit must be a positive integer, got -1"),
    ("get limit float", lambda c: c.col.get(limit=2.5), E, "limit must be a positive integer, got 2.5"),
    ("get limit str", lambda c: c.col.get(limit="3"), E, "limit must be a positive integer, got '3'"),
    ("get offset float", lambda c: c.col.get(offset=1.5), E, "offset must be a non-negative integer, got 1.5"),
    ("get offset str", lambda c: c.col.get(offset="1"), E, "'1'"),
    ("get offset bool", lambda c: c.col.get(offset=True), E, "True"),
    ("get ids int item", lambda c: c.col.get(["s1", 2]), E, "ids[1] must be a non-empty str, got 2"),
    ("get ids dict", lambda c: c.col.get({"s1": 1}), E, "dict"),
    ("get where list", where([{"g": 1}], "get"), F, "list"),
    ("get where $exists str", where({"g": {"$exists": "no"}}, "get"), F, "'no'"),
    # ---------------------------------------------------------------- search: k, mode
    ("search k str", search(k="10"), E, "'10'"),
    ("search k list", search(k=[5]), E, "[5]"),
    ("search k nan", search(k=float("nan")), E, "nan"),
    ("search k numpy float", search(k=np.float64(3.0)), E, "3.0"),
    ("search mode None", search(mode=None), E, "None"),
    ("search mode upper", search(mode="Vector"), E, "'Vector'"),
    ("search mode int", search(mode=1), E, "mode 1"),
    ("search mode list", search(mode=["hybrid"]), E, "['hybrid']"),
    # ---------------------------------------------------------------- search: alpha, fusion, rrf_k, candidates
    ("search alpha nan", search(alpha=float("nan")), E, "nan"),
    ("search alpha inf", search(alpha=float("inf")), E, "inf"),
    ("search alpha str number", search(alpha="0.5"), E, "'0.5'"),
    ("search alpha bool", search(alpha=True), E, "True"),
    ("search alpha complex", search(alpha=0.5j), E, "0.5j"),
    ("search alpha dict", search(alpha={"vector": 0.5}), E, "alpha"),
    ("search fusion upper", search(fusion="RRF"), E, "'RRF'"),
    ("search fusion int", search(fusion=1), E, "fusion 1"),
    ("search fusion empty", search(fusion=""), E, "''"),
    ("search fusion list", search(fusion=["rrf"]), E, "['rrf']"),
    ("search rrf_k negative", search(rrf_k=-1), E, "got -1"),
    ("search rrf_k str", search(rrf_k="60"), E, "'60'"),
    ("search rrf_k nan", search(rrf_k=float("nan")), E, "nan"),
    ("search rrf_k inf", search(rrf_k=float("inf")), E, "inf"),
    ("search rrf_k None", search(rrf_k=None), E, "None"),
    ("search rrf_k bool", search(rrf_k=True), E, "True"),
    ("search candidates list", search(candidates=[10]), E, "[10]"),
    ("search candidates nan", search(candidates=float("nan")), E, "nan"),
    # ---------------------------------------------------------------- search: query and vector
    ("search query bytes", search(query=b"w1", vector=None, mode="keyword"), E, "bytes"),
    ("search query list", search(query=["w1"], vector=None, mode="keyword"), E, "list"),
    ("search vector 2-d", search(vector=v(2), mode="vector"), E, "2 rows"),
    ("search vector empty", search(vector=[], mode="vector"), E, "dimension 0"),
    ("search vector complex", search(vector=np.ones(DIM, dtype=complex), mode="vector"), E, "complex"),
    ("search vector inf", search(vector=np.full(DIM, np.inf), mode="vector"), E, "infinite"),
    ("search vector longer", search(vector=np.ones(DIM + 1), mode="vector"), D, f"dimension {DIM + 1}"),
    ("search vector dict", search(vector={"x": 1.0}, mode="vector"), E, "dict"),
    ("search vector mode without a vector", search(vector=None, mode="vector"), E, "vector"),
    # ---------------------------------------------------------------- search_many
    ("many queries tuple with None", search_many(queries=("w1", None), vectors=None, mode="keyword"), E, "None"),
    ("many queries int item", search_many(queries=["w1", 2], vectors=None, mode="keyword"), E, "int"),
    ("many queries dict", search_many(queries={"q": "w1"}, vectors=None, mode="keyword"), E, "dict"),
    ("many vectors 1-d", search_many(queries=None, vectors=QUERY, mode="vector"), E, f"({DIM},)"),
    ("many vectors 3-d", search_many(queries=None, vectors=np.ones((1, 1, DIM)), mode="vector"), E,
     f"(1, 1, {DIM})"),
    ("many vectors wrong dim", search_many(queries=None, vectors=v(2, DIM + 2), mode="vector"), D,
     f"dimension {DIM + 2}"),
    ("many vectors NaN row", search_many(queries=None, vectors=np.vstack([v(1), np.full((1, DIM), np.nan)]),
                                         mode="vector"), E, "NaN"),
    ("many k zero", search_many(k=0), E, "k must be a positive integer, got 0"),
    ("many mode unknown", search_many(mode="dense"), E, "'dense'"),
    ("many alpha above 1", search_many(alpha=1.01), E, "1.01"),
    ("many fusion unknown", search_many(fusion="borda"), E, "'borda'"),
    ("many rrf_k zero", search_many(rrf_k=0), E, "rrf_k must be a positive finite number, got 0"),
    # ---------------------------------------------------------------- where: every operator with a wrong type
    ("where $eq bytes", where({"g": {"$eq": b"x"}}), F, "bytes"),
    ("where $ne dict", where({"g": {"$ne": {"a": 1}}}, "keyword"), F, "$ne"),
    ("where $gt None", where({"g": {"$gt": None}}, "many"), F, "None"),
    ("where $gte list", where({"g": {"$gte": [1, 2]}}), F, "[1, 2]"),
    ("where $lt bytes", where({"g": {"$lt": b"1"}}, "get"), F, "bytes"),
    ("where $lte set", where({"g": {"$lte": {1}}}), F, "set"),
    ("where $in set", where({"g": {"$in": {1, 2}}}), F, "set"),
    ("where $in bytes item", where({"g": {"$in": [b"x"]}}, "keyword"), F, "bytes"),
    ("where $nin str", where({"g": {"$nin": "abc"}}, "get"), F, "'abc'"),
    ("where $nin empty", where({"g": {"$nin": []}}), F, "$nin"),
    ("where $exists None", where({"g": {"$exists": None}}), F, "None"),
    ("where $exists 0", where({"g": {"$exists": 0}}, "many"), F, "found int: 0"),
    ("where $contains list", where({"tags": {"$contains": ["a", "b"]}}), F, "['a', 'b']"),
    ("where $contains bytes", where({"tags": {"$contains": b"a"}}, "get"), F, "bytes"),
    ("where $and dict", where({"$and": {"g": 1}}, "keyword"), F, "$and"),
    ("where $or None", where({"$or": None}), F, "None"),
    ("where $or empty", where({"$or": []}, "get"), F, "$or"),
    ("where $and with a list inside", where({"$and": [[{"g": 1}]]}), F, "list"),
    ("where $not", where({"$not": {"g": 1}}), F, "$not"),
    ("where $regex", where({"g": {"$regex": "a.*"}}, "get"), F, "$regex"),
    ("where $gt NaN", where({"g": {"$gt": float("nan")}}), F, "nan"),
    ("where equality NaN", where({"g": float("nan")}, "get"), F, "nan"),
    ("where $in huge int", where({"g": {"$in": [10**400]}}), F, "float64"),
    ("where key int", where({3: 1}, "many"), F, "found key 3"),
    ("where value tuple of lists", where({"g": ([1],)}), F, "list"),
    ("where bytes key", where({b"g": 1}), F, "b'g'"),
    # ---------------------------------------------------------------- reembed (tests/test_reembed.py has None,
    # an int embedder, batch_size=0, progress="yes", documents without text)
    ("reembed batch_size float", reembed(batch_size=2.5), E, "2.5"),
    ("reembed batch_size str", reembed(batch_size="4"), E, "'4'"),
    ("reembed batch_size True", reembed(batch_size=True), E, "True"),
    ("reembed batch_size negative", reembed(batch_size=-3), E, "-3"),
    ("reembed batch_size numpy float", reembed(batch_size=np.float64(4)), E, "4"),
    ("reembed progress int", reembed(progress=1), E, "got 1"),
    ("reembed progress str", reembed(progress="bar"), E, "'bar'"),
    ("reembed progress list", reembed(progress=[print]), E, "got [<built-in function print>]"),
    ("reembed embedder object", lambda c: c.col.reembed(NoEmbed(), progress=False), E, "NoEmbed"),
    ("reembed embedder list", lambda c: c.col.reembed(["model"], progress=False), E, "list"),
    ("reembed embedder float", lambda c: c.col.reembed(1.5, progress=False), E, "float"),
    # ---------------------------------------------------------------- save_indexes, evaluate
    ("save_indexes keyword str", lambda c: c.col.save_indexes(keyword="yes"), E, "'yes'"),
    ("save_indexes keyword int", lambda c: c.col.save_indexes(keyword=1), E, "keyword must be True or False, got 1"),
    ("evaluate k str", evaluate(k="10"), E, "'10'"),
    ("evaluate k negative", evaluate(k=-1), E, "got -1"),
    ("evaluate modes None item", evaluate(modes=[None]), E, "None"),
    ("evaluate modes alpha out of range", evaluate(modes=[{"mode": "hybrid", "alpha": 2}]), E,
     "alpha must be a number in [0, 1], None or 'auto', got 2"),
    ("evaluate query int", evaluate(queries={"q": 5}), E, "got 5"),
    ("evaluate qrels grade str", evaluate(qrels={"q": {"s1": "high"}}), E, "'high'"),
    ("evaluate qrels int ids", evaluate(qrels={"q": 7}), E, "got 7"),
    ("evaluate queries set", evaluate(queries={"w1"}), E, "set"),
    ("evaluate qrels list beside a mapping", evaluate(qrels=[None]), E, "list"),
]


# --------------------------------------------------------------------------- the shared database


def digest_files(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def state(ctx: Ctx) -> tuple:
    col = ctx.col
    vec = col.search(vector=QUERY, k=5, mode="vector")
    kw = col.search("w1 w2", k=5, mode="keyword")
    hyb = col.search("w1 w3", vector=QUERY, k=5, alpha=0.5, fusion="rrf")
    docs = col.get(include_vectors=True)
    return (
        col.count(),
        ctx.db.list_collections(),
        [(d.id, d.text, json.dumps(d.metadata, sort_keys=True), d.vector.tobytes()) for d in docs],
        [(r.ids, [round(s, 6) for s in r.scores]) for r in (vec, kw, hyb)],
        digest_files(ctx.path),
        sorted(p.name for p in ctx.scratch.iterdir()),
    )


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad_input")
    scratch = base / "scratch"
    scratch.mkdir()
    db = gyeol.connect(base / "kb")
    col = db.create_collection("docs", embedder=None, dim=DIM, tokenizer="whitespace", index=gyeol.Flat())
    col.add([f"w{i % 4} w{i % 3 + 4} text {i}" for i in range(N)], ids=[f"s{i}" for i in range(N)],
            metadata=[{"g": i % 3, "tags": ["a", "b"] if i % 2 else ["c"]} for i in range(N)], vectors=v(N))
    col.delete(["s11"])
    col.save_indexes(keyword=True)  # every derived file written now: a failed call must add none
    yield Ctx(base / "kb", scratch, db, col)
    db.close()


@pytest.fixture(scope="module")
def baseline(ctx):
    return state(ctx)


def test_the_catalogue_is_large_and_unique():
    ids = [case[0] for case in CASES]
    assert len(ids) == len(set(ids))
    assert len(CASES) >= 150


@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_bad_input_is_typed_names_what_it_found_and_changes_nothing(case, ctx, baseline, monkeypatch):
    _, call, error, found = case
    monkeypatch.chdir(ctx.scratch)  # a path resolved against the working directory lands where state() looks
    with pytest.raises(GyeolError) as info:
        call(ctx)
    assert type(info.value) is error or isinstance(info.value, error), (
        f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}")
    message = str(info.value)
    assert found in message, f"the message does not name what was found ({found!r}): {message}"
    assert state(ctx) == baseline
