"""Document, Hit and Results: what reads and searches give back."""

from __future__ import annotations

import html
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence, overload

import numpy as np

__all__ = ["Document", "Hit", "Results", "documents_to_arrow", "documents_to_pandas"]


class _Highlighting:
    """highlight() and snippet() for a class with `text` and `query` (Document, Hit)."""

    text: str | None
    query: str | None

    def highlight(self, query: str | None = None, *, pre: str = "**", post: str = "**", unit: str = "word") -> str:
        """The text with the query's terms wrapped in pre/post (Kiwi morphemes for Korean; see gyeol.highlight)."""
        from .highlight import highlight

        return highlight(self.text or "", _query_for(query, self.query), pre=pre, post=post, unit=unit)

    def snippet(self, query: str | None = None, *, window: int = 160, pre: str = "**", post: str = "**") -> str:
        """The window characters of the text around the most query terms, highlighted."""
        from .highlight import snippet

        return snippet(self.text or "", _query_for(query, self.query), window=window, pre=pre, post=post)


@dataclass(frozen=True)
class Document(_Highlighting):
    """A stored document: id, text, metadata and (when asked for) its vector."""

    id: str
    text: str | None
    metadata: dict[str, Any] = field(default_factory=dict)
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    query: str | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Hit(_Highlighting):
    """One search result; higher score is better in every mode.

    vector: the document's stored vector, only where a reranker asked for it (MMR).
    query: the query text that found it (highlight() marks its terms).
    """

    id: str
    score: float
    text: str | None
    metadata: dict[str, Any]
    vector_score: float | None = None
    keyword_score: float | None = None
    vector: np.ndarray | None = field(default=None, repr=False, compare=False)
    query: str | None = field(default=None, repr=False, compare=False)


class Results(Sequence[Hit]):
    """The hits of one query, best first.

    Built from arrays; the Hit objects (text and metadata) are materialised on
    first access, so a caller that only needs ids pays for ids alone.
    """

    __slots__ = ("_ids", "_scores", "_vector_scores", "_keyword_scores", "_loader", "_hits", "_query")

    def __init__(
        self,
        ids: list[str],
        scores: np.ndarray,
        vector_scores: np.ndarray | None = None,
        keyword_scores: np.ndarray | None = None,
        loader: Callable[[], tuple[list[str | None], list[dict[str, Any]]]] | None = None,
    ) -> None:
        self._ids = ids
        self._scores = np.asarray(scores, dtype=np.float64)
        self._vector_scores = vector_scores
        self._keyword_scores = keyword_scores
        self._loader = loader
        self._hits: list[Hit] | None = None
        self._query: str | None = None

    @property
    def query(self) -> str | None:
        """The query text these hits answer (None for a search by vector alone)."""
        return self._query

    def with_query(self, query: str | None) -> "Results":
        """These Results, answering query (each Hit's highlight() and snippets() use it)."""
        out = Results(self._ids, self._scores, self._vector_scores, self._keyword_scores, loader=self._loader)
        out._query = query
        if self._hits is not None:
            out._hits = [replace(h, query=query) for h in self._hits]
        return out

    @classmethod
    def empty(cls) -> "Results":
        """Give back Results with no hits."""
        return cls([], np.empty(0))

    @property
    def ids(self) -> list[str]:
        return list(self._ids)

    @property
    def scores(self) -> list[float]:
        return self._scores.tolist()

    def _materialise(self) -> list[Hit]:
        if self._hits is None:
            n = len(self._ids)
            texts, metas = self._loader() if self._loader is not None else ([None] * n, [{}] * n)
            vs = _optional_floats(self._vector_scores, n)
            ks = _optional_floats(self._keyword_scores, n)
            self._hits = [
                Hit(self._ids[i], float(self._scores[i]), texts[i], metas[i], vs[i], ks[i], query=self._query)
                for i in range(n)
            ]
        return self._hits

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, i: int) -> Hit: ...
    @overload
    def __getitem__(self, i: slice) -> "Results": ...
    def __getitem__(self, i):
        if isinstance(i, slice):
            return self._take(list(range(len(self._ids)))[i])
        return self._materialise()[i]

    def _take(self, positions: list[int], scores: Sequence[float] | None = None) -> "Results":
        """Results of the hits at positions, in that order, scored anew when scores are given
        (text and metadata still loaded on demand; vectors a reranker attached are kept)."""
        pos = np.asarray(positions, dtype=np.int64)
        new_scores = self._scores[pos] if scores is None else np.asarray(scores, np.float64)
        picked = Results(
            [self._ids[p] for p in positions],
            new_scores,
            None if self._vector_scores is None else np.asarray(self._vector_scores, np.float64)[pos],
            None if self._keyword_scores is None else np.asarray(self._keyword_scores, np.float64)[pos],
            loader=lambda: _pick_rows(self._materialise(), positions),
        )
        picked._query = self._query
        if self._hits is not None and any(h.vector is not None for h in self._hits):
            picked._hits = [replace(self._hits[p], score=float(new_scores[i])) for i, p in enumerate(positions)]
        return picked

    def reorder(self, positions: Sequence[int], scores: Sequence[float] | None = None) -> "Results":
        """Results of the hits at positions, in that order, with new scores when given (a reranker's)."""
        positions = [int(p) for p in positions]
        if scores is not None and len(scores) != len(positions):
            raise ValueError(f"got {len(scores)} scores for {len(positions)} positions")
        return self._take(positions, scores)

    def with_vectors(self, vectors: np.ndarray) -> "Results":
        """These Results with each hit carrying its row of vectors as Hit.vector."""
        hits = [replace(h, vector=vectors[i]) for i, h in enumerate(self._materialise())]
        out = Results(self._ids, self._scores, self._vector_scores, self._keyword_scores)
        out._hits = hits
        out._query = self._query
        return out

    def context(self, max_tokens: int = 2000, *, template: str | None = None, order: str = "score",
                length: Callable[[str], int] | None = None, separator: str = "\n\n") -> Any:
        """Give back a gyeol.context.Context: numbered, cited passages for an LLM prompt.

        Overlapping chunks of a document are deduplicated and adjacent ones merged; order is
        "score" or "position"; template fields: {n} {citation} {text} {source} {doc_id} {ids}
        {score} {section} {page} {title} (default "[{n}] {citation}\n{text}"). length counts
        tokens (default: UTF-8 bytes / 4; pass gyeol.chunking.token_length(embedder) to be exact).
        """
        from .context import build_context

        return build_context(self._materialise(), max_tokens=max_tokens, template=template, order=order,
                             length=length, separator=separator)

    def snippets(self, query: str | None = None, *, window: int = 160, pre: str = "**",
                 post: str = "**") -> list[str]:
        """One highlighted snippet per hit (see Hit.snippet)."""
        q = _query_for(query, self._query)
        return [h.snippet(q, window=window, pre=pre, post=post) for h in self._materialise()]

    def __iter__(self) -> Iterator[Hit]:
        return iter(self._materialise())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Results):
            return self._materialise() == other._materialise()
        if isinstance(other, list):
            return self._materialise() == other
        return NotImplemented

    def to_list(self) -> list[dict[str, Any]]:
        """Give back the hits as plain dicts (id, score, text, metadata, vector_score, keyword_score)."""
        return [
            {"id": h.id, "score": h.score, "text": h.text, "metadata": h.metadata,
             "vector_score": h.vector_score, "keyword_score": h.keyword_score}
            for h in self._materialise()
        ]

    def to_arrow(self):
        """Give back the hits as a pyarrow Table (metadata as JSON strings)."""
        import json

        import pyarrow as pa

        hits = self._materialise()
        return pa.table(
            {
                "id": pa.array([h.id for h in hits], pa.string()),
                "score": pa.array([h.score for h in hits], pa.float64()),
                "text": pa.array([h.text for h in hits], pa.string()),
                "metadata": pa.array(
                    [json.dumps(h.metadata, ensure_ascii=False) for h in hits], pa.string()
                ),
                "vector_score": pa.array([h.vector_score for h in hits], pa.float64()),
                "keyword_score": pa.array([h.keyword_score for h in hits], pa.float64()),
            }
        )

    def to_pandas(self):
        """Give back the hits as a pandas DataFrame (metadata as dicts)."""
        import pandas as pd

        hits = self._materialise()
        return pd.DataFrame(
            {
                "id": [h.id for h in hits],
                "score": [h.score for h in hits],
                "text": [h.text for h in hits],
                "metadata": [h.metadata for h in hits],
                "vector_score": [h.vector_score for h in hits],
                "keyword_score": [h.keyword_score for h in hits],
            }
        )

    def __repr__(self) -> str:
        hits = self._materialise()
        lines = [f"Results({len(hits)} hits)"]
        for rank, h in enumerate(hits[:10], 1):
            text = (h.text or "").replace("\n", " ")
            if len(text) > 60:
                text = text[:57] + "..."
            lines.append(f"  {rank:>2}. {h.score:.4f}  {h.id}  {text}")
        if len(hits) > 10:
            lines.append(f"  ... {len(hits) - 10} more")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{r}</td><td>{html.escape(h.id)}</td><td>{h.score:.4f}</td>"
            f"<td>{html.escape((h.text or '')[:200])}</td>"
            f"<td>{html.escape(str(h.metadata))}</td></tr>"
            for r, h in enumerate(self._materialise(), 1)
        )
        return (
            "<table><thead><tr><th>#</th><th>id</th><th>score</th><th>text</th>"
            f"<th>metadata</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def _optional_floats(values: np.ndarray | None, n: int) -> list[float | None]:
    if values is None:
        return [None] * n
    return [None if np.isnan(v) else float(v) for v in np.asarray(values, dtype=np.float64)]


def _pick_rows(hits: list[Hit], positions: list[int]) -> tuple[list[str | None], list[dict[str, Any]]]:
    return [hits[p].text for p in positions], [hits[p].metadata for p in positions]


def documents_to_arrow(docs: Sequence[Document]):
    """Give back documents as a pyarrow Table: id, text, metadata (JSON strings)."""
    import json

    import pyarrow as pa

    return pa.table(
        {
            "id": pa.array([d.id for d in docs], pa.string()),
            "text": pa.array([d.text for d in docs], pa.string()),
            "metadata": pa.array([json.dumps(d.metadata, ensure_ascii=False) for d in docs], pa.string()),
        }
    )


def documents_to_pandas(docs: Sequence[Document]):
    """Give back documents as a pandas DataFrame: id, text, metadata (dicts)."""
    import pandas as pd

    return pd.DataFrame(
        {"id": [d.id for d in docs], "text": [d.text for d in docs], "metadata": [d.metadata for d in docs]}
    )


def _query_for(query: str | None, found_by: str | None) -> str:
    from .errors import InvalidInputError

    q = query if query is not None else found_by
    if not isinstance(q, str):
        raise InvalidInputError("no query to highlight: these hits came from a vector search; pass query=")
    return q


def documents_html(title: str, docs: Sequence[Document]) -> str:
    """A notebook's view of a collection: its repr and a table of some documents."""
    rows = "".join(
        f"<tr><td>{html.escape(d.id)}</td><td>{html.escape((d.text or '')[:200])}</td>"
        f"<td>{html.escape(str(d.metadata))}</td></tr>"
        for d in docs
    )
    return (f"<p>{html.escape(title)}</p><table><thead><tr><th>id</th><th>text</th><th>metadata</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")
