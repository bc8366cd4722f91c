"""Korean keyword-search quality: which tokenizer (and which Kiwi POS set) retrieves best.

Data: benchmarks/data/ko_retrieval/ (hand-written Korean passages with near-miss
distractors; queries whose words appear in the relevant passages in other inflected
forms, some with particles attached differently, some mixing English and numbers).

For each tokenizer the corpus goes into a fresh gyeol.lexical.BM25Index (okapi, k1=1.5,
b=0.75 unless said otherwise) and every query is searched with k=10. Reported: MRR@10,
recall@10, hit@1, plus MRR@10 on the queries that mix in Latin letters or digits, and the
seconds spent tokenizing the corpus. A second table runs the default Kiwi tokenizer with
each BM25 variant.

Runs offline. Usage:
    python benchmarks/korean_quality.py [--data DIR [--split test] [--max-queries N]] [--out DIR] [--smoke]
--data runs the same tables on another labelled set, in gyeol's layout or BEIR's (e.g. a
Korean MIRACL or Ko-StrategyQA export); see benchmarks/retrieval_sets.py for both layouts.
Prints markdown tables and writes benchmarks/results/korean_quality.json. --smoke keeps 10
queries over their relevant passages and 40 others.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from gyeol import BM25
from gyeol.lexical import (
    DEFAULT_POS,
    BigramTokenizer,
    BM25Index,
    KiwiTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
)
from harness import DATA, add_output_args, labels_scores, machine, markdown_table, report_path, write_report
from retrieval_sets import (
    RetrievalSet,
    RetrievalSetError,
    load_retrieval_set,
    paired_bootstrap_ci,
    rank_metrics,
)

KO_RETRIEVAL = DATA / "ko_retrieval"
K = 10
SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS = 10, 40

NOUNS = ("NNG", "NNP")
NUMBERS_FOREIGN = ("NR", "SN", "SL", "SH")
STEMS = ("VV", "VA", "XR")

# name -> Kiwi POS set; "default" is gyeol.lexical.DEFAULT_POS, whatever it currently holds.
POS_SETS: dict[str, tuple[str, ...]] = {
    "nouns (NNG NNP)": NOUNS,
    "nouns + numbers/foreign": NOUNS + NUMBERS_FOREIGN,
    "nouns + stems (VV VA XR)": NOUNS + ("NR",) + STEMS,
    "default": tuple(sorted(DEFAULT_POS)),
    "default + NNB NP MAG": tuple(sorted(DEFAULT_POS)) + ("NNB", "NP", "MAG"),
    "default - VV VA": tuple(sorted(DEFAULT_POS - {"VV", "VA"})),
}

_MIXED = re.compile(r"[A-Za-z0-9]")


def summarize(per_query: dict[str, np.ndarray], mixed: np.ndarray) -> dict[str, float]:
    return {
        "mrr@10": float(per_query["rr"].mean()),
        "recall@10": float(per_query["recall"].mean()),
        "hit@1": float(per_query["hit1"].mean()),
        "mrr@10_mixed": float(per_query["rr"][mixed].mean()) if mixed.any() else float("nan"),
    }


def keyword_rankings(
    data: RetrievalSet, tokenizer: Tokenizer, params: BM25, k: int = K
) -> tuple[list[list[str]], float]:
    """Give back the top-k doc ids of every query and the corpus tokenization seconds."""
    start = time.perf_counter()
    doc_tokens = tokenizer.tokenize_batch(data.doc_texts)
    tokenize_s = time.perf_counter() - start
    index = BM25Index(params)
    index.add(doc_tokens)
    ranked = []
    for query_tokens in tokenizer.tokenize_batch(data.query_texts):
        labels, _ = labels_scores(index.search(query_tokens, k))
        ranked.append([data.doc_ids[label] for label in labels])
    return ranked, tokenize_s


def tokenizers() -> dict[str, Tokenizer]:
    out: dict[str, Tokenizer] = {}
    for name, tags in POS_SETS.items():
        out[f"kiwi {name}"] = KiwiTokenizer() if name == "default" else KiwiTokenizer(pos=tags)
    out["kiwi every morpheme (pos='all')"] = KiwiTokenizer(pos="all")
    out["bigram"] = BigramTokenizer()
    out["whitespace"] = WhitespaceTokenizer()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=KO_RETRIEVAL,
                        help="a retrieval set directory, gyeol or BEIR layout (default: ko_retrieval)")
    parser.add_argument("--split", default="test", help="qrels split of a BEIR-layout set")
    parser.add_argument("--max-queries", type=int, default=None, help="keep the first N queries")
    add_output_args(parser, smoke=f"{SMOKE_QUERIES} queries, their passages and {SMOKE_OTHER_DOCUMENTS} others")
    args = parser.parse_args()
    try:
        data = load_retrieval_set(args.data, split=args.split, max_queries=args.max_queries)
    except RetrievalSetError as exc:
        parser.error(str(exc))
    if args.smoke:
        data = data.shrunk(SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS)
    # korean_quality.json for the bundled set, korean_quality_<set name>.json otherwise
    bundled = args.data.resolve() == KO_RETRIEVAL.resolve()
    out = report_path(args, "korean_quality" if bundled else f"korean_quality_{data.name}")

    mixed = np.array([bool(_MIXED.search(q)) for q in data.query_texts])
    print(f"{data.name}: {len(data.doc_ids)} documents, {len(data.query_ids)} queries "
          f"({int(mixed.sum())} mixing Latin letters or digits)\n")

    KiwiTokenizer().tokenize("모델 적재")  # load Kiwi's model once, outside the timings
    okapi = BM25()
    rows: list[dict[str, Any]] = []
    reciprocal_ranks: dict[str, np.ndarray] = {}
    for name, tokenizer in tokenizers().items():
        ranked, tokenize_s = keyword_rankings(data, tokenizer, okapi)
        per_query = rank_metrics(ranked, data.relevant, K)
        reciprocal_ranks[name] = per_query["rr"]
        row = {"name": name, **summarize(per_query, mixed), "tokenize_s": tokenize_s}
        if isinstance(tokenizer, KiwiTokenizer):
            pos = tokenizer.pos
            row["pos"] = pos if isinstance(pos, str) else sorted(pos)
        rows.append(row)
    baseline = reciprocal_ranks["kiwi default"]
    for row in rows:
        diff = reciprocal_ranks[row["name"]] - baseline
        low, high = paired_bootstrap_ci(diff)
        row["delta_mrr_vs_default"] = float(diff.mean())
        row["delta_mrr_ci95"] = [low, high]
        row["delta"] = f"{diff.mean():+.3f} [{low:+.3f}, {high:+.3f}]"
    columns = [("name", "tokenizer"), ("mrr@10", "MRR@10"), ("recall@10", "recall@10"),
               ("hit@1", "hit@1"), ("mrr@10_mixed", "MRR@10 (en/num queries)"),
               ("delta", "ΔMRR vs default [95% CI]"),
               ("tokenize_s", "corpus tokenize s (model loaded)")]
    print("Keyword-only (BM25 okapi, k1=1.5, b=0.75), k=10\n")
    print(markdown_table(rows, columns))

    variant_rows: list[dict[str, Any]] = []
    default_kiwi = KiwiTokenizer()
    for variant in ("okapi", "bm25l", "bm25plus", "lucene"):
        ranked, _ = keyword_rankings(data, default_kiwi, BM25(variant=variant))
        variant_rows.append({"name": variant, **summarize(rank_metrics(ranked, data.relevant, K), mixed)})
    print("\nDefault Kiwi tokenizer with each BM25 variant\n")
    print(markdown_table(variant_rows, columns[:5]))

    kiwi_rows = [r for r in rows if r["name"].startswith("kiwi")]
    best = max(kiwi_rows, key=lambda r: (r["mrr@10"], r["recall@10"]))
    print(f"\nBest Kiwi POS set by MRR@10: {best['name']} "
          f"(MRR@10 {best['mrr@10']:.3f}, recall@10 {best['recall@10']:.3f})")

    report = {
        "dataset": {**data.describe(), "path": str(args.data), "mixed_queries": int(mixed.sum())},
        "k": K,
        "bm25": {"variant": okapi.variant, "k1": okapi.k1, "b": okapi.b},
        "tokenizers": rows,
        "bm25_variants_default_kiwi": variant_rows,
        "best_kiwi_pos_set": best["name"],
        "machine": machine(),
    }
    write_report(out, report)
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
