"""What end-to-end checksums cost: open time and add throughput with gyeol's crc32 checks on and off.

"off" runs the same code with gyeol._checksum.crc_buffer replaced by a no-op in the child
process (every recorded crc is then 0 and every check compares 0 with 0), so the difference is
exactly the summing of files and rows: segments and tombstones at each commit and open, docs
caches, FAISS and .f32 rescoring files at each save and load. Each measurement runs in a fresh
process, "off" and "on" interleaved. The machine this was written on is shared (its load average
often passes 10 on 2 cores), so each figure is robust to bursts of other work: add throughput
from the median seconds per add call over every call of every build, open time as the best
(minimum) of the fresh-process opens, with the median beside it, and the CPU seconds the process
spent (time.process_time, all its threads), which other processes' load disturbs far less. Run:

    python benchmarks/checksum_cost.py                 # 50k docs of dim 384, three tiers
    python benchmarks/checksum_cost.py --n 10000       # quicker
    python benchmarks/checksum_cost.py --smoke --out /tmp/cc   # tiny: does it run

Prints a markdown table and writes benchmarks/results/checksum_cost.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from harness import add_output_args, apply_smoke, fresh_python, machine, markdown_table, report_path, write_report

VARIANTS = ("off", "on", "lazy")  # lazy: on, but segments checked before their first read, not at open

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
action, variant, path, tier, n, dim, batch = sys.argv[1:8]
n, dim, batch = int(n), int(dim), int(batch)
import numpy as np
import gyeol, gyeol._checksum as checksum
if variant == "off":
    checksum.crc_buffer = lambda data, crc=0: 0
if variant == "lazy":
    import gyeol.storage.store as store
    store.VERIFY_SEGMENTS_AT_OPEN = False
out = {}
if action == "build":
    rng = np.random.default_rng(0)
    with gyeol.connect(path) as db:
        index = gyeol.Flat() if tier == "memory" else None
        col = db.create_collection("c", embedder=None, dim=dim, tier=tier, index=index, tokenizer="whitespace")
        texts = [f"document {i} about topic {i % 97} and subject {i % 31} " * 4 for i in range(n)]
        vectors = rng.normal(size=(n, dim)).astype(np.float32)
        out["add_call_s"], out["add_call_cpu_s"] = [], []
        for lo in range(0, n, batch):
            start, cpu = time.perf_counter(), time.process_time()
            col.add(texts[lo:lo + batch], ids=[f"d{i}" for i in range(lo, min(n, lo + batch))],
                    vectors=vectors[lo:lo + batch])
            out["add_call_s"].append(time.perf_counter() - start)
            out["add_call_cpu_s"].append(time.process_time() - cpu)
    with gyeol.connect(path) as db:  # the first writer open writes the docs caches (not timed)
        db.get_collection("c")
else:
    start, cpu = time.perf_counter(), time.process_time()
    db = gyeol.connect(path, read_only=action == "open_reader")
    col = db.get_collection("c")
    out["open_s"] = time.perf_counter() - start
    out["open_cpu_s"] = time.process_time() - cpu
    col.search(vector=np.ones(dim, np.float32), k=10, mode="vector")
    out["open_search_s"] = time.perf_counter() - start
    db.close()
print(json.dumps(out))
"""


def child(action: str, variant: str, path: Path, tier: str, args: argparse.Namespace) -> dict:
    result, _ = fresh_python(CHILD, action, variant, str(path), tier, str(args.n), str(args.dim), str(args.batch),
                             what=f"{action} {variant} {tier}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50_000, help="documents per collection")
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--batch", type=int, default=1000, help="documents per add call")
    parser.add_argument("--tiers", nargs="+", default=["memory", "hybrid", "disk"])
    parser.add_argument("--builds", type=int, default=3, help="interleaved builds per variant (add throughput)")
    parser.add_argument("--opens", type=int, default=9, help="interleaved fresh-process opens per variant and tier")
    add_output_args(parser, "n=2000, dim=32, memory and disk tiers, 1 build, 2 opens")
    args = apply_smoke(parser.parse_args(), n=2000, dim=32, batch=500, builds=1, opens=2, tiers=["memory", "disk"])

    rows = []
    with tempfile.TemporaryDirectory(prefix="gyeol-checksum-cost-") as scratch:
        for tier in args.tiers:
            adds: dict[str, list[float]] = {v: [] for v in ("off", "on")}
            add_cpu: dict[str, list[float]] = {v: [] for v in ("off", "on")}
            paths: dict[str, Path] = {}
            for b in range(args.builds):
                for variant in ("off", "on"):  # lazy writes exactly as on
                    path = Path(scratch) / f"{tier}-{variant}-{b}"
                    built = child("build", variant, path, tier, args)
                    adds[variant].extend(built["add_call_s"])
                    add_cpu[variant].extend(built["add_call_cpu_s"])
                    paths[variant] = path  # the last build of each variant is the one opened
            paths["lazy"] = paths["on"]
            opens: dict[tuple[str, str], list[float]] = {}
            open_cpu: dict[tuple[str, str], list[float]] = {}
            for _ in range(args.opens):
                for action in ("open_writer", "open_reader"):
                    for variant in VARIANTS:
                        opened = child(action, variant, paths[variant], tier, args)
                        opens.setdefault((action, variant), []).append(opened["open_s"])
                        open_cpu.setdefault((action, variant), []).append(opened["open_cpu_s"])
            row: dict = {"name": tier, "n": args.n, "dim": args.dim}
            for variant in VARIANTS:
                if variant in adds:
                    row[f"add_docs_per_s_{variant}"] = args.batch / statistics.median(adds[variant])
                    row[f"add_docs_per_cpu_s_{variant}"] = args.batch / statistics.median(add_cpu[variant])
                for action in ("open_writer", "open_reader"):
                    row[f"{action}_ms_{variant}"] = 1000 * min(opens[(action, variant)])
                    row[f"{action}_ms_median_{variant}"] = 1000 * statistics.median(opens[(action, variant)])
                    row[f"{action}_cpu_ms_{variant}"] = 1000 * statistics.median(open_cpu[(action, variant)])
            row["add_ratio"] = row["add_docs_per_s_on"] / row["add_docs_per_s_off"]
            row["add_cpu_ratio"] = row["add_docs_per_cpu_s_on"] / row["add_docs_per_cpu_s_off"]
            for action in ("open_writer", "open_reader"):
                for variant in ("on", "lazy"):
                    suffix = "" if variant == "on" else "_lazy"
                    row[f"{action}_ratio{suffix}"] = row[f"{action}_ms_{variant}"] / row[f"{action}_ms_off"]
                    row[f"{action}_cpu_ratio{suffix}"] = row[f"{action}_cpu_ms_{variant}"] / row[f"{action}_cpu_ms_off"]
            row["bytes_on_disk"] = sum(p.stat().st_size for p in paths["on"].rglob("*") if p.is_file())
            rows.append(row)
            print(json.dumps(row), flush=True)

    columns = [("name", "tier"), ("add_docs_per_s_off", "add docs/s off"), ("add_docs_per_s_on", "add docs/s on"),
               ("add_ratio", "add on/off"), ("open_writer_ms_off", "writer open ms off (best)"),
               ("open_writer_ms_on", "writer open ms on (best)"), ("open_writer_ratio", "writer open on/off"),
               ("open_writer_ms_lazy", "writer open ms lazy (best)"), ("open_writer_ratio_lazy", "lazy/off"),
               ("open_writer_ms_median_off", "median off"), ("open_writer_ms_median_on", "median on"),
               ("open_reader_ms_off", "reader open ms off (best)"), ("open_reader_ms_on", "reader open ms on (best)"),
               ("open_reader_ratio", "reader open on/off"), ("open_reader_ms_lazy", "reader lazy (best)"),
               ("open_reader_ratio_lazy", "reader lazy/off")]
    cpu_columns = [("name", "tier"), ("add_cpu_ratio", "add docs per CPU s on/off"),
                   ("open_writer_cpu_ms_off", "writer open CPU ms off"), ("open_writer_cpu_ms_on", "on"),
                   ("open_writer_cpu_ratio", "on/off"), ("open_writer_cpu_ms_lazy", "lazy"),
                   ("open_writer_cpu_ratio_lazy", "lazy/off"), ("open_reader_cpu_ms_off", "reader open CPU ms off"),
                   ("open_reader_cpu_ms_on", "on"), ("open_reader_cpu_ratio", "on/off"),
                   ("open_reader_cpu_ms_lazy", "lazy"), ("open_reader_cpu_ratio_lazy", "lazy/off")]
    table = markdown_table(rows, columns) + "\n\nCPU time (median per call or open):\n\n" + markdown_table(rows, cpu_columns)
    print(table)
    report = {"config": {"n": args.n, "dim": args.dim, "batch": args.batch, "builds": args.builds,
                         "opens": args.opens, "tiers": args.tiers},
              "machine": machine(), "rows": rows, "table": table}
    path = report_path(args, "checksum_cost")
    write_report(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
