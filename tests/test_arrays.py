"""The array plumbing every index shares: the growable array, against plain numpy."""

from __future__ import annotations

import numpy as np
import pytest

from gyeol._arrays import GrowableArray


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
