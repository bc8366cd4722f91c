"""Second round of Korean keyword ablations: can the default's terms or BM25 scoring beat it on both tune halves?

Runs on gnome_help_ko, libreoffice_help_ko (tune and report queries) and ko_retrieval (all queries), from
the same sets, terms and Kiwi cache as benchmarks/korean_keyword_study.py (both use benchmarks/korean_study_lib.py),
and compares each row with the default (KiwiTokenizer(), BM25 okapi k1=1.5 b=0.75, its length_skips) by
MRR@10 with a 95% paired-bootstrap interval. Rows:
- "classes": the default's three term classes (content morphemes, pairs, bigrams) scored with their own
  BM25 saturation k1, weight and b (a scipy scorer; with the default's values it gives BM25Index's top 10,
  checked); the default is morphemes k1 0.5 / weight 7.5 (a morpheme counted 3 times under k1 1.5),
  pairs and bigrams k1 1.5 / weight 2.5. Two grids (--no-grid skips them) and single changes: b per
  class, each distinct query term counted once, an idf floor, okapi's epsilon, document length as
  every morpheme or as characters.
- "pos": Kiwi tags added to DEFAULT_POS (mixed terms as the default).
- "terms": extra or changed terms: a unigram of each Hangul word's first syllable or of every syllable,
  bigrams of the content-morpheme span of each word only (instead of, or besides, the whole word's),
  query bigrams dropped when they equal or lie inside a query morpheme (query side only, or both sides),
  pairs without order, Kiwi's 2nd and 3rd analyses of a query added, a lead-sentence field, and each
  word's stem (the word without its particles, endings and -하다) as a term.
Extra term classes are left out of document lengths, like the bigrams and pairs.
Choose only on the tune rows; the report rows are printed for the record.

Usage:
    python benchmarks/korean_keyword_ablations.py [--data DIR ...] [--no-grid]
    python benchmarks/korean_keyword_ablations.py --smoke --out /tmp/kka
Writes OUT/korean_keyword_ablations.json (OUT = benchmarks/results by default) and prints tables.
"""

from __future__ import annotations

import argparse
import itertools
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import korean_study_lib as lib
from gyeol.config import BM25
from gyeol.evaluation import paired_bootstrap
from gyeol.lexical import DEFAULT_POS, KiwiTokenizer
from gyeol.lexical.tokenizers.kiwi import get_kiwi

ROOT = lib.ROOT
SETS = ("gnome_help_ko", "libreoffice_help_ko", "ko_retrieval")
HANGUL, SKIPS = lib.HANGUL, lib.SKIPS
HANGUL_RUN = re.compile("[\uac00-\ud7a3]+")
EXTRA = ("\x03", "\x04", "\x05", "\x06")  # prefixes of extra term classes, left out of lengths
STRIP = ("J", "E", "XSV", "XSA", "VCP", "SF", "SP", "SS", "SO", "SW")  # tags a word stem drops at its end
GRID_A = list(itertools.product([0.3, 0.5, 0.8], [0.5, 1.0, 1.5, 2.5], [0.3, 0.6, 1.0, 1.5, 2.5],
                                [7.5], [1.5, 2.5, 4.0], [1.5, 2.5, 4.0]))  # k1 m/p/b, weight m/p/b
GRID_B = list(itertools.product([0.5, 0.8, 1.2], [1.0, 1.5], [1.5, 2.5], [6.0, 7.5, 9.0],
                                [0.5, 1.0, 1.5, 2.5], [1.5, 2.5, 3.5]))
Tok = tuple[str, str, int, int, str]  # form, tag, start, length, lemma


def raw_tokens(texts: list[str]) -> list[list[Tok]]:
    """Kiwi's tokens of each text, as the default tokenizer gets them; cached like the study's terms."""
    def run(xs: list[str]) -> list[list[Tok]]:
        return [[(t.form, t.tag, t.start, t.len, t.lemma) for t in toks] for toks in get_kiwi().tokenize(xs)]

    return lib.timed(run, texts, {"raw kiwi tokens": 1})[0]


def words(tokens: list[Tok], text: str) -> list[tuple[str, int, list[Tok]]]:
    """The whitespace-separated words of text, each with its start and its tokens."""
    out, j = [], 0
    for m in re.finditer(r"\S+", text):
        start, end = m.span()
        mine = []
        while j < len(tokens) and tokens[j][2] < end:
            if tokens[j][2] >= start:
                mine.append(tokens[j])
            j += 1
        out.append((m.group(), start, mine))
    return out


def bigrams(runs: list[str], prefix: str = lib.BIGRAM_PREFIX) -> list[str]:
    out = []
    for r in runs:
        out.extend([prefix + r] if len(r) == 1 else [prefix + r[i:i + 2] for i in range(len(r) - 1)])
    return out


def content_runs(tokens: list[Tok], text: str) -> list[str]:
    """Each Hangul word cut to the characters its content morphemes (DEFAULT_POS) cover."""
    covered = np.zeros(len(text) + 1, dtype=bool)
    for form, tag, start, length, _ in tokens:
        if tag.split("-", 1)[0] in DEFAULT_POS:
            covered[start:start + length] = True
    out = []
    for m in HANGUL_RUN.finditer(text):
        run = ""
        for i in range(*m.span()):
            if covered[i]:
                run += text[i]
            elif run:
                out.append(run)
                run = ""
        if run:
            out.append(run)
    return out


def stems(tokens: list[Tok], text: str, compounds_only: bool) -> list[str]:
    """Each Hangul word without its final particles, endings and -하다 (삽입하려면 -> 삽입)."""
    out = []
    for word, start, mine in words(tokens, text):
        k = len(mine)
        while k > 0 and mine[k - 1][1].startswith(STRIP):
            k -= 1
        if k == 0 or (compounds_only and k < 2):
            continue
        stem = word[:mine[k - 1][2] + mine[k - 1][3] - start]
        if re.fullmatch("[\uac00-\ud7a3]+", stem):
            out.append("\x06" + stem)
    return out


# ------------------------------------------------------------------------- per-class scoring


def class_labels(f: lib.Fields, k1: tuple[float, float, float] = (0.5, 1.5, 1.5),
                 weight: tuple[float, float, float] = (7.5, 2.5, 2.5), b: tuple[float, float, float] = (0.75,) * 3,
                 distinct: tuple[bool, bool, bool] = (False,) * 3, idf_floor: float | None = None,
                 epsilon: float = 0.25, lengths: np.ndarray | None = None) -> list[np.ndarray]:
    """Top 10 of each query when each term class (0 morphemes, 1 pairs, 2 bigrams) has its own k1, weight
    and b: a term adds weight * idf * tf / (tf + k1 * (1 - b + b * dl / avgdl)). Morphemes of text without
    Hangul keep k1 1.5, weight 2.5 (plain okapi). lengths: the documents' dl (default: the default's)."""
    import scipy.sparse as sp

    d = f.D.tocoo()
    n = d.shape[0]
    raw = np.log(n - f.df + 0.5) - np.log(f.df + 0.5)
    idf = np.where(raw < 0, epsilon * raw[f.df > 0].mean(), raw)
    if idf_floor is not None:
        idf = np.maximum(idf, idf_floor)
    cls = np.minimum(f.field, 3)
    cls = np.where(cls == 3, 0, cls)  # Latin morphemes in Korean text are morphemes
    morph = np.bincount(d.row, weights=d.data * (cls[d.col] == 0), minlength=n)
    dl = morph * np.where(f.doc_hangul, lib.MORPHEME_WEIGHT, 1) if lengths is None else lengths
    c = cls[d.col]
    plain = (c == 0) & ~f.doc_hangul[d.row]
    k1s = np.where(plain, 1.5, np.asarray(k1)[c])
    ws = np.where(plain, 2.5, np.asarray(weight)[c])
    bs = np.where(plain, 0.75, np.asarray(b)[c])
    w = ws * idf[d.col] * d.data / (d.data + k1s * (1 - bs + bs * dl[d.row] / dl.mean()))
    scores_of = sp.csr_matrix((w, (d.row, d.col)), shape=d.shape)
    q = f.Q.tocoo()
    qv = np.where(np.asarray(distinct)[cls[q.col]], 1.0, q.data)
    scores = (sp.csr_matrix((qv, (q.row, q.col)), shape=q.shape) @ scores_of.T).toarray()
    hits = ((f.Q > 0).astype(np.float32) @ (f.D > 0).astype(np.float32).T).toarray() > 0
    out = []
    for row, hit in zip(scores, hits):
        cand = np.flatnonzero(hit)
        out.append(cand[np.lexsort((cand, -row[cand]))[:lib.K]])
    return out


# ------------------------------------------------------------------------- rows


def term_rows(ds: lib.DataSet, queries: list[str], new: tuple[lib.Terms, lib.Terms],
              tok: tuple[list[list[Tok]], list[list[Tok]]]) -> dict[str, tuple[lib.Terms, lib.Terms]]:
    """{row: (document terms, query terms)} of the "terms" rows, from the default's terms and Kiwi's tokens."""
    texts = (ds.texts, queries)

    def each(fn: Callable[[list[str], list[Tok], str], list[str]], sides: tuple[int, ...] = (0, 1)):
        return tuple([fn(t, k, x) if i in sides and HANGUL.search(x) else t
                      for t, k, x in zip(new[i], tok[i], texts[i])] for i in (0, 1))

    def drop(rule: Callable[[str, list[str]], bool]) -> Callable[[list[str], list[Tok], str], list[str]]:
        def fn(t: list[str], k: list[Tok], x: str) -> list[str]:
            morphemes = lib.split_mixed(t, x)[0]
            return [y for y in t if not (y.startswith(lib.BIGRAM_PREFIX) and rule(y[1:], morphemes))]
        return fn

    def unordered(t: list[str], k: list[Tok], x: str) -> list[str]:
        return [lib.PAIR_PREFIX + " ".join(sorted(y[1:].split(" ", 1))) if y.startswith(lib.PAIR_PREFIX) else y
                for y in t]

    def lead(t: list[str], k: list[Tok], x: str, times: int = 1) -> list[str]:
        cut = next((i for i, tk in enumerate(k) if tk[1] == "SF"), len(k))
        heads = [(tk[4] if tk[1].split("-")[0] in lib.PREDICATES else tk[0]).lower() for tk in k[:cut + 1]
                 if tk[1].split("-")[0] in DEFAULT_POS]
        return t + ["\x05" + h for h in heads] * times

    def no_bigrams(t: list[str], x: str) -> list[str]:
        return [y for y in t if not y.startswith(lib.BIGRAM_PREFIX)]

    rows = {
        "terms: + first-syllable unigram of each word": each(
            lambda t, k, x: t + [lib.BIGRAM_PREFIX + w[0] for w in HANGUL_RUN.findall(x) if len(w) > 1]),
        "terms: + unigram of every syllable": each(
            lambda t, k, x: t + ["\x03" + c for c in "".join(HANGUL_RUN.findall(x))]),
        "terms: bigrams of content spans only": each(lambda t, k, x: no_bigrams(t, x) + bigrams(content_runs(k, x))),
        "terms: + bigrams of content spans": each(lambda t, k, x: t + bigrams(content_runs(k, x), "\x04")),
        "terms: query bigrams equal to a morpheme dropped": each(drop(lambda g, ms: g in ms), (1,)),
        "terms: query bigrams inside a morpheme dropped": each(drop(lambda g, ms: any(g in m for m in ms)), (1,)),
        "terms: bigrams equal to a morpheme dropped": each(drop(lambda g, ms: g in ms)),
        "terms: bigrams inside a morpheme dropped": each(drop(lambda g, ms: any(g in m for m in ms))),
        "terms: pairs without order": each(unordered),
        "terms: + lead-sentence morphemes x1": each(lead),
        "terms: + lead-sentence morphemes x3": each(lambda t, k, x: lead(t, k, x, 3)),
        "terms: + word stems x1": each(lambda t, k, x: t + stems(k, x, False)),
        "terms: + word stems x2": each(lambda t, k, x: t + stems(k, x, False) * 2),
        "terms: + stems of compound words x1": each(lambda t, k, x: t + stems(k, x, True)),
    }
    alternatives = lib.timed(lambda xs: [[lib.simple_terms(toks) for toks, _ in get_kiwi().analyze(x, top_n=3)][1:]
                                           for x in xs], queries, {"kiwi top 3": 1})[0]
    for times in (1, 3):
        extra_q = []
        for t, alts in zip(new[1], alternatives):
            have, extra = set(t), []
            for alt in alts:
                for m in alt:
                    if m not in have:
                        have.add(m)
                        extra += [m] * times
            extra_q.append(t + extra)
        rows[f"terms: + Kiwi's 2nd and 3rd query analyses x{times}"] = (new[0], extra_q)
    return rows


def study_set(ds: lib.DataSet, grid: bool, log: Callable[[str], None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Give back {row: labels per query} and the checks."""
    queries = [q["query"] for q in ds.queries]
    default = KiwiTokenizer()
    new = (lib.terms_of(default, ds.texts), lib.terms_of(default, queries))
    labels: dict[str, Any] = {"kiwi default (mixed)": lib.search(*new, BM25(), SKIPS)}
    ev = KiwiTokenizer(pos="all", mixed=False)
    labels["every morpheme"] = lib.search(lib.terms_of(ev, ds.texts), lib.terms_of(ev, queries), BM25())
    fields = lib.Fields(new[0], ds.texts, new[1], queries)
    check = {"queries": len(queries), "top10_equal_to_bm25index": int(sum(
        np.array_equal(a, b) for a, b in zip(class_labels(fields), labels["kiwi default (mixed)"])))}
    every_len = np.array([len(t) for t in lib.terms_of(ev, ds.texts)], dtype=np.float64)
    singles = {**{f"classes: b {b}": {"b": b} for b in [(0.75, 0.75, 0.3), (0.75, 0.75, 1.0), (0.75, 0.3, 0.75),
                                                         (0.75, 1.0, 0.75), (0.5, 0.75, 0.75), (0.9, 0.75, 0.75),
                                                         (0.9, 0.5, 0.5), (0.6, 0.9, 0.9)]},
               "classes: distinct query terms counted once": {"distinct": (True, True, True)},
               "classes: distinct query morphemes counted once": {"distinct": (True, False, False)},
               "classes: distinct query pairs and bigrams counted once": {"distinct": (False, True, True)},
               "classes: idf floor 0.5": {"idf_floor": 0.5}, "classes: idf floor 1.0": {"idf_floor": 1.0},
               "classes: okapi epsilon 0": {"epsilon": 0.0}, "classes: okapi epsilon 1": {"epsilon": 1.0},
               "classes: length = every morpheme": {"lengths": every_len},
               "classes: length = characters": {"lengths": np.array([len(x) for x in ds.texts], dtype=np.float64)}}
    for name, kwargs in singles.items():
        labels[name] = class_labels(fields, **kwargs)
    if grid:
        for k1m, k1p, k1b, wm, wp, wb in dict.fromkeys(GRID_A + GRID_B):
            labels[f"classes grid: k1 {k1m}/{k1p}/{k1b} weight {wm}/{wp}/{wb}"] = class_labels(
                fields, (k1m, k1p, k1b), (wm, wp, wb))
    log(f"  {ds.name}: classes done")
    for tags in ["MM", "MAG", "NNB", "NP", "IC", "XSN", "ETN", "XPN", "MAJ", "MM MAG", "JKO JKB JX",
                 "XSV XSA ETN EC"]:
        tok = KiwiTokenizer(pos=DEFAULT_POS | set(tags.split()))
        labels[f"pos: + {tags}"] = lib.search(lib.terms_of(tok, ds.texts), lib.terms_of(tok, queries), BM25(),
                                                SKIPS)
    mixed_all = KiwiTokenizer(pos="all")
    labels["pos: every morpheme, mixed terms"] = lib.search(
        lib.terms_of(mixed_all, ds.texts), lib.terms_of(mixed_all, queries), BM25(), SKIPS)
    log(f"  {ds.name}: pos done")
    tok = (raw_tokens(ds.texts), raw_tokens(queries))
    for name, (docs, qs) in term_rows(ds, queries, new, tok).items():
        labels[name] = lib.search(docs, qs, BM25(), SKIPS + EXTRA)
    log(f"  {ds.name}: terms done")
    return labels, check


def compare(ds: lib.DataSet, labels: dict[str, Any], split: str, resamples: int) -> list[dict[str, Any]]:
    picked = ds.split(split)
    if not picked:
        return []
    per = {name: lib.metrics(ds, lab, picked)["mrr@10"] for name, lab in labels.items()}
    rows = []
    for name, m in per.items():
        row: dict[str, Any] = {"set": ds.name, "split": split, "row": name, "queries": len(picked),
                               "mrr@10": float(m.mean())}
        for other in ("kiwi default (mixed)", "every morpheme"):
            if other != name:
                diff = m - per[other]
                low, high = paired_bootstrap(diff, resamples=resamples)
                row[f"vs {other}"] = {"diff": float(diff.mean()), "low": low, "high": high}
        rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", type=Path, nargs="+", default=[ROOT / "benchmarks" / "data"])
    parser.add_argument("--sets", nargs="+", default=list(SETS))
    parser.add_argument("--no-grid", action="store_true", help="skip the two k1/weight grids (minutes)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="tiny run: 80 documents and 30 queries per set")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--cache", type=Path, default=lib.CACHE, help="folder caching Kiwi's output")
    args = parser.parse_args(argv)
    lib.CACHE = None if args.smoke else args.cache
    max_docs, max_queries = (80, 30) if args.smoke else (None, None)
    resamples = 200 if args.smoke else args.resamples
    rows, checks, started = [], {}, time.perf_counter()
    for name in args.sets:
        ds = lib.load_set(name, args.data, max_docs, max_queries)
        if ds is None:
            print(f"skipping {name}: not found")
            continue
        print(f"{ds.name}: {len(ds.texts)} documents, {len(ds.queries)} queries", flush=True)
        labels, checks[name] = study_set(ds, not (args.no_grid or args.smoke), lambda s: print(s, flush=True))
        for split in ("tune", "report"):
            rows += compare(ds, labels, split, resamples)
    by = {(r["set"], r["split"], r["row"]): r for r in rows}
    tuned = [s for s in ("gnome_help_ko", "libreoffice_help_ko") if (s, "tune", "kiwi default (mixed)") in by]
    names = list(dict.fromkeys(r["row"] for r in rows if r["row"] not in ("kiwi default (mixed)", "every morpheme")))

    def gain(name: str, split: str = "tune") -> float:  # the smaller gain over the default on the tuned sets
        return min((by[(s, split, name)]["vs kiwi default (mixed)"]["diff"] for s in tuned), default=0.0)

    def cell(r: dict[str, Any] | None, key: str = "vs kiwi default (mixed)") -> str:
        c = (r or {}).get(key)
        return f"{c['diff']:+.4f} [{c['low']:+.4f}, {c['high']:+.4f}]" if c else ""

    def table(title: str, chosen: list[str], split: str = "tune") -> None:
        print(f"\n{title}\n| row | " + " | ".join(f"{s} {split}" for s in tuned) + " | ko_retrieval |\n|---|"
              + "---|" * (len(tuned) + 1))
        for name in chosen:
            print(f"| {name} | " + " | ".join(cell(by.get((s, split, name))) for s in tuned)
                  + f" | {cell(by.get(('ko_retrieval', 'report', name)))} |")

    singles = [n for n in names if not n.startswith("classes grid")]
    grid = sorted((n for n in names if n.startswith("classes grid")), key=gain, reverse=True)
    table("MRR@10 minus the default's, tune halves (every row but the grids):", singles)
    if grid:
        table(f"the 5 best of {len(grid)} grid points by their smaller tune gain:", grid[:5])
    best = sorted(names, key=gain, reverse=True)[:5]
    table("report halves of the 5 rows with the largest smaller tune gain:", best, "report")
    for name, check in checks.items():
        print(f"{name}: the class scorer with the default's settings gives BM25Index's top 10 for "
              f"{check['top10_equal_to_bm25index']} of {check['queries']} queries")
    report = {"benchmark": "korean_keyword_ablations", "smoke": args.smoke, "python": platform.python_version(),
              "seconds": time.perf_counter() - started, "rows": rows, "checks": checks,
              "best_by_smaller_tune_gain": [{"row": n, "gain": gain(n)} for n in best],
              "grid_points": len(grid)}
    keep = set(singles) | set(grid[:20]) | {"kiwi default (mixed)", "every morpheme"}  # the grid's best 20 only
    report["rows"] = [r for r in rows if r["row"] in keep]
    path = lib.write_report(args.out, "korean_keyword_ablations", report)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
