"""Rank fusion: pure functions over (labels, scores) arrays; inputs are never mutated."""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["rrf", "relative_score"]


def _fuse(labels: Sequence[np.ndarray], contributions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    all_labels = np.concatenate([np.asarray(x, dtype=np.int64) for x in labels])
    all_contrib = np.concatenate([np.asarray(c, dtype=np.float64) for c in contributions])
    if len(all_labels) == 0:
        return np.empty(0, np.int64), np.empty(0, np.float64)
    unique, inverse = np.unique(all_labels, return_inverse=True)
    fused = np.zeros(len(unique), dtype=np.float64)
    np.add.at(fused, inverse, all_contrib)
    order = np.lexsort((unique, -fused))  # best score first, then the smaller label
    return unique[order], fused[order]


def rrf(
    ranked_labels: Sequence[np.ndarray], weights: Sequence[float], rrf_k: float = 60.0
) -> tuple[np.ndarray, np.ndarray]:
    """Reciprocal-rank fusion: score = sum over lists of weight / (rrf_k + rank), ranks from 1.

    Gives back (labels, scores), best first; ties go to the smaller label.
    """
    contributions = [
        np.full(len(lab), w, dtype=np.float64) / (rrf_k + np.arange(1, len(lab) + 1))
        for lab, w in zip(ranked_labels, weights)
    ]
    return _fuse(ranked_labels, contributions)


def relative_score(
    ranked_labels: Sequence[np.ndarray], scores: Sequence[np.ndarray], weights: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """Weaviate's relative-score fusion: each list min-max normalised to [0, 1], then weighted and summed.

    A list whose scores are all equal normalises to 1 for every entry.
    """
    contributions = []
    for s, w in zip(scores, weights):
        s = np.asarray(s, dtype=np.float64)
        if len(s) == 0:
            contributions.append(s)
            continue
        lo, hi = s.min(), s.max()
        norm = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
        contributions.append(w * norm)
    return _fuse(ranked_labels, contributions)
