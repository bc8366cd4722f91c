"""Ranked: labels best first with their scores, what every index's search gives back and fusion takes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Ranked"]


@dataclass(slots=True)  # a value, never changed once made (not frozen: made on every query, and frozen costs)
class Ranked:
    """Labels best first and their scores (higher is better), of one query (k,) or a batch (nq, k).

    Deliberately not a tuple: `scores, labels = index.search(...)` written for the old
    (scores, labels) pairs fails loudly instead of swapping the two.
    """

    labels: np.ndarray
    scores: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self) -> list["Ranked"]:
        """Each query of a batch on its own, its empty slots (label -1, always last) dropped."""
        labels, scores = self.labels, self.scores
        if not len(labels) or labels[:, -1].min() >= 0:  # every slot filled: nothing to drop
            return [Ranked(lab, sc) for lab, sc in zip(labels, scores)]
        return [Ranked(lab[lab >= 0], sc[lab >= 0]) for lab, sc in zip(labels, scores)]

    def head(self, k: int) -> "Ranked":
        """The k best."""
        if len(self.labels) <= k:
            return self
        return Ranked(self.labels[:k], self.scores[:k])
