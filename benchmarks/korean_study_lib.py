"""What benchmarks/korean_keyword_study.py and benchmarks/korean_keyword_ablations.py share.

The sets (gyeol layout: corpus.jsonl {id, text}, queries.jsonl {id, query, relevant, split?}), Kiwi's
output cached under CACHE (keyed by the tokenizer's description, the texts, gyeol's TERMS_VERSION and
kiwipiepy's version; a script sets CACHE = None for --no-cache and --smoke), BM25 top-10 search with
BM25Index, MRR@10 / recall@10, and Fields: the default tokenizer's terms as fields, scored with scipy.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gyeol.config import BM25
from gyeol.evaluation import rank_metrics
from gyeol.lexical import BM25Index, DEFAULT_POS, KiwiTokenizer
from gyeol.lexical.tokenizers import TERMS_VERSION
from gyeol.lexical.tokenizers.kiwi import BIGRAM_PREFIX, MORPHEME_WEIGHT, PAIR_PREFIX

__all__ = ["ROOT", "K", "HANGUL", "PREDICATES", "Terms", "SKIPS", "CACHE", "DataSet", "load_set", "timed",
           "terms_of", "split_mixed", "simple_terms", "search", "metrics", "Fields",
           "BIGRAM_PREFIX", "MORPHEME_WEIGHT", "PAIR_PREFIX"]

ROOT = Path(__file__).resolve().parents[1]
K = 10
HANGUL = re.compile("[\uac00-\ud7a3]")
PREDICATES = {"VV", "VA", "VX"}

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


# ---------------------------------------------------------------------------------- scoring


def search(doc_terms: Terms, query_terms: Terms, params: BM25, skips: tuple[str, ...] = ()) -> list[np.ndarray]:
    index = BM25Index(params, skips)
    index.add(doc_terms)
    return [index.search(q, K).labels for q in query_terms]


def metrics(ds: DataSet, labels: list[np.ndarray], picked: list[int]) -> dict[str, np.ndarray]:
    ranked = [[ds.ids[j] for j in labels[i]] for i in picked]
    qrels = [{doc: 1.0 for doc in ds.queries[i]["relevant"]} for i in picked]
    m = rank_metrics(ranked, qrels, K)
    return {"mrr@10": m["mrr@10"], "recall@10": m["recall@10"]}


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


def write_report(out: Path, name: str, report: dict[str, Any]) -> Path:
    """Write report as out/<name>.json (temp file, then replace) and give back the path."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
