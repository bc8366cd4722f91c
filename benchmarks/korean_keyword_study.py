"""Korean keyword search on real text: which terms make BM25 beat character bigrams and every-morpheme.

Sets (gyeol layout: corpus.jsonl {id, text}, queries.jsonl {id, query, relevant, split?}):
gnome_help_ko and libreoffice_help_ko (real Korean help pages, known-item queries, split into
"tune" and "report" queries), ko_retrieval (hand-written, a regression check), and the English
sets pydoc_en, en_hybrid, gnome_help_en, libreoffice_help_en (English must not get worse).
Choices were made on the tune queries only; the report queries are for the final table.

Every candidate indexes the corpus into a fresh gyeol.lexical.BM25Index (okapi, k1=1.5, b=0.75,
gyeol's default, unless the row says otherwise) and searches each query for its top 10.
Rows: the tokenizers (kiwi default = mixed, kiwi morphemes = the old default, every morpheme
= kagome_kr style, bigram, whitespace); ablations of the mixed terms (morpheme weight, pairs,
bigrams); compound joins (nori's "mixed" decompounding); two BM25 indexes fused by score;
BM25 variants; with --kiwi-options, Kiwi's split_complex / saisiot / normalize_coda / typos.
Also: queries with their spaces removed (with and without Kiwi.space), a Korean + English
collection in one index, tokenize docs/s, single-query tokenize latency and index size.
Differences carry 95% paired-bootstrap intervals (gyeol.evaluation.paired_bootstrap).

Usage:
    python benchmarks/korean_keyword_study.py [--data DIR ...] [--kiwi-options]
    python benchmarks/korean_keyword_study.py --smoke --out /tmp/kks
Writes OUT/korean_keyword_study.json (OUT = benchmarks/results by default) and prints tables.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gyeol.config import BM25
from gyeol.evaluation import paired_bootstrap, rank_metrics
from gyeol.lexical import BigramTokenizer, BM25Index, DEFAULT_POS, KiwiTokenizer, WhitespaceTokenizer
from gyeol.lexical.tokenizers.kiwi import BIGRAM_PREFIX, MORPHEME_WEIGHT, PAIR_PREFIX, get_kiwi

ROOT = Path(__file__).resolve().parents[1]
KOREAN_SETS = ("gnome_help_ko", "libreoffice_help_ko", "ko_retrieval")
ENGLISH_SETS = ("pydoc_en", "en_hybrid", "gnome_help_en", "libreoffice_help_en")
TWINS = (("gnome_help_ko", "gnome_help_en"), ("libreoffice_help_ko", "libreoffice_help_en"))
K = 10
HANGUL = re.compile("[\uac00-\ud7a3]")
PUNCT = {"SF", "SP", "SS", "SSO", "SSC", "SE", "SO", "SW", "SB", "W_EMOJI"}
PREDICATES = {"VV", "VA", "VX"}
KIWI_OPTIONS = {"split_complex": {"split_complex": True}, "saisiot": {"saisiot": True},
                "normalize_coda": {"normalize_coda": True}, "typos basic": {"typos": "basic"}}

Terms = list[list[str]]


@dataclass
class DataSet:
    name: str
    ids: list[str]
    texts: list[str]
    queries: list[dict[str, Any]]

    def split(self, split: str) -> list[int]:
        """Indexes of the queries in split ("tune", "report"); a set without splits gives all."""
        return [i for i, q in enumerate(self.queries) if q.get("split", split) == split]


def load_set(name: str, dirs: list[Path], max_docs: int | None, max_queries: int | None) -> DataSet | None:
    for root in dirs:
        folder = root / name
        if (folder / "corpus.jsonl").exists():
            break
    else:
        return None
    docs = [json.loads(line) for line in (folder / "corpus.jsonl").read_text(encoding="utf-8").splitlines() if line]
    queries = [json.loads(line) for line in (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines() if line]
    if max_docs is not None:  # smoke mode: the queries whose documents survive the cut
        docs = docs[:max_docs]
        kept = {d["id"] for d in docs}
        queries = [q for q in queries if set(q["relevant"]) & kept][:max_queries]
    return DataSet(name, [d["id"] for d in docs], [d["text"] for d in docs], queries)


# ---------------------------------------------------------------------------------- terms


def timed(tokenize: Callable[[list[str]], Terms], texts: list[str]) -> tuple[Terms, float]:
    start = time.perf_counter()
    out = tokenize(texts)
    return out, len(texts) / max(time.perf_counter() - start, 1e-9)


def split_mixed(terms: list[str], text: str) -> tuple[list[str], list[str], list[str]]:
    """Give back (morphemes once, pairs, bigrams) of a default-tokenizer output."""
    if not HANGUL.search(text):
        return terms, [], []
    plain = [t for t in terms if not t.startswith((PAIR_PREFIX, BIGRAM_PREFIX))]
    return (plain[: len(plain) // MORPHEME_WEIGHT], [t for t in terms if t.startswith(PAIR_PREFIX)],
            [t for t in terms if t.startswith(BIGRAM_PREFIX)])


def simple_terms(tokens: list[Any]) -> list[str]:
    """Content morphemes of raw Kiwi tokens (DEFAULT_POS, stems as lemma); for Kiwi-option ablations."""
    out = []
    for t in tokens:
        tag = t.tag.split("-", 1)[0]
        if tag in DEFAULT_POS:
            out.append((t.lemma if tag in PREDICATES else t.form).lower())
    return out


def compound_joins(tokens: list[Any]) -> list[str]:
    """Runs of touching nouns written as one word (저장장치 -> 저장 + 장치), joined back: nori's mixed mode."""
    out, run, end = [], [], -1
    for t in list(tokens) + [None]:
        if t is not None and t.tag in ("NNG", "NNP") and run and t.start == end:
            run.append(t.form)
        else:
            if len(run) > 1:
                out.append("".join(run))
            run = [t.form] if t is not None and t.tag in ("NNG", "NNP") else []
        if t is not None:
            end = t.start + t.len
    return out


def raw_tokens(texts: list[str], options: dict[str, Any]) -> list[list[Any]]:
    """Kiwi's tokens of each text, analysed with the given Kiwi.tokenize options."""
    return list(get_kiwi().tokenize(texts, **options))


# ---------------------------------------------------------------------------------- scoring


def search(doc_terms: Terms, query_terms: Terms, params: BM25) -> list[np.ndarray]:
    index = BM25Index(params)
    index.add(doc_terms)
    return [index.search(q, K).labels for q in query_terms]


def fused_search(fields: list[tuple[Terms, Terms, float]], n_docs: int) -> list[np.ndarray]:
    """Search several BM25 indexes and rank by the weighted sum of their scores."""
    total = None
    for docs, queries, weight in fields:
        index = BM25Index(BM25())
        index.add(docs)
        scores = np.stack([index.get_scores(q) for q in queries]) if queries else np.zeros((0, n_docs))
        total = weight * scores if total is None else total + weight * scores
    out = []
    for row in total:
        top = np.lexsort((np.arange(len(row)), -row))[:K]
        out.append(top[row[top] > 0])
    return out


def metrics(ds: DataSet, labels: list[np.ndarray], picked: list[int]) -> dict[str, np.ndarray]:
    ranked = [[ds.ids[j] for j in labels[i]] for i in picked]
    qrels = [{doc: 1.0 for doc in ds.queries[i]["relevant"]} for i in picked]
    m = rank_metrics(ranked, qrels, K)
    return {"mrr@10": m["mrr@10"], "recall@10": m["recall@10"]}


def index_cost(doc_terms: Terms, query_terms: Terms) -> dict[str, float]:
    """Give back the index's size (vocabulary, postings, bytes saved) and its median single-query search time."""
    index = BM25Index(BM25())
    index.add(doc_terms)
    with tempfile.TemporaryDirectory() as tmp:
        index.save(Path(tmp), 1)
        size = sum(p.stat().st_size for p in Path(tmp).iterdir())
    times = []
    for q in query_terms[:200]:
        start = time.perf_counter()
        index.search(q, K)
        times.append(time.perf_counter() - start)
    return {"vocabulary": index.vocabulary_size, "postings": sum(len(set(t)) for t in doc_terms),
            "tokens": sum(map(len, doc_terms)), "saved_bytes": size,
            "search_ms_median": 1000 * statistics.median(times) if times else 0.0}


# ---------------------------------------------------------------------------------- study


def candidates(ds: DataSet, kiwi_options: bool, log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give back {row: labels per query} and the cost figures of the tokenizers."""
    queries = [q["query"] for q in ds.queries]
    tokenizers = {"kiwi default (mixed)": KiwiTokenizer(), "kiwi morphemes (old default)": KiwiTokenizer(mixed=False),
                  "every morpheme": KiwiTokenizer(pos="all", mixed=False), "bigram": BigramTokenizer(),
                  "whitespace": WhitespaceTokenizer()}
    terms: dict[str, tuple[Terms, Terms]] = {}
    cost: dict[str, Any] = {}
    for name, tok in tokenizers.items():
        docs, docs_per_s = timed(tok.tokenize_batch, ds.texts)
        terms[name] = (docs, tok.tokenize_batch(queries))
        sample = queries[:200]
        times = []
        for q in sample:
            start = time.perf_counter()
            tok.tokenize(q)
            times.append(time.perf_counter() - start)
        cost[name] = {"docs_per_s": docs_per_s, "query_ms_median": 1000 * statistics.median(times) if times else 0.0,
                      **index_cost(docs, terms[name][1])}
        log(f"  {ds.name}: {name} {docs_per_s:,.0f} docs/s")
    labels = {name: search(d, q, BM25()) for name, (d, q) in terms.items()}
    if not any(HANGUL.search(t) for t in ds.texts[:50]):
        return labels, cost
    # ablations of the mixed terms, recombined from the default tokenizer's output
    parts_d = [split_mixed(t, x) for t, x in zip(terms["kiwi default (mixed)"][0], ds.texts)]
    parts_q = [split_mixed(t, x) for t, x in zip(terms["kiwi default (mixed)"][1], queries)]
    for weight, use_pairs, use_bigrams, pair_weight in [(1, False, True, 1), (3, False, True, 1), (1, True, False, 1),
                                                        (3, True, False, 1), (1, True, True, 1), (2, True, True, 1),
                                                        (4, True, True, 1), (3, True, True, 2)]:
        def combine(p: tuple[list[str], list[str], list[str]]) -> list[str]:
            return p[0] * weight + (p[1] * pair_weight if use_pairs else []) + (p[2] if use_bigrams else [])

        name = (f"morphemes x{weight}" + (f" + pairs" + (f" x{pair_weight}" if pair_weight > 1 else "") if use_pairs
                                         else "") + (" + bigrams" if use_bigrams else ""))
        labels[name] = search([combine(p) for p in parts_d], [combine(p) for p in parts_q], BM25())
    old_d, old_q = terms["kiwi morphemes (old default)"]
    big_d, big_q = terms["bigram"]
    for w in (0.3, 1.0):
        labels[f"two indexes: morphemes + {w} x bigram scores"] = fused_search(
            [(old_d, old_q, 1.0), (big_d, big_q, w)], len(ds.ids))
    new_d, new_q = terms["kiwi default (mixed)"]
    for label, params in [("lucene", BM25(variant="lucene")), ("bm25plus", BM25(variant="bm25plus")),
                          ("bm25l", BM25(variant="bm25l")), ("k1=1.2", BM25(k1=1.2)), ("k1=2.0", BM25(k1=2.0)),
                          ("b=0.5", BM25(b=0.5)), ("b=0.9", BM25(b=0.9))]:
        labels[f"kiwi default, BM25 {label}"] = search(new_d, new_q, params)
    # raw Kiwi tokens: compound joins, and Kiwi's own options (the same simple term rule on both sides)
    raw_d, raw_q = raw_tokens(ds.texts, {}), raw_tokens(queries, {})
    simple_d, simple_q = [simple_terms(t) for t in raw_d], [simple_terms(t) for t in raw_q]
    labels["raw kiwi morphemes"] = search(simple_d, simple_q, BM25())
    labels["raw kiwi morphemes + compound joins"] = search(
        [s + compound_joins(t) for s, t in zip(simple_d, raw_d)],
        [s + compound_joins(t) for s, t in zip(simple_q, raw_q)], BM25())
    if kiwi_options:
        for option, kwargs in KIWI_OPTIONS.items():
            (docs, docs_per_s) = timed(lambda xs: raw_tokens(xs, kwargs), ds.texts)
            qs = raw_tokens(queries, kwargs)
            labels[f"raw kiwi morphemes, {option}"] = search([simple_terms(t) for t in docs],
                                                             [simple_terms(t) for t in qs], BM25())
            cost[f"raw kiwi {option}"] = {"docs_per_s": docs_per_s}
            log(f"  {ds.name}: Kiwi {option} {docs_per_s:,.0f} docs/s")
    # queries typed without spaces: as they are, and after Kiwi.space
    unspaced = [q.replace(" ", "") for q in queries]
    respaced = list(get_kiwi().space(unspaced))
    for name in ("kiwi default (mixed)", "kiwi morphemes (old default)", "bigram"):
        tok = tokenizers[name]
        labels[f"unspaced queries: {name}"] = search(terms[name][0], tok.tokenize_batch(unspaced), BM25())
        if name != "bigram":
            labels[f"unspaced queries + Kiwi.space: {name}"] = search(
                terms[name][0], tok.tokenize_batch(respaced), BM25())
    return labels, cost


def compare(ds: DataSet, labels: dict[str, Any], split: str, resamples: int) -> list[dict[str, Any]]:
    picked = ds.split(split)
    if not picked:
        return []
    per = {name: metrics(ds, lab, picked) for name, lab in labels.items()}
    base = "kiwi morphemes (old default)"
    rows = []
    for name, m in per.items():
        row: dict[str, Any] = {"set": ds.name, "split": split, "row": name, "queries": len(picked),
                               "mrr@10": float(m["mrr@10"].mean()), "recall@10": float(m["recall@10"].mean())}
        against = [base] + (["bigram", "every morpheme"] if name == "kiwi default (mixed)" else [])
        for other in against:
            if other == name or other not in per:
                continue
            diff = m["mrr@10"] - per[other]["mrr@10"]
            low, high = paired_bootstrap(diff, resamples=resamples)
            row[f"vs {other}"] = {"diff": float(diff.mean()), "low": low, "high": high}
        rows.append(row)
    return rows


def mixed_collection(ko: DataSet, en: DataSet, resamples: int) -> list[dict[str, Any]]:
    """Korean and English twins in one index: does the default tokenizer hurt either language's queries?"""
    both = DataSet(f"{ko.name}+{en.name}", [f"ko:{i}" for i in ko.ids] + [f"en:{i}" for i in en.ids],
                   ko.texts + en.texts,
                   [dict(q, relevant=[f"ko:{r}" for r in q["relevant"]], lang="ko") for q in ko.queries]
                   + [dict(q, relevant=[f"en:{r}" for r in q["relevant"]], lang="en") for q in en.queries])
    rows = []
    toks = {"kiwi default (mixed)": KiwiTokenizer(), "kiwi morphemes (old default)": KiwiTokenizer(mixed=False)}
    labels = {name: search(t.tokenize_batch(both.texts), t.tokenize_batch([q["query"] for q in both.queries]), BM25())
              for name, t in toks.items()}
    for lang in ("ko", "en"):
        picked = [i for i, q in enumerate(both.queries) if q["lang"] == lang and q.get("split", "tune") == "tune"]
        m = {name: metrics(both, lab, picked) for name, lab in labels.items()}
        diff = m["kiwi default (mixed)"]["mrr@10"] - m["kiwi morphemes (old default)"]["mrr@10"]
        low, high = paired_bootstrap(diff, resamples=resamples)
        rows.append({"set": both.name, "queries": f"{lang} (tune)", "n": len(picked),
                     **{f"{name} mrr@10": float(v["mrr@10"].mean()) for name, v in m.items()},
                     "diff": float(diff.mean()), "low": low, "high": high})
    return rows


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| set | split | row | n | MRR@10 | R@10 | vs old default | vs bigram | vs every morpheme |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        def cell(key: str) -> str:
            c = r.get(key)
            return f"{c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]" if c else ""

        print(f"| {r['set']} | {r['split']} | {r['row']} | {r['queries']} | {r['mrr@10']:.4f} | {r['recall@10']:.4f} "
              f"| {cell('vs kiwi morphemes (old default)')} | {cell('vs bigram')} | {cell('vs every morpheme')} |")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", type=Path, nargs="+", default=[ROOT / "benchmarks" / "data"],
                        help="folders holding the sets, searched in order (default: benchmarks/data)")
    parser.add_argument("--sets", nargs="+", default=list(KOREAN_SETS + ENGLISH_SETS), help="set names")
    parser.add_argument("--kiwi-options", action="store_true",
                        help="also measure Kiwi's split_complex, saisiot, normalize_coda and typos (slow)")
    parser.add_argument("--resamples", type=int, default=2000, help="paired-bootstrap resamples")
    parser.add_argument("--smoke", action="store_true", help="tiny run: 80 documents and 30 queries per set")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results", help="folder for the JSON")
    args = parser.parse_args(argv)
    max_docs, max_queries = (80, 30) if args.smoke else (None, None)
    resamples = 200 if args.smoke else args.resamples
    sets = {}
    for name in args.sets:
        ds = load_set(name, args.data, max_docs, max_queries)
        if ds is None:
            print(f"skipping {name}: not found under {', '.join(map(str, args.data))}")
        else:
            sets[name] = ds
    rows, cost, mixed = [], {}, []
    KiwiTokenizer().tokenize_batch(["모델을 미리 불러옵니다."] * 8)  # load Kiwi before anything is timed
    for ds in sets.values():
        print(f"{ds.name}: {len(ds.texts)} documents, {len(ds.queries)} queries", flush=True)
        labels, cost[ds.name] = candidates(ds, args.kiwi_options, lambda s: print(s, flush=True))
        for split in ("tune", "report"):
            rows += compare(ds, labels, split, resamples)
    for ko, en in TWINS:
        if ko in sets and en in sets:
            mixed += mixed_collection(sets[ko], sets[en], resamples)
    print_table([r for r in rows if r["split"] == "tune"])
    print()
    print_table([r for r in rows if r["split"] == "report" and "ko" in r["set"]])
    print("\n| set | tokenizer | docs/s | tokenize query ms | search ms | vocabulary | postings | saved MB |\n"
          "|---|---|---|---|---|---|---|---|")
    for name, per in cost.items():
        for tok, c in per.items():
            if "vocabulary" in c:
                print(f"| {name} | {tok} | {c['docs_per_s']:,.0f} | {c['query_ms_median']:.3f} "
                      f"| {c['search_ms_median']:.3f} | {c['vocabulary']:,} "
                      f"| {c['postings']:,} | {c['saved_bytes'] / 1e6:.2f} |")
    if mixed:
        print("\nKorean + English in one index (tune queries):")
        for r in mixed:
            print(f"  {r['set']} {r['queries']} n={r['n']}: old {r['kiwi morphemes (old default) mrr@10']:.4f} "
                  f"default {r['kiwi default (mixed) mrr@10']:.4f} "
                  f"diff {r['diff']:+.4f} [{r['low']:+.4f}, {r['high']:+.4f}]")
    report = {"benchmark": "korean_keyword_study", "smoke": args.smoke, "python": platform.python_version(),
              "machine": platform.machine(), "rows": rows, "cost": cost, "mixed_collection": mixed,
              "sets": {n: {"documents": len(d.texts), "queries": len(d.queries)} for n, d in sets.items()}}
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "korean_keyword_study.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
