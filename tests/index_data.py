"""Synthetic vectors and exact references shared by the index tests (tiers, GPU)."""

from __future__ import annotations

import numpy as np

DIM = 48


def clustered(n: int, nq: int, *, dim: int = DIM, seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    """Unit vectors around n/40 cluster centres with a decaying noise spectrum; queries from the same law."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(8, n // 40), dim)).astype(np.float32)
    scales = (np.arange(1, dim + 1, dtype=np.float32) ** -0.5) * 1.5

    def draw(m: int, r: np.random.Generator) -> np.ndarray:
        x = centres[r.integers(0, len(centres), m)] + r.standard_normal((m, dim)).astype(np.float32) * scales
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    return draw(n, rng), draw(nq, np.random.default_rng(seed + 1))


def exact(x: np.ndarray, q: np.ndarray, k: int, metric: str = "cosine", mask: np.ndarray | None = None):
    """Reference top-k by numpy: (scores, labels), higher is better, l2 = minus the Euclidean distance."""
    if metric == "l2":
        scores = -np.sqrt(np.maximum(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))
    else:
        scores = q @ x.T
    if mask is not None:
        scores = np.where(mask[None, :], scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(f[f >= 0]) & set(t)) / len(t) for f, t in zip(found, truth)]))
