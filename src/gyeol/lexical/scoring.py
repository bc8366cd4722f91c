"""BM25 variants as small pure functions over numpy arrays, picked by name.

The formulas follow rank_bm25 (BM25Okapi, BM25L, BM25Plus) term for term so that
scores agree with it to rounding; "lucene" is Lucene's idf with Okapi's tf part.
A query term's contribution to a document that contains it is
`weight(tf, norm, idf)` = `tf_part(tf, norm) * idf`; to a document that lacks it, `idf * absent_weight`
(non-zero only for bm25plus, whose delta rewards every document).
"""

from __future__ import annotations

import numpy as np

from ..config import BM25


def idf(params: BM25, df: np.ndarray, n_docs: int, mean_idf: float) -> np.ndarray:
    """Give back the idf of terms with live document frequencies df (all > 0).

    mean_idf: okapi's average raw idf over every live term (for its epsilon floor);
    ignored by the other variants.
    """
    df = df.astype(np.float64, copy=False)
    if params.variant == "okapi":
        raw = np.log(n_docs - df + 0.5) - np.log(df + 0.5)
        return np.where(raw < 0, params.epsilon * mean_idf, raw)
    if params.variant == "bm25l":
        return np.log(n_docs + 1.0) - np.log(df + 0.5)
    if params.variant == "bm25plus":
        return np.log((n_docs + 1.0) / df)
    if params.variant == "lucene":
        return np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))
    raise AssertionError(f"unvalidated BM25 variant {params.variant!r}")  # config validates it


def mean_okapi_idf(df_live: np.ndarray, n_docs: int) -> float:
    """Give back rank_bm25's average_idf: the mean raw Okapi idf over terms with df > 0."""
    present = df_live[df_live > 0].astype(np.float64)
    if len(present) == 0:
        return 0.0
    return float(np.mean(np.log(n_docs - present + 0.5) - np.log(present + 0.5)))


def length_norm(params: BM25, doc_len: np.ndarray, avgdl: float) -> np.ndarray:
    """Give back each document's length normalisation, as the variant's tf part consumes it.

    okapi, lucene, bm25plus: k1 * (1 - b + b * dl / avgdl); bm25l: 1 - b + b * dl / avgdl.
    It depends only on the document and the live stats, so it is computed once per change.
    """
    norm = 1.0 - params.b + params.b * doc_len / avgdl
    return norm if params.variant == "bm25l" else params.k1 * norm


def tf_part(params: BM25, tf: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """Give back the tf part of the postings (tf >= 1, norm of their documents) of a term: its weight over idf."""
    k1 = params.k1
    if params.variant in ("okapi", "lucene", "bm25plus"):
        # bm25plus: the delta every document gets is absent_weight(); only the rest depends on tf.
        # tf * (k1 + 1) / (tf + norm), the same floats, converting tf once and dividing in place
        out = np.array(tf, dtype=np.float64)  # a copy: it is written in place
        denominator = out + norm
        out *= k1 + 1.0
        out /= denominator
        return out
    if params.variant == "bm25l":
        delta = params.effective_delta
        ctd = tf / norm
        return (k1 + 1.0) * tf * (ctd + delta) / (k1 + ctd + delta)
    raise AssertionError(f"unvalidated BM25 variant {params.variant!r}")


def weight(params: BM25, tf: np.ndarray, norm: np.ndarray, idf: float) -> np.ndarray:
    """Give back idf times the tf part, for the postings of one term (as searches compute it: the same floats)."""
    return tf_part(params, tf, norm) * idf


def absent_weight(params: BM25) -> float:
    """Give back what a term adds (times its idf) to every live document, containing it or not."""
    return params.effective_delta if params.variant == "bm25plus" else 0.0
