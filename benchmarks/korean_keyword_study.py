"""Korean keyword search on real text: which terms make BM25 beat character bigrams and every-morpheme.

Sets (gyeol layout: corpus.jsonl {id, text}, queries.jsonl {id, query, relevant, split?}):
gnome_help_ko and libreoffice_help_ko (real Korean help pages, known-item queries, split into
"tune" and "report" queries), ko_retrieval (hand-written, a regression check), and the English
sets pydoc_en, en_hybrid, gnome_help_en, libreoffice_help_en (English must not get worse).
Choices were made on the tune queries only; the report queries are for the final table.

Every candidate indexes the corpus into a fresh gyeol.lexical.BM25Index (okapi, k1=1.5, b=0.75,
gyeol's default, unless the row says otherwise; the default tokenizer's length_skips, so its
bigrams and pairs do not count in document lengths) and searches each query for its top 10.
Rows: the tokenizers (kiwi default = mixed, kiwi morphemes = the default before mixed terms,
every morpheme = kagome_kr style, bigram, whitespace); the default's earlier settings (every
term counted in lengths; Kiwi's typo and multi-word dictionaries loaded); ablations of the
mixed terms (morpheme weight, pairs, bigrams); "fields:" the mixed terms scored as fields
(weights per field and per side, BM25F; a scipy scorer checked to give BM25Index's top 10
with the default settings) and extra term fields (every morpheme, particles and endings,
Hangul trigrams, bigrams across spaces, skip pairs); compound joins (nori's "mixed" decompounding);
two BM25 indexes fused by score; BM25 variants and k1/b; with --kiwi-options, Kiwi's
split_complex / saisiot / normalize_coda / typos.
Also: queries with their spaces removed (with and without Kiwi.space), a Korean + English
collection in one index, tokenize docs/s, single-query tokenize latency and index size.
Differences carry 95% paired-bootstrap intervals (gyeol.evaluation.paired_bootstrap).

Kiwi's terms are cached under --cache (default /tmp/gyeol_kks_cache; keyed by the tokenizer's
description, the texts, gyeol's TERMS_VERSION and kiwipiepy's version), so a rerun skips the
minutes of analysis; docs/s then is the figure measured when the cache was written.

Usage:
    python benchmarks/korean_keyword_study.py [--data DIR ...] [--kiwi-options] [--no-cache]
    python benchmarks/korean_keyword_study.py --smoke --out /tmp/kks
Writes OUT/korean_keyword_study.json (OUT = benchmarks/results by default) and prints tables.
"""

from __future__ import annotations

import argparse
import platform
import re
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import korean_study_lib as lib
from gyeol.config import BM25
from gyeol.evaluation import paired_bootstrap
from gyeol.lexical import BigramTokenizer, BM25Index, KiwiTokenizer, WhitespaceTokenizer
from gyeol.lexical.tokenizers.kiwi import get_kiwi
from korean_study_lib import (HANGUL, K, ROOT, SKIPS, DataSet, Fields, Terms, load_set, metrics, search, simple_terms,
                              split_mixed, terms_of, timed)

KOREAN_SETS = ("gnome_help_ko", "libreoffice_help_ko", "ko_retrieval")
ENGLISH_SETS = ("pydoc_en", "en_hybrid", "gnome_help_en", "libreoffice_help_en")
TWINS = (("gnome_help_ko", "gnome_help_en"), ("libreoffice_help_ko", "libreoffice_help_en"))
KIWI_OPTIONS = {"split_complex": {"split_complex": True}, "saisiot": {"saisiot": True},
                "normalize_coda": {"normalize_coda": True}, "typos basic": {"typos": "basic"}}


# ---------------------------------------------------------------------------------- terms


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


def raw_terms(texts: list[str], options: dict[str, Any]) -> tuple[tuple[Terms, Terms], float]:
    """Give back ((simple terms, compound joins) of each text, texts/s) from Kiwi's raw tokens
    under the given Kiwi.tokenize options; cached (see timed)."""
    def run(xs: list[str]) -> list[Terms]:
        tokens = list(get_kiwi().tokenize(xs, **options))
        return [[simple_terms(t) for t in tokens], [compound_joins(t) for t in tokens]]

    (simple, joins), per_s = timed(run, texts, {"raw kiwi": options})
    return (simple, joins), per_s


# ---------------------------------------------------------------------------------- scoring


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


def index_cost(doc_terms: Terms, query_terms: Terms, skips: tuple[str, ...]) -> dict[str, float]:
    """Give back the index's size (vocabulary, postings, bytes saved) and its median single-query search time."""
    index = BM25Index(BM25(), skips)
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


def field_rows(ds: DataSet, queries: list[str], new: tuple[Terms, Terms], every: tuple[Terms, Terms],
               labels: dict[str, Any]) -> dict[str, Any]:
    """Add the field-like rows to labels; give back the check that Fields with the defaults is BM25Index."""
    fields = Fields(new[0], ds.texts, new[1], queries)
    same = sum(np.array_equal(a, b) for a, b in zip(fields.labels(), labels["kiwi default (mixed)"]))
    for name, kwargs in [("morpheme weight 6, pairs x2", {"w": (6, 2, 1, 6)}),
                         ("bigram weight 2", {"w": (3, 1, 2, 3)}),
                         ("query weights morphemes x2", {"qw": (2, 1, 1, 2)}),
                         ("Latin morphemes x1 in Korean text", {"w": (3, 1, 1, 1)}),
                         ("BM25F, b 0.75 per field", {"bm25f": (0.75, 0.75, 0.75, 0.75)}),
                         ("BM25F, b 0.75 / 0.5 / 0.9", {"bm25f": (0.75, 0.5, 0.9, 0.75)}),
                         ("BM25F, b 0.75 / 0.3 / 0.75", {"bm25f": (0.75, 0.3, 0.75, 0.75)})]:
        labels[f"fields: {name}"] = fields.labels(**kwargs)
    hangul_run = re.compile("[\uac00-\ud7a3]+")

    def spaced_runs(text: str) -> list[str]:
        return re.findall("[\uac00-\ud7a3]+(?: [\uac00-\ud7a3]+)*", text)

    extras: dict[str, Callable[[list[str], list[str], str], list[str]]] = {
        "every morpheme": lambda t, e, x: ["\x03" + m for m in e],
        "particles and endings": lambda t, e, x: ["\x03" + m for m in e if m not in set(split_mixed(t, x)[0])],
        "Hangul trigrams": lambda t, e, x: ["\x04" + r[i:i + 3] for r in hangul_run.findall(x)
                                            for i in range(len(r) - 2)],
        "bigrams across spaces": lambda t, e, x: ["\x05" + a[-1] + b[0] for run in spaced_runs(x)
                                                  for a, b in zip(run.split(" "), run.split(" ")[1:])],
        "skip pairs": lambda t, e, x: ["\x06" + a + " " + b for a, b in zip(split_mixed(t, x)[0],
                                                                            split_mixed(t, x)[0][2:])],
    }
    skips = SKIPS + ("\x03", "\x04", "\x05", "\x06")
    for name, extra in extras.items():
        def add(terms: Terms, ev: Terms, texts: list[str]) -> Terms:
            return [t + (extra(t, e, x) if HANGUL.search(x) else []) for t, e, x in zip(terms, ev, texts)]

        labels[f"fields: + {name}"] = search(add(new[0], every[0], ds.texts), add(new[1], every[1], queries),
                                             BM25(), skips)
    return {"queries": len(queries), "top10_equal_to_bm25index": int(same)}


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
        docs, docs_per_s = timed(tok.tokenize_batch, ds.texts, tok.describe())
        terms[name] = (docs, terms_of(tok, queries))
        sample = queries[:200]
        times = []
        for q in sample:
            start = time.perf_counter()
            tok.tokenize(q)
            times.append(time.perf_counter() - start)
        skips = tok.length_skips if isinstance(tok, KiwiTokenizer) else ()
        cost[name] = {"docs_per_s": docs_per_s, "query_ms_median": 1000 * statistics.median(times) if times else 0.0,
                      **index_cost(docs, terms[name][1], skips)}
        log(f"  {ds.name}: {name} {docs_per_s:,.0f} docs/s")
    labels = {name: search(d, q, BM25(), SKIPS if name == "kiwi default (mixed)" else ())
              for name, (d, q) in terms.items()}
    if not any(HANGUL.search(t) for t in ds.texts[:50]):
        return labels, cost
    new_d, new_q = terms["kiwi default (mixed)"]
    # the default's earlier settings: every term counted in lengths; Kiwi's typo and multi-word dictionaries
    labels["kiwi default, length counts every term (before)"] = search(new_d, new_q, BM25())
    full = KiwiTokenizer(load_typo_dict=True, load_multi_dict=True)
    labels["kiwi default, Kiwi typo + multi dictionaries (before)"] = search(
        terms_of(full, ds.texts), terms_of(full, queries), BM25(), SKIPS)
    # ablations of the mixed terms, recombined from the default tokenizer's output
    parts_d = [split_mixed(t, x) for t, x in zip(new_d, ds.texts)]
    parts_q = [split_mixed(t, x) for t, x in zip(new_q, queries)]
    for weight, use_pairs, use_bigrams, pair_weight in [(1, False, True, 1), (3, False, True, 1), (1, True, False, 1),
                                                        (3, True, False, 1), (1, True, True, 1), (2, True, True, 1),
                                                        (4, True, True, 1), (3, True, True, 2)]:
        def combine(p: tuple[list[str], list[str], list[str]]) -> list[str]:
            return p[0] * weight + (p[1] * pair_weight if use_pairs else []) + (p[2] if use_bigrams else [])

        name = (f"morphemes x{weight}" + (f" + pairs" + (f" x{pair_weight}" if pair_weight > 1 else "") if use_pairs
                                         else "") + (" + bigrams" if use_bigrams else ""))
        labels[name] = search([combine(p) for p in parts_d], [combine(p) for p in parts_q], BM25(), SKIPS)
    cost["fields check"] = field_rows(ds, queries, (new_d, new_q), terms["every morpheme"], labels)
    old_d, old_q = terms["kiwi morphemes (old default)"]
    big_d, big_q = terms["bigram"]
    for w in (0.3, 1.0):
        labels[f"two indexes: morphemes + {w} x bigram scores"] = fused_search(
            [(old_d, old_q, 1.0), (big_d, big_q, w)], len(ds.ids))
    ev_d, ev_q = terms["every morpheme"]
    labels["two indexes: default + 0.3 x every-morpheme scores"] = fused_search(
        [(new_d, new_q, 1.0), (ev_d, ev_q, 0.3)], len(ds.ids))
    for label, params in [("lucene", BM25(variant="lucene")), ("bm25plus", BM25(variant="bm25plus")),
                          ("bm25l", BM25(variant="bm25l")), ("k1=0.9", BM25(k1=0.9)), ("k1=1.2", BM25(k1=1.2)),
                          ("k1=2.0", BM25(k1=2.0)), ("k1=3.0", BM25(k1=3.0)), ("b=0.5", BM25(b=0.5)),
                          ("b=0.9", BM25(b=0.9)), ("k1=2.0 b=0.9", BM25(k1=2.0, b=0.9))]:
        labels[f"kiwi default, BM25 {label}"] = search(new_d, new_q, params, SKIPS)
    # raw Kiwi tokens: compound joins, and Kiwi's own options (the same simple term rule on both sides)
    (simple_d, joins_d), _ = raw_terms(ds.texts, {})
    (simple_q, joins_q), _ = raw_terms(queries, {})
    labels["raw kiwi morphemes"] = search(simple_d, simple_q, BM25())
    labels["raw kiwi morphemes + compound joins"] = search(
        [s + j for s, j in zip(simple_d, joins_d)], [s + j for s, j in zip(simple_q, joins_q)], BM25())
    if kiwi_options:
        for option, kwargs in KIWI_OPTIONS.items():
            (docs, _), docs_per_s = raw_terms(ds.texts, kwargs)
            (qs, _), _ = raw_terms(queries, kwargs)
            labels[f"raw kiwi morphemes, {option}"] = search(docs, qs, BM25())
            cost[f"raw kiwi {option}"] = {"docs_per_s": docs_per_s}
            log(f"  {ds.name}: Kiwi {option} {docs_per_s:,.0f} docs/s")
    # queries typed without spaces: as they are, and after Kiwi.space
    unspaced = [q.replace(" ", "") for q in queries]
    respaced = timed(lambda xs: list(get_kiwi().space(xs)), unspaced, "Kiwi.space")[0]
    for name in ("kiwi default (mixed)", "kiwi morphemes (old default)", "bigram"):
        tok = tokenizers[name]
        skips = SKIPS if name == "kiwi default (mixed)" else ()
        labels[f"unspaced queries: {name}"] = search(terms[name][0], terms_of(tok, unspaced), BM25(), skips)
        if name != "bigram":
            labels[f"unspaced queries + Kiwi.space: {name}"] = search(
                terms[name][0], terms_of(tok, respaced), BM25(), skips)
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
        if name.startswith(("kiwi default, ", "unspaced queries", "fields: ")):
            against = [base, "kiwi default (mixed)"]
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
    default, old = KiwiTokenizer(), KiwiTokenizer(mixed=False)
    queries = [q["query"] for q in both.queries]
    new_d, new_q = terms_of(default, both.texts), terms_of(default, queries)
    labels = {"default": search(new_d, new_q, BM25(), SKIPS),
              "length counts every term": search(new_d, new_q, BM25()),
              "morphemes (old default)": search(terms_of(old, both.texts), terms_of(old, queries), BM25())}
    for split in ("tune", "report"):
        for lang in ("ko", "en"):
            picked = [i for i, q in enumerate(both.queries) if q["lang"] == lang and q.get("split", split) == split]
            m = {name: metrics(both, lab, picked)["mrr@10"] for name, lab in labels.items()}
            row: dict[str, Any] = {"set": both.name, "split": split, "queries": lang, "n": len(picked),
                                   **{f"{name} mrr@10": float(v.mean()) for name, v in m.items()}}
            for other in ("length counts every term", "morphemes (old default)"):
                diff = m["default"] - m[other]
                low, high = paired_bootstrap(diff, resamples=resamples)
                row[f"vs {other}"] = {"diff": float(diff.mean()), "low": low, "high": high}
            rows.append(row)
    return rows


def cell(r: dict[str, Any], key: str) -> str:
    c = r.get(key)
    return f"{c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]" if c else ""


def print_table(rows: list[dict[str, Any]]) -> None:
    print("| set | split | row | n | MRR@10 | R@10 | vs old default | vs bigram | vs every morpheme | vs default |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['set']} | {r['split']} | {r['row']} | {r['queries']} | {r['mrr@10']:.4f} | {r['recall@10']:.4f} "
              f"| {cell(r, 'vs kiwi morphemes (old default)')} | {cell(r, 'vs bigram')} "
              f"| {cell(r, 'vs every morpheme')} | {cell(r, 'vs kiwi default (mixed)')} |")


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
    parser.add_argument("--cache", type=Path, default=lib.CACHE,
                        help="folder caching Kiwi's terms (default %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="analyse every text again (the smoke run never caches)")
    args = parser.parse_args(argv)
    lib.CACHE = None if args.no_cache or args.smoke else args.cache
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
    for name, per in cost.items():
        if "fields check" in per:
            check = per["fields check"]
            print(f"{name}: the field scorer with the default settings gives BM25Index's top 10 for "
                  f"{check['top10_equal_to_bm25index']} of {check['queries']} queries")
    if mixed:
        print("\nKorean + English in one index, MRR@10:\n"
              "| set | split | queries | n | default | length counts every term | morphemes (old default) "
              "| default − every-term length | default − old default |\n|---|---|---|---|---|---|---|---|---|")
        for r in mixed:
            print(f"| {r['set']} | {r['split']} | {r['queries']} | {r['n']} | {r['default mrr@10']:.4f} "
                  f"| {r['length counts every term mrr@10']:.4f} | {r['morphemes (old default) mrr@10']:.4f} "
                  f"| {cell(r, 'vs length counts every term')} | {cell(r, 'vs morphemes (old default)')} |")
    report = {"benchmark": "korean_keyword_study", "smoke": args.smoke, "python": platform.python_version(),
              "machine": platform.machine(), "rows": rows, "cost": cost, "mixed_collection": mixed,
              "sets": {n: {"documents": len(d.texts), "queries": len(d.queries)} for n, d in sets.items()}}
    path = lib.write_report(args.out, "korean_keyword_study", report)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
