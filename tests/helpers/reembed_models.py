"""Two deterministic fake models for the re-embedding tests (shared by the test and its child processes)."""

from __future__ import annotations

import hashlib
import time

import numpy as np

PROBE_PREFIX = "gyeol embedder probe"  # gyeol's identity probe text starts so; not a document


def _word_vector(word: str, dim: int, salt: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(f"{salt}:{word}".encode(), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class _BagOfWords:
    """Each lowercased word hashes to a fixed random direction (per model); a text sums its words."""

    dim = 0
    salt = ""

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep
        self.documents: list[str] = []  # every text embed_documents saw, probe included
        self.queries: list[str] = []

    def vectors(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, text in enumerate(texts):
            for word in text.lower().split() or ["<empty>"]:
                out[i] += _word_vector(word, self.dim, self.salt)
        return out

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        if self.sleep:
            time.sleep(self.sleep)
        self.documents.extend(texts)
        return self.vectors(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.queries.extend(texts)
        return self.vectors(texts)

    def embedded_documents(self) -> list[str]:
        """The documents embedded, without gyeol's identity probe."""
        return [t for t in self.documents if not t.startswith(PROBE_PREFIX)]


class OldModel(_BagOfWords):
    name = "old-model"
    dim = 32
    salt = "old"


class NewModel(_BagOfWords):
    name = "new-model"
    dim = 48
    salt = "new"
