"""Tokenizers that need no model: whitespace pieces, character bigrams, a wrapped callable."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from ...errors import InvalidInputError
from .base import check_text, check_texts, checked_arguments
from .english import EnglishFilter

__all__ = ["WhitespaceTokenizer", "BigramTokenizer", "CallableTokenizer"]

# Leading and trailing punctuation (and underscores) of a whitespace piece.
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")


def _pieces(text: str) -> list[str]:
    """Lowercased whitespace pieces with leading/trailing punctuation stripped, empties dropped."""
    out = []
    for piece in text.lower().split():
        piece = _EDGE_PUNCT.sub("", piece)
        if piece:
            out.append(piece)
    return out


class WhitespaceTokenizer:
    """Lowercase, split on whitespace, strip leading and trailing punctuation from each piece.

    Inner punctuation stays: "GPT-4o," -> "gpt-4o".
    english_stopwords: drop ENGLISH_STOPWORDS (default True).
    english_stemming: stem words of plain ASCII letters, as KiwiTokenizer does (True or "porter",
    "minimal", False); pieces with digits, inner punctuation or non-Latin letters stay as they are.
    stopwords: more terms to drop (compared after lowercasing, before and after stemming).
    """

    @checked_arguments
    def __init__(
        self,
        stopwords: Iterable[str] | None = None,
        english_stopwords: bool = True,
        english_stemming: bool | str = True,
    ) -> None:
        self._english = EnglishFilter(english_stopwords, english_stemming, stopwords)
        self._stopwords = self._english.user_stopwords

    def describe(self) -> dict[str, Any]:
        return {
            "kind": "whitespace",
            "stopwords": sorted(self._stopwords),
            "english_stopwords": self._english.stopwords,
            "english_stemming": self._english.stemming,
        }

    def tokenize(self, text: str) -> list[str]:
        english = self._english
        if not (english.stopwords or english.stemming or english.user_stopwords):
            return _pieces(check_text(text))
        terms = (english.term(piece) for piece in _pieces(check_text(text)))
        return [t for t in terms if t]

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in check_texts(texts)]

    def __repr__(self) -> str:
        return (
            f"WhitespaceTokenizer(stopwords={len(self._stopwords)}, english_stopwords={self._english.stopwords}, "
            f"english_stemming={self._english.stemming!r})"
        )


class BigramTokenizer:
    """Character bigrams of each lowercased whitespace piece; a one-character piece stays whole.

    Needs no dictionary, so it suits CJK text; leading and trailing punctuation of each
    piece is stripped first, as in WhitespaceTokenizer.
    """

    @checked_arguments
    def __init__(self) -> None:
        pass

    def describe(self) -> dict[str, Any]:
        return {"kind": "bigram"}

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for word in _pieces(check_text(text)):
            if len(word) == 1:
                out.append(word)
            else:
                out.extend(word[i : i + 2] for i in range(len(word) - 1))
        return out

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in check_texts(texts)]

    def __repr__(self) -> str:
        return "BigramTokenizer()"


class CallableTokenizer:
    """Wraps any `str -> list[str]` function as a Tokenizer."""

    @checked_arguments
    def __init__(self, fn: Callable[[str], list[str]], name: str | None = None) -> None:
        if not callable(fn):
            raise InvalidInputError(f"CallableTokenizer needs a callable, got {type(fn).__name__}")
        self._fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def describe(self) -> dict[str, Any]:
        return {"kind": "custom", "name": self.name}

    def tokenize(self, text: str) -> list[str]:
        terms = self._fn(check_text(text))
        if isinstance(terms, str) or not isinstance(terms, (list, tuple)):
            raise InvalidInputError(
                f"tokenizer {self.name!r} must return a list of str, returned {type(terms).__name__}"
            )
        terms = list(terms)
        if not all(isinstance(t, str) for t in terms):
            raise InvalidInputError(f"tokenizer {self.name!r} must return a list of str, returned {terms!r}")
        return terms

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in check_texts(texts)]

    def __repr__(self) -> str:
        return f"CallableTokenizer({self.name})"
