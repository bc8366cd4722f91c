"""Time from a new process's open to its first Korean keyword result, through the public API.

Builds a persisted collection from the Korean retrieval corpus (repeated to --docs documents),
runs one keyword search so the BM25 index is built and saved, closes it; then starts fresh
processes that import gyeol, open the database, and run one keyword search.

    python benchmarks/cold_keyword.py [--docs 20000] [--runs 3] [--out DIR] [--smoke]

Prints a table and writes benchmarks/results/cold_keyword.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import numpy as np

import gyeol
from harness import DATA, add_output_args, apply_smoke, fresh_python, report_path, write_report
from retrieval_sets import read_jsonl

CORPUS = DATA / "ko_retrieval" / "corpus.jsonl"

CHILD = r"""
import sys, time, json
t0 = time.perf_counter()
import gyeol
t1 = time.perf_counter()
db = gyeol.connect(sys.argv[1], read_only=True)
col = db.get_collection("ko")
t2 = time.perf_counter()
res = col.search("검색하는 방법", mode="keyword", k=10)
t3 = time.perf_counter()
res2 = col.search("한국 음식의 역사", mode="keyword", k=10)
t4 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "first_keyword_s": t3 - t2,
                  "second_keyword_s": t4 - t3, "total_s": t3 - t0, "hits": len(res)}))
"""


def build(path: Path, n_docs: int) -> None:
    texts = [row["text"] for row in read_jsonl(CORPUS)]
    texts = (texts * (n_docs // len(texts) + 1))[:n_docs]
    rng = np.random.default_rng(0)
    with gyeol.connect(path) as db:
        col = db.create_collection("ko", embedder=None, dim=16)
        for start in range(0, n_docs, 5000):
            chunk = texts[start : start + 5000]
            col.add(chunk, vectors=rng.normal(size=(len(chunk), 16)).astype(np.float32))
        col.search("검색", mode="keyword")  # builds the BM25 index; close() saves it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    add_output_args(parser, smoke="--docs 200 --runs 1")
    args = apply_smoke(parser.parse_args(), docs=200, runs=1)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kb"
        build(path, args.docs)
        runs = [fresh_python(CHILD, str(path), what="cold keyword search")[0] for _ in range(args.runs)]
    keys = ["import_s", "open_s", "first_keyword_s", "second_keyword_s", "total_s"]
    median = {k: statistics.median(r[k] for r in runs) for k in keys}
    out = report_path(args, "cold_keyword")
    write_report(out, {"docs": args.docs, "runs": runs, "median": median}, indent=1)
    print(f"\n{args.docs} Korean documents, median of {args.runs} fresh processes\n")
    print("| import gyeol | open db + collection | first keyword result (Kiwi load) | second query | process start to first result |")
    print("|---|---|---|---|---|")
    print(" | ".join(["", *(f"{median[k]:.2f} s" if k != "second_keyword_s" else f"{median[k] * 1000:.1f} ms" for k in keys), ""]).strip())
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
