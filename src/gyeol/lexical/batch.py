"""Scoring and top-k of a batch of BM25 queries at once, over plain arrays (BM25Index.search_many's core).

The caller gathers, once per distinct term of the batch, that term's live (and allowed) postings:
`docs` (labels, ascending within a term) and `tf_part` (scoring.tf_part). A (query, term) *pair*
names a range of those postings and the term's idf times its multiplicity in the query. Every
pair's postings are laid end to end, query by query, terms ascending, and summed per
(query, label) in that order, by one bincount over the keys query * n_labels + label: densely over
a block of queries when their postings are many, through the sorted distinct keys when few. Either
way a (query, label)'s terms are added in the same order from 0.0, so the scores are the same
floats whatever the path or the batch. Top-k: a partial selection per row (dense) or one lexsort
(sparse), best first, ties to the smaller label.
"""

from __future__ import annotations

import numpy as np

from .._arrays import concat_ranges, top_k
from ..ranked import Ranked

__all__ = ["DENSE_FILL", "rank_pairs", "top_k_of_row"]

# a dense block holds at most this many (query, label) scores (512 KiB: it stays in the core's cache; measured
# with benchmarks/keyword_scale.py's documents at 10k-200k, 1.3-2.4x the batched QPS of 32 MiB blocks)
DENSE_CELLS = 1 << 16
DENSE_FILL = 8  # dense when the block's cells are at most this many times its postings
_BLOCK = 64  # labels per block of the block-maximum bound of a dense row's k-th score

_EMPTY_LABELS = np.empty(0, np.int64)
_EMPTY_SCORES = np.empty(0, np.float64)


def rank_pairs(
    pair_query: np.ndarray, pair_term: np.ndarray, pair_idf: np.ndarray, term_start: np.ndarray,
    term_end: np.ndarray, docs: np.ndarray, tf_part: np.ndarray, n_queries: int, n_labels: int,
    constants: np.ndarray | None, k: int,
) -> list[Ranked]:
    """Give back the k best hits of each query 0..n_queries-1 (a hit: a label holding one of its terms).

    Pairs are sorted by query, then term; pair_term indexes term_start / term_end, the term's
    postings in docs / tf_part. constants: what every live document gets per query (bm25plus),
    added to each hit's score; None when nothing.
    """
    lens = (term_end - term_start)[pair_term]
    per_query = np.bincount(pair_query, weights=lens, minlength=n_queries)
    if not per_query.any():  # every posting dead or not allowed
        return [Ranked(_EMPTY_LABELS, _EMPTY_SCORES) for _ in range(n_queries)]
    if n_queries == 1 and len(pair_query) == 1:  # one term: each label appears once, nothing to sum
        start, end = term_start[pair_term[0]], term_end[pair_term[0]]
        scores = tf_part[start:end] * pair_idf[0]
        if constants is not None:
            scores = scores + constants[0]
        best_scores, best_labels = top_k(scores, docs[start:end], k)
        return [Ranked(best_labels, best_scores)]
    rows = max(1, DENSE_CELLS // max(n_labels, 1))
    pair_bounds = np.searchsorted(pair_query, np.arange(0, n_queries + rows, rows)).tolist()
    results: list[Ranked] = []
    for chunk, first in enumerate(range(0, n_queries, rows)):
        last = min(n_queries, first + rows)
        pairs = slice(pair_bounds[chunk], pair_bounds[chunk + 1])
        chunk_args = (pair_query[pairs] - first, pair_term[pairs], pair_idf[pairs], term_start, term_end, docs,
                      tf_part, last - first, n_labels)
        if (last - first) * n_labels <= DENSE_FILL * per_query[first:last].sum():
            row, label, score = _dense(*chunk_args, k)
        else:
            row, label, score = _sparse(*chunk_args, k)
        if constants is not None:
            score = score + constants[first:last][row]
        if n_queries == 1:  # _dense and _sparse rank a lone query's hits themselves
            return [Ranked(label.astype(np.int64, copy=False), score)]
        results.extend(_first_k_per_row(row, label, score, last - first, k))
    return results


def _dense(query: np.ndarray, term: np.ndarray, idf: np.ndarray, term_start: np.ndarray, term_end: np.ndarray,
           docs: np.ndarray, tf_part: np.ndarray, n_queries: int, width: int, k: int
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every query's scores in a row of width labels (one bincount); give back the (row, label, score) of the
    candidates for each row's top k (every hit at or above a bound)."""
    key_parts: list[np.ndarray] = []
    weight_parts: list[np.ndarray] = []
    for q, t, w in zip((query * width).tolist(), term.tolist(), idf.tolist()):  # by query, terms ascending
        start, end = term_start[t], term_end[t]
        if end > start:
            key_parts.append(docs[start:end] + q)
            weight_parts.append(tf_part[start:end] * w)
    keys = np.concatenate(key_parts)
    cells = n_queries * width
    grid = np.bincount(keys, weights=np.concatenate(weight_parts), minlength=cells).reshape(n_queries, width)
    if n_queries == 1:
        return _one_row(grid[0], keys, k)
    # the bound: the k-th largest block maximum of a row is at most its k-th largest score; when it is
    # above 0 every label at or above it is a hit (a label holding no query term scores 0)
    block = min(_BLOCK, width // (2 * k))
    if block >= 2:
        # the last block may be short; reduceat is several times faster than a reshaped max
        maxima = np.maximum.reduceat(grid, np.arange(0, width, block), axis=1)
        blocks = maxima.shape[1]
        bound = np.partition(maxima, blocks - k, axis=1)[:, blocks - k]
    else:
        bound = np.zeros(n_queries)
    if (bound > 0).all():
        row, label = np.nonzero(grid >= bound[:, None])
        return row, label, grid[row, label]
    hit = np.bincount(keys, minlength=cells).reshape(n_queries, width) > 0
    floor = np.where(bound > 0, bound, -np.inf)
    row, label = np.nonzero(hit & (grid >= floor[:, None]))
    return row, label, grid[row, label]


def _sparse(query: np.ndarray, term: np.ndarray, idf: np.ndarray, term_start: np.ndarray, term_end: np.ndarray,
            docs: np.ndarray, tf_part: np.ndarray, n_queries: int, width: int, k: int
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (row, label, score) of every hit, summed over the sorted distinct (query, label) keys."""
    starts, ends = term_start[term], term_end[term]
    lens = ends - starts
    index = concat_ranges(starts, ends)
    keys = np.repeat(query * width, lens) + docs[index]
    weights = tf_part[index] * np.repeat(idf, lens)
    hit_keys, inverse = np.unique(keys, return_inverse=True)
    scores = np.bincount(inverse, weights=weights, minlength=len(hit_keys))
    row, label = np.divmod(hit_keys, width)
    if n_queries == 1:  # a partial selection, not a sort of every hit
        best_scores, best_labels = top_k(scores, label, k)
        return np.zeros(len(best_labels), np.int64), best_labels, best_scores
    return row, label, scores


def _one_row(scores: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The top k of one query's dense row (keys: its postings' labels), as _dense gives them."""
    best_scores, best_labels = top_k_of_row(scores, keys, k)
    return np.zeros(len(best_labels), np.int64), best_labels, best_scores


def top_k_of_row(scores: np.ndarray, keys: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, labels) of the k best hits of a dense row of one query's scores over every label; keys:
    the labels of its postings (a label not among them holds no query term: not a hit)."""
    best_scores, best_labels = top_k(scores, None, k)
    if len(best_scores) < k or best_scores[-1] <= 0:  # a label holding no query term (score 0) may be in
        scores = np.where(np.bincount(keys, minlength=len(scores)) > 0, scores, -np.inf)
        best_scores, best_labels = top_k(scores, None, k)
    return best_scores, best_labels


def _first_k_per_row(row: np.ndarray, label: np.ndarray, score: np.ndarray, n_rows: int, k: int) -> list[Ranked]:
    """Each row's k best of the candidates (row, label, score), best first, ties to the smaller label."""
    order = np.lexsort((label, -score, row))
    row, label, score = row[order], label[order].astype(np.int64, copy=False), score[order]
    starts = np.searchsorted(row, np.arange(n_rows + 1))
    keep = np.arange(len(row)) - starts[row] < k
    label, score = label[keep], score[keep]
    sizes = np.minimum(np.diff(starts), k)
    bounds = np.concatenate(([0], np.cumsum(sizes))).tolist()
    return [Ranked(label[a:b], score[a:b]) if b > a else Ranked(_EMPTY_LABELS, _EMPTY_SCORES)
            for a, b in zip(bounds[:-1], bounds[1:])]
