"""Keyword search at scale: gyeol's BM25Index vs bm25s on the same generated tokens, 10k to 1M documents.

Documents are generated as tokens (no tokenizer runs, so 1M documents need no Kiwi): 60% Korean
documents (words of 2-4 Hangul syllables) and 40% English ones (3-10 letters), each drawing its
words from its language's Zipfian vocabulary (s = 1.05; the vocabulary grows with N as Heaps' law,
40 * N**0.6 words per language), 10% of words from the other language, lengths log-normal around
80 tokens (20-400). Queries: 2-5 distinct tokens of a random document. Both engines get the same
token lists and score with Lucene's idf (gyeol variant="lucene", bm25s method="lucene", k1=1.5, b=0.75);
gyeol's top k is exact (float64), bm25s's is its float32 precomputed scores.

Measured, gyeol and bm25s interleaved in every step (the load average before and after is in the report):
  - build: index the token lists (gyeol: add + export_arrays, which merges and makes the block
    maxima; bm25s: index), save to disk; disk bytes of the saved index;
  - exactness: gyeol's top 10 vs bm25s's (scores to float32 rounding) on every query, and gyeol okapi vs
    rank_bm25 on the first --check-docs documents;
  - batched QPS (all queries in one call) at k=10 and k=100, single-query p50/p95 at k=10 and k=100,
    alternating rounds, each contender's best round;
  - cold: fresh processes that load the saved index and answer one query (load + first query), then
    every query; the RSS the index adds to the process (after all queries), for bm25s also with mmap=True.

Usage: python benchmarks/keyword_scale.py [--n 100000] [--queries 500] [--rounds 3] [--keep DIR] [--smoke]
       python benchmarks/keyword_scale.py --reuse DIR   (time again the indexes a --keep run left in DIR)
       python benchmarks/keyword_scale.py --plot   (QPS vs N from the saved keyword_scale_<n>.json reports)
Prints a markdown table and writes benchmarks/results/keyword_scale_<n>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

import gyeol
from gyeol.lexical import BM25Index
from harness import RESULTS, add_output_args, alternate_rounds, apply_smoke, fresh_python, machine, pyplot, write_report

CHILD = r"""
import sys, time, json
def rss():
    fields = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(fields[key].split()[0]) * 1024 for key in ("VmRSS", "RssAnon", "RssFile")}
engine, path, n, queries = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(open(sys.argv[4]).read())
if engine == "gyeol":
    import gyeol
    from gyeol.lexical import BM25Index
else:
    import bm25s
before = rss()
t0 = time.perf_counter()
if engine == "gyeol":
    index = BM25Index.load(path, 0, gyeol.BM25(variant="lucene"), max_labels=n)
    search = lambda q: index.search(q, 10)
else:
    retriever = bm25s.BM25.load(path, mmap=engine == "bm25s-mmap")
    search = lambda q: retriever.retrieve([q], k=10, show_progress=False)
t1 = time.perf_counter()
search(queries[0])
t2 = time.perf_counter()
for q in queries[1:]:
    search(q)
after = rss()
print(json.dumps({"load_s": t1 - t0, "first_query_s": t2 - t1, "cold_s": t2 - t0,
                  "index_rss": after["VmRSS"] - before["VmRSS"], "index_rss_anon": after["RssAnon"] - before["RssAnon"],
                  "index_rss_file": after["RssFile"] - before["RssFile"]}))
"""

HANGUL = np.array([chr(c) for c in range(0xAC00, 0xD7A4)], dtype=object)
LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"), dtype=object)


def _words(rng: np.random.Generator, n: int, alphabet: np.ndarray, low: int, high: int, taken: set[str]) -> list[str]:
    out: list[str] = []
    while len(out) < n:
        for length in rng.integers(low, high + 1, size=n - len(out)).tolist():
            word = "".join(alphabet[rng.integers(0, len(alphabet), size=length)])
            if word not in taken:
                taken.add(word)
                out.append(word)
    return out


def make_tokens(n_docs: int, n_queries: int, seed: int = 0) -> tuple[list[list[str]], list[list[str]], dict]:
    """(documents, queries, description) as token lists; see the module docstring."""
    rng = np.random.default_rng(seed)
    per_language = max(200, int(40 * n_docs**0.6))
    taken: set[str] = set()
    ko = np.array(_words(rng, per_language, HANGUL, 2, 4, taken), dtype=object)
    en = np.array(_words(rng, per_language, LETTERS, 3, 10, taken), dtype=object)
    probs = 1.0 / np.arange(1, per_language + 1) ** 1.05
    cdf = np.cumsum(probs / probs.sum())
    lengths = np.clip(rng.lognormal(np.log(70), 0.55, size=n_docs), 20, 400).astype(np.int64)
    korean = rng.random(n_docs) < 0.6
    total = int(lengths.sum())
    ranks = np.minimum(np.searchsorted(cdf, rng.random(total)), per_language - 1)
    doc_of = np.repeat(np.arange(n_docs), lengths)
    in_ko = korean[doc_of] ^ (rng.random(total) < 0.1)  # a tenth of the words from the other language
    words = np.concatenate((ko, en))[ranks + np.where(in_ko, 0, per_language)]
    del ranks, in_ko, doc_of
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    docs = [words[a:b].tolist() for a, b in zip(bounds[:-1].tolist(), bounds[1:].tolist())]
    queries = []
    for d in rng.integers(0, n_docs, size=n_queries).tolist():
        distinct = list(dict.fromkeys(docs[d]))
        size = min(len(distinct), int(rng.integers(2, 6)))
        queries.append([distinct[i] for i in rng.choice(len(distinct), size=size, replace=False)])
    described = {"docs": n_docs, "tokens": total, "mean_length": total / n_docs,
                 "vocabulary_per_language": per_language,
                 "zipf_s": 1.05, "korean_share": 0.6, "queries": n_queries}
    return docs, queries, described


def _dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _loads() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def build_both(docs: list[list[str]], work: Path) -> tuple[BM25Index, object, dict]:
    import bm25s

    out: dict = {}
    t0 = time.perf_counter()
    index = BM25Index(gyeol.BM25(variant="lucene"))
    index.add(docs)
    arrays = index.export_arrays()  # merges, makes the block maxima
    t1 = time.perf_counter()
    index.save(work / "gyeol", generation=0)
    t2 = time.perf_counter()
    retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
    retriever.index(docs, show_progress=False)
    t3 = time.perf_counter()
    retriever.save(str(work / "bm25s"))
    t4 = time.perf_counter()
    out["gyeol"] = {"build_s": t1 - t0, "save_s": t2 - t1, "disk_bytes": _dir_bytes(work / "gyeol"),
                    "postings": int(len(arrays["post_doc"])), "block_pairs": int(len(arrays["blk_win"]))}
    out["bm25s"] = {"build_s": t3 - t2, "save_s": t4 - t3, "disk_bytes": _dir_bytes(work / "bm25s")}
    return index, retriever, out


def check_scores(index: BM25Index, retriever, docs: list[list[str]], queries: list[list[str]], check_docs: int) -> dict:
    """gyeol's top 10 vs bm25s's and vs rank_bm25 (okapi) on a subset: how many agree."""
    from rank_bm25 import BM25Okapi

    got = index.search_many(queries, 10)
    labels, scores = retriever.retrieve(queries, k=10, show_progress=False)
    same_labels = same_scores = 0
    for hits, bl, bs in zip(got, labels, scores):  # bm25s's lucene leaves out the tf part's (k1 + 1) factor
        n = int((bs > 0).sum())
        same_scores += bool(len(hits) == n and np.allclose(hits.scores / 2.5, bs[:n], rtol=1e-5))
        same_labels += bool(len(hits) == n and (hits.labels == bl[:n]).all())
    subset = docs[:check_docs]
    small = BM25Index(gyeol.BM25())
    small.add(subset)
    reference = BM25Okapi(subset)
    worst = 0.0
    for q in queries[:50]:
        ref = np.asarray(reference.get_scores(q))
        hits = small.search(q, 10)
        worst = max(worst, float(np.abs(ref[hits.labels] - hits.scores).max(initial=0.0)))
        has = np.array([bool(set(q) & set(d)) for d in subset])
        want = np.sort(ref[has])[::-1][:10]
        worst = max(worst, float(np.abs(np.sort(hits.scores)[::-1] - want).max(initial=0.0)))
    return {"top10_scores_equal_bm25s": same_scores, "top10_labels_equal_bm25s": same_labels, "queries": len(queries),
            "rank_bm25_docs": len(subset),
            "rank_bm25_max_abs_diff": worst}


def timed(index: BM25Index, retriever, queries: list[list[str]], singles: int, rounds: int, seconds: float) -> dict:
    batch = np.empty(len(queries), dtype=object)
    batch[:] = queries
    out: dict = {}
    for k in (10, 100):
        contenders = {
            "gyeol": (lambda b, k=k: index.search_many(list(b), k), lambda q, k=k: index.search(q, k)),
            "bm25s": (lambda b, k=k: retriever.retrieve(list(b), k=k, show_progress=False),
                      lambda q, k=k: retriever.retrieve([q], k=k, show_progress=False)),
        }
        out[f"k{k}"] = alternate_rounds(contenders, batch, batch[:singles], rounds=rounds, min_seconds=seconds)
        for key in ("qps_batched", "qps_single"):
            out[f"k{k}"][f"{key}_ratio"] = out[f"k{k}"]["gyeol"][key] / out[f"k{k}"]["bm25s"][key]
        out[f"k{k}"]["p50_ratio"] = out[f"k{k}"]["gyeol"]["p50_ms"] / out[f"k{k}"]["bm25s"]["p50_ms"]
    return out


def cold(work: Path, n: int, queries: list[list[str]], runs: int) -> dict:
    qfile = work / "queries.json"
    qfile.write_text(json.dumps(queries[:200]))  # the RSS is read after them all
    engines = {"gyeol": work / "gyeol", "bm25s": work / "bm25s", "bm25s-mmap": work / "bm25s"}
    samples: dict[str, list[dict]] = {name: [] for name in engines}
    for _ in range(runs):  # interleaved
        for name, path in engines.items():
            samples[name].append(fresh_python(CHILD, name, str(path), str(n), str(qfile), what=f"cold {name}")[0])
    return {name: {key: float(np.median([s[key] for s in rows])) for key in rows[0]} | {"runs": rows}
            for name, rows in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000, help="documents")
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--singles", type=int, default=200, help="queries timed one by one")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="batched timing per contender and k")
    parser.add_argument("--cold-runs", type=int, default=3)
    parser.add_argument("--check-docs", type=int, default=3000, help="documents of the rank_bm25 check")
    parser.add_argument("--plot", action="store_true", help="plot QPS vs N from the saved reports and exit")
    parser.add_argument("--keep", type=Path, help="build in DIR and leave the indexes there (for --reuse)")
    parser.add_argument("--reuse", type=Path, help="load the indexes a --keep run left in DIR instead of building")
    add_output_args(parser, smoke="--n 2000 --queries 40 --singles 20 --rounds 1 --cold-runs 1 --check-docs 300")
    args = apply_smoke(parser.parse_args(), n=2000, queries=40, singles=20, rounds=1, seconds=0.2, cold_runs=1,
                       check_docs=300)
    if args.plot:
        plot(Path(args.out) if Path(args.out).suffix != ".json" else Path(args.out).parent)
        return
    import bm25s

    config = {key: str(value) if isinstance(value, Path) else value for key, value in vars(args).items()}
    report: dict = {"config": config, "machine": machine(), "load_before": _loads(),
                    "versions": {"numpy": np.__version__, "bm25s": bm25s.__version__, "gyeol": gyeol.__version__}}
    work = args.reuse or args.keep or Path(tempfile.mkdtemp(prefix="gyeol_keyword_"))
    try:
        if args.reuse:  # the build and exactness figures of the run that built them
            built = json.loads((work / "built.json").read_text())
            queries, args.n = built.pop("queries"), built["data"]["docs"]
            report.update(built)
            index = BM25Index.load(work / "gyeol", 0, gyeol.BM25(variant="lucene"), max_labels=args.n)
            retriever = bm25s.BM25.load(str(work / "bm25s"))
        else:
            docs, queries, report["data"] = make_tokens(args.n, args.queries)
            index, retriever, report["build"] = build_both(docs, work)
            report["exactness"] = check_scores(index, retriever, docs, queries, args.check_docs)
            del docs
            if args.keep:
                (work / "built.json").write_text(json.dumps({key: report[key] for key in ("data", "build", "exactness")}
                                                            | {"queries": queries}))
        report["timing"] = timed(index, retriever, queries, args.singles, args.rounds, args.seconds)
        del index, retriever
        report["cold"] = cold(work, args.n, queries, args.cold_runs)
    finally:
        if not (args.keep or args.reuse):
            shutil.rmtree(work, ignore_errors=True)
    report["load_after"] = _loads()
    out = Path(args.out) if Path(args.out).suffix == ".json" else \
        Path(args.out) / f"keyword_scale_{args.n}{'_smoke' if args.smoke else ''}.json"
    write_report(out, report, indent=1)
    print_table(report)
    print(f"\nsaved {out}")


def print_table(r: dict) -> None:
    t, b, c = r["timing"], r["build"], r["cold"]
    print(f"\n## Keyword search, {r['data']['docs']} generated documents ({r['data']['mean_length']:.0f} tokens), "
          f"{r['data']['queries']} queries; load {r['load_before']} -> {r['load_after']}\n")
    print("| measure | gyeol | bm25s | gyeol / bm25s |")
    print("|---|---|---|---|")
    for k in (10, 100):
        for key, what in (("qps_batched", "batched QPS"), ("qps_single", "single QPS")):
            g, s = t[f"k{k}"]["gyeol"][key], t[f"k{k}"]["bm25s"][key]
            print(f"| {what} k={k} | {g:.0f} | {s:.0f} | {g / s:.2f}x |")
        for key in ("p50_ms", "p95_ms"):
            g, s = t[f"k{k}"]["gyeol"][key], t[f"k{k}"]["bm25s"][key]
            print(f"| single {key[:3]} k={k} | {g:.2f} ms | {s:.2f} ms | {g / s:.2f}x |")
    print(f"| build (in memory) | {b['gyeol']['build_s']:.1f} s | {b['bm25s']['build_s']:.1f} s | "
          f"{b['gyeol']['build_s'] / b['bm25s']['build_s']:.2f}x |")
    print(f"| disk | {b['gyeol']['disk_bytes'] / 2**20:.0f} MiB | {b['bm25s']['disk_bytes'] / 2**20:.0f} MiB | "
          f"{b['gyeol']['disk_bytes'] / b['bm25s']['disk_bytes']:.2f}x |")
    print(f"| cold: load + first query | {c['gyeol']['cold_s'] * 1e3:.0f} ms | {c['bm25s']['cold_s'] * 1e3:.0f} ms "
          f"(mmap {c['bm25s-mmap']['cold_s'] * 1e3:.0f} ms) | {c['gyeol']['cold_s'] / c['bm25s']['cold_s']:.2f}x |")
    print(f"| index RSS after 200 queries | {c['gyeol']['index_rss'] / 2**20:.0f} MiB | "
          f"{c['bm25s']['index_rss'] / 2**20:.0f} MiB (mmap {c['bm25s-mmap']['index_rss'] / 2**20:.0f} MiB) | "
          f"{c['gyeol']['index_rss'] / c['bm25s']['index_rss']:.2f}x |")
    e = r["exactness"]
    print(f"\ntop 10 scores equal to bm25s's (to float32 rounding) on {e['top10_scores_equal_bm25s']}/{e['queries']} "
          f"queries, same labels on {e['top10_labels_equal_bm25s']} (float32 ties); "
          f"okapi vs rank_bm25 on {e['rank_bm25_docs']} docs: max |diff| {e['rank_bm25_max_abs_diff']:.1e}")


def plot(results: Path) -> None:
    reports = sorted((json.loads(p.read_text()) for p in results.glob("keyword_scale_*.json")
                      if p.stem.split("_")[2].isdigit()), key=lambda r: r["data"]["docs"])
    if not reports:
        raise SystemExit(f"no keyword_scale_<n>.json under {results}")
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    ns = [r["data"]["docs"] for r in reports]
    for ax, (k, key, title) in zip(axes, [(10, "qps_batched", "batched, k=10"), (100, "qps_batched", "batched, k=100"),
                                          (10, "qps_single", "single queries, k=10")]):
        for engine in ("gyeol", "bm25s"):
            ax.plot(ns, [r["timing"][f"k{k}"][engine][key] for r in reports], marker="o", label=engine)
        ax.set(xscale="log", yscale="log", xlabel="documents", ylabel="queries / s", title=title)
        ax.legend()
    fig.tight_layout()
    path = results / "keyword_scale_qps.png"
    fig.savefig(path, dpi=110)
    print("| docs | batched QPS k=10, gyeol / bm25s | batched k=100 | single p50 k=10, ms | single p50 k=100, ms "
          "| build s | disk MiB | cold load + first query, ms | index RSS MiB | load avg |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in reports:
        t, b, c = r["timing"], r["build"], r["cold"]
        cells = [f"{r['data']['docs']:,}"]
        for k in (10, 100):
            g, s = t[f"k{k}"]["gyeol"]["qps_batched"], t[f"k{k}"]["bm25s"]["qps_batched"]
            cells.append(f"{g:,.0f} / {s:,.0f} ({g / s:.1f}x)")
        for k in (10, 100):
            cells.append(f"{t[f'k{k}']['gyeol']['p50_ms']:.2f} / {t[f'k{k}']['bm25s']['p50_ms']:.2f}")
        cells.append(f"{b['gyeol']['build_s']:.1f} / {b['bm25s']['build_s']:.1f}")
        cells.append(f"{b['gyeol']['disk_bytes'] / 2**20:,.0f} / {b['bm25s']['disk_bytes'] / 2**20:,.0f}")
        cells.append(f"{c['gyeol']['cold_s'] * 1e3:,.0f} / {c['bm25s']['cold_s'] * 1e3:,.0f} "
                     f"(mmap {c['bm25s-mmap']['cold_s'] * 1e3:,.0f})")
        cells.append(f"{c['gyeol']['index_rss'] / 2**20:,.0f} / {c['bm25s']['index_rss'] / 2**20:,.0f} "
                     f"(mmap {c['bm25s-mmap']['index_rss'] / 2**20:,.0f})")
        cells.append(f"{r['load_before'][0]:.0f}-{r['load_after'][0]:.0f}")
        print("| " + " | ".join(cells) + " |")
    print(f"saved {path}")


if __name__ == "__main__":
    main()
