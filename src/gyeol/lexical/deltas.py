"""The per-commit BM25 deltas a writer appends to its saved index (index/bm25/bm25.json).

A saved BM25 index covers labels 0..n_labels-1 of one generation. Each write that a writer
commits afterwards appends the TermCounts of its new labels as a delta (first_label, count),
so a reader that opens later, or follows the writer's commits, adds the counts instead of
tokenizing those texts again. Deltas are appended only after the store's commit, and only
when they continue the chain exactly (first_label == what the save and its deltas cover), so
a delta never describes rows that were not committed; a crash between the commit and the
append leaves the chain short, and whoever opens next tokenizes the missing texts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..errors import CorruptionError
from ._persist import SavedArrays, append_arrays, header_count, open_saved
from .counts import COUNT_DTYPES, TermCounts

__all__ = ["Coverage", "coverage", "append_delta", "chained_deltas"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Coverage:
    """What a saved index covers: its base save's labels, and the deltas appended since."""

    base_labels: int
    n_deltas: int
    delta_labels: int

    @property
    def end(self) -> int:
        """The first label neither the save nor its deltas cover."""
        return self.base_labels + self.delta_labels


def _matching(directory: Path, generation: int, terms: dict[str, Any] | None) -> SavedArrays | None:
    """The save in directory when it is of this generation and terms description; None otherwise."""
    saved = open_saved(directory)
    if saved is None or saved.header.get("generation") != generation or saved.header.get("terms") != terms:
        return None
    return saved


def coverage(directory: Path, generation: int, terms: dict[str, Any] | None) -> Coverage | None:
    """What the save in directory covers (reads only its JSON); None when there is none that matches."""
    try:
        saved = _matching(directory, generation, terms)
        if saved is None:
            return None
        base = header_count(saved.header, "n_labels")
        end = base
        for delta in saved.deltas:  # a broken chain is never appended to
            if header_count(delta.header, "first_label") != end:
                return None
            end += header_count(delta.header, "count")
        return Coverage(base, len(saved.deltas), end - base)
    except CorruptionError as exc:
        logger.warning("BM25 index at %s is damaged (%s); it will be saved anew", directory, exc)
        return None


def append_delta(directory: Path, counts: TermCounts, first_label: int, generation: int,
                 terms: dict[str, Any] | None) -> bool:
    """Append counts as labels first_label.. of the save; False (nothing written) when they do not continue it."""
    covered = coverage(directory, generation, terms)
    if covered is None or covered.end != first_label:
        return False
    append_arrays(directory, counts.to_arrays(), {"first_label": int(first_label), "count": counts.n_docs})
    return True


def chained_deltas(saved: SavedArrays, start: int, max_labels: int) -> Iterator[TermCounts]:
    """The deltas of saved that continue from label start, in order, while they end by max_labels.

    CorruptionError when one is damaged; a delta that does not continue the chain ends it.
    """
    end = start
    for delta in saved.deltas:
        first, count = header_count(delta.header, "first_label"), header_count(delta.header, "count")
        if first + count <= end:  # covered already (a reader following from a later label)
            continue
        if first != end or first + count > max_labels:
            return
        counts = TermCounts.from_arrays(delta.load(COUNT_DTYPES))
        if counts.n_docs != count:
            raise CorruptionError(f"a delta says {count} documents and holds {counts.n_docs}")
        yield counts
        end += count
