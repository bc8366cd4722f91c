"""Query terms marked in a hit's text, and snippets around them.

Korean (a text or query with Hangul) is matched by morphemes: Kiwi analyses both, and a text
morpheme whose form (a predicate's dictionary form) equals a content morpheme of the query
matches, with Kiwi's character offsets; so the query "검색" marks "검색했습니다". Latin words
match by their Snowball (Porter2) stem, case-insensitively: "searching" for "search".
unit="word" widens each match to its whitespace-delimited word (trailing punctuation left
out); unit="morpheme" marks only the matching morpheme.
"""

from __future__ import annotations

import re

from .errors import InvalidInputError

__all__ = ["match_spans", "highlight", "snippet"]

_HANGUL = re.compile("[\uac00-\ud7a3]")
_LATIN = re.compile(r"[^\W_]+", re.UNICODE)
_TRAILING = ".,!?;:)]}\"'\u201d\u2019\u3002\u2026"
# Kiwi tags of the query kept as terms: content morphemes (gyeol's default tokenizer's set).
_CONTENT_TAGS = ("NNG", "NNP", "NR", "SN", "SL", "SH", "XR", "VV", "VA", "VX", "W_")


def _norm_latin(word: str) -> str:
    from .lexical.tokenizers.english import english_porter_stem

    return english_porter_stem(word.lower())


def _kiwi_tokens(text: str) -> list[tuple[str, str, int, int]]:
    """(normalised form, tag, start, end) of each morpheme of text."""
    from .lexical.tokenizers.kiwi import get_kiwi

    out = []
    for tok in get_kiwi().tokenize(text):
        tag = tok.tag.split("-")[0]
        form = tok.form
        if tag in ("VV", "VA", "VX"):
            form = form + "다"
        elif tag == "SL":
            form = _norm_latin(form)
        out.append((form, tag, tok.start, tok.start + tok.len))
    return out


def _query_terms(query: str, korean: bool) -> set[str]:
    if korean:
        return {form for form, tag, _, _ in _kiwi_tokens(query) if tag.startswith(_CONTENT_TAGS)}
    return {_norm_latin(m.group()) for m in _LATIN.finditer(query)}


def match_spans(text: str, query: str, *, unit: str = "word") -> list[tuple[int, int]]:
    """Sorted, non-overlapping (start, end) spans of text that match a term of query."""
    if unit not in ("word", "morpheme"):
        raise InvalidInputError(f"unit must be 'word' or 'morpheme', got {unit!r}")
    if not isinstance(text, str) or not isinstance(query, str):
        raise InvalidInputError("highlighting needs a text and a query str")
    if not text or not query.strip():
        return []
    korean = bool(_HANGUL.search(text) or _HANGUL.search(query))
    terms = _query_terms(query, korean)
    if not terms:
        return []
    if korean:
        spans = [(a, b) for form, _, a, b in _kiwi_tokens(text) if form in terms]
    else:
        spans = [(m.start(), m.end()) for m in _LATIN.finditer(text) if _norm_latin(m.group()) in terms]
    if unit == "word":
        spans = [_word_around(text, a, b) for a, b in spans]
    return _merge(spans)


def _word_around(text: str, start: int, end: int) -> tuple[int, int]:
    while start > 0 and not text[start - 1].isspace():
        start -= 1
    while end < len(text) and not text[end].isspace():
        end += 1
    while end > start + 1 and text[end - 1] in _TRAILING:
        end -= 1
    while start < end - 1 and text[start] in "([{\"'\u201c\u2018":
        start += 1
    return start, end


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def highlight(text: str, query: str, *, pre: str = "**", post: str = "**", unit: str = "word") -> str:
    """text with each match of query wrapped in pre and post."""
    parts, pos = [], 0
    for a, b in match_spans(text, query, unit=unit):
        parts.append(text[pos:a])
        parts.append(pre + text[a:b] + post)
        pos = b
    parts.append(text[pos:])
    return "".join(parts)


def snippet(text: str, query: str, *, window: int = 160, pre: str = "**", post: str = "**",
            unit: str = "word", ellipsis: str = "\u2026") -> str:
    """The window characters of text with the most matches (cut at spaces), highlighted."""
    if isinstance(window, bool) or not isinstance(window, int) or window <= 0:
        raise InvalidInputError(f"window must be a positive int, got {window!r}")
    spans = match_spans(text, query, unit=unit)
    if len(text) <= window:
        start, end = 0, len(text)
    else:
        best, start = -1, 0
        for a, _ in spans or [(0, 0)]:  # windows starting a little before each match
            s = max(0, min(a - window // 4, len(text) - window))
            count = sum(1 for x, y in spans if x >= s and y <= s + window)
            if count > best:
                best, start = count, s
        end = start + window
        if start > 0:
            cut = text.find(" ", start, start + window // 4)
            start = cut + 1 if cut >= 0 else start
        if end < len(text):
            cut = text.rfind(" ", end - window // 4, end)
            end = cut if cut > start else end
    inside = [(a - start, b - start) for a, b in spans if a >= start and b <= end]
    piece = text[start:end]
    parts, pos = [], 0
    for a, b in inside:
        parts.append(piece[pos:a])
        parts.append(pre + piece[a:b] + post)
        pos = b
    parts.append(piece[pos:])
    return (ellipsis if start > 0 else "") + "".join(parts).strip() + (ellipsis if end < len(text) else "")
