"""End-to-end search latency by mode: Collection.search against the sum of its parts.

One on-disk collection of synthetic Korean documents (harness.korean_corpus, >= 50k by
default) with clustered 384-d vectors (harness.gaussian_clusters, normalised; passed as vectors=,
so no model runs) and a little metadata, default memory tier (HNSW m=32) and default Kiwi
tokenizer. For each mode the same queries run two ways, query by query, the order flipping
each time (the second call finds the query's data in cache):

- gyeol: `col.search(query, vector=v, k=10, mode=...)`, which validates, tokenizes,
  searches each side, fuses, and gives back Results with ids;
- parts: the same building blocks called directly, no gyeol orchestration: a raw FAISS
  IndexHNSWFlat (same parameters, same vectors), KiwiTokenizer.tokenize on the query, a
  BM25Index built from the same tokens, and gyeol.fusion's rrf/relative_score over the two
  sides. Each side is as deep as gyeol's default for k=10 (rrf 10, relative_score 20 per
  side), which both are given explicitly (`candidates=` on the gyeol side).

Reported per mode: single-query p50/p95 in ms for both, the per-query overhead (gyeol p50
minus parts p50), and batched throughput of `col.search_many` over all queries against a
loop over the parts (FAISS gets the whole batch in one call on both sides). A filtered
hybrid search (a `where` on an int field matching ~20% of documents) is reported for
gyeol alone, since the parts have no filter.

Runs offline. Usage:
    python benchmarks/search_latency.py [--docs 50000] [--queries 300] [--out DIR] [--smoke]
Prints a markdown table and writes benchmarks/results/search_latency.json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import faiss
import numpy as np

import gyeol
from gyeol.lexical import BM25Index, KiwiTokenizer
from gyeol.lexical.tokenizers import length_skips_of
from harness import (
    add_output_args,
    alternate_per_call,
    apply_smoke,
    best_seconds,
    call_seconds,
    fusion_function,
    gaussian_clusters,
    korean_corpus,
    korean_queries,
    labels_scores,
    machine,
    markdown_table,
    report_path,
    write_report,
)

K = 10
DIM = 384
WHERE = {"year": {"$gte": 2020}}  # years 2000-2024 spread evenly: ~20% match
# Hits each side ranks before fusion, for k=10: gyeol's defaults (max(k, 10) rrf, max(2k, 20) relative_score),
# given to both gyeol and the parts so they fuse lists of the same depth.
DEPTH = {"rrf": 10, "relative_score": 20}


class Parts:
    """The building blocks gyeol wraps, called directly."""

    def __init__(self, vectors: np.ndarray, doc_tokens: list[list[str]], tokenizer: KiwiTokenizer) -> None:
        spec = gyeol.HNSW()
        self.index = faiss.IndexHNSWFlat(vectors.shape[1], spec.m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = spec.ef_construction
        self.index.hnsw.efSearch = 96  # until match(): gyeol tunes its own to the recall target
        self.index.add(vectors)
        self.bm25 = BM25Index(gyeol.BM25(), length_skips_of(tokenizer))  # the engine's length rule
        self.bm25.add(doc_tokens)
        self.tokenizer = tokenizer
        self.fuse = {fusion: fusion_function(fusion) for fusion in DEPTH}

    def match(self, index_info: dict[str, Any]) -> None:
        """Search with the efSearch gyeol's index was tuned to (same parameters on both sides)."""
        if index_info.get("ef_search"):
            self.index.hnsw.efSearch = int(index_info["ef_search"])

    def vector(self, text: str, vec: np.ndarray, depth: int = K) -> tuple[np.ndarray, np.ndarray]:
        scores, labels = self.index.search(vec[None, :], depth)
        return labels[0], scores[0]

    def keyword(self, text: str, vec: np.ndarray, depth: int = K) -> tuple[np.ndarray, np.ndarray]:
        return labels_scores(self.bm25.search(self.tokenizer.tokenize(text), depth))

    def hybrid(self, text: str, vec: np.ndarray, fusion: str) -> np.ndarray:
        depth = DEPTH[fusion]
        sides = [self.vector(text, vec, depth), self.keyword(text, vec, depth)]
        return self.fuse[fusion](sides, [0.5, 0.5], 60.0)[:K]


def table(rows: list[dict[str, Any]]) -> str:
    """The report's rows as a markdown table (ms to 3 places, µs and QPS whole, ratios to 2, '-' for none)."""
    def cell(key: str, value: Any) -> str:
        if isinstance(value, str):
            return value
        if value != value:  # NaN: the parts have no such mode
            return "-"
        if key.endswith("_ms"):
            return f"{value:.3f}"
        if key.endswith("ratio"):
            return f"{value:.2f}"
        return f"{value:,.0f}"

    columns = [("name", "mode"), ("gyeol_p50_ms", "gyeol p50 ms"), ("gyeol_p95_ms", "p95 ms"),
               ("parts_p50_ms", "parts p50 ms"), ("parts_p95_ms", "p95 ms"), ("overhead_us", "overhead µs (p50)"),
               ("single_ratio", "single parts/gyeol"), ("gyeol_batch_qps", "gyeol batch QPS"),
               ("parts_batch_qps", "parts batch QPS"), ("batch_ratio", "batch gyeol/parts")]
    return markdown_table([{key: cell(key, row[key]) for key, _ in columns} for row in rows], columns)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="timing rounds (best kept)")
    parser.add_argument("--seed", type=int, default=0)
    add_output_args(parser, smoke="--docs 500 --queries 20 --rounds 1")
    args = apply_smoke(parser.parse_args(), docs=500, queries=20, rounds=1)

    texts = korean_corpus(args.docs, args.seed)
    query_texts = korean_queries(args.queries, args.seed)
    vectors = gaussian_clusters(args.docs, DIM, seed=1)
    faiss.normalize_L2(vectors)
    query_vectors = gaussian_clusters(args.queries, DIM, seed=2)
    faiss.normalize_L2(query_vectors)
    metadata = [{"year": 2000 + i % 25, "lang": "ko"} for i in range(args.docs)]
    ids = [f"doc-{i:07d}" for i in range(args.docs)]

    tokenizer = KiwiTokenizer()
    tokenizer.tokenize("모델 적재")  # load Kiwi's model once, outside the timings
    start = time.perf_counter()
    doc_tokens = tokenizer.tokenize_batch(texts)
    tokenize_s = time.perf_counter() - start
    parts = Parts(vectors, doc_tokens, tokenizer)

    with tempfile.TemporaryDirectory(prefix="gyeol-latency-") as tmp:
        db = gyeol.connect(Path(tmp) / "db")
        col = db.create_collection("bench", embedder=None, dim=DIM)
        start = time.perf_counter()
        for lo in range(0, args.docs, 10_000):
            col.add(texts[lo:lo + 10_000], ids=ids[lo:lo + 10_000], metadata=metadata[lo:lo + 10_000],
                    vectors=vectors[lo:lo + 10_000])
        add_s = time.perf_counter() - start
        parts.match(col.index_info)
        start = time.perf_counter()
        col.search(query_texts[0], k=K, mode="keyword")  # builds BM25 (tokenizes the collection)
        bm25_build_s = time.perf_counter() - start
        print(f"{args.docs} documents, {args.queries} queries; add {add_s:.1f} s, lazy BM25 build through "
              f"the API {bm25_build_s:.1f} s (Kiwi tokenize of the corpus alone {tokenize_s:.1f} s)\n")

        n = args.queries
        modes: list[tuple[str, dict[str, Any], Callable[[int], Any]]] = [
            ("vector", {"mode": "vector"}, lambda i: parts.vector(query_texts[i], query_vectors[i])),
            ("keyword", {"mode": "keyword"}, lambda i: parts.keyword(query_texts[i], query_vectors[i])),
            ("hybrid rrf", {"mode": "hybrid", "candidates": DEPTH["rrf"]},
             lambda i: parts.hybrid(query_texts[i], query_vectors[i], "rrf")),
            ("hybrid relative_score",
             {"mode": "hybrid", "fusion": "relative_score", "candidates": DEPTH["relative_score"]},
             lambda i: parts.hybrid(query_texts[i], query_vectors[i], "relative_score")),
        ]
        rows: list[dict[str, Any]] = []
        for name, kwargs, parts_fn in modes:
            def gyeol_fn(i: int, kwargs=kwargs) -> Any:
                if kwargs["mode"] == "vector":
                    return col.search(vector=query_vectors[i], k=K, **kwargs).ids
                if kwargs["mode"] == "keyword":
                    return col.search(query_texts[i], k=K, **kwargs).ids
                return col.search(query_texts[i], vector=query_vectors[i], k=K, **kwargs).ids

            g, p = alternate_per_call(gyeol_fn, parts_fn, n, args.rounds)
            batch_kwargs = dict(kwargs)
            batch_queries = None if kwargs["mode"] == "vector" else query_texts
            batch_vectors = None if kwargs["mode"] == "keyword" else query_vectors
            gyeol_batch = best_seconds(lambda: col.search_many(batch_queries, vectors=batch_vectors, k=K, **batch_kwargs),
                                  args.rounds)
            if kwargs["mode"] == "vector":
                parts_batch = best_seconds(lambda: parts.index.search(query_vectors, K), args.rounds)
            else:
                parts_batch = best_seconds(lambda: [parts_fn(i) for i in range(n)], args.rounds)
            rows.append({
                "name": name,
                "gyeol_p50_ms": float(np.percentile(g, 50) * 1e3), "gyeol_p95_ms": float(np.percentile(g, 95) * 1e3),
                "parts_p50_ms": float(np.percentile(p, 50) * 1e3), "parts_p95_ms": float(np.percentile(p, 95) * 1e3),
                "overhead_us": float((np.percentile(g, 50) - np.percentile(p, 50)) * 1e6),
                "single_ratio": float(np.percentile(p, 50) / np.percentile(g, 50)),
                "gyeol_batch_qps": n / gyeol_batch, "parts_batch_qps": n / parts_batch,
                "batch_ratio": parts_batch / gyeol_batch,
            })
        filtered = call_seconds(
            lambda i: col.search(query_texts[i], vector=query_vectors[i], k=K, where=WHERE).ids, range(n))
        rows.append({
            "name": "hybrid rrf, where year >= 2020 (~20%)",
            "gyeol_p50_ms": float(np.percentile(filtered, 50) * 1e3),
            "gyeol_p95_ms": float(np.percentile(filtered, 95) * 1e3),
            "parts_p50_ms": float("nan"), "parts_p95_ms": float("nan"), "overhead_us": float("nan"),
            "single_ratio": float("nan"),
            "gyeol_batch_qps": n / best_seconds(lambda: col.search_many(query_texts, vectors=query_vectors, k=K,
                                                                   where=WHERE), args.rounds),
            "parts_batch_qps": float("nan"), "batch_ratio": float("nan"),
        })
        db.close()

    print(table(rows))
    report = {
        "documents": args.docs, "queries": n, "dim": DIM, "k": K, "rounds": args.rounds,
        "index": "memory tier default (HNSW m=32, ef_search tuned to recall 0.95)", "tokenizer": "kiwi default",
        "add_s": add_s, "bm25_build_via_api_s": bm25_build_s, "corpus_tokenize_s": tokenize_s,
        "rows": rows,
        "machine": machine(),
    }
    out = report_path(args, "search_latency")
    write_report(out, report)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
