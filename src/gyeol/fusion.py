"""Rank fusion: pure functions over Ranked lists (one per side); inputs are never mutated."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .ranked import Ranked

__all__ = ["Fused", "rrf", "relative_score"]


@dataclass(slots=True)  # a value, never changed once made (like Ranked)
class Fused:
    """Fused labels best first, their fused scores, and each side's own score of each label.

    side_scores[i][j] is what side i scored labels[j], NaN where side i did not rank it.
    """

    labels: np.ndarray
    scores: np.ndarray
    side_scores: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return len(self.labels)

    def head(self, k: int) -> "Fused":
        """The k best."""
        if len(self.labels) <= k:
            return self
        return Fused(self.labels[:k], self.scores[:k], tuple(s[:k] for s in self.side_scores))


def _fuse(sides: Sequence[Ranked], contributions: Sequence[np.ndarray]) -> Fused:
    side_labels = [np.asarray(side.labels, dtype=np.int64) for side in sides]
    all_labels = np.concatenate(side_labels) if side_labels else np.empty(0, np.int64)
    if len(all_labels) == 0:
        empty = np.empty(0, np.float64)
        return Fused(np.empty(0, np.int64), empty, tuple(empty for _ in sides))
    all_contrib = np.concatenate([np.asarray(c, dtype=np.float64) for c in contributions])
    unique, inverse = np.unique(all_labels, return_inverse=True)
    fused = np.bincount(inverse, weights=all_contrib, minlength=len(unique))
    order = np.lexsort((unique, -fused))  # best score first, then the smaller label
    position = np.empty(len(unique), np.int64)
    position[order] = np.arange(len(unique))
    side_scores = []
    start = 0
    for side, labels in zip(sides, side_labels):  # a side's entries are one run of the concatenation
        stop = start + len(labels)
        aligned = np.full(len(unique), np.nan)
        aligned[position[inverse[start:stop]]] = side.scores
        side_scores.append(aligned)
        start = stop
    return Fused(unique[order], fused[order], tuple(side_scores))


def rrf(sides: Sequence[Ranked], weights: Sequence[float], rrf_k: float = 60.0) -> Fused:
    """Reciprocal-rank fusion: score = sum over sides of weight / (rrf_k + rank), ranks from 1.

    Each side ranks distinct labels, best first. Ties go to the smaller label.
    """
    contributions = [
        np.full(len(side.labels), w, dtype=np.float64) / (rrf_k + np.arange(1, len(side.labels) + 1))
        for side, w in zip(sides, weights)
    ]
    return _fuse(sides, contributions)


def relative_score(sides: Sequence[Ranked], weights: Sequence[float]) -> Fused:
    """Weaviate's relative-score fusion: each side's scores min-max normalised to [0, 1], weighted, summed.

    A side whose scores are all equal normalises to 1 for every entry.
    """
    contributions = []
    for side, w in zip(sides, weights):
        s = np.asarray(side.scores, dtype=np.float64)
        if len(s) == 0:
            contributions.append(s)
            continue
        lo, hi = s.min(), s.max()
        norm = (s - lo) / (hi - lo) if hi > lo else np.ones_like(s)
        contributions.append(w * norm)
    return _fuse(sides, contributions)
