"""Shared fixtures: a tiny deterministic embedder, database paths, exact numpy search, snapshots."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gyeol

DIM = 32
SRC = Path(gyeol.__file__).resolve().parents[1]  # the gyeol this test run imported, for subprocesses
HELPERS = Path(__file__).resolve().parent / "helpers"


# --------------------------------------------------------------------------- embedders


@lru_cache(maxsize=4096)
def _word_vector(word: str, dim: int) -> np.ndarray:
    seed = int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)


class HashEmbedder:
    """Bag of words: each lowercased word hashes to a fixed random direction; a text sums its words.

    Deterministic across processes (blake2b, not Python's salted hash()), so a test and a
    subprocess embed the same text to the same vector. Texts sharing words are close.
    """

    def __init__(self, dim: int = DIM) -> None:
        self.dim = dim
        self.name = "hash-words"
        self.calls = 0

    def embed(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            words = text.lower().split() or ["<empty>"]
            for word in words:
                out[i] += _word_vector(word, self.dim)
        return out


def hash_embed(texts: list[str]) -> np.ndarray:
    """The HashEmbedder as a plain callable (list[str] -> array)."""
    return HashEmbedder().embed(texts)


@pytest.fixture
def embedder() -> HashEmbedder:
    return HashEmbedder()


class OpenedBars(list):
    """The bars opened, as (total, desc, delay); .updates: (desc, n) of every update, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.updates: list[tuple[str, int]] = []

    def clear(self) -> None:
        super().clear()
        self.updates.clear()


@pytest.fixture
def progress_bars(monkeypatch: pytest.MonkeyPatch) -> OpenedBars:
    """Every progress bar gyeol opens during the test, as (total, desc, delay); progress switched on."""
    import tqdm.auto

    from gyeol import progress as progress_mod

    bars = OpenedBars()

    class FakeBar:
        def __init__(self, total: Any, desc: str, unit: str, delay: Any, leave: bool) -> None:
            bars.append((total, desc, delay))
            self.desc = desc

        def update(self, n: int) -> None:
            bars.updates.append((self.desc, n))

        def close(self) -> None:
            pass

    monkeypatch.setattr(tqdm.auto, "tqdm", FakeBar)
    monkeypatch.setattr(progress_mod, "_enabled", None)
    return bars


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """A database directory that does not exist yet (connect creates it)."""
    return tmp_path / "kb"


def new_collection(db: gyeol.Database, name: str = "docs", **kwargs: Any) -> gyeol.Collection:
    """A collection with test defaults: no embedder, DIM, whitespace tokenizer, exact Flat index."""
    kwargs.setdefault("embedder", None)
    if kwargs["embedder"] is None:
        kwargs.setdefault("dim", DIM)
    kwargs.setdefault("tokenizer", "whitespace")
    kwargs.setdefault("index", gyeol.Flat())
    return db.create_collection(name, **kwargs)


def random_vectors(rng: np.random.Generator, n: int, dim: int = DIM) -> np.ndarray:
    return rng.standard_normal((n, dim)).astype(np.float32)


# --------------------------------------------------------------------------- exact reference


def stored_form(vectors: np.ndarray, metric: str) -> np.ndarray:
    """What the collection stores for these input vectors: unit rows for cosine, as given otherwise."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if metric == "cosine":
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def exact_scores(vectors: np.ndarray, query: np.ndarray, metric: str) -> np.ndarray:
    """Every row's score for one query, higher is better (l2: minus the Euclidean distance)."""
    vectors = np.asarray(vectors, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64).reshape(-1)
    if metric == "cosine":
        vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        query = query / np.linalg.norm(query)
        return vectors @ query
    if metric == "ip":
        return vectors @ query
    return -np.linalg.norm(vectors - query, axis=1)


def exact_search(ids: list[str], vectors: np.ndarray, query: np.ndarray, metric: str, k: int):
    """(ids, scores) of the exact top k, best first."""
    if len(ids) == 0:
        return [], np.empty(0)
    scores = exact_scores(vectors, query, metric)
    order = np.argsort(-scores, kind="stable")[:k]
    return [ids[i] for i in order], scores[order]


def assert_same_ranking(
    got_ids: list[str],
    got_scores: list[float] | np.ndarray,
    ref_ids: list[str],
    ref_scores: np.ndarray,
    *,
    all_scores: dict[str, float] | None = None,
    tol: float = 1e-4,
) -> None:
    """The hits equal the exact top k: same length and scores, same order except within near-ties.

    all_scores (id -> exact score of every candidate) lets the check confirm that a hit
    swapped inside a near-tie really has the tied score.
    """
    got_scores = np.asarray(got_scores, dtype=np.float64)
    assert len(got_ids) == len(ref_ids), f"{len(got_ids)} hits, expected {len(ref_ids)}"
    assert len(set(got_ids)) == len(got_ids), f"duplicate ids in hits: {got_ids}"
    np.testing.assert_allclose(got_scores, ref_scores, rtol=tol, atol=tol)
    for i, (got, ref) in enumerate(zip(got_ids, ref_ids)):
        if got == ref:
            continue
        near_tie = (i > 0 and abs(ref_scores[i] - ref_scores[i - 1]) <= 2 * tol) or (
            i + 1 < len(ref_scores) and abs(ref_scores[i] - ref_scores[i + 1]) <= 2 * tol
        )
        assert near_tie, f"rank {i + 1}: got {got}, expected {ref} (scores {got_scores[i]} vs {ref_scores[i]})"
        if all_scores is not None:
            assert abs(all_scores[got] - got_scores[i]) <= 2 * tol, f"{got} has score {all_scores[got]}"


# --------------------------------------------------------------------------- files on disk


def snapshot(path: Path) -> dict[str, bytes]:
    """Every file under path (relative name -> content digest), to prove a call wrote nothing."""
    out = {}
    if not path.exists():
        return out
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        out[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).digest()
    return out


# --------------------------------------------------------------------------- subprocesses


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HELPERS.parent)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env["PYTHONUNBUFFERED"] = "1"
    env.setdefault("HF_HUB_OFFLINE", "1")
    return env


def helper_command(script: str, *args: Any) -> list[str]:
    return [sys.executable, str(HELPERS / script), *map(str, args)]


def run_helper(script: str, *args: Any, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run tests/helpers/<script> to completion and give back its output."""
    return subprocess.run(
        helper_command(script, *args), env=subprocess_env(), capture_output=True, text=True, timeout=timeout
    )


def start_helper(script: str, *args: Any, **kwargs: Any) -> subprocess.Popen:
    """Start tests/helpers/<script> with line-buffered text pipes."""
    return subprocess.Popen(
        helper_command(script, *args), env=subprocess_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, bufsize=1, **kwargs,
    )


# --------------------------------------------------------------------------- fusion reference


def hand_fusion(col, query: str, depth: int, alpha: float, fusion: str) -> dict[str, float]:
    """Fused score of every hit of each side's top `depth`, computed from single-side searches."""
    fused: dict[str, float] = {}
    for mode, weight in (("vector", alpha), ("keyword", 1 - alpha)):
        side = col.search(query, mode=mode, k=depth)
        if fusion == "rrf":
            parts = {hid: weight / (60 + rank) for rank, hid in enumerate(side.ids, 1)}
        else:
            lo, hi = min(side.scores), max(side.scores)
            parts = {h.id: weight * ((h.score - lo) / (hi - lo) if hi > lo else 1.0) for h in side}
        for hid, part in parts.items():
            fused[hid] = fused.get(hid, 0.0) + part
    return fused
