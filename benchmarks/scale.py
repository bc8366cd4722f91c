"""How gyeol scales with N: ingest, memory, disk, open, first queries, QPS and compaction of a generated collection.

The collection (reproducible from --seed): N passages of 3 joined korean_corpus documents
(about 300 characters of Korean with some English terms; one in seven is an English passage
instead), 384-d vectors given with them (Gaussian clusters, so no embedding at ingest), and
four metadata keys (lang: str, year: int, source: str, score: float). It is created as a user
would (embedder="default", the default Kiwi tokenizer, the default vector index) and filled
by add() calls of --batch passages. Every step runs in a fresh process:

- kiwi: Kiwi's own batch call (kiwipiepy's tokenize on a list, every core) on the same texts
  (all of them up to --kiwi-sample, else whole batches evenly spread): the floor ingest cannot beat,
  and gyeol's KiwiTokenizer.tokenize_batch (Kiwi plus the term rules) beside it;
- ingest: create_collection, the adds and the closing save (not the making of the passages, timed
  apart as generate_s); docs/s, the slowest add, peak RSS (ru_maxrss);
- disk size and segment count;
- open (connect read_only + get_collection) and the first query of each mode (vector given,
  a `where` filter for "filtered"), each in its own process; RSS after the first hybrid query
  is the finished collection's RAM;
- cold: import + open + first hybrid result from a query text alone (the default, torch-free
  embedder embeds it): the number a user waits for;
- QPS per mode from 1, 2 and 4 threads (vectors given), thread counts alternating in rounds;
- compaction after deleting 1% of the passages.

    python benchmarks/scale.py --n 10000 100000        # each N in turn (serialise: flock, see BRIEF)
    python benchmarks/scale.py --smoke --out /tmp/s     # 300 passages: does it run

Prints a markdown table, writes benchmarks/results/scale.json and a plot of ingest and open
time against N (scale.png beside it), with the machine's load average before and after each N.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    EN_TERMS, add_output_args, apply_smoke, fresh_process, korean_corpus, korean_queries, machine,
    markdown_table, pyplot, report_path, write_report,
)

DIM = 384
K = 10
THREADS = (1, 2, 4)
MODES = ("vector", "keyword", "hybrid")
SOURCES = ("wiki", "news", "manual", "blog", "paper", "forum", "faq", "law")
EN_WORDS = """the a of to in and is for on with that by this from are as be it or at an can which
system data model query user search document index time result method file server value using
each new when how more based used between should first over into than other""".split()


# ----------------------------------------------------------------------------- the collection


def batch_passages(n: int, batch: int, index: int, seed: int) -> list[str]:
    """The passages of add number index (the same whatever process makes them)."""
    count = min(batch, n - index * batch)
    rng = np.random.default_rng([seed, index])
    korean = korean_corpus(3 * count, seed=int(rng.integers(2**31)))
    out = []
    for i in range(count):
        if rng.random() < 1 / 7:
            words = rng.choice(EN_WORDS + EN_TERMS, size=int(rng.integers(40, 70)))
            out.append(" ".join(words).capitalize() + ".")
        else:
            out.append(" ".join(korean[3 * i : 3 * i + 3]))
    return out


def batch_vectors(n: int, batch: int, index: int, seed: int) -> np.ndarray:
    """The float32 (count, DIM) vectors of add number index: around 64 fixed Gaussian centres."""
    count = min(batch, n - index * batch)
    centres = np.random.default_rng([seed, 10**6]).normal(size=(64, DIM)).astype(np.float32)
    rng = np.random.default_rng([seed, index, 1])
    return (centres[rng.integers(0, 64, count)] + 0.6 * rng.normal(size=(count, DIM))).astype(np.float32)


def batch_metadata(n: int, batch: int, index: int, seed: int, texts: list[str]) -> list[dict[str, Any]]:
    rng = np.random.default_rng([seed, index, 2])
    return [{"lang": "en" if t[:1].isascii() else "ko", "year": int(2000 + rng.integers(25)),
             "source": SOURCES[int(rng.integers(len(SOURCES)))], "score": round(float(rng.random()), 4)}
            for t in texts]


def query_set(count: int, seed: int) -> tuple[list[str], np.ndarray]:
    texts = korean_queries(count, seed)
    vectors = batch_vectors(count, count, 0, seed + 7)
    return texts, vectors


# ----------------------------------------------------------------------------- child steps


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def child_kiwi(cfg: dict[str, Any]) -> dict[str, Any]:
    from gyeol.lexical.tokenizers.kiwi import KiwiTokenizer, get_kiwi

    n, batch, seed = cfg["n"], cfg["batch"], cfg["seed"]
    n_batches = -(-n // batch)
    # whole batches, evenly spread: making every passage of 1M to keep one in 50 took minutes
    chosen = np.unique(np.linspace(0, n_batches - 1, min(n_batches, -(-cfg["kiwi_sample"] // batch))).astype(int))
    texts = [t for i in chosen.tolist() for t in batch_passages(n, batch, i, seed)]
    kiwi = get_kiwi()
    kiwi.tokenize("가")  # the model loaded and warm: only analysis is timed
    tokenizer = KiwiTokenizer()
    tokenizer.tokenize("가")
    out: dict[str, Any] = {"texts": len(texts), "chars": sum(map(len, texts))}
    for name, call in (("kiwi", lambda part: list(kiwi.tokenize(part))), ("gyeol", tokenizer.tokenize_batch)):
        t0 = time.perf_counter()
        for lo in range(0, len(texts), batch):
            call(texts[lo : lo + batch])
        out[f"{name}_docs_per_s"] = len(texts) / (time.perf_counter() - t0)
    return out


def child_ingest(cfg: dict[str, Any]) -> dict[str, Any]:
    import gyeol

    n, batch, seed = cfg["n"], cfg["batch"], cfg["seed"]
    add_s = []
    generate_s = 0.0  # making the passages is the benchmark's work, not gyeol's: left out of ingest_s
    t0 = time.perf_counter()
    db = gyeol.connect(cfg["path"])
    col = db.create_collection("scale", embedder="default")
    create_s = time.perf_counter() - t0
    for i in range(-(-n // batch)):
        t_gen = time.perf_counter()
        texts = batch_passages(n, batch, i, seed)
        vectors = batch_vectors(n, batch, i, seed)
        metadata = batch_metadata(n, batch, i, seed, texts)
        t_add = time.perf_counter()
        generate_s += t_add - t_gen
        col.add(texts, ids=[f"p{i}-{j}" for j in range(len(texts))], metadata=metadata, vectors=vectors)
        add_s.append(time.perf_counter() - t_add)
    t_close = time.perf_counter()
    db.close()
    end = time.perf_counter()
    return {"ingest_s": end - t0 - generate_s, "generate_s": generate_s, "create_s": create_s,
            "adds_s": sum(add_s), "close_s": end - t_close, "add_max_s": max(add_s),
            "add_median_s": statistics.median(add_s), "peak_rss_mb": peak_rss_mb(), "cpu_s": time.process_time()}


def child_first(cfg: dict[str, Any]) -> dict[str, Any]:
    """Open read-only, then one first query of cfg["what"], timed from before the import."""
    t0 = time.perf_counter()
    import gyeol

    t_import = time.perf_counter()
    db = gyeol.connect(cfg["path"], read_only=True)
    col = db.get_collection("scale")
    t_open = time.perf_counter()
    texts, vectors = query_set(1, cfg["seed"])
    what = cfg["what"]
    if what == "cold":
        hits = col.search(texts[0], k=K)  # the default hybrid search; the embedder embeds the text
    elif what == "filtered":
        hits = col.search(vector=vectors[0], k=K, mode="vector", where={"source": "news", "year": {"$gte": 2010}})
    elif what == "keyword":
        hits = col.search(texts[0], k=K, mode="keyword")
    else:
        hits = col.search(texts[0], vector=vectors[0], k=K, mode=what)
    t_first = time.perf_counter()
    db.close()
    return {"import_s": t_import - t0, "open_s": t_open - t_import, "first_s": t_first - t_open,
            "to_first_s": t_first - t0, "hits": len(hits), "rss_mb": peak_rss_mb()}


def child_qps(cfg: dict[str, Any]) -> dict[str, Any]:
    import threading

    import gyeol

    texts, vectors = query_set(200, cfg["seed"])
    db = gyeol.connect(cfg["path"], read_only=True)
    col = db.get_collection("scale")
    searches = {
        "vector": lambda i: col.search(vector=vectors[i], k=K, mode="vector"),
        "keyword": lambda i: col.search(texts[i], k=K, mode="keyword"),
        "hybrid": lambda i: col.search(texts[i], vector=vectors[i], k=K),
    }
    for search in searches.values():
        search(0)  # first-query work not timed

    def qps(search: Any, n_threads: int, seconds: float) -> float:
        start, stop, done = threading.Barrier(n_threads + 1), threading.Event(), [0] * n_threads

        def worker(w: int) -> None:
            i = w * 7919
            start.wait()
            while not stop.is_set():
                search(i % len(texts))
                i += 1
                done[w] += 1

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(n_threads)]
        for t in threads:
            t.start()
        start.wait()
        t0 = time.perf_counter()
        time.sleep(seconds)
        stop.set()
        for t in threads:
            t.join()
        return sum(done) / (time.perf_counter() - t0)

    per_round: dict[str, dict[str, list[float]]] = {m: {str(t): [] for t in THREADS} for m in searches}
    for _ in range(cfg["rounds"]):
        for mode, search in searches.items():
            for n_threads in THREADS:
                per_round[mode][str(n_threads)].append(qps(search, n_threads, cfg["seconds"]))
    db.close()
    return {"per_round": per_round}


def child_compact(cfg: dict[str, Any]) -> dict[str, Any]:
    import gyeol

    n, batch = cfg["n"], cfg["batch"]
    with gyeol.connect(cfg["path"]) as db:
        col = db.get_collection("scale")
        step = 100  # 1% of the passages
        ids = [f"p{i // batch}-{i % batch}" for i in range(0, n, step)]
        col.delete(ids)
        t0 = time.perf_counter()
        col.compact()
        return {"deleted": len(ids), "compact_s": time.perf_counter() - t0}


CHILDREN = {"kiwi": child_kiwi, "ingest": child_ingest, "first": child_first, "qps": child_qps,
            "compact": child_compact}


# ----------------------------------------------------------------------------- parent


def run_child(action: str, cfg: dict[str, Any]) -> dict[str, Any]:
    result, _ = fresh_process([__file__, "--child", action, json.dumps(cfg)], what=f"{action} (n={cfg['n']})")
    return result


def measure(n: int, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    path = scratch / f"scale-{n}"
    shutil.rmtree(path, ignore_errors=True)
    cfg = {"n": n, "batch": args.batch, "seed": args.seed, "path": str(path), "kiwi_sample": args.kiwi_sample,
           "rounds": args.rounds, "seconds": args.seconds}
    row: dict[str, Any] = {"name": str(n), "n": n, "load_before": os.getloadavg()[0]}
    kiwi = run_child("kiwi", cfg)
    ingest = run_child("ingest", cfg)
    row.update(ingest)
    row["kiwi"] = kiwi
    row["ingest_docs_per_s"] = n / ingest["ingest_s"]
    row["kiwi_docs_per_s"] = kiwi["kiwi_docs_per_s"]
    row["ingest_vs_kiwi"] = row["ingest_docs_per_s"] / kiwi["kiwi_docs_per_s"]
    row["adds_docs_per_s"] = n / ingest["adds_s"]  # the add() calls alone, without the closing save
    directory = next((path / "collections").iterdir())
    row["disk_mb"] = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file()) / 2**20
    from gyeol.storage.manifest import read_manifest

    row["segments"] = len(read_manifest(directory).segments)
    firsts: dict[str, list[dict[str, Any]]] = {w: [] for w in ("vector", "keyword", "hybrid", "filtered", "cold")}
    for _ in range(args.opens):  # interleaved: a change in the machine's load hits every kind alike
        for what in firsts:
            firsts[what].append(run_child("first", {**cfg, "what": what}))
    row["first"] = firsts
    row["open_s"] = statistics.median(r["open_s"] for runs in firsts.values() for r in runs)
    for what, runs in firsts.items():
        row[f"first_{what}_s"] = statistics.median(r["first_s"] for r in runs)
    row["cold_hybrid_s"] = statistics.median(r["to_first_s"] for r in firsts["cold"])
    row["collection_rss_mb"] = statistics.median(r["rss_mb"] for r in firsts["hybrid"])
    row["peak_rss_vs_collection"] = row["peak_rss_mb"] / row["collection_rss_mb"]
    per_round = run_child("qps", cfg)["per_round"]
    row["qps_per_round"] = per_round
    for mode in MODES:
        for t in THREADS:
            row[f"qps_{mode}_{t}"] = statistics.median(per_round[mode][str(t)])
        row[f"speedup_{mode}_2"] = statistics.median(
            two / one for two, one in zip(per_round[mode]["2"], per_round[mode]["1"]))
    row.update(run_child("compact", cfg))
    row["load_after"] = os.getloadavg()[0]
    shutil.rmtree(path, ignore_errors=True)
    return row


def plot(rows: list[dict[str, Any]], out: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    ns = [r["n"] for r in rows]
    ax.plot(ns, [r["ingest_s"] for r in rows], "o-", label="ingest s (adds + close)")
    ax.plot(ns, [r["n"] / r["kiwi_docs_per_s"] for r in rows], "x--", label="Kiwi batch alone, same texts")
    ax.plot(ns, [r["open_s"] for r in rows], "s-", label="open s (read-only)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages (N)")
    ax.set_ylabel("seconds")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(CHILDREN[sys.argv[2]](json.loads(sys.argv[3]))))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000], help="collection sizes, in turn")
    parser.add_argument("--batch", type=int, default=1000, help="passages per add() call")
    parser.add_argument("--kiwi-sample", type=int, default=20_000, help="texts the Kiwi reference rate is taken on")
    parser.add_argument("--opens", type=int, default=3, help="fresh processes per first-query kind")
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of the QPS thread counts")
    parser.add_argument("--seconds", type=float, default=1.5, help="seconds per QPS figure")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scratch", type=Path, default=None, help="where the collections are built (a temp dir)")
    parser.add_argument("--combine", type=Path, nargs="+", default=None,
                        help="measure nothing: one table, plot and report from these reports' rows")
    add_output_args(parser, "--n 300 --batch 100 --opens 1 --rounds 1 --seconds 0.2")
    args = apply_smoke(parser.parse_args(), n=[300], batch=100, kiwi_sample=300, opens=1, rounds=1, seconds=0.2)

    rows = []
    if args.combine:
        reports = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.combine]
        rows = sorted((row for report in reports for row in report["rows"]), key=lambda row: row["n"])
        args.n = [row["n"] for row in rows]
    else:
        with tempfile.TemporaryDirectory(prefix="gyeol-scale-", dir=args.scratch) as scratch:
            for n in args.n:
                row = measure(n, args, Path(scratch))
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if k not in ("first", "qps_per_round")}), flush=True)
    columns = [("name", "N"), ("ingest_docs_per_s", "ingest docs/s"), ("kiwi_docs_per_s", "Kiwi docs/s"),
               ("ingest_vs_kiwi", "x Kiwi"),
               ("adds_docs_per_s", "add() calls docs/s"), ("close_s", "close s"), ("add_max_s", "slowest add s"),
               ("peak_rss_mb", "peak RSS MB"),
               ("collection_rss_mb", "reader RSS MB"), ("disk_mb", "disk MB"), ("segments", "segments"),
               ("open_s", "open s"), ("first_vector_s", "1st vector s"), ("first_keyword_s", "1st keyword s"),
               ("first_hybrid_s", "1st hybrid s"), ("first_filtered_s", "1st filtered s"),
               ("cold_hybrid_s", "import+open+1st hybrid (text) s"),
               *((f"qps_{m}_{t}", f"{m} QPS {t}T") for m in MODES for t in THREADS),
               ("compact_s", "compact s"), ("load_before", "load before"), ("load_after", "load after")]
    table = markdown_table(rows, columns)
    print(table)
    out = report_path(args, "scale")
    write_report(out, {"config": {"n": args.n, "batch": args.batch, "dim": DIM, "seed": args.seed,
                                  "kiwi_sample": args.kiwi_sample, "opens": args.opens, "rounds": args.rounds,
                                  "seconds": args.seconds},
                       "machine": machine(), "rows": rows, "table": table})
    plot(rows, out.with_suffix(".png"))
    print(f"wrote {out} and {out.with_suffix('.png')}")


if __name__ == "__main__":
    main()
