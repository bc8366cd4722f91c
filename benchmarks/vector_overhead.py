"""gyeol's overhead over raw FAISS: batched and single-query search, and add throughput.

Same data, same FAISS index type and parameters on both sides. Run:

    python benchmarks/vector_overhead.py              # N=100k, d=384, Flat and HNSW
    python benchmarks/vector_overhead.py --n 20000    # quicker
    python benchmarks/vector_overhead.py --smoke --out /tmp/overhead   # tiny: does it run

Prints a markdown table and writes benchmarks/results/vector_overhead.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import gyeol
from harness import (
    add_output_args,
    apply_smoke,
    best_seconds,
    call_seconds,
    gaussian_clusters,
    report_path,
    write_report,
)


# Fixed search settings on both sides (gyeol's default HNSW tunes efSearch to a recall target: a
# different setting from the raw baseline's, and tuning time inside the timed adds).
HNSW_SPEC = gyeol.HNSW(ef_search=96, recall_target=None)


def raw_index(kind: str, dim: int):
    if kind == "flat":
        return faiss.IndexFlatIP(dim)
    spec = HNSW_SPEC
    index = faiss.IndexHNSWFlat(dim, spec.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = spec.ef_construction
    index.hnsw.efSearch = spec.ef_search
    return index


def time_add_raw(kind: str, data: np.ndarray, ids: list[str], batch: int, workdir: Path) -> tuple[float, object]:
    """Raw baseline: normalise, FAISS add, and a Parquet write of ids + vectors, per batch."""
    index = raw_index(kind, data.shape[1])
    t0 = time.perf_counter()
    for start in range(0, len(data), batch):
        chunk = data[start : start + batch].copy()
        faiss.normalize_L2(chunk)
        index.add(chunk)
        table = pa.table(
            {
                "id": pa.array(ids[start : start + batch]),
                "vector": pa.FixedSizeListArray.from_arrays(pa.array(chunk.reshape(-1)), chunk.shape[1]),
            }
        )
        pq.write_table(table, workdir / f"raw-{start}.parquet")
    return time.perf_counter() - t0, index


def time_add_gyeol(kind: str, data: np.ndarray, ids: list[str], batch: int, workdir: Path):
    db = gyeol.connect(workdir / "db")
    index = gyeol.Flat() if kind == "flat" else HNSW_SPEC
    col = db.create_collection("bench", embedder=None, dim=data.shape[1], index=index, tokenizer="whitespace")
    t0 = time.perf_counter()
    for start in range(0, len(data), batch):
        col.add(ids=ids[start : start + batch], vectors=data[start : start + batch])
    return time.perf_counter() - t0, db, col


def run(kind: str, args) -> dict:
    data = gaussian_clusters(args.n, args.dim, seed=1)
    queries = gaussian_clusters(args.queries, args.dim, seed=2)
    qn = queries.copy()
    faiss.normalize_L2(qn)
    ids = [f"doc-{i}" for i in range(args.n)]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw_add_s, index = time_add_raw(kind, data, ids, args.batch, tmp)
        gy_add_s, db, col = time_add_gyeol(kind, data, ids, args.batch, tmp)

        def raw_batch(q):
            index.search(q, args.k)

        def gy_batch(q):
            for r in col.search_many(vectors=q, k=args.k, mode="vector"):
                r.ids

        def raw_single(q):
            index.search(q[None, :], args.k)

        def gy_single(q):
            col.search(vector=q, k=args.k, mode="vector").ids

        # interleave repeats so machine noise hits both sides alike
        raw_qps = len(qn) / best_seconds(lambda: raw_batch(qn), args.repeats)
        gy_qps = len(queries) / best_seconds(lambda: gy_batch(queries), args.repeats)
        single_q = qn[: args.single]
        raw_lat: list[float] = []
        gy_lat: list[float] = []
        for _ in range(args.repeats):
            raw_lat += call_seconds(raw_single, single_q).tolist()
            gy_lat += call_seconds(gy_single, queries[: args.single]).tolist()
        db.close()
    raw_med = statistics.median(raw_lat) * 1e6
    gy_med = statistics.median(gy_lat) * 1e6
    return {
        "index": kind,
        "n": args.n,
        "dim": args.dim,
        "k": args.k,
        "batched_qps_raw": raw_qps,
        "batched_qps_gyeol": gy_qps,
        "batched_ratio": gy_qps / raw_qps,
        "single_us_raw_p50": raw_med,
        "single_us_gyeol_p50": gy_med,
        "single_overhead_us": gy_med - raw_med,
        "add_rows_per_s_raw": args.n / raw_add_s,
        "add_rows_per_s_gyeol": args.n / gy_add_s,
        "add_ratio": raw_add_s / gy_add_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--single", type=int, default=300, help="queries timed one by one")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--batch", type=int, default=10_000, help="rows per add call")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--index", default="flat,hnsw")
    add_output_args(parser, smoke="--n 2000 --queries 50 --single 20 --repeats 1")
    args = apply_smoke(parser.parse_args(), n=2000, queries=50, single=20, repeats=1)
    rows = [run(kind, args) for kind in args.index.split(",")]
    out = report_path(args, "vector_overhead")
    write_report(out, {"args": {**vars(args), "out": str(args.out)}, "results": rows}, indent=1)
    print(f"\nN={args.n}, d={args.dim}, k={args.k}, {args.queries} queries, faiss threads={faiss.omp_get_max_threads()}\n")
    print("| index | batched QPS raw | batched QPS gyeol | ratio | single p50 raw (µs) | single p50 gyeol (µs) "
          "| overhead (µs) | add rows/s raw | add rows/s gyeol | add ratio |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['index']} | {r['batched_qps_raw']:.0f} | {r['batched_qps_gyeol']:.0f} | {r['batched_ratio']:.2f} "
            f"| {r['single_us_raw_p50']:.0f} | {r['single_us_gyeol_p50']:.0f} | {r['single_overhead_us']:.0f} "
            f"| {r['add_rows_per_s_raw']:.0f} | {r['add_rows_per_s_gyeol']:.0f} | {r['add_ratio']:.2f} |"
        )
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
