"""The writer gives freed pages back (gyeol._memory): counted by rows, and after merges, compact and close."""

from __future__ import annotations

import numpy as np

import gyeol
from gyeol import _memory


def _calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = _memory.release_now
    monkeypatch.setattr(_memory, "release_now", lambda: (calls.append(1), real())[1])
    return calls


def test_release_now_runs_on_this_libc() -> None:
    _memory.release_now()  # glibc's malloc_trim where there is one, pyarrow's pool in any case
    assert _memory._trim is not None  # looked up once


def test_rows_are_counted_until_the_threshold(monkeypatch) -> None:
    calls = _calls(monkeypatch)
    monkeypatch.setattr(_memory, "_rows_since", 0)
    _memory.released(_memory.TRIM_EVERY_ROWS - 1)
    assert calls == []
    _memory.released(1)
    assert len(calls) == 1
    assert _memory._rows_since == 0  # counting starts again
    _memory.released(5)
    assert len(calls) == 1


def test_writes_compact_and_close_release(monkeypatch, tmp_path) -> None:
    import gyeol.collection as collection_module

    calls: list[str] = []
    monkeypatch.setattr(collection_module, "release_now", lambda: calls.append("now"))
    monkeypatch.setattr(collection_module, "released", lambda rows: calls.append(f"rows {rows}"))
    db = gyeol.connect(tmp_path / "db")
    col = db.create_collection("c", embedder=None, dim=4, tokenizer=None)
    vectors = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    col.add(["a", "b", "c"], vectors=vectors)
    assert calls == ["rows 3"]
    col.compact()
    assert calls[-1] == "now"
    db.close()
    assert calls[-1] == "now" and len(calls) == 3
