"""What the tiered merge policy buys: N adds of B documents, with segment merging on and off, against the same collection compacted.

Three collections of the same N*B documents (given vectors, whitespace tokenizer):
"unmerged" (the policy switched off in its build process: one segment per add, what gyeol did
before storage/merging.py), "merged" (the policy on, as shipped) and "compacted" (a copy of
"merged" after col.compact(): one segment). For each: the build's wall time, the segment count
and data size, the writer's and a reader's open time in fresh processes (best of --opens), and
search QPS per mode (vector, keyword, hybrid; single queries, best of 3 passes) in that fresh
reader. Run:

    python benchmarks/merge_policy.py                      # 1,000 adds of 1,000 docs, dim 384 (long)
    python benchmarks/merge_policy.py --adds 200 --batch 500 --dim 64
    python benchmarks/merge_policy.py --smoke --out /tmp/mp    # tiny: does it run

Prints a markdown table and writes benchmarks/results/merge_policy.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from harness import add_output_args, apply_smoke, fresh_python, machine, markdown_table, report_path, write_report

VARIANTS = ("unmerged", "merged", "compacted")
MODES = ("vector", "keyword", "hybrid")

CHILD = r"""
import json, sys, time
from pathlib import Path
action, variant, path, adds, batch, dim, queries = sys.argv[1:8]
adds, batch, dim, queries = int(adds), int(batch), int(dim), int(queries)
import numpy as np
import gyeol
import gyeol.storage.merging as merging
from gyeol.storage.manifest import read_manifest
if variant == "unmerged":
    merging.MERGE_FACTOR = 10**9  # no run is ever long enough: one segment per add
out = {}
words = [f"w{i}" for i in range(5000)]
if action == "build":
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    with gyeol.connect(path) as db:
        col = db.create_collection("c", embedder=None, dim=dim, tokenizer="whitespace")
        for a in range(adds):
            ids = [f"d{a}-{i}" for i in range(batch)]
            picks = rng.zipf(1.3, size=(batch, 12)) % len(words)
            texts = [" ".join(words[j] for j in row) for row in picks]
            col.add(texts, ids=ids, vectors=rng.standard_normal((batch, dim)).astype(np.float32))
        out["build_s"] = time.perf_counter() - start
        if variant == "compacted":
            start = time.perf_counter()
            col.compact()
            out["compact_s"] = time.perf_counter() - start
    with gyeol.connect(path) as db:  # the first writer open writes missing docs caches (not timed)
        db.get_collection("c")
    directory = next(Path(path, "collections").iterdir())
    out["segments"] = len(read_manifest(directory).segments)
    out["data_bytes"] = sum(p.stat().st_size for p in (directory / "data").iterdir())
else:
    start = time.perf_counter()
    db = gyeol.connect(path, read_only=action == "reader")
    col = db.get_collection("c")
    out["open_s"] = time.perf_counter() - start
    if action == "reader":
        rng = np.random.default_rng(1)
        vectors = rng.standard_normal((queries, dim)).astype(np.float32)
        texts = [" ".join(words[j] for j in rng.zipf(1.3, size=3) % len(words)) for _ in range(queries)]
        for mode in ("vector", "keyword", "hybrid"):
            col.search(texts[0], vector=vectors[0], k=10, mode=mode)  # first-query work not timed
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for q in range(queries):
                    col.search(texts[q], vector=vectors[q], k=10, mode=mode)
                best = min(best, time.perf_counter() - t0)
            out[f"qps_{mode}"] = queries / best
        t0 = time.perf_counter()
        ids = [f"d{a}-{a % batch}" for a in range(adds)]
        for _ in range(20):
            col.get(ids)
        out["get_ms"] = (time.perf_counter() - t0) / 20 * 1000
    db.close()
print(json.dumps(out))
"""


def child(action: str, variant: str, path: Path, args: argparse.Namespace) -> dict:
    result, _ = fresh_python(CHILD, action, variant, str(path), str(args.adds), str(args.batch), str(args.dim),
                             str(args.queries), what=f"{action} {variant}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adds", type=int, default=1000, help="add calls")
    parser.add_argument("--batch", type=int, default=1000, help="documents per add call")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=200, help="queries per QPS pass")
    parser.add_argument("--opens", type=int, default=3, help="fresh-process opens per variant (best kept)")
    add_output_args(parser, "20 adds of 10 docs, dim 16, 20 queries, 1 open")
    args = apply_smoke(parser.parse_args(), adds=20, batch=10, dim=16, queries=20, opens=1)

    rows = []
    with tempfile.TemporaryDirectory(prefix="gyeol-merge-policy-") as scratch:
        for variant in VARIANTS:
            path = Path(scratch) / variant
            row: dict = {"name": variant, **child("build", variant, path, args)}
            writer = [child("writer", variant, path, args) for _ in range(args.opens)]
            readers = [child("reader", variant, path, args) for _ in range(args.opens)]
            row["open_writer_ms"] = 1000 * min(r["open_s"] for r in writer)
            row["open_reader_ms"] = 1000 * min(r["open_s"] for r in readers)
            for key in [f"qps_{m}" for m in MODES]:
                row[key] = max(r[key] for r in readers)
            row["get_ms"] = min(r["get_ms"] for r in readers)
            rows.append(row)
            print(json.dumps(row), flush=True)
            if variant != "compacted":
                shutil.rmtree(path)
    compacted = rows[-1]
    for row in rows:
        for key in [f"qps_{m}" for m in MODES]:
            row[f"{key}_vs_compacted"] = row[key] / compacted[key]
    columns = [("name", "collection"), ("segments", "segments"), ("build_s", "build s"),
               ("open_writer_ms", "writer open ms"), ("open_reader_ms", "reader open ms"),
               *((f"qps_{m}", f"{m} QPS") for m in MODES),
               *((f"qps_{m}_vs_compacted", f"{m} vs compacted") for m in MODES), ("get_ms", f"get {args.adds} ids ms")]
    table = markdown_table(rows, columns)
    print(table)
    report = {"config": {"adds": args.adds, "batch": args.batch, "dim": args.dim, "queries": args.queries,
                         "opens": args.opens},
              "machine": machine(), "rows": rows, "table": table}
    path = report_path(args, "merge_policy")
    write_report(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
