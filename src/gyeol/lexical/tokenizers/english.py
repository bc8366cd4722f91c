"""English analysis of Latin words: Lucene's stopword list, Porter2 and minimal stemming.

KiwiTokenizer applies it to the tokens Kiwi tags SL, WhitespaceTokenizer to every piece;
both build one EnglishFilter from their english_stopwords / english_stemming / stopwords.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

from ..._validation import check_flag
from ...errors import BackendUnavailableError, InvalidInputError

__all__ = [
    "ENGLISH_STOPWORDS",
    "ENGLISH_STEMMERS",
    "english_minimal_stem",
    "english_porter_stem",
    "EnglishFilter",
]

#: English stopwords dropped from Latin tokens by default: Lucene's
#: EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (the same 33 words as Lucene's StopAnalyzer,
#: Elasticsearch's "_english_" default and Weaviate's "en" stopword preset). Deliberately
#: short: question words such as "how", "what", "do" are kept, as in those engines.
ENGLISH_STOPWORDS: frozenset[str] = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their "
    "then there these they this to was will with".split()
)

# Stemming applies to plain lowercase ASCII words only: codes, numbers and Hangul pass as they are.
_LATIN_WORD = re.compile(r"[a-z]+")
# Lucene's EnglishMinimalStemmer stems from 3 letters ("gas" -> "ga"); we leave words of
# 3 letters or fewer alone, so "gas", "bus", "yes", "its" keep their spelling.
_MIN_STEM_LEN = 4


def english_minimal_stem(word: str) -> str:
    """Give back the singular of an English plural, by Lucene's EnglishMinimalStemmer rules.

    "ies" -> "y" unless preceded by "a" or "e" ("queries" -> "query", "plays" -> "play");
    "es" -> "e" unless "aes", "ees", "oes" ("horses" -> "horse", "shoes" stays);
    "s" -> "" unless "us" or "ss" ("vaccines" -> "vaccine", "virus", "glass" stay).
    Only lowercase ASCII words longer than 3 letters are touched; anything else comes back as is.
    """
    if len(word) < _MIN_STEM_LEN or word[-1] != "s" or not _LATIN_WORD.fullmatch(word):
        return word
    before = word[-2]
    if before in "us":
        return word
    if before == "e":
        if word[-3] == "i" and word[-4] not in "ae":
            return word[:-3] + "y"
        if word[-3] in "iaoe":
            return word
    return word[:-1]


#: English stemmers: "porter" (Snowball's English stemmer, Porter2, what Lucene's and
#: Elasticsearch's English analyzers use) and "minimal" (Lucene's plural-only stemmer).
ENGLISH_STEMMERS = ("porter", "minimal")

_PORTER: Any = None
_PORTER_LOCK = threading.Lock()  # a Snowball stemmer object is not safe to share between threads


def english_porter_stem(word: str) -> str:
    """Give back the Snowball English (Porter2) stem of a lowercase ASCII word.

    "vaccines" and "vaccine" -> "vaccin", "running" -> "run", "queries" -> "queri"; anything
    that is not plain lowercase ASCII letters (codes, numbers, Hangul) comes back as is.
    """
    global _PORTER
    if not _LATIN_WORD.fullmatch(word):
        return word
    with _PORTER_LOCK:
        if _PORTER is None:
            try:
                import snowballstemmer
            except ImportError as exc:  # pragma: no cover - snowballstemmer is a dependency
                raise BackendUnavailableError(
                    "english_stemming='porter' needs snowballstemmer: pip install snowballstemmer "
                    "(or pass english_stemming='minimal')"
                ) from exc
            _PORTER = snowballstemmer.stemmer("english")
        return _PORTER.stemWord(word)


def _check_stemming(value: Any) -> str | bool:
    """Give back "porter", "minimal" or False for an english_stemming argument (True = "porter")."""
    if value is True:
        return "porter"
    if value is False or (isinstance(value, str) and value in ENGLISH_STEMMERS):
        return value
    raise InvalidInputError(f"english_stemming must be True, False, 'porter' or 'minimal', got {value!r}")


def _normalize_stopwords(stopwords: Iterable[str] | None) -> frozenset[str]:
    """Give back the lowercased set of a stopwords argument (None = none)."""
    if isinstance(stopwords, str):
        raise InvalidInputError("stopwords must be an iterable of str, got a str")
    try:
        stop = list(stopwords) if stopwords is not None else []
    except TypeError:
        raise InvalidInputError(f"stopwords must be an iterable of str, got {type(stopwords).__name__}") from None
    if not all(isinstance(s, str) for s in stop):
        raise InvalidInputError(f"stopwords must all be str, got {stop!r}")
    return frozenset(s.lower() for s in stop)


class EnglishFilter:
    """Drops stopwords and stems Latin terms; one instance per tokenizer.

    Takes a tokenizer's arguments as the user gave them and checks them: english_stopwords
    (True or False), english_stemming (True = "porter", "minimal" or False) and stopwords
    (more words to drop, lowercased; None = none).
    The stem of each distinct word is memoised, so a corpus pays the rules once per
    vocabulary word rather than once per occurrence.
    """

    __slots__ = ("stopwords", "stemming", "user_stopwords", "_user_stems", "_stem", "_memo")

    def __init__(self, english_stopwords: Any, english_stemming: Any, stopwords: Iterable[str] | None) -> None:
        self.user_stopwords = _normalize_stopwords(stopwords)
        self.stopwords = check_flag("english_stopwords", english_stopwords)
        self.stemming = stemming = _check_stemming(english_stemming)
        user_stopwords = self.user_stopwords
        self._stem = (
            {"porter": english_porter_stem, "minimal": english_minimal_stem}.get(stemming)
            if isinstance(stemming, str) else None
        )
        # a user stopword also catches the words that stem onto it ("vaccine" drops "vaccines")
        self._user_stems = frozenset(map(self._stem, user_stopwords)) if self._stem else frozenset()
        self._memo: dict[str, str | None] = {}

    def term(self, word: str) -> str | None:
        """Give back the term for one lowercased Latin word, or None when it is dropped."""
        out = self._memo.get(word, "")
        if out != "":
            return out
        if (self.stopwords and word in ENGLISH_STOPWORDS) or word in self.user_stopwords:
            out = None
        else:
            out = self._stem(word) if self._stem else word
            if out in self.user_stopwords or out in self._user_stems:
                out = None
        if len(self._memo) < 1_000_000:  # bounded: a pathological stream cannot grow it forever
            self._memo[word] = out
        return out
