"""Retrieval sets for the quality benchmarks (gyeol's own layout or a BEIR-style one) and their metrics.

The quality scripts (korean_quality.py, hybrid_quality.py) take `--data DIR` so they can
run on any labelled set, not only the hand-written ones in benchmarks/data/. Two layouts
are read:

gyeol (benchmarks/data/*/):
    corpus.jsonl   {"id": str, "text": str}
    queries.jsonl  {"id": str, "query": str, "relevant": [doc ids], "kind": str (optional),
                    "split": "tune" | "report" (optional)}
`split="tune"` or `"report"` keeps the queries of that half (the corpus stays whole); "all",
and the BEIR default "test", keep every query. A set without "split" fields has only "all".

BEIR (BEIR datasets, MIRACL and MTEB retrieval sets exported the same way):
    corpus.jsonl   {"_id": str, "title": str (optional), "text": str}
    queries.jsonl  {"_id": str, "text": str}
    qrels/<split>.tsv  query-id <TAB> corpus-id <TAB> score, with a header line
A title is joined to its text with a newline; a document counts as relevant when its
qrels score is above 0. Queries without a relevant document in the split are left out.

`max_queries` keeps the first N queries in file order (no sampling, so runs repeat).
`RetrievalSet.shrunk` cuts a set down further for smoke runs. `rank_metrics` and
`paired_bootstrap_ci` score rankings against a set's relevant documents.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "RetrievalSet", "RetrievalSetError", "load_retrieval_set", "paired_bootstrap_ci", "rank_metrics", "read_jsonl",
]


@dataclass(frozen=True)
class RetrievalSet:
    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    relevant: list[set[str]]
    kinds: np.ndarray  # one label per query; "all" where the set has no kinds
    split: str = "all"  # the query split loaded: a qrels file's name, "tune", "report" or "all"

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "split": self.split, "documents": len(self.doc_ids),
                "queries": len(self.query_ids)}

    def shrunk(self, queries: int, other_documents: int) -> "RetrievalSet":
        """The first `queries` queries over their relevant documents plus the first `other_documents` others."""
        relevant = self.relevant[:queries]
        wanted = set().union(*relevant)
        others = 0
        keep = []
        for i, doc_id in enumerate(self.doc_ids):
            if doc_id in wanted:
                keep.append(i)
            elif others < other_documents:
                keep.append(i)
                others += 1
        return RetrievalSet(self.name, [self.doc_ids[i] for i in keep], [self.doc_texts[i] for i in keep],
                            self.query_ids[:queries], self.query_texts[:queries], relevant, self.kinds[:queries],
                            self.split)


class RetrievalSetError(ValueError):
    """A retrieval set directory that cannot be read as either layout."""


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _field(row: dict[str, Any], key: str, path: Path, line: int) -> Any:
    if key not in row:
        raise RetrievalSetError(f"{path}: row {line} has no {key!r} field")
    return row[key]


def _check(doc_ids: list[str], query_ids: list[str], relevant: list[set[str]], directory: Path) -> None:
    if len(set(doc_ids)) != len(doc_ids):
        raise RetrievalSetError(f"{directory}: corpus ids are not unique")
    known = set(doc_ids)
    for qid, rel in zip(query_ids, relevant):
        if not rel:
            raise RetrievalSetError(f"{directory}: query {qid!r} lists no relevant document")
        missing = rel - known
        if missing:
            raise RetrievalSetError(f"{directory}: query {qid!r} names documents not in the corpus: "
                                    f"{sorted(missing)[:3]}")
    if not query_ids:
        raise RetrievalSetError(f"{directory}: no query has a relevant document")


ALL_QUERIES = ("all", "test")  # "test" is the BEIR default that the scripts pass along


def _load_gyeol(
    directory: Path, split: str
) -> tuple[list[str], list[str], list[str], list[str], list[set[str]], list[str]]:
    corpus_path, queries_path = directory / "corpus.jsonl", directory / "queries.jsonl"
    corpus = read_jsonl(corpus_path)
    queries = list(enumerate(read_jsonl(queries_path), 1))
    if split not in ALL_QUERIES:
        found = sorted({str(q["split"]) for _, q in queries if "split" in q})
        if split not in found:
            raise RetrievalSetError(f"{directory}: no query has split {split!r} "
                                    f"(splits here: {found + ['all']})")
        queries = [(i, q) for i, q in queries if q.get("split") == split]
    doc_ids = [str(_field(d, "id", corpus_path, i)) for i, d in enumerate(corpus, 1)]
    doc_texts = [str(_field(d, "text", corpus_path, i)) for i, d in enumerate(corpus, 1)]
    query_ids = [str(_field(q, "id", queries_path, i)) for i, q in queries]
    query_texts = [str(_field(q, "query", queries_path, i)) for i, q in queries]
    relevant = [{str(x) for x in _field(q, "relevant", queries_path, i)} for i, q in queries]
    kinds = [str(q.get("kind", "all")) for _, q in queries]
    return doc_ids, doc_texts, query_ids, query_texts, relevant, kinds


def _load_beir(
    directory: Path, split: str
) -> tuple[list[str], list[str], list[str], list[str], list[set[str]], list[str]]:
    corpus_path, queries_path = directory / "corpus.jsonl", directory / "queries.jsonl"
    qrels_path = directory / "qrels" / f"{split}.tsv"
    if not qrels_path.is_file():
        found = sorted(p.stem for p in (directory / "qrels").glob("*.tsv"))
        raise RetrievalSetError(f"{directory}: no qrels/{split}.tsv (splits here: {found})")
    doc_ids, doc_texts = [], []
    for i, d in enumerate(read_jsonl(corpus_path), 1):
        doc_ids.append(str(_field(d, "_id", corpus_path, i)))
        title, text = str(d.get("title") or "").strip(), str(_field(d, "text", corpus_path, i))
        doc_texts.append(f"{title}\n{text}" if title else text)
    qrels: dict[str, set[str]] = {}
    with qrels_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle, delimiter="\t")
        for row_no, row in enumerate(reader, 1):
            if row_no == 1 and row and row[0] == "query-id":
                continue
            if len(row) < 3:
                raise RetrievalSetError(f"{qrels_path}: line {row_no} needs query-id, corpus-id and score")
            if float(row[2]) > 0:
                qrels.setdefault(row[0], set()).add(row[1])
    query_ids, query_texts, relevant = [], [], []
    for i, q in enumerate(read_jsonl(queries_path), 1):
        qid = str(_field(q, "_id", queries_path, i))
        if qid in qrels:
            query_ids.append(qid)
            query_texts.append(str(_field(q, "text", queries_path, i)))
            relevant.append(qrels[qid])
    return doc_ids, doc_texts, query_ids, query_texts, relevant, ["all"] * len(query_ids)


def load_retrieval_set(directory: Path | str, *, split: str = "test", max_queries: int | None = None) -> RetrievalSet:
    """Read a retrieval set in gyeol's layout, or BEIR's when the directory has qrels/.

    split names a qrels file (BEIR layout) or a query half, "tune" or "report" (gyeol layout).
    """
    directory = Path(directory)
    for name in ("corpus.jsonl", "queries.jsonl"):
        if not (directory / name).is_file():
            raise RetrievalSetError(f"{directory}: no {name} (see benchmarks/retrieval_sets.py for the layouts)")
    if (directory / "qrels").is_dir():
        doc_ids, doc_texts, query_ids, query_texts, relevant, kinds = _load_beir(directory, split)
    else:
        doc_ids, doc_texts, query_ids, query_texts, relevant, kinds = _load_gyeol(directory, split)
    if max_queries is not None:
        if max_queries < 1:
            raise RetrievalSetError(f"max_queries must be >= 1, got {max_queries}")
        query_ids, query_texts = query_ids[:max_queries], query_texts[:max_queries]
        relevant, kinds = relevant[:max_queries], kinds[:max_queries]
    _check(doc_ids, query_ids, relevant, directory)
    loaded = "all" if split in ALL_QUERIES and not (directory / "qrels").is_dir() else split
    return RetrievalSet(directory.name, doc_ids, doc_texts, query_ids, query_texts, relevant, np.array(kinds),
                        loaded)



def rank_metrics(ranked: list[list[str]], relevant: list[set[str]], k: int) -> dict[str, np.ndarray]:
    """Give back per-query reciprocal rank@k, recall@k and hit@1 arrays."""
    rr = np.zeros(len(ranked))
    recall = np.zeros(len(ranked))
    hit1 = np.zeros(len(ranked))
    for i, (ids, rel) in enumerate(zip(ranked, relevant)):
        top = ids[:k]
        rank = next((r for r, doc in enumerate(top, 1) if doc in rel), None)
        rr[i] = 1.0 / rank if rank is not None else 0.0
        recall[i] = len(rel.intersection(top)) / len(rel)
        hit1[i] = 1.0 if top and top[0] in rel else 0.0
    return {"rr": rr, "recall": recall, "hit1": hit1}


def paired_bootstrap_ci(diff: np.ndarray, resamples: int = 2000, seed: int = 0) -> tuple[float, float]:
    """Give back the 95% bootstrap interval of the mean of per-query differences."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(diff), size=(resamples, len(diff)))
    means = diff[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)
