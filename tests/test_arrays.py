"""The array plumbing every index shares: top-k selection and the growable array, against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from gyeol._arrays import GrowableArray, concat_ranges, strings_from_arrays, strings_to_arrays, top_k
from gyeol.errors import CorruptionError


def reference_top_k(scores: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best first, equal scores in row order: a full stable sort of one row; -inf slots dropped."""
    order = np.argsort(-scores, kind="stable")
    order = order[scores[order] > -np.inf][:k]
    return scores[order], labels[order]


def tied_scores(rng: np.random.Generator, shape: tuple[int, ...], empty: float) -> np.ndarray:
    """Scores drawn from a handful of values, so ties are everywhere, some slots empty (-inf)."""
    scores = rng.integers(0, 6, size=shape).astype(np.float32)
    scores[rng.random(shape) < empty] = -np.inf
    return scores


@pytest.mark.parametrize("n, k", [(0, 3), (5, 10), (40, 10), (3000, 5), (20_000, 7), (20_000, 1)])
@pytest.mark.parametrize("labelled", [True, False])
def test_one_row_matches_a_full_stable_sort(n, k, labelled, rng):
    for empty in (0.0, 0.5, 1.0):
        scores = tied_scores(rng, (n,), empty).astype(np.float64)
        labels = np.sort(rng.choice(10 * n + 1, size=n, replace=False)) if labelled else np.arange(n)
        got_scores, got_labels = top_k(scores, labels if labelled else None, k)
        want_scores, want_labels = reference_top_k(scores, labels, k)
        assert got_scores.dtype == np.float64 and got_labels.dtype == np.int64
        np.testing.assert_array_equal(got_scores, want_scores)
        np.testing.assert_array_equal(got_labels, want_labels)


@pytest.mark.parametrize("nq, width, k", [(1, 7, 10), (1, 50, 10), (1, 2000, 10), (6, 7, 10), (6, 50, 10),
                                          (6, 2000, 10), (40, 300, 3)])
def test_rows_match_a_full_stable_sort_padded_with_empty_slots(nq, width, k, rng):
    scores = tied_scores(rng, (nq, width), 0.3)
    labels = rng.permutation(nq * width).reshape(nq, width).astype(np.int64)
    labels[scores == -np.inf] = -1
    got_scores, got_labels = top_k(scores, labels, k)
    assert got_scores.shape == got_labels.shape == (nq, k) and got_scores.dtype == np.float32
    for row in range(nq):
        want_scores, want_labels = reference_top_k(scores[row], labels[row], k)
        found = len(want_scores)
        np.testing.assert_array_equal(got_scores[row, :found], want_scores)
        np.testing.assert_array_equal(got_labels[row, :found], want_labels)
        assert np.all(got_scores[row, found:] == -np.inf) and np.all(got_labels[row, found:] == -1)


def test_growable_array_appends_rows_and_copies_a_read_only_base_before_writing():
    base = np.arange(6, dtype=np.float32).reshape(3, 2)
    base.flags.writeable = False
    grow = GrowableArray(np.float32, row_shape=(2,), initial=base)
    view = grow.view()
    for start in range(0, 300, 30):
        grow.extend(np.full((30, 2), start, np.float32))
    grow.set_at(np.array([0]), 99.0)
    assert len(grow) == 303
    np.testing.assert_array_equal(base, np.arange(6, dtype=np.float32).reshape(3, 2))  # never written
    np.testing.assert_array_equal(view, base)  # an old view still shows what it showed
    expected = np.concatenate([base] + [np.full((30, 2), s, np.float32) for s in range(0, 300, 30)])
    expected[0] = 99.0
    np.testing.assert_array_equal(grow.view(), expected)
    with pytest.raises(ValueError):
        grow.view()[1] = 0.0  # views are read-only: writes go through the array's methods


def test_growable_array_counts_like_numpy():
    counts = GrowableArray(np.int64)
    counts.resize(5, fill=0)
    counts.add_at(np.array([1, 3]), np.array([2, 7]))
    counts.resize(7, fill=1)
    counts.resize(3, fill=9)  # never shrinks
    np.testing.assert_array_equal(counts.view(), [0, 2, 0, 7, 0, 1, 1])


def test_concat_ranges_matches_a_loop(rng):
    starts = rng.integers(0, 50, size=30)
    ends = starts + rng.integers(0, 6, size=30)
    want = np.concatenate([np.arange(s, e) for s, e in zip(starts, ends)])
    np.testing.assert_array_equal(concat_ranges(starts, ends), want)


def test_strings_round_trip_through_arrays_and_damage_is_corruption():
    strings = ["", "a", "한국어", "e\u0301", "", "👩‍💻"]
    offsets, data = strings_to_arrays(strings)
    assert strings_from_arrays(offsets, data) == strings
    assert strings_from_arrays(*strings_to_arrays([])) == []
    assert strings_from_arrays(*strings_to_arrays(["", ""])) == ["", ""]
    with pytest.raises(CorruptionError):
        strings_from_arrays(offsets + 1000, data)
    with pytest.raises(CorruptionError):
        strings_from_arrays(offsets, np.full(len(data), 0xFF, np.uint8))  # not UTF-8
