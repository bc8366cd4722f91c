"""Batched and single keyword queries: gyeol's BM25Index.search_many / search vs bm25s, on the same tokens.

Two sets, tokenized once with gyeol's default KiwiTokenizer (cached under the temp directory):
  - ko: benchmarks/data/libreoffice_help_ko (4,191 real Korean sections) and its queries;
  - en: --en-docs English documents, each two random passages of benchmarks/data/*_en joined,
    and those sets' queries.
Both engines get the same token lists; both score with Lucene's idf (gyeol variant="lucene",
bm25s method="lucene"; gyeol's default okapi costs the same). Batched QPS at k=10 and k=100
(every query in one call: search_many vs bm25s retrieve), single-query p50/p95 at k=10, in
alternating rounds (each contender's best round), then a cProfile of each engine's batch call
(where the time goes).

Usage: python benchmarks/keyword_batch.py [--en-docs 60000] [--queries 1000] [--rounds 3] [--smoke]
Prints a markdown table and writes benchmarks/results/keyword_batch.json.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pickle
import pstats
import tempfile
from pathlib import Path

import numpy as np

import gyeol
from gyeol.lexical import BM25Index, KiwiTokenizer
from harness import DATA, add_output_args, alternate_rounds, apply_smoke, machine, report_path, write_report


def _read(name: str, file: str, key: str) -> list[str]:
    return [json.loads(line)[key] for line in (DATA / name / file).open(encoding="utf-8")]


def token_sets(en_docs: int, ko_docs: int | None) -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """{set: (document tokens, query tokens)}, tokenized once per machine and cached."""
    tag = hashlib.sha1(f"{gyeol.__version__}-{en_docs}-{ko_docs}".encode()).hexdigest()[:12]
    cache = Path(tempfile.gettempdir()) / f"gyeol_keyword_batch_{tag}.pkl"
    if cache.exists():
        return pickle.loads(cache.read_bytes())
    tok = KiwiTokenizer()
    ko_texts = _read("libreoffice_help_ko", "corpus.jsonl", "text")[:ko_docs]
    sets = {"ko": (tok.tokenize_batch(ko_texts), tok.tokenize_batch(_read("libreoffice_help_ko", "queries.jsonl",
                                                                                "query")))}
    passages: list[list[str]] = []
    queries: list[list[str]] = []
    for name in ("gnome_help_en", "libreoffice_help_en", "pydoc_en"):
        passages += tok.tokenize_batch(_read(name, "corpus.jsonl", "text"))
        queries += tok.tokenize_batch(_read(name, "queries.jsonl", "query"))
    pick = np.random.default_rng(0).integers(0, len(passages), size=(en_docs, 2))
    sets["en"] = ([passages[a] + passages[b] for a, b in pick], queries)
    cache.write_bytes(pickle.dumps(sets))
    return sets


def profile(call, top: int = 8) -> list[dict]:
    """The functions taking the most own time in one call, as [{function, own_ms, calls}]."""
    prof = cProfile.Profile()
    prof.runcall(call)
    stats = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    rows = sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]
    return [{"function": f"{Path(f).name}:{line}({fn})", "own_ms": tt * 1e3, "calls": nc}
            for (f, line, fn), (_, nc, tt, _, _) in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--en-docs", type=int, default=60_000)
    parser.add_argument("--ko-docs", type=int, default=None, help="first N Korean sections (default: all)")
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=300, help="queries timed one by one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="batched timing per contender and k")
    add_output_args(parser, smoke="--en-docs 500 --ko-docs 300 --queries 40 --singles 20 --rounds 1")
    args = apply_smoke(parser.parse_args(), en_docs=500, ko_docs=300, queries=40, singles=20, rounds=1, seconds=0.2)
    out = report_path(args, "keyword_batch")
    import bm25s

    results: dict = {"config": vars(args) | {"out": str(args.out)}, "machine": machine(),
                     "versions": {"numpy": np.__version__, "bm25s": bm25s.__version__}, "sets": {}}
    for name, (docs, queries) in token_sets(args.en_docs, args.ko_docs).items():
        vocabulary = {t for d in docs for t in d}
        queries = [q for q in queries if any(t in vocabulary for t in q)][: args.queries]
        index = BM25Index(gyeol.BM25(variant="lucene"))
        index.add(docs)
        index.merge()
        retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        retriever.index(docs, show_progress=False)
        row: dict = {"docs": len(docs), "queries": len(queries), "postings": int(index.export_arrays()["post_doc"].size)}
        batch = np.array(queries, dtype=object)
        singles = batch[: args.singles]
        for k in (10, 100):
            contenders = {
                "gyeol": (lambda b, k=k: index.search_many(list(b), k), lambda q: index.search(q, 10)),
                "bm25s": (lambda b, k=k: retriever.retrieve(list(b), k=k, show_progress=False),
                          lambda q: retriever.retrieve([q], k=10, show_progress=False)),
            }
            timed = alternate_rounds(contenders, batch, singles, rounds=args.rounds, min_seconds=args.seconds)
            row[f"k{k}"] = timed
            row[f"k{k}"]["batched_ratio"] = timed["gyeol"]["qps_batched"] / timed["bm25s"]["qps_batched"]
            row[f"profile_k{k}"] = {
                "gyeol": profile(lambda: index.search_many(queries, k)),
                "bm25s": profile(lambda: retriever.retrieve(queries, k=k, show_progress=False)),
            }
        row["single_p50_ratio"] = row["k10"]["bm25s"]["p50_ms"] / row["k10"]["gyeol"]["p50_ms"]
        results["sets"][name] = row
    write_report(out, results, indent=1)
    print_table(results)
    print(f"\nsaved {out}")


def print_table(r: dict) -> None:
    print(f"\n## Keyword queries: gyeol vs bm25s, same tokens, {r['machine']['cpus']} CPUs\n")
    print("| set | docs | batched QPS k=10 (gyeol / bm25s) | k=100 | single p50 ms | single p95 ms |")
    print("|---|---|---|---|---|---|")
    for name, s in r["sets"].items():
        k10, k100 = s["k10"], s["k100"]
        print(f"| {name} | {s['docs']} | {k10['gyeol']['qps_batched']:.0f} / {k10['bm25s']['qps_batched']:.0f} "
              f"({k10['batched_ratio']:.2f}x) | {k100['gyeol']['qps_batched']:.0f} / {k100['bm25s']['qps_batched']:.0f} "
              f"({k100['batched_ratio']:.2f}x) | {k10['gyeol']['p50_ms']:.3f} / {k10['bm25s']['p50_ms']:.3f} | "
              f"{k10['gyeol']['p95_ms']:.3f} / {k10['bm25s']['p95_ms']:.3f} |")
    for name, s in r["sets"].items():
        for engine in ("gyeol", "bm25s"):
            top = ", ".join(f"{p['function']} {p['own_ms']:.0f} ms" for p in s["profile_k100"][engine][:5])
            print(f"\n{name} k=100 {engine} batch of {s['queries']}: {top}")


if __name__ == "__main__":
    main()
