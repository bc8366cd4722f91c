"""What the tiered merge policy buys: N adds of B documents, merged or not, against the same collection compacted.

Collections of the same N*B documents (given vectors, whitespace tokenizer): "unmerged" (the
policy switched off in its build process: one segment per add, what gyeol did before
storage/merging.py), "merged" (the policy on, as shipped) and "compacted" (a copy of "merged"
after col.compact(): one segment). The build records each add's wall time (merges included:
the writer's stall) and the longest hold of the collection's exclusive lock (what a search
could wait for). Then the writer's and a reader's open time in fresh processes (best of
--opens), and search QPS per mode (vector, keyword, hybrid; single queries, best of 3 passes)
in fresh readers, --rounds rounds that alternate the variants, so a loaded, shared machine
disturbs each alike: each round's QPS is divided by the same round's compacted QPS and the
median ratio kept. QPS is given by wall time and by the reader's CPU time (steadier under load).
The vector index is Flat by default (--index auto: the tier gyeol picks), so the vector side is
the same index in every variant and only the segments and BM25 files differ. Run:

    python benchmarks/merge_policy.py                      # 1,000 adds of 1,000 docs, dim 64 (long)
    python benchmarks/merge_policy.py --adds 200 --batch 500 --variants merged,compacted
    python benchmarks/merge_policy.py --smoke --out /tmp/mp    # tiny: does it run

Prints a markdown table and writes benchmarks/results/merge_policy.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from harness import add_output_args, apply_smoke, fresh_python, machine, markdown_table, report_path, write_report

VARIANTS = ("unmerged", "merged", "compacted")
MODES = ("vector", "keyword", "hybrid")

CHILD = r"""
import json, os, sys, time
from pathlib import Path
action, variant, path, adds, batch, dim, queries, index = sys.argv[1:9]
adds, batch, dim, queries = int(adds), int(batch), int(dim), int(queries)
import numpy as np
import gyeol
import gyeol.storage.merging as merging
from gyeol._rwlock import ReadWriteLock
from gyeol.storage.manifest import read_manifest
if variant == "unmerged":
    merging.MERGE_FACTOR = 10**9  # no run is ever long enough: one segment per add
out = {}
words = [f"w{i}" for i in range(5000)]
if action == "build":
    holds = []
    exclusive = ReadWriteLock.exclusive
    def timed_exclusive(self):  # the time each exclusive section is held (a search waits at most that)
        from contextlib import contextmanager
        @contextmanager
        def held():
            with exclusive(self):
                t0 = time.perf_counter()
                try:
                    yield
                finally:
                    holds.append(time.perf_counter() - t0)
        return held()
    ReadWriteLock.exclusive = timed_exclusive
    rng = np.random.default_rng(0)
    add_s = []
    start = time.perf_counter()
    with gyeol.connect(path) as db:
        col = db.create_collection("c", embedder=None, dim=dim, tokenizer="whitespace",
                                   index=gyeol.Flat() if index == "flat" else None)
        for a in range(adds):
            ids = [f"d{a}-{i}" for i in range(batch)]
            picks = rng.zipf(1.3, size=(batch, 12)) % len(words)
            texts = [" ".join(words[j] for j in row) for row in picks]
            vectors = rng.standard_normal((batch, dim)).astype(np.float32)
            t0 = time.perf_counter()
            col.add(texts, ids=ids, vectors=vectors)
            add_s.append(time.perf_counter() - t0)
        out["build_s"] = time.perf_counter() - start
    out["add_s"] = {"median": float(np.median(add_s)), "p99": float(np.percentile(add_s, 99)), "max": max(add_s),
                    "slowest_add": int(np.argmax(add_s))}
    out["exclusive_hold_s"] = {"median": float(np.median(holds)), "max": max(holds)}
elif action == "compact":
    with gyeol.connect(path) as db:
        start = time.perf_counter()
        db.get_collection("c").compact()
        out["compact_s"] = time.perf_counter() - start
elif action == "describe":
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
            best = best_cpu = float("inf")
            for _ in range(3):
                t0, c0 = time.perf_counter(), time.process_time()
                for q in range(queries):
                    col.search(texts[q], vector=vectors[q], k=10, mode=mode)
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            out[f"qps_{mode}"] = queries / best
            out[f"cpu_qps_{mode}"] = queries / best_cpu
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
                             str(args.queries), args.index, what=f"{action} {variant}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--adds", type=int, default=1000, help="add calls")
    parser.add_argument("--batch", type=int, default=1000, help="documents per add call")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--index", choices=("flat", "auto"), default="flat",
                        help="the vector index: Flat in every variant, or the tier gyeol picks")
    parser.add_argument("--queries", type=int, default=200, help="queries per QPS pass")
    parser.add_argument("--opens", type=int, default=3, help="fresh-process opens per variant (best kept)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of fresh readers per variant")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help="comma-separated, of " + ", ".join(VARIANTS) + " (compacted needs merged)")
    parser.add_argument("--scratch", type=Path, default=None, help="where the collections are built (a temp dir)")
    add_output_args(parser, "20 adds of 10 docs, dim 16, 20 queries, 1 open, 1 round")
    args = apply_smoke(parser.parse_args(), adds=20, batch=10, dim=16, queries=20, opens=1, rounds=1)
    variants = [v for v in VARIANTS if v in args.variants.split(",")]
    if "compacted" in variants and "merged" not in variants:
        parser.error("compacted is a copy of merged: list merged too")

    load_before = os.getloadavg()
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="gyeol-merge-policy-", dir=args.scratch) as scratch:
        paths = {variant: Path(scratch) / variant for variant in variants}
        for variant in variants:
            path = paths[variant]
            if variant == "compacted":
                shutil.copytree(paths["merged"], path)
                built = {key: rows["merged"][key] for key in ("build_s", "add_s", "exclusive_hold_s")}
                row = {"name": variant, **built, **child("compact", variant, path, args)}
            else:
                row = {"name": variant, **child("build", variant, path, args)}
            row.update(child("describe", variant, path, args))
            writer = [child("writer", variant, path, args) for _ in range(args.opens)]
            row["open_writer_ms"] = 1000 * min(r["open_s"] for r in writer)
            rows[variant] = row
            print(json.dumps(row), flush=True)
        readers: dict[str, list[dict]] = {variant: [] for variant in variants}
        for _ in range(max(args.rounds, args.opens)):  # variants alternate within each round
            for variant in variants:
                readers[variant].append(child("reader", variant, paths[variant], args))
    load_after = os.getloadavg()

    reference = "compacted" if "compacted" in variants else variants[-1]
    for variant, row in rows.items():
        runs = readers[variant]
        row["open_reader_ms"] = 1000 * min(r["open_s"] for r in runs)
        row["get_ms"] = min(r["get_ms"] for r in runs)
        for mode in MODES:
            for kind in ("qps", "cpu_qps"):
                key = f"{kind}_{mode}"
                row[key] = statistics.median(r[key] for r in runs)
                row[f"{key}_vs_{reference}"] = statistics.median(
                    r[key] / ref[key] for r, ref in zip(runs, readers[reference]))
    table_rows = list(rows.values())
    columns = [("name", "collection"), ("segments", "segments"), ("build_s", "build s"),
               ("open_writer_ms", "writer open ms"), ("open_reader_ms", "reader open ms"),
               *((f"qps_{m}", f"{m} QPS") for m in MODES),
               *((f"qps_{m}_vs_{reference}", f"{m} vs {reference}") for m in MODES),
               *((f"cpu_qps_{m}_vs_{reference}", f"{m} vs {reference} (CPU)") for m in MODES),
               ("get_ms", f"get {args.adds} ids ms")]
    table = markdown_table(table_rows, columns)
    print(table)
    report = {"config": {"adds": args.adds, "batch": args.batch, "dim": args.dim, "index": args.index,
                         "queries": args.queries, "opens": args.opens, "rounds": args.rounds},
              "machine": machine(), "load_average": {"before": list(load_before), "after": list(load_after)},
              "rows": table_rows, "readers": readers, "table": table}
    path = report_path(args, "merge_policy")
    write_report(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
