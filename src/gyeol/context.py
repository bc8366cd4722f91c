"""Grounded context out: hits merged into numbered, cited passages that fit a token budget.

Results.context() calls build_context(); Collection.search(expand="parent") calls
expand_parents(). Chunks from add_documents carry doc_id, chunk_index and char offsets
(gyeol.documents), so passages of one document are merged by those offsets: overlapping
chunks become one passage (the overlap once) and adjacent ones (consecutive chunk_index, on
one page) are joined. Hits without that metadata are passages of their own.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from .errors import InvalidInputError

if TYPE_CHECKING:
    from .types import Document, Hit, Results

__all__ = ["Context", "Passage", "build_context", "expand_parents", "stitch", "approx_tokens", "citation"]

DEFAULT_TEMPLATE = "[{n}] {citation}\n{text}"
_FIELDS = {"n", "citation", "text", "source", "doc_id", "ids", "score", "section", "page", "title"}
_CHUNK_FIELDS = ("chunk_index", "char_start", "char_end", "doc_hash")


def approx_tokens(text: str) -> int:
    """A model-free token estimate: UTF-8 bytes / 4 (about right for English, and for Korean,
    whose syllables take 3 bytes and about 0.75 tokens each in today's LLM tokenizers)."""
    return math.ceil(len(text.encode("utf-8")) / 4)


@dataclass
class Passage:
    """Merged text of one or more hits of a document, with what to cite it by."""

    doc_id: str
    text: str
    start: int | None  # offset in the parent document (None without chunk metadata)
    end: int | None
    score: float
    ids: list[str]
    metadata: dict[str, Any]
    first_rank: int

    @property
    def citation(self) -> str:
        return citation(self.metadata, self.doc_id)


@dataclass
class Context:
    """The prompt context: text (numbered passages) and sources (what each number cites)."""

    text: str
    sources: list[dict[str, Any]] = field(default_factory=list)
    tokens: int = 0

    def __str__(self) -> str:
        return self.text


def citation(metadata: dict[str, Any], fallback: str) -> str:
    """"file.md, p.3": the source's file name (else title, else the id), and the page when known
    ("pp.2-3" for a passage merged across pages)."""
    source = metadata.get("source")
    name = PurePath(str(source)).name if source else (metadata.get("title") or fallback)
    page, last = metadata.get("page"), metadata.get("page_end")
    if page is None:
        return str(name)
    return f"{name}, pp.{page}-{last}" if last is not None and last != page else f"{name}, p.{page}"


def _check_template(template: str) -> str:
    if not isinstance(template, str):
        raise InvalidInputError(f"template must be a str, got {type(template).__name__}")
    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise InvalidInputError(f"template is not a valid format string: {exc}") from None
    unknown = sorted(n for n in names if n.split(".")[0].split("[")[0] not in _FIELDS)
    if unknown or "" in names:
        raise InvalidInputError(
            f"template fields must be named, from {sorted(_FIELDS)}; found {unknown or ['{}']}"
        )
    if "text" not in names:
        raise InvalidInputError("template must contain {text}")
    return template


def passages(hits: Sequence["Hit"]) -> list[Passage]:
    """Hits merged per document: overlapping or adjacent chunks become one passage; exact duplicate
    texts are kept once."""
    groups: dict[str, list[tuple[int, Hit]]] = {}
    for rank, h in enumerate(hits):
        doc_id = h.metadata.get("doc_id")
        key = doc_id if isinstance(doc_id, str) and _has_offsets(h) else f"\x00{h.id}"
        groups.setdefault(key, []).append((rank, h))
    out: list[Passage] = []
    seen_texts: set[str] = set()
    for key, members in groups.items():
        if key.startswith("\x00"):
            rank, h = members[0]
            if (h.text or "") in seen_texts:
                continue
            seen_texts.add(h.text or "")
            out.append(Passage(h.id, h.text or "", None, None, h.score, [h.id], dict(h.metadata), rank))
            continue
        members.sort(key=lambda rh: rh[1].metadata["char_start"])
        current: Passage | None = None
        last_index, last_page = None, None
        for rank, h in members:
            m = h.metadata
            start, end, index = m["char_start"], m["char_end"], m.get("chunk_index")
            # overlapping chunks always merge; adjacent ones (next chunk_index) only on one page, so
            # each page of a PDF stays a passage of its own, cited by its page
            joins = current is not None and current.end is not None and (
                start <= current.end or (isinstance(index, int) and last_index is not None and index == last_index + 1
                                         and m.get("page") == last_page)
            )
            if joins and current is not None and current.end is not None:
                if end > current.end:
                    current.text = _join(current.text, current.end, h.text or "", start)
                    current.end = end
                current.ids.append(h.id)
                _extend_pages(current.metadata, m.get("page"))
                current.score = max(current.score, h.score)
                current.first_rank = min(current.first_rank, rank)
            else:
                current = Passage(key, h.text or "", start, end, h.score, [h.id], _parent_meta(m), rank)
                out.append(current)
            last_index, last_page = index, m.get("page")
    deduped = []
    for p in out:
        if p.start is not None and p.text in seen_texts:
            continue
        seen_texts.add(p.text)
        deduped.append(p)
    return deduped


def _extend_pages(meta: dict[str, Any], page: Any) -> None:
    """A merged passage that reaches a later page keeps it as page_end (cited "pp.2-3")."""
    first = meta.get("page")
    if isinstance(page, int) and isinstance(first, int) and page > max(first, meta.get("page_end") or first):
        meta["page_end"] = page


def _has_offsets(h: "Hit") -> bool:
    m = h.metadata
    return isinstance(m.get("char_start"), int) and isinstance(m.get("char_end"), int) and h.text is not None


def _parent_meta(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in meta.items() if k not in _CHUNK_FIELDS}


def _join(left: str, left_end: int, right: str, right_start: int) -> str:
    """left (ending at left_end) and right (starting at right_start) of one text, as one piece."""
    if right_start < left_end:  # overlap: right's first (left_end - right_start) chars are in left
        return left + right[left_end - right_start :]
    gap = right_start - left_end
    return left + ("\n\n" if gap >= 2 else " " if gap == 1 else "") + right


def build_context(hits: Sequence["Hit"], *, max_tokens: int = 2000, template: str | None = None,
                  order: str = "score", length: Callable[[str], int] | None = None,
                  separator: str = "\n\n") -> Context:
    """The numbered passages of hits that fit max_tokens (by length, default approx_tokens).

    order: "score" (best passage first) or "position" (documents by their best passage, then
    each document's passages in text order). A passage that does not fit is left out and
    smaller ones after it still go in; if not even the first fits, it is cut to fit.
    """
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens <= 0:
        raise InvalidInputError(f"max_tokens must be a positive int, got {max_tokens!r}")
    if order not in ("score", "position"):
        raise InvalidInputError(f"order must be 'score' or 'position', got {order!r}")
    if length is not None and not callable(length):
        raise InvalidInputError("length must be a callable str -> int")
    template = _check_template(DEFAULT_TEMPLATE if template is None else template)
    measure = length or approx_tokens
    ps = passages(hits)
    ps.sort(key=lambda p: (-p.score, p.first_rank))
    if order == "position":
        best_of: dict[str, int] = {}
        for i, p in enumerate(ps):
            best_of.setdefault(p.doc_id, i)
        ps.sort(key=lambda p: (best_of[p.doc_id], p.start if p.start is not None else 0))
    blocks: list[str] = []
    sources: list[dict[str, Any]] = []
    used = 0
    for p in ps:
        n = len(blocks) + 1
        block = _render(template, n, p)
        cost = measure(block) + (measure(separator) if blocks else 0)
        if used + cost > max_tokens:
            if blocks:
                continue
            cut = _cut_to_fit(template, n, p, max_tokens, measure)
            if cut is None:
                break
            block, cost = cut, measure(cut)
        blocks.append(block)
        used += cost
        sources.append({"n": n, "citation": p.citation, "doc_id": p.doc_id, "ids": list(p.ids),
                        "score": p.score, "start": p.start, "end": p.end, "metadata": p.metadata})
    return Context(separator.join(blocks), sources, used)


def _render(template: str, n: int, p: Passage, text: str | None = None) -> str:
    m = p.metadata
    section = m.get("section")
    return template.format(
        n=n, citation=p.citation, text=p.text if text is None else text, source=m.get("source") or p.doc_id,
        doc_id=p.doc_id, ids=", ".join(p.ids), score=p.score,
        section=" > ".join(section) if isinstance(section, list) else (section or ""),
        page=m.get("page") if m.get("page") is not None else "", title=m.get("title") or "",
    )


def _cut_to_fit(template: str, n: int, p: Passage, budget: int, measure: Callable[[str], int]) -> str | None:
    """The passage's block with its text cut (binary search on characters) to fit budget; None if
    not even an empty text fits."""
    lo, hi = 0, len(p.text)
    if measure(_render(template, n, p, "")) > budget:
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if measure(_render(template, n, p, p.text[:mid] + "\u2026")) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return _render(template, n, p, p.text[:lo] + "\u2026")


def stitch(chunks: Sequence["Document"]) -> str:
    """A parent document's text from its stored chunks (placed by their offsets; the whitespace
    between chunks, which chunking drops, comes back as a space or a blank line)."""
    ordered = sorted(chunks, key=lambda d: (d.metadata.get("char_start", 0), d.metadata.get("chunk_index", 0)))
    text, end = "", None
    for d in ordered:
        start = d.metadata.get("char_start", 0)
        piece = d.text or ""
        if end is None:
            text, end = piece, start + len(piece)
        elif start + len(piece) > end:
            text = _join(text, end, piece, start)
            end = start + len(piece)
    return text


def expand_parents(results: "Results", k: int, fetch: Callable[[list[str]], list["Document"]]) -> "Results":
    """The k best parent documents of results' hits (each scored by its best chunk), their text
    stitched from every stored chunk. fetch(doc_ids) gives the stored chunks of those parents.
    A hit without a parent stays as it is."""
    from .types import Results

    order: list[str] = []
    best: dict[str, Hit] = {}
    matched: dict[str, list[str]] = {}
    for h in results:
        doc_id = h.metadata.get("doc_id")
        key = doc_id if isinstance(doc_id, str) else h.id
        if key not in best:
            if len(order) >= k:
                continue
            order.append(key)
            best[key] = h
        matched.setdefault(key, []).append(h.id)
    parents = [key for key in order if isinstance(best[key].metadata.get("doc_id"), str)]
    chunks: dict[str, list[Document]] = {}
    for d in fetch(parents) if parents else []:
        chunks.setdefault(str(d.metadata.get("doc_id")), []).append(d)
    texts: list[str | None] = []
    metas: list[dict[str, Any]] = []
    for key in order:
        h = best[key]
        if key in chunks:
            texts.append(stitch(chunks[key]))
            meta = _parent_meta(h.metadata)
            meta.pop("section", None)
            meta["chunk_ids"] = matched[key]  # the chunks that matched, best first
            metas.append(meta)
        else:
            texts.append(h.text)
            metas.append(dict(h.metadata))
    scores = np.array([best[key].score for key in order], np.float64)
    vs = np.array([np.nan if best[key].vector_score is None else best[key].vector_score for key in order])
    ks = np.array([np.nan if best[key].keyword_score is None else best[key].keyword_score for key in order])
    return Results(list(order), scores, vs, ks, loader=lambda: (texts, metas))
