"""Keyword search benchmark: Kiwi tokenization throughput, BM25Index build and query latency.

Compares, on the same pre-tokenized synthetic Korean corpus (>= 50k documents by default):
  1. KiwiTokenizer.tokenize_batch vs Kiwi's own batch call Kiwi().tokenize(texts);
     time from a fresh process to the first tokenization (model load);
  2. BM25Index build time (vs rank_bm25 and bm25s index builds);
  3. query latency p50/p95 of BM25Index.search(k=10) vs rank_bm25 BM25Okapi.get_top_n
     and vs bm25s (method="lucene", compared with our variant="lucene": same idf, same ranking);
  4. time from process start + `import gyeol.lexical` to the first keyword result.

Runs offline. Usage:
    python benchmarks/keyword_search.py [--docs 50000] [--queries 200] [--seed 0] [--out DIR] [--smoke]
Prints a markdown table and writes benchmarks/results/keyword_search.json.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np

import gyeol
from gyeol.lexical import BM25Index, KiwiTokenizer
from harness import (
    add_output_args,
    apply_smoke,
    call_seconds,
    fresh_python,
    korean_corpus,
    korean_queries,
    labels_scores,
    machine,
    percentiles_ms,
    report_path,
    write_report,
)

FIRST_TOKENIZE = """
import json, time
t0 = time.perf_counter()
from gyeol.lexical import KiwiTokenizer
t1 = time.perf_counter()
KiwiTokenizer().tokenize("검색 시스템의 성능이 개선되었다")
t2 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "first_tokenize_s": t2 - t1, "total_s": t2 - t0}))
"""

FIRST_RESULT = """
import json, time
t0 = time.perf_counter()
import gyeol
import gyeol.lexical
t1 = time.perf_counter()
index = gyeol.lexical.BM25Index.load({dir!r}, 0, gyeol.BM25(), max_labels={n})
t2 = time.perf_counter()
tokens = gyeol.lexical.KiwiTokenizer().tokenize({query!r})
t3 = time.perf_counter()
hits = index.search(tokens, 10)
t4 = time.perf_counter()
assert len(hits.labels if hasattr(hits, "labels") else hits[1]) > 0
print(json.dumps({{"import_s": t1 - t0, "index_load_s": t2 - t1, "first_tokenize_s": t3 - t2,
                  "first_search_s": t4 - t3, "total_s": t4 - t0}}))
"""


# ----------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rank-bm25-queries", type=int, default=None,
                        help="queries timed on rank_bm25 (slow); default: all")
    add_output_args(parser, smoke="--docs 300 --queries 20")
    args = apply_smoke(parser.parse_args(), docs=300, queries=20)
    out = report_path(args, "keyword_search")

    import bm25s
    import rank_bm25
    from kiwipiepy import Kiwi, __version__ as kiwi_version

    results: dict = {
        "docs": args.docs, "queries": args.queries, "seed": args.seed,
        "machine": machine(),
        "versions": {"numpy": np.__version__, "kiwipiepy": kiwi_version, "bm25s": bm25s.__version__,
                     "rank_bm25": getattr(rank_bm25, "__version__", "0.2.2")},
    }
    print(f"generating {args.docs} documents ...", flush=True)
    texts = korean_corpus(args.docs, args.seed)
    query_texts = korean_queries(args.queries, args.seed)
    results["avg_chars_per_doc"] = float(np.mean([len(t) for t in texts]))

    # 1. tokenization throughput (both warm: the model load is measured separately below).
    # The shared machine drifts, so the two are timed alternately on the same chunks.
    tokenizer = KiwiTokenizer()
    tokenizer.tokenize_batch(texts[:300])
    raw_kiwi = Kiwi(num_workers=os.cpu_count())
    list(raw_kiwi.tokenize(texts[:300]))
    raw_s = ours_s = 0.0
    corpus_tokens: list[list[str]] = []
    for chunk in np.array_split(np.arange(args.docs), 5):
        chunk_texts = [texts[i] for i in chunk]
        t = time.perf_counter()
        raw_out = list(raw_kiwi.tokenize(chunk_texts))
        raw_s += time.perf_counter() - t
        del raw_out
        t = time.perf_counter()
        corpus_tokens.extend(tokenizer.tokenize_batch(chunk_texts))
        ours_s += time.perf_counter() - t
    query_tokens = tokenizer.tokenize_batch(query_texts)
    results["tokenize"] = {
        "kiwi_raw_docs_per_s": args.docs / raw_s, "gyeol_docs_per_s": args.docs / ours_s,
        "ratio_gyeol_over_raw": raw_s / ours_s, "kiwi_raw_s": raw_s, "gyeol_s": ours_s,
        "avg_terms_per_doc": float(np.mean([len(d) for d in corpus_tokens])),
    }
    first_tok, first_tok_wall = fresh_python(FIRST_TOKENIZE, what="first tokenization")
    results["cold_first_tokenize"] = dict(first_tok, process_wall_s=first_tok_wall)

    # 2. builds, same tokens
    t = time.perf_counter()
    index = BM25Index(gyeol.BM25(variant="okapi"))
    index.add(corpus_tokens)
    build_s = time.perf_counter() - t
    index_lucene = BM25Index(gyeol.BM25(variant="lucene"))
    index_lucene.add(corpus_tokens)
    t = time.perf_counter()
    okapi = rank_bm25.BM25Okapi(corpus_tokens)
    rank_build_s = time.perf_counter() - t
    t = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(corpus_tokens, show_progress=False)
    bm25s_build_s = time.perf_counter() - t
    results["build_s"] = {"gyeol": build_s, "rank_bm25": rank_build_s, "bm25s": bm25s_build_s}
    results["vocabulary_size"] = index.vocabulary_size

    # 3. query latency, k = 10, one query per call
    vocabulary = {term for doc in corpus_tokens for term in doc}
    queries = [q for q in query_tokens if any(tok in vocabulary for tok in q)]
    k = 10
    doc_ids = list(range(args.docs))
    rank_queries = queries[: args.rank_bm25_queries] if args.rank_bm25_queries else queries

    def bm25s_topk(q: list[str]) -> np.ndarray:
        scores = retriever.get_scores(q)
        top = np.argpartition(-scores, k)[:k]
        return top[np.argsort(-scores[top])]

    lat = {
        "gyeol_okapi": call_seconds(lambda q: index.search(q, k), queries, repeat=3, warmup=5),
        "gyeol_lucene": call_seconds(lambda q: index_lucene.search(q, k), queries, repeat=3, warmup=5),
        "rank_bm25_get_top_n": call_seconds(lambda q: okapi.get_top_n(q, doc_ids, n=k), rank_queries, warmup=5),
        "bm25s_get_scores_topk": call_seconds(bm25s_topk, queries, repeat=3, warmup=5),
        "bm25s_retrieve": call_seconds(
            lambda q: retriever.retrieve([q], k=k, show_progress=False, n_threads=0), queries, repeat=3, warmup=5
        ),
    }
    results["latency"] = {name: percentiles_ms(s) for name, s in lat.items()}
    ours_okapi = results["latency"]["gyeol_okapi"]["p50_ms"]
    ours_lucene = results["latency"]["gyeol_lucene"]["p50_ms"]
    results["speedup_p50"] = {
        "vs_rank_bm25": results["latency"]["rank_bm25_get_top_n"]["p50_ms"] / ours_okapi,
        "vs_bm25s_get_scores_topk": results["latency"]["bm25s_get_scores_topk"]["p50_ms"] / ours_lucene,
        "vs_bm25s_retrieve": results["latency"]["bm25s_retrieve"]["p50_ms"] / ours_lucene,
    }

    # agreement: the engines should rank the same documents (modulo ties)
    agree_rank, agree_bm25s = [], []
    for q in queries[:100]:
        ours, _ = labels_scores(index.search(q, k))
        ref = np.asarray(okapi.get_scores(q))
        agree_rank.append(len(set(ours.tolist()) & set(np.argsort(-ref, kind="stable")[:k].tolist())) / k)
        ours_l, _ = labels_scores(index_lucene.search(q, k))
        agree_bm25s.append(len(set(ours_l.tolist()) & set(bm25s_topk(q).tolist())) / k)
        np.testing.assert_allclose(index.get_scores(q), ref, atol=1e-6)
    results["top10_overlap"] = {"okapi_vs_rank_bm25": float(np.mean(agree_rank)),
                                "lucene_vs_bm25s": float(np.mean(agree_bm25s))}

    # 4. cold start to the first keyword result, from a saved index
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp), 0)
        first, first_wall = fresh_python(FIRST_RESULT.format(dir=tmp, n=args.docs, query=query_texts[0]),
                                         what="first keyword result")
    results["cold_first_keyword_result"] = dict(first, process_wall_s=first_wall)

    write_report(out, results, indent=1)
    print_table(results)
    print(f"\nsaved {out}")


def print_table(r: dict) -> None:
    tok = r["tokenize"]
    print(f"\n## Keyword benchmark: {r['docs']} documents, {r['queries']} queries, "
          f"{r['machine']['cpus']} CPUs, vocabulary {r['vocabulary_size']}\n")
    print("| measure | value |")
    print("|---|---|")
    print(f"| Kiwi raw batch `Kiwi().tokenize(texts)` | {tok['kiwi_raw_docs_per_s']:.0f} docs/s |")
    print(f"| KiwiTokenizer.tokenize_batch | {tok['gyeol_docs_per_s']:.0f} docs/s "
          f"({tok['ratio_gyeol_over_raw']:.2f}x of raw) |")
    ct = r["cold_first_tokenize"]
    print(f"| fresh process -> first tokenization | {ct['total_s']:.2f} s in-process "
          f"(model load {ct['first_tokenize_s']:.2f} s), {ct['process_wall_s']:.2f} s wall |")
    b = r["build_s"]
    print(f"| build: gyeol BM25Index / rank_bm25 / bm25s | {b['gyeol']:.2f} s / {b['rank_bm25']:.2f} s / "
          f"{b['bm25s']:.2f} s |")
    print("\n| query engine (k=10) | p50 ms | p95 ms |")
    print("|---|---|---|")
    for name, lat in r["latency"].items():
        print(f"| {name} | {lat['p50_ms']:.3f} | {lat['p95_ms']:.3f} |")
    s = r["speedup_p50"]
    print(f"\nspeedup (p50): {s['vs_rank_bm25']:.0f}x vs rank_bm25 (okapi), "
          f"{s['vs_bm25s_get_scores_topk']:.2f}x vs bm25s get_scores+topk (lucene), "
          f"{s['vs_bm25s_retrieve']:.2f}x vs bm25s.retrieve (lucene)")
    o = r["top10_overlap"]
    print(f"top-10 overlap: okapi vs rank_bm25 {o['okapi_vs_rank_bm25']:.3f}, lucene vs bm25s {o['lucene_vs_bm25s']:.3f}")
    c = r["cold_first_keyword_result"]
    print(f"cold start to first keyword result: {c['total_s']:.2f} s in-process (import {c['import_s']:.2f}, "
          f"index load {c['index_load_s']:.3f}, first tokenize {c['first_tokenize_s']:.2f}, "
          f"first search {c['first_search_s'] * 1e3:.1f} ms), {c['process_wall_s']:.2f} s wall incl. interpreter")


if __name__ == "__main__":
    main()
