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
import hashlib
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
from gyeol.lexical.tokenizers import TERMS_VERSION
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
SKIPS = KiwiTokenizer().length_skips  # the default's: bigrams and pairs are not counted in lengths
CACHE: Path | None = Path(tempfile.gettempdir()) / "gyeol_kks_cache"  # None: --no-cache


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


def timed(tokenize: Callable[[list[str]], Any], texts: list[str], key: Any = None) -> tuple[Any, float]:
    """Give back (tokenize(texts), texts per second); with key (JSON-able) and a CACHE, from disk when there."""
    path = None
    if key is not None and CACHE is not None:
        import kiwipiepy

        blob = json.dumps([key, TERMS_VERSION, kiwipiepy.__version__], sort_keys=True) + "\x00" + "\x00".join(texts)
        path = CACHE / f"{hashlib.sha256(blob.encode()).hexdigest()[:32]}.json"
        if path.exists():
            saved = json.loads(path.read_text(encoding="utf-8"))
            return saved["out"], saved["per_s"]
    start = time.perf_counter()
    out = tokenize(texts)
    per_s = len(texts) / max(time.perf_counter() - start, 1e-9)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"out": out, "per_s": per_s}, ensure_ascii=False), encoding="utf-8")
        tmp.replace(path)
    return out, per_s


def terms_of(tok: Any, texts: list[str]) -> Terms:
    """The tokenizer's terms of texts, cached (see timed)."""
    return timed(tok.tokenize_batch, texts, tok.describe())[0]


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


def raw_terms(texts: list[str], options: dict[str, Any]) -> tuple[tuple[Terms, Terms], float]:
    """Give back ((simple terms, compound joins) of each text, texts/s) from Kiwi's raw tokens
    under the given Kiwi.tokenize options; cached (see timed)."""
    def run(xs: list[str]) -> list[Terms]:
        tokens = list(get_kiwi().tokenize(xs, **options))
        return [[simple_terms(t) for t in tokens], [compound_joins(t) for t in tokens]]

    (simple, joins), per_s = timed(run, texts, {"raw kiwi": options})
    return (simple, joins), per_s


# ---------------------------------------------------------------------------------- scoring


def search(doc_terms: Terms, query_terms: Terms, params: BM25, skips: tuple[str, ...] = ()) -> list[np.ndarray]:
    index = BM25Index(params, skips)
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


# ---------------------------------------------------------------------------------- fields


class Fields:
    """The default's terms as fields (0 Hangul morphemes, 1 pairs, 2 bigrams, 3 other morphemes), scored
    with per-field weights, a length rule or BM25F; with the defaults it is BM25Index(BM25(), SKIPS)."""

    def __init__(self, docs: Terms, doc_texts: list[str], queries: Terms, query_texts: list[str]) -> None:
        import scipy.sparse as sp

        vocab: dict[str, int] = {}
        field: list[int] = []

        def matrix(term_lists: Terms, texts: list[str]) -> tuple[Any, np.ndarray]:
            rows, cols, hangul = [], [], []
            for i, (terms, text) in enumerate(zip(term_lists, texts)):
                hangul.append(bool(HANGUL.search(text)))
                for f, part in enumerate(split_mixed(terms, text)):
                    for t in part:
                        if t not in vocab:
                            vocab[t] = len(vocab)
                            field.append(3 if f == 0 and not HANGUL.search(t) else f)
                        rows.append(i)
                        cols.append(vocab[t])
            m = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(texts), len(vocab) + 1))
            return m, np.array(hangul)

        self.D, self.doc_hangul = matrix(docs, doc_texts)
        self.Q, self.query_hangul = matrix(queries, query_texts)
        self.D.resize((len(doc_texts), len(vocab)))
        self.Q.resize((len(query_texts), len(vocab)))
        self.field = np.array(field, dtype=np.int64)
        self.df = np.asarray((self.D > 0).sum(axis=0)).ravel()

    def _weights(self, m: Any, hangul: np.ndarray, w: tuple[float, float, float, float]) -> np.ndarray:
        f = self.field[m.col]
        out = np.asarray(w, dtype=np.float64)[f]
        return np.where(np.isin(f, (0, 3)) & ~hangul[m.row], 1.0, out)  # morphemes of non-Hangul text: x1

    def labels(self, w: tuple[float, ...] = (3, 1, 1, 3), qw: tuple[float, ...] | None = None, k1: float = 1.5,
               b: float = 0.75, length: str = "morphemes", bm25f: tuple[float, float, float, float] | None = None,
               epsilon: float = 0.25) -> list[np.ndarray]:
        """Top 10 of each query. w / qw: document / query weights per field (qw defaults to w);
        length: "morphemes" (fields 0 and 3, weighted) or "terms"; bm25f: b per field, each field's
        tf normalised by its own length (BM25F) instead of one length per document."""
        import scipy.sparse as sp

        d = self.D.tocoo()
        tf = d.data * self._weights(d, self.doc_hangul, w)
        n = d.shape[0]
        raw = np.log(n - self.df + 0.5) - np.log(self.df + 0.5)
        idf = np.where(raw < 0, epsilon * raw[self.df > 0].mean(), raw)
        f = self.field[d.col]
        per_field = [np.bincount(d.row[f == i], weights=tf[f == i], minlength=n) for i in range(4)]
        if bm25f is None:
            dl = per_field[0] + per_field[3] + (per_field[1] + per_field[2] if length == "terms" else 0)
            norm = (k1 * (1 - b + b * dl / dl.mean()))[d.row]
        else:
            norms = [1 - bf + bf * lf / max(lf[lf > 0].mean() if (lf > 0).any() else 1.0, 1e-9)
                     for bf, lf in zip(bm25f, per_field)]
            tf = tf / np.stack(norms)[f, d.row]
            norm = k1
        weights = sp.csr_matrix((idf[d.col] * (k1 + 1) * tf / (tf + norm), (d.row, d.col)), shape=d.shape)
        q = self.Q.tocoo()
        qm = sp.csr_matrix((q.data * self._weights(q, self.query_hangul, qw or w), (q.row, q.col)), shape=q.shape)
        scores = (qm @ weights.T).toarray()
        hits = ((self.Q > 0).astype(np.float64) @ (self.D > 0).astype(np.float64).T).toarray() > 0
        out = []
        for row, hit in zip(scores, hits):
            cand = np.flatnonzero(hit)
            out.append(cand[np.lexsort((cand, -row[cand]))[:K]])
        return out


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
    global CACHE
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
    parser.add_argument("--cache", type=Path, default=CACHE, help="folder caching Kiwi's terms (default %(default)s)")
    parser.add_argument("--no-cache", action="store_true", help="analyse every text again (the smoke run never caches)")
    args = parser.parse_args(argv)
    CACHE = None if args.no_cache or args.smoke else args.cache
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
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "korean_keyword_study.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
