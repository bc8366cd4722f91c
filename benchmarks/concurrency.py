"""Search QPS from 1, 2 and 4 threads on one collection, per mode (vector, keyword, hybrid).

One collection of generated Korean passages with given vectors (no embedder: the figures are
the collection's own work), searched by T threads at once for --seconds each; QPS is all the
threads' queries over the wall time. Thread counts are measured in rounds that alternate them
(1, 2, 4, 1, 2, 4, ...), so a shared, loaded machine disturbs each count alike, and each
round's T-thread QPS is divided by the same round's 1-thread QPS. A "2, one lock" row runs two
threads that take one lock around every search, as every search did before searches shared
the collection: the reference for what two threads gave then. A "faiss alone" row searches a
bare FAISS index of the same vectors the same way: what the machine let threads gain in that
run, whatever gyeol does. The machine's load average is recorded before and after (noisy on a
shared machine: read the ratios against that row, not the QPS).

    python benchmarks/concurrency.py [--docs 5000] [--seconds 2] [--rounds 3] [--tokenizer kiwi]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

import gyeol
from harness import (
    add_output_args, apply_smoke, gaussian_clusters, korean_corpus, korean_queries, machine, markdown_table,
    report_path, write_report,
)

DIM = 384
K = 10
THREADS = (1, 2, 4)
SERIAL = "2, one lock"  # two threads, one lock around each search: the behaviour before shared reads


def qps(search: Callable[[int], Any], n_threads: int, seconds: float, n_queries: int,
        lock: threading.Lock | None = None) -> float:
    """Queries per second of n_threads threads calling search(i) for `seconds` (lock: one at a time)."""
    start = threading.Barrier(n_threads + 1)
    stop = threading.Event()
    done = [0] * n_threads
    errors: list[BaseException] = []

    def worker(w: int) -> None:
        i = w * 7919  # each thread its own query order
        try:
            start.wait()
            while not stop.is_set():
                if lock is None:
                    search(i % n_queries)
                else:
                    with lock:
                        search(i % n_queries)
                i += 1
                done[w] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return sum(done) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds each measurement runs")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of every thread count")
    parser.add_argument("--tokenizer", default="kiwi", choices=("kiwi", "whitespace"))
    parser.add_argument("--omp-threads", type=int, default=1,
                        help="FAISS OpenMP threads per search (1: the parallelism measured is the threads')")
    parser.add_argument("--seed", type=int, default=0)
    add_output_args(parser, smoke="--docs 300 --queries 20 --seconds 0.2 --rounds 1 --tokenizer whitespace")
    args = apply_smoke(parser.parse_args(), docs=300, queries=20, seconds=0.2, rounds=1, tokenizer="whitespace")

    import faiss

    faiss.omp_set_num_threads(args.omp_threads)
    texts = korean_corpus(args.docs, args.seed)
    query_texts = korean_queries(args.queries, args.seed)
    vectors = gaussian_clusters(args.docs, DIM, seed=1)
    query_vectors = gaussian_clusters(args.queries, DIM, seed=2)
    load_before = os.getloadavg()

    with tempfile.TemporaryDirectory(prefix="gyeol-concurrency-") as tmp:
        db = gyeol.connect(Path(tmp) / "db")
        col = db.create_collection("bench", embedder=None, dim=DIM, tokenizer=args.tokenizer, index=gyeol.Flat())
        for lo in range(0, args.docs, 10_000):
            col.add(texts[lo:lo + 10_000], ids=[f"d{i}" for i in range(lo, min(lo + 10_000, args.docs))],
                    vectors=vectors[lo:lo + 10_000])
        col.search(query_texts[0], vector=query_vectors[0], k=K)  # BM25 built, auto fusion measured
        bare = faiss.IndexFlatIP(DIM)  # cosine: the collection normalises; so does this
        normalised = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        bare.add(normalised)
        bare_queries = query_vectors / np.linalg.norm(query_vectors, axis=1, keepdims=True)
        searches: dict[str, Callable[[int], Any]] = {
            "faiss alone": lambda i: bare.search(bare_queries[i : i + 1], K),
            "vector": lambda i: col.search(vector=query_vectors[i], k=K, mode="vector").ids,
            "keyword": lambda i: col.search(query_texts[i], k=K, mode="keyword").ids,
            "hybrid": lambda i: col.search(query_texts[i], vector=query_vectors[i], k=K).ids,
        }
        counts: list[Any] = [*THREADS, SERIAL]
        per_round: dict[str, dict[str, list[float]]] = {mode: {str(c): [] for c in counts} for mode in searches}
        for _ in range(args.rounds):
            for mode, search in searches.items():
                for count in counts:
                    if count == SERIAL:
                        value = qps(search, 2, args.seconds, args.queries, lock=threading.Lock())
                    else:
                        value = qps(search, count, args.seconds, args.queries)
                    per_round[mode][str(count)].append(value)
        db.close()
    load_after = os.getloadavg()

    rows = []
    for mode, by_count in per_round.items():
        one = np.asarray(by_count["1"])
        row: dict[str, Any] = {"name": mode, "qps_1": float(np.median(one))}
        for count in counts[1:]:
            values = np.asarray(by_count[str(count)])
            key = "serial_2" if count == SERIAL else str(count)
            row[f"qps_{key}"] = float(np.median(values))
            row[f"speedup_{key}"] = float(np.median(values / one))  # each round against its own 1-thread figure
        rows.append(row)
    columns = [("name", "mode"), ("qps_1", "QPS, 1 thread"), ("qps_2", "2 threads"), ("speedup_2", "x1"),
               ("qps_4", "4 threads"), ("speedup_4", "x1"), ("qps_serial_2", "2, one lock"),
               ("speedup_serial_2", "x1")]
    table = markdown_table(rows, columns)
    print(f"{args.docs} documents ({args.tokenizer}), dim {DIM}, flat index, k={K}; {args.rounds} rounds of "
          f"{args.seconds} s per figure (median); load average {load_before[0]:.1f} before, "
          f"{load_after[0]:.1f} after, on {os.cpu_count()} CPUs\n")
    print(table)
    write_report(report_path(args, "concurrency"), {
        "config": {"docs": args.docs, "queries": args.queries, "seconds": args.seconds, "rounds": args.rounds,
                   "tokenizer": args.tokenizer, "omp_threads": args.omp_threads, "dim": DIM, "k": K},
        "machine": machine(),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "rows": rows,
        "per_round": per_round,
        "table": table,
    })


if __name__ == "__main__":
    main()
