"""Retrieval evaluation: MRR@10, recall@k and nDCG@10 per search mode, with paired-bootstrap comparisons.

    report = col.evaluate({"q1": "검색 방법"}, {"q1": ["doc-3"]}, k=10)
    report.to_pandas()
    report.compare("hybrid", "keyword")

Queries are searched through the collection's public `search_many`, so what is measured is what a
user's application gets. Metrics follow trec_eval's definitions: reciprocal rank of the first
relevant hit within the top 10, recall as the share of relevant documents in the top k, nDCG@10 with
linear gains (a qrels grade of 2 counts twice a grade of 1) over the ideal ordering of the judged
documents.
"""

from __future__ import annotations

import html
import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import numpy as np

from ._validation import check_k
from .errors import InvalidInputError

if TYPE_CHECKING:
    from .collection import Collection

__all__ = ["EvaluationReport", "evaluate", "paired_bootstrap", "rank_metrics"]

MRR_DEPTH = 10
NDCG_DEPTH = 10
DEFAULT_MODES = ("vector", "keyword", "hybrid")
_MODE_KEYS = {"mode", "alpha", "fusion", "rrf_k", "name"}


@dataclass(frozen=True)
class _Run:
    name: str
    options: dict[str, Any]


def rank_metrics(
    ranked: Sequence[Sequence[str]], qrels: Sequence[Mapping[str, float]], k: int = 10
) -> dict[str, np.ndarray]:
    """Give back per-query arrays of reciprocal rank@10, recall@k and nDCG@10 (keys "mrr@10", "recall@K", "ndcg@10")."""
    n = len(ranked)
    if len(qrels) != n:
        raise InvalidInputError(f"got {n} rankings for {len(qrels)} qrels")
    rr, recall, ndcg = np.zeros(n), np.zeros(n), np.zeros(n)
    discounts = 1.0 / np.log2(np.arange(2, NDCG_DEPTH + 2))
    for i, (ids, grades) in enumerate(zip(ranked, qrels)):
        relevant = {doc for doc, grade in grades.items() if grade > 0}
        for rank, doc in enumerate(ids[:MRR_DEPTH], 1):
            if doc in relevant:
                rr[i] = 1.0 / rank
                break
        if relevant:
            recall[i] = len(relevant.intersection(ids[:k])) / len(relevant)
        gains = np.array([max(grades.get(doc, 0.0), 0.0) for doc in ids[:NDCG_DEPTH]])
        ideal = np.sort(np.array([g for g in grades.values() if g > 0], dtype=np.float64))[::-1][:NDCG_DEPTH]
        idcg = float((ideal * discounts[: len(ideal)]).sum())
        if idcg > 0:
            ndcg[i] = float((gains * discounts[: len(gains)]).sum()) / idcg
    return {"mrr@10": rr, f"recall@{k}": recall, "ndcg@10": ndcg}


def paired_bootstrap(
    diff: np.ndarray, *, resamples: int = 2000, seed: int = 0, confidence: float = 0.95
) -> tuple[float, float]:
    """Give back the bootstrap interval (low, high) of the mean of per-query differences."""
    diff = np.asarray(diff, dtype=np.float64)
    if diff.ndim != 1 or len(diff) == 0:
        raise InvalidInputError("paired_bootstrap needs a non-empty 1-d array of per-query differences")
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(resamples, len(diff)))].mean(axis=1)
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


class EvaluationReport:
    """One row of metrics per evaluated mode, with each query's scores kept for paired comparisons."""

    def __init__(self, rows: list[dict[str, Any]], per_query: dict[str, dict[str, np.ndarray]],
                 query_ids: list[str], k: int) -> None:
        self.rows = rows
        self.per_query = per_query
        self.query_ids = query_ids
        self.k = k

    @property
    def metrics(self) -> list[str]:
        return ["mrr@10", f"recall@{self.k}", "ndcg@10"]

    def __getitem__(self, name: str) -> dict[str, Any]:
        for row in self.rows:
            if row["name"] == name:
                return row
        raise KeyError(f"no evaluated mode named {name!r}; have: {[r['name'] for r in self.rows]}")

    def __len__(self) -> int:
        return len(self.rows)

    def best(self, metric: str = "mrr@10") -> dict[str, Any]:
        """Give back the row with the highest mean of metric."""
        self._check_metric(metric)
        return max(self.rows, key=lambda row: row[metric])

    def compare(self, a: str, b: str, metric: str = "mrr@10", *, resamples: int = 2000,
                seed: int = 0) -> dict[str, Any]:
        """Give back mean(a - b) over queries with its 95% paired-bootstrap interval and win/loss counts."""
        self._check_metric(metric)
        for name in (a, b):
            self[name]
        diff = self.per_query[a][metric] - self.per_query[b][metric]
        low, high = paired_bootstrap(diff, resamples=resamples, seed=seed)
        return {
            "a": a, "b": b, "metric": metric, "diff": float(diff.mean()), "low": low, "high": high,
            "wins": int((diff > 0).sum()), "losses": int((diff < 0).sum()), "ties": int((diff == 0).sum()),
        }

    def _check_metric(self, metric: str) -> None:
        if metric not in self.metrics:
            raise InvalidInputError(f"unknown metric {metric!r}; have: {self.metrics}")

    def _columns(self) -> list[str]:
        return ["name", "mode", "alpha", "fusion", *self.metrics, "queries", "qps"]

    def to_list(self) -> list[dict[str, Any]]:
        """Give back the rows as dicts (a copy)."""
        return [dict(row) for row in self.rows]

    def to_pandas(self):
        """Give back the rows as a pandas DataFrame, one row per mode."""
        import pandas as pd

        return pd.DataFrame(self.to_list(), columns=self._columns())

    def to_arrow(self):
        """Give back the rows as a pyarrow Table, one row per mode."""
        import pyarrow as pa

        rows = self.to_list()
        return pa.table({c: [row[c] for row in rows] for c in self._columns()})

    def to_markdown(self) -> str:
        """Give back the rows as a Markdown table."""
        columns = self._columns()
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.rows:
            lines.append("| " + " | ".join(_cell(row[c]) for c in columns) + " |")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"EvaluationReport({len(self.query_ids)} queries, k={self.k})\n{self.to_markdown()}"

    def _repr_html_(self) -> str:
        columns = self._columns()
        head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(_cell(row[c]))}</td>" for c in columns) + "</tr>"
            for row in self.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if not math.isnan(value) else "-"
    return str(value)


def evaluate(
    collection: "Collection",
    queries: Mapping[str, str] | Sequence[str],
    qrels: Mapping[str, Any] | Sequence[Any],
    *,
    k: int = 10,
    modes: Iterable[str | Mapping[str, Any]] | None = None,
) -> EvaluationReport:
    """Search every query in each mode and give back MRR@10, recall@k and nDCG@10 per mode.

    queries: {query_id: text}, or a list of texts (ids are then their positions as strings).
    qrels: {query_id: relevant ids}, where relevant ids are a list/set of document ids (grade 1) or a
    {doc_id: grade} mapping; for a list of queries, a list of the same length.
    modes: names ("vector", "keyword", "hybrid") or dicts of search options
    ({"mode": "hybrid", "alpha": 0.3, "fusion": "relative_score", "name": "hybrid-0.3"}). By default
    every mode the collection can serve (vector needs an embedder; keyword a tokenizer).
    """
    k = check_k(k)
    query_ids, texts, judged = _check_queries(queries, qrels)
    _check_known_ids(collection, judged)
    runs = _check_modes(modes)
    depth = max(k, MRR_DEPTH, NDCG_DEPTH)
    rows: list[dict[str, Any]] = []
    per_query: dict[str, dict[str, np.ndarray]] = {}
    for run in runs:
        started = time.perf_counter()
        try:
            results = collection.search_many(texts, k=depth, **run.options)
        except InvalidInputError:
            # a default mode this collection cannot serve (no embedder, say) is skipped; with an
            # embedder, a vector search fails only on bad embedder output, which must be seen
            if modes is None and not (run.name == "vector" and collection.has_embedder):
                continue
            raise
        seconds = time.perf_counter() - started
        scores = rank_metrics([r.ids for r in results], judged, k)
        per_query[run.name] = scores
        rows.append({
            "name": run.name, "mode": run.options.get("mode", "hybrid"), "alpha": run.options.get("alpha"),
            "fusion": run.options.get("fusion"),
            **{metric: float(values.mean()) for metric, values in scores.items()},
            "queries": len(texts), "qps": len(texts) / seconds if seconds > 0 else float("inf"),
        })
    if not rows:
        raise InvalidInputError("no mode could be evaluated: the collection has neither an embedder nor a tokenizer")
    return EvaluationReport(rows, per_query, query_ids, k)


def _check_queries(queries: Any, qrels: Any) -> tuple[list[str], list[str], list[dict[str, float]]]:
    if isinstance(queries, Mapping):
        query_ids = list(queries)
        texts = [queries[q] for q in query_ids]
        if not isinstance(qrels, Mapping):
            raise InvalidInputError(f"queries is a mapping, so qrels must be one too; got {type(qrels).__name__}")
        unknown = [q for q in qrels if q not in queries]
        if unknown:
            raise InvalidInputError(f"qrels name {len(unknown)} query ids not in queries: {_few(unknown)}")
        missing = [q for q in query_ids if q not in qrels]
        if missing:
            raise InvalidInputError(f"{len(missing)} queries have no qrels: {_few(missing)}")
        raw = [qrels[q] for q in query_ids]
    elif isinstance(queries, (str, bytes)) or not isinstance(queries, Sequence) and not hasattr(queries, "__array__"):
        raise InvalidInputError(f"queries must be a mapping of id -> text or a list of texts, got {type(queries).__name__}")
    else:
        texts = list(queries)
        query_ids = [str(i) for i in range(len(texts))]
        if isinstance(qrels, (str, bytes, Mapping)) or not isinstance(qrels, Sequence):
            raise InvalidInputError(f"queries is a list, so qrels must be a list of the same length; got {type(qrels).__name__}")
        raw = list(qrels)
        if len(raw) != len(texts):
            raise InvalidInputError(f"got {len(texts)} queries but {len(raw)} qrels")
    if not texts:
        raise InvalidInputError("evaluate needs at least one query")
    for qid, text in zip(query_ids, texts):
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError(f"query {qid!r} must be a non-empty str, got {text!r}")
    judged = [_grades(qid, value) for qid, value in zip(query_ids, raw)]
    return query_ids, texts, judged


def _grades(qid: str, value: Any) -> dict[str, float]:
    if isinstance(value, str):
        value = [value]
    if isinstance(value, Mapping):
        grades = {}
        for doc, grade in value.items():
            if not isinstance(doc, str) or isinstance(grade, bool) or not isinstance(grade, (int, float)) \
                    or not math.isfinite(grade):
                raise InvalidInputError(f"qrels of query {qid!r}: expected doc id -> finite number, got {doc!r}: {grade!r}")
            grades[doc] = float(grade)
    elif isinstance(value, Iterable):
        grades = {}
        for doc in value:
            if not isinstance(doc, str):
                raise InvalidInputError(f"qrels of query {qid!r}: document ids must be str, got {doc!r}")
            grades[doc] = 1.0
    else:
        raise InvalidInputError(f"qrels of query {qid!r} must be a list of ids or a mapping id -> grade, got {value!r}")
    if not any(g > 0 for g in grades.values()):
        raise InvalidInputError(f"query {qid!r} has no relevant document (no id with a grade above 0)")
    return grades


def _check_known_ids(collection: "Collection", judged: list[dict[str, float]]) -> None:
    wanted = sorted({doc for grades in judged for doc in grades})
    found = {doc.id for doc in collection.get(wanted)}
    unknown = [doc for doc in wanted if doc not in found]
    if unknown:
        raise InvalidInputError(f"qrels name {len(unknown)} document ids not in the collection: {_few(unknown)}")


def _check_modes(modes: Any) -> list[_Run]:
    if modes is None:
        return [_Run(m, {"mode": m}) for m in DEFAULT_MODES]
    if isinstance(modes, (str, Mapping)):
        modes = [modes]
    runs: list[_Run] = []
    for spec in modes:
        if isinstance(spec, str):
            options: dict[str, Any] = {"mode": spec}
            name = spec
        elif isinstance(spec, Mapping):
            extra = set(spec) - _MODE_KEYS
            if extra:
                raise InvalidInputError(f"unknown keys in mode {dict(spec)!r}: {sorted(extra)}; allowed: {sorted(_MODE_KEYS)}")
            options = {key: val for key, val in spec.items() if key != "name"}
            options.setdefault("mode", "hybrid")
            name = spec.get("name") or _describe(options)
        else:
            raise InvalidInputError(f"a mode must be a name or a dict of search options, got {spec!r}")
        if options["mode"] not in DEFAULT_MODES:
            raise InvalidInputError(f"mode must be one of {list(DEFAULT_MODES)}, got {options['mode']!r}")
        if any(run.name == name for run in runs):
            raise InvalidInputError(f"two modes are named {name!r}; give each a distinct 'name'")
        runs.append(_Run(str(name), options))
    if not runs:
        raise InvalidInputError("modes is empty; pass None for every mode the collection can serve")
    return runs


def _describe(options: Mapping[str, Any]) -> str:
    parts = [str(options["mode"])]
    for key in ("fusion", "alpha", "rrf_k"):
        if options.get(key) is not None:
            parts.append(f"{key}={options[key]}")
    return " ".join(parts)


def _few(values: list[str], n: int = 5) -> str:
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", ... ({len(values) - n} more)" if len(values) > n else "")
