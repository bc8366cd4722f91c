"""Ranked: labels best first with their scores, what every index's search gives back and fusion takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ranked"]


@dataclass(frozen=True, slots=True)
class Ranked:
    """Labels best first and their scores (higher is better), of one query (k,) or a batch (nq, k).

    Deliberately not a tuple: `scores, labels = index.search(...)` written for the old
    (scores, labels) pairs fails loudly instead of swapping the two.
    """

    labels: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def row(self, i: int) -> "Ranked":
        """Query i of a batch, with its empty slots (label -1) dropped."""
        labels, scores = self.labels[i], self.scores[i]
        if len(labels) and labels.min() < 0:
            keep = labels >= 0
            labels, scores = labels[keep], scores[keep]
        return Ranked(labels, scores)

    def head(self, k: int) -> "Ranked":
        """The k best."""
        return Ranked(self.labels[:k], self.scores[:k])
