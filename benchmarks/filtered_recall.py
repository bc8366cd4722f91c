"""Filtered recall@10 per tier and filter selectivity, with each tier's default (tuned) settings.

Random filters allowing 100%, 50%, 10%, 1% and 0.1% of the rows; fresh queries; recall against brute
force over the allowed rows; also whether every row held exactly min(k, allowed) hits, all allowed.
Searched through gyeol's index layer (VectorIndex.search with an allowed mask, what Collection.search
passes for where= filters).

    python benchmarks/filtered_recall.py                      # N=100k, hard data, d=384
    python benchmarks/filtered_recall.py --data easy --n 20000
    python benchmarks/filtered_recall.py --smoke --out /tmp/f

Writes benchmarks/results/filtered_recall[_<n>][_<data>].json.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import add_output_args, apply_smoke, machine, markdown_table, report_path, tier_data, write_report

SELECTIVITIES = (1.0, 0.5, 0.1, 0.01, 0.001)
K = 10


def key(sel: float) -> str:
    """A report key for a selectivity without dots (the smoke test reads dotted key paths): 0.001 -> "0_1pct"."""
    return f"{sel * 100:g}pct".replace(".", "_")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nq", type=int, default=200)
    parser.add_argument("--data", choices=("easy", "hard"), default="hard")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--tiers", default="memory,hybrid,disk")
    add_output_args(parser, smoke="--n 6000 --dim 32 --nq 30")
    args = apply_smoke(parser.parse_args(), n=6000, dim=32, nq=30)

    import faiss

    from gyeol.index import build_index

    x, q = tier_data(args.n, args.dim, args.nq, args.data, args.seed)
    rng = np.random.default_rng(5)
    masks = {sel: rng.random(args.n) < sel for sel in SELECTIVITIES}
    rows = []
    with tempfile.TemporaryDirectory(prefix="gyeol-filtered-") as tmp:
        for tier in args.tiers.split(","):
            index = build_index(None, tier=tier, metric="cosine", dim=args.dim, vectors=x,
                                directory=None if tier == "memory" else Path(tmp) / tier)
            row: dict = {"name": tier, "settings": str((index.tuning or {}).get("settings", "-"))}
            for sel, mask in masks.items():
                allowed = np.flatnonzero(mask)
                truth = allowed[faiss.knn(q, x[allowed], K, metric=faiss.METRIC_INNER_PRODUCT)[1]]
                t0 = time.perf_counter()
                got = index.search(q, K, None if sel == 1.0 else mask).labels
                took = time.perf_counter() - t0
                want = min(K, len(allowed))
                exact_k = bool(((got >= 0).sum(axis=1) == want).all() and mask[got[got >= 0]].all())
                recall = float(np.mean([len(set(g[g >= 0]) & set(t)) / want for g, t in zip(got, truth)]))
                row[key(sel)] = recall
                row[f"{key(sel)}_exact_k"] = exact_k
                row[f"{key(sel)}_ms_per_query"] = took / len(q) * 1000
            rows.append(row)
            print(f"{tier}: " + "  ".join(f"{sel:g}: {row[key(sel)]:.3f}" for sel in SELECTIVITIES), flush=True)
    table = markdown_table(rows, [("name", "tier"), *((key(s), f"recall@10 {s:.1%}") for s in SELECTIVITIES),
                                  *((f"{key(s)}_exact_k", f"exact k {s:.1%}") for s in SELECTIVITIES)])
    print(table)
    suffix = ("" if args.n == 100_000 else f"_{args.n}") + ("" if args.data == "hard" else f"_{args.data}")
    out = report_path(args, f"filtered_recall{suffix}")
    write_report(out, {"config": {"n": args.n, "dim": args.dim, "nq": args.nq, "data": args.data,
                                  "seed": args.seed, "machine": machine()}, "rows": rows, "table": table})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
