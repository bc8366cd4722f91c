"""Sentence spans of a text: Kiwi's split_into_sents for Korean, a rule-based splitter otherwise.

Every function gives back (start, end) character offsets into the text it was given, so a
chunk built from them is an exact slice of its source (citations and highlights rely on it).
Kiwi is imported only when a paragraph with Hangul is split.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["split_sentences", "split_sentences_many", "split_paragraphs", "has_hangul", "trim_span"]

_HANGUL = re.compile("[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
# A sentence ends at . ! ? … (and closing quotes/brackets after them) followed by whitespace.
_END = re.compile(r"[.!?\u2026\u3002]+[\"'\u201d\u2019)\]]*(?=\s)")
# Words whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs etc e.g i.e cf al fig no vol pp ed eds inc ltd co corp "
    "jan feb mar apr jun jul aug sep sept oct nov dec u.s u.k approx dept est".split()
)


def has_hangul(text: str) -> bool:
    return _HANGUL.search(text) is not None


def split_paragraphs(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the paragraphs of text[start:end] (blank lines separate them), whitespace trimmed."""
    end = len(text) if end is None else end
    spans = []
    pos = start
    for m in _PARAGRAPH_BREAK.finditer(text, start, end):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, end))
    return [s for s in (trim_span(text, a, b) for a, b in spans) if s[1] > s[0]]


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences of text[start:end], in order; paragraphs never share a sentence."""
    return split_sentences_many([(text, start, len(text) if end is None else end)])[0]


def split_sentences_many(parts: list[tuple[str, int, int]]) -> list[list[tuple[int, int]]]:
    """split_sentences of each (text, start, end), with every Korean paragraph of all of them
    split in one batched Kiwi call (which spreads them over Kiwi's worker threads)."""
    out: list[list[tuple[int, int]]] = [[] for _ in parts]
    korean: list[tuple[int, int, int]] = []  # (part, paragraph start, paragraph end)
    slots: list[list[Any]] = []  # per part, in order: a list of rule spans, or the index of a Kiwi paragraph
    for i, (text, start, end) in enumerate(parts):
        order: list[Any] = []
        for a, b in split_paragraphs(text, start, end):
            if has_hangul(text[a:b]):
                order.append(len(korean))
                korean.append((i, a, b))
            else:
                order.append(_rule_sentences(text, a, b))
        slots.append(order)
    kiwi_spans = _kiwi_sentences_many([(parts[i][0], a, b) for i, a, b in korean]) if korean else []
    for i, order in enumerate(slots):
        for item in order:
            out[i].extend(kiwi_spans[item] if isinstance(item, int) else item)
    return out


def _rule_sentences(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """English-like text: split after sentence punctuation unless it ends an abbreviation or an
    initial, or the next word starts in lower case."""
    spans = []
    pos = start
    for m in _END.finditer(text, start, end):
        cut = m.end()
        if m.group().startswith(".") and _is_abbreviation(text, pos, m.start()):
            continue
        nxt = _next_char(text, cut, end)
        if nxt is not None and nxt.islower():
            continue
        spans.append((pos, cut))
        pos = cut
    spans.append((pos, end))
    return [s for s in (trim_span(text, a, b) for a, b in spans) if s[1] > s[0]]


def _is_abbreviation(text: str, sentence_start: int, dot: int) -> bool:
    word_start = dot
    while word_start > sentence_start and not text[word_start - 1].isspace():
        word_start -= 1
    word = text[word_start:dot].lower().lstrip("(\"'")
    if not word:
        return False
    return word in _ABBREVIATIONS or (len(word) == 1 and word.isalpha())


def _next_char(text: str, pos: int, end: int) -> str | None:
    while pos < end and text[pos].isspace():
        pos += 1
    return text[pos] if pos < end else None


def _kiwi_sentences_many(paragraphs: list[tuple[str, int, int]]) -> list[list[tuple[int, int]]]:
    """Sentence spans of each (text, start, end) paragraph: one Kiwi split_into_sents over all of them."""
    from ..lexical.tokenizers.kiwi import get_kiwi

    found = get_kiwi().split_into_sents([text[a:b] for text, a, b in paragraphs])
    out = []
    for (text, start, end), sents in zip(paragraphs, found):
        spans = []
        for sent in sents:
            a, b = trim_span(text, start + sent.start, start + sent.end)
            if b > a:
                spans.append((a, b))
        out.append(_cover(text, start, end, spans))
    return out


def _cover(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sentence spans that leave no text out: a gap between two spans joins the one before it."""
    if not spans:
        a, b = trim_span(text, start, end)
        return [(a, b)] if b > a else []
    out = []
    first_start = trim_span(text, start, spans[0][0])[0] if spans[0][0] > start else spans[0][0]
    for i, (a, b) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else end
        a = first_start if i == 0 else a
        b = trim_span(text, a, max(b, nxt))[1]
        out.append((a, b))
    return out


def trim_span(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
