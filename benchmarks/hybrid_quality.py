"""Hybrid search quality: vector-only vs keyword-only vs fused, and the alpha trade-off.

Case 1, en_hybrid (benchmarks/data/en_hybrid/, design in benchmarks/data/README.md):
English passages where both sides carry signal. Query kinds: "paraphrase" (the query
rewords the passage; keyword traps share its surface words), "exact" (a rare code, name
or number picks one passage; most of these sit in families of 15 near-identical
passages, the vector traps), "mixed" (an entity plus a described aspect, often inside a
family, with no code).
Case 2, pydoc_en (benchmarks/data/pydoc_en/, built by make_pydoc_set.py): real English
text nobody wrote for this benchmark, Python standard-library docstrings; each summary line
is a query and the rest of its docstring the one relevant passage.
Case 3, ko_retrieval (benchmarks/data/ko_retrieval/): the Korean set with the same
English-only MiniLM model, to show what hybrid costs against Kiwi keyword search when
the embedder does not know the language.

Everything goes through the public API: gyeol.connect() (in memory), a collection with
the offline all-MiniLM-L6-v2 embedder and the default Kiwi tokenizer (English stopwords
dropped and Porter2 stems on Latin tokens), col.add(...), col.search_many(..., mode=...,
alpha=..., fusion=...). Queries are embedded once with the same embedder object and passed
as vectors= alongside the query text, so the sweeps do not re-embed. Reported: MRR@10 and
recall@10 overall and per query kind; keyword-only references with Lucene's plural-only
stemmer instead of the default Porter2 one, and with the tokenizer's English handling
switched off (BM25Index built directly); the target check (default
hybrid, rrf alpha=0.5 rrf_k=60: recall@10 above both sides and MRR@10 at least the better
side's); an alpha sweep 0, 0.1, ..., 1 for both fusions (alpha = weight of the vector
side); rrf with rrf_k 1, 10, 60 at alpha 0.5.

--depth-sweep also measures how deep each side ranks before fusion: for each floor 5, 10, 20,
50, 100 it reruns both fusions at alpha 0.5 with `candidates=` (hits per side) set the way the
default rule would set it with that floor: rrf ranks max(k, floor), relative_score max(2k, floor)
(the defaults are floor 10 for rrf and 20 for relative_score).

Runs offline. Usage:
    python benchmarks/hybrid_quality.py [--verify] [--depth-sweep]
        [--data DIR ...] [--split test] [--max-queries N] [--model NAME_OR_PATH] [--out DIR] [--smoke]
--data runs the same tables on other labelled sets, in gyeol's layout or BEIR's (SciFact,
FiQA, MIRACL-ko ... exported as corpus.jsonl, queries.jsonl, qrels/<split>.tsv; see
benchmarks/retrieval_sets.py); --model takes any sentence-transformers model already on
disk (a multilingual one shows the Korean case without the language gap).
--verify also checks the API's vector-only and keyword-only rankings against exact numpy
cosine and a directly built BM25Index (it embeds the corpora a second time).
Prints markdown tables and writes benchmarks/results/hybrid_quality.json. --smoke keeps 5 queries
of each set over their relevant passages and 30 others (and runs --verify and --depth-sweep).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

import gyeol
from gyeol.lexical import BM25Index, KiwiTokenizer
from gyeol.lexical.tokenizers import length_skips_of
from harness import (
    DATA,
    add_output_args,
    labels_scores,
    machine,
    markdown_table,
    report_path,
    write_report,
)
from retrieval_sets import (
    RetrievalSet,
    RetrievalSetError,
    load_retrieval_set,
    paired_bootstrap_ci,
    rank_metrics,
)

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network (the model loads later, lazily)

MODEL = "all-MiniLM-L6-v2"
K = 10
ALPHAS = [round(a / 10, 1) for a in range(11)]
FUSIONS = ("rrf", "relative_score")
DEFAULT_ALPHA = 0.5
RRF_KS = (1, 10, 60)
DEPTHS = (5, 10, 20, 50, 100)
SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS = 5, 30


def depth_for(floor: int, fusion: str) -> int:
    """Hits per side that the default depth rule gives with this floor: rrf max(k, floor), else max(2k, floor)."""
    return max(K, floor) if fusion == "rrf" else max(2 * K, floor)


def scores(ranked: list[list[str]], data: RetrievalSet) -> dict[str, Any]:
    """Give back MRR@10, recall@10 overall and MRR@10 per query kind."""
    per_query = rank_metrics(ranked, data.relevant, K)
    out: dict[str, Any] = {
        "mrr@10": float(per_query["rr"].mean()),
        "recall@10": float(per_query["recall"].mean()),
    }
    kinds = data.kinds
    if len(set(kinds)) > 1:
        out["mrr@10_by_kind"] = {
            str(kind): float(per_query["rr"][kinds == kind].mean()) for kind in sorted(set(kinds))
        }
        out["recall@10_by_kind"] = {
            str(kind): float(per_query["recall"][kinds == kind].mean()) for kind in sorted(set(kinds))
        }
    return out


class Run:
    """One collection of one retrieval set, searched many ways with pre-embedded queries."""

    def __init__(
        self, db: gyeol.Database, collection: str, data: RetrievalSet, embedder: gyeol.SentenceTransformerEmbedder
    ):
        self.data = data
        start = time.perf_counter()
        self.col = db.create_collection(collection, embedder=embedder)
        self.col.add(data.doc_texts, ids=data.doc_ids)
        self.build_s = time.perf_counter() - start
        start = time.perf_counter()
        self.query_vectors = embedder.embed(data.query_texts)
        self.embed_queries_s = time.perf_counter() - start

    def ranked(
        self, mode: str, alpha: float = DEFAULT_ALPHA, fusion: str = "rrf", rrf_k: float = 60,
        candidates: int | None = None,
    ) -> list[list[str]]:
        results = self.col.search_many(
            self.data.query_texts, vectors=self.query_vectors, k=K, mode=mode, alpha=alpha, fusion=fusion,
            rrf_k=rrf_k, candidates=candidates,
        )
        return [list(r.ids) for r in results]

    def keyword_reference(self, tokenizer: KiwiTokenizer) -> list[list[str]]:
        """Give back BM25 top-10 ids from a directly built BM25Index with this tokenizer."""
        index = BM25Index(gyeol.BM25(), length_skips_of(tokenizer))  # the engine's length rule
        index.add(tokenizer.tokenize_batch(self.data.doc_texts))
        ids = np.array(self.data.doc_ids)
        query_tokens = tokenizer.tokenize_batch(self.data.query_texts)
        return [list(ids[labels_scores(index.search(t, K))[0]]) for t in query_tokens]

    def modes(self) -> list[dict[str, Any]]:
        plain = KiwiTokenizer(english_stopwords=False, english_stemming=False)
        rows = [
            {"name": "vector only", **scores(self.ranked("vector"), self.data)},
            {"name": "keyword only (kiwi BM25)", **scores(self.ranked("keyword"), self.data)},
            {"name": "keyword only, kiwi with the plural-only stemmer (english_stemming='minimal')",
             **scores(self.keyword_reference(KiwiTokenizer(english_stemming="minimal")), self.data)},
            {"name": "keyword only, kiwi without English handling",
             **scores(self.keyword_reference(plain), self.data)},
        ]
        for fusion in FUSIONS:
            rows.append({"name": f"hybrid {fusion}, alpha={DEFAULT_ALPHA}",
                         **scores(self.ranked("hybrid", DEFAULT_ALPHA, fusion), self.data)})
        return rows

    def sweep(self) -> list[dict[str, Any]]:
        rows = []
        for alpha in ALPHAS:
            row: dict[str, Any] = {"name": f"{alpha:.1f}", "alpha": alpha}
            for fusion in FUSIONS:
                result = scores(self.ranked("hybrid", alpha, fusion), self.data)
                row[f"{fusion} mrr@10"] = result["mrr@10"]
                row[f"{fusion} recall@10"] = result["recall@10"]
                if "mrr@10_by_kind" in result:
                    row[f"{fusion} mrr@10_by_kind"] = result["mrr@10_by_kind"]
            rows.append(row)
        return rows

    def rrf_k_sweep(self) -> list[dict[str, Any]]:
        return [{"name": f"rrf_k={rrf_k}", "rrf_k": rrf_k,
                 **scores(self.ranked("hybrid", DEFAULT_ALPHA, "rrf", rrf_k), self.data)}
                for rrf_k in RRF_KS]

    def depth_sweep(self) -> list[dict[str, Any]]:
        """Give back both fusions at alpha 0.5 with each side as deep as the default rule with each floor."""
        rows = []
        for floor in DEPTHS:
            row: dict[str, Any] = {"name": f"{floor}", "floor": floor}
            for fusion in FUSIONS:
                depth = depth_for(floor, fusion)
                result = scores(self.ranked("hybrid", DEFAULT_ALPHA, fusion, candidates=depth), self.data)
                row[f"{fusion} depth"] = depth
                row[f"{fusion} mrr@10"] = result["mrr@10"]
                row[f"{fusion} recall@10"] = result["recall@10"]
            rows.append(row)
        return rows

    def verify(self, embedder: gyeol.SentenceTransformerEmbedder) -> dict[str, float]:
        """Give back the share of queries whose API top-10 equals an exact reference top-10."""
        doc_vectors = embedder.embed(self.data.doc_texts)
        doc_vectors /= np.linalg.norm(doc_vectors, axis=1, keepdims=True)
        queries = self.query_vectors / np.linalg.norm(self.query_vectors, axis=1, keepdims=True)
        sims = queries @ doc_vectors.T
        ids = np.array(self.data.doc_ids)
        ref_vector = [list(ids[np.argsort(-row, kind="stable")[:K]]) for row in sims]
        ref_keyword = self.keyword_reference(KiwiTokenizer())

        def agreement(api: list[list[str]], ref: list[list[str]]) -> float:
            return float(np.mean([a == r for a, r in zip(api, ref)]))

        return {"vector_top10_equal": agreement(self.ranked("vector"), ref_vector),
                "keyword_top10_equal": agreement(self.ranked("keyword"), ref_keyword)}


def print_case(
    title: str, run: Run, modes: list[dict[str, Any]], sweep: list[dict[str, Any]], rrf_ks: list[dict[str, Any]]
) -> None:
    data = run.data
    print(f"\n## {title}: {len(data.doc_ids)} documents, {len(data.query_texts)} queries "
          f"(collection built in {run.build_s:.1f} s)\n")
    kinds = sorted(set(data.kinds))
    columns = [("name", "mode"), ("mrr@10", "MRR@10"), ("recall@10", "recall@10")]
    if len(kinds) > 1:
        counts = {kind: int((data.kinds == kind).sum()) for kind in kinds}
        table = [{**row, **{f"mrr {kind}": row["mrr@10_by_kind"][kind] for kind in kinds},
                  **{f"r {kind}": row["recall@10_by_kind"][kind] for kind in kinds}} for row in modes]
        columns += [(f"mrr {kind}", f"MRR {kind} ({counts[kind]})") for kind in kinds]
        columns += [(f"r {kind}", f"R@10 {kind}") for kind in kinds]
    else:
        table = modes
    print(markdown_table(table, columns))
    print("\nalpha sweep (alpha = weight of the vector side; 0 = keyword only, 1 = vector only)\n")
    sweep_columns = [("name", "alpha")]
    for fusion in FUSIONS:
        sweep_columns += [(f"{fusion} mrr@10", f"{fusion} MRR@10"), (f"{fusion} recall@10", f"{fusion} R@10")]
    print(markdown_table(sweep, sweep_columns))
    print(f"\nhybrid rrf at alpha={DEFAULT_ALPHA} with other rrf_k\n")
    print(markdown_table(rrf_ks, [("name", "rrf_k"), ("mrr@10", "MRR@10"), ("recall@10", "recall@10")]))


def best_alpha(sweep: list[dict[str, Any]], fusion: str) -> dict[str, float]:
    best = max(sweep, key=lambda r: (r[f"{fusion} mrr@10"], -abs(r["alpha"] - DEFAULT_ALPHA)))
    return {"alpha": best["alpha"], "mrr@10": best[f"{fusion} mrr@10"]}


def target_check(run: Run, modes: list[dict[str, Any]]) -> dict[str, Any]:
    """Give back whether the default hybrid (rrf, alpha 0.5) beats both sides, with the margins and
    their paired-bootstrap 95% intervals over queries (hybrid minus the better side)."""
    vector = next(r for r in modes if r["name"] == "vector only")
    keyword = next(r for r in modes if r["name"] == "keyword only (kiwi BM25)")
    hybrid = next(r for r in modes if r["name"] == f"hybrid rrf, alpha={DEFAULT_ALPHA}")
    per_query = {name: rank_metrics(run.ranked(mode), run.data.relevant, K)
                 for name, mode in (("vector", "vector"), ("keyword", "keyword"), ("hybrid", "hybrid"))}
    out: dict[str, Any] = {}
    for metric, key, better in (("recall@10", "recall", "recall_beats_both"), ("mrr@10", "rr", "mrr_reaches_better_side")):
        side = "vector" if vector[metric] >= keyword[metric] else "keyword"
        best = max(vector[metric], keyword[metric])
        diff = per_query["hybrid"][key] - per_query[side][key]
        low, high = paired_bootstrap_ci(diff)
        name = metric.split("@")[0]
        out[f"{name}_better_side"] = side
        out[f"{name}_margin"] = hybrid[metric] - best
        out[f"{name}_margin_ci95"] = [low, high]
        out[f"{name}_queries_better_worse"] = [int((diff > 0).sum()), int((diff < 0).sum())]
        out[better] = hybrid[metric] > best if metric == "recall@10" else hybrid[metric] >= best
    out["met"] = out["recall_beats_both"] and out["mrr_reaches_better_side"]

    def part(metric: str, name: str) -> str:
        low, high = out[f"{name}_margin_ci95"]
        up, down = out[f"{name}_queries_better_worse"]
        return (f"{metric} {hybrid[metric]:.3f} vs {out[name + '_better_side']} {hybrid[metric] - out[name + '_margin']:.3f} "
                f"({out[name + '_margin']:+.3f}, 95% CI [{low:+.3f}, {high:+.3f}], {up} queries better, {down} worse)")

    out["summary"] = (f"target (default hybrid rrf alpha={DEFAULT_ALPHA}): {part('recall@10', 'recall')}; "
                      f"{part('mrr@10', 'mrr')} -> {'met' if out['met'] else 'NOT met'}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--verify", action="store_true", help="check the API against exact references")
    parser.add_argument("--depth-sweep", action="store_true",
                        help="rerun alpha 0.5 with the per-side depth floors at 5, 10, 20, 50, 100")
    parser.add_argument("--data", type=Path, action="append", default=None, metavar="DIR",
                        help="a retrieval set directory, gyeol or BEIR layout; repeat for several "
                             "(default: benchmarks/data/en_hybrid, pydoc_en and ko_retrieval)")
    parser.add_argument("--split", default="test", help="qrels split of a BEIR-layout set")
    parser.add_argument("--max-queries", type=int, default=None, help="keep the first N queries of each set")
    parser.add_argument("--model", default=MODEL,
                        help="sentence-transformers model name or local path (default: the offline MiniLM)")
    add_output_args(parser, smoke=f"{SMOKE_QUERIES} queries of each set, their passages and "
                                  f"{SMOKE_OTHER_DOCUMENTS} others, with --verify and --depth-sweep")
    args = parser.parse_args()
    directories = args.data or [DATA / "en_hybrid", DATA / "pydoc_en", DATA / "ko_retrieval"]
    try:
        sets = [load_retrieval_set(d, split=args.split, max_queries=args.max_queries) for d in directories]
    except RetrievalSetError as exc:
        parser.error(str(exc))
    if args.smoke:
        sets = [s.shrunk(SMOKE_QUERIES, SMOKE_OTHER_DOCUMENTS) for s in sets]
        args.verify = args.depth_sweep = True
    # hybrid_quality.json for the bundled sets and model, hybrid_quality_<set names>.json otherwise
    bundled = args.data is None and args.model == MODEL and args.max_queries is None
    out = report_path(args, "hybrid_quality" if bundled else "hybrid_quality_" + "_".join(d.name for d in sets))

    started = time.perf_counter()
    embedder = gyeol.SentenceTransformerEmbedder(args.model)
    db = gyeol.connect()
    report: dict[str, Any] = {"model": args.model, "k": K,
                              "tokenizer": "kiwi (default POS, English stopwords dropped, Porter2 stemming)",
                              "bm25": "okapi k1=1.5 b=0.75", "cases": {}}
    model_name = Path(args.model).name
    titles = {"en_hybrid": f"English hybrid set, {model_name}",
              "pydoc_en": f"Python docstrings (real English text, summary -> body), {model_name}",
              "ko_retrieval": f"Korean set, {model_name}" + (" (English-only)" if args.model == MODEL else "")}
    for number, data in enumerate(sets):
        name = data.name if data.name not in report["cases"] else f"{data.name}_{number}"
        run = Run(db, f"set{number}", data, embedder)
        title = titles.get(data.name, f"{data.name}, {model_name}")
        modes, sweep, rrf_ks = run.modes(), run.sweep(), run.rrf_k_sweep()
        print_case(title, run, modes, sweep, rrf_ks)
        case: dict[str, Any] = {
            "path": str(directories[number]),
            "documents": len(run.data.doc_ids), "queries": len(run.data.query_texts),
            "build_s": run.build_s, "embed_queries_s": run.embed_queries_s,
            "modes": modes, "alpha_sweep": sweep, "rrf_k_sweep": rrf_ks,
            "best_alpha": {fusion: best_alpha(sweep, fusion) for fusion in FUSIONS},
        }
        keyword = next(r for r in modes if r["name"].startswith("keyword"))
        vector = next(r for r in modes if r["name"] == "vector only")
        for fusion in FUSIONS:
            hybrid = next(r for r in modes if r["name"].startswith(f"hybrid {fusion}"))
            case[f"hybrid_{fusion}_minus_keyword_mrr"] = hybrid["mrr@10"] - keyword["mrr@10"]
            case[f"hybrid_{fusion}_minus_vector_mrr"] = hybrid["mrr@10"] - vector["mrr@10"]
        case["target"] = target_check(run, modes)
        print("\n" + case["target"]["summary"])
        if args.depth_sweep:
            case["depth_sweep"] = run.depth_sweep()
            print("\nhybrid at alpha 0.5 by per-side depth floor (rrf: max(k, floor), relative_score: max(2k, floor))\n")
            depth_columns = [("name", "floor")]
            for fusion in FUSIONS:
                depth_columns += [(f"{fusion} depth", f"{fusion} per side"), (f"{fusion} mrr@10", f"{fusion} MRR@10"),
                                  (f"{fusion} recall@10", f"{fusion} R@10")]
            print(markdown_table(case["depth_sweep"], depth_columns))
        print("\nbest alpha: " + ", ".join(
            f"{f} {b['alpha']:.1f} (MRR@10 {b['mrr@10']:.3f})" for f, b in case["best_alpha"].items()))
        print("hybrid (alpha 0.5) minus keyword-only MRR@10: " + ", ".join(
            f"{f} {case[f'hybrid_{f}_minus_keyword_mrr']:+.3f}" for f in FUSIONS))
        if args.verify:
            case["verify"] = run.verify(embedder)
            print(f"verify: {case['verify']}")
        report["cases"][name] = case
    db.close()
    report["total_s"] = time.perf_counter() - started
    report["machine"] = machine()
    write_report(out, report)
    print(f"\ntotal {report['total_s']:.0f} s; wrote {out}")


if __name__ == "__main__":
    main()
