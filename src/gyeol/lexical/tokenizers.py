"""Tokenizers that turn text into BM25 terms: Kiwi (Korean morphemes), whitespace, bigram, custom.

Every tokenizer has the same two calls, `tokenize(text)` and `tokenize_batch(texts)`;
documents and queries go through the same code path, so a term is spelled the same
on both sides.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Collection, Iterable
from typing import TYPE_CHECKING, Any, Protocol, Union, runtime_checkable

from .._validation import check_flag
from ..errors import BackendUnavailableError, InvalidInputError

if TYPE_CHECKING:  # kiwipiepy is imported lazily: its model costs seconds and hundreds of MB
    from kiwipiepy import Kiwi

__all__ = [
    "Tokenizer",
    "KiwiTokenizer",
    "WhitespaceTokenizer",
    "BigramTokenizer",
    "CallableTokenizer",
    "DEFAULT_POS",
    "KIWI_TAGS",
    "ALL_POS",
    "ENGLISH_STOPWORDS",
    "english_minimal_stem",
    "english_porter_stem",
    "ENGLISH_STEMMERS",
    "resolve_tokenizer",
    "tokenizer_from_config",
    "TOKENIZER_KINDS",
    "TERMS_VERSION",
]

logger = logging.getLogger(__name__)

#: Kiwi tags kept by default: content morphemes only.
#: NNG/NNP common and proper nouns, NR numeral words, SN numbers, SL foreign (Latin) words,
#: SH hanja, XR roots (e.g. 깨끗 in 깨끗하다), VV/VA verb and adjective stems and VX
#: auxiliary predicates (emitted in dictionary form, 먹었다 -> 먹다), and Kiwi's pattern
#: matches (URL, e-mail, hashtag, serial numbers). Left out: particles (J*), endings (E*),
#: affixes (XP*, XS*), bound nouns (NNB: 것, 수, 개 ...), pronouns (NP), copulas (VC*),
#: adverbs and determiners (MAG, MAJ, MM), interjections and punctuation.
#: Chosen by measurement on benchmarks/data/ko_retrieval (okapi, MRR@10 over 249 queries):
#: this set 0.931; without VX 0.914 (Kiwi tags some main verbs VX, e.g. 갔다 -> 가/VX);
#: + NNB 0.913; + NP + MAG 0.920; nouns only 0.895; every morpheme ("all") 0.902.
DEFAULT_POS: frozenset[str] = frozenset(
    {"NNG", "NNP", "NR", "SN", "SL", "SH", "XR", "VV", "VA", "VX",
     "W_URL", "W_EMAIL", "W_HASHTAG", "W_SERIAL"}
)

#: `pos="all"`: every morpheme becomes a term (particles and endings included) except
#: punctuation and whitespace, the way Weaviate's kagome_kr tokenizes. A baseline.
ALL_POS = "all"

# Punctuation and symbols are never terms, not even in "all" mode.
_PUNCT_TAGS = frozenset({"SF", "SP", "SS", "SSO", "SSC", "SE", "SO", "SW", "SB", "W_EMOJI"})
# Numbers and serials whose trailing period Kiwi keeps.
_NUMBER_TAGS = frozenset({"SN", "W_SERIAL"})
# Stems emitted as their dictionary form (stem + 다) so 감다 (verb) and 감 (noun) stay apart.
_PREDICATE_TAGS = frozenset({"VV", "VA", "VX", "VCP", "VCN"})

#: Every tag Kiwi emits (irregular forms such as VV-I are checked by their base tag).
KIWI_TAGS: frozenset[str] = frozenset(
    "NNG NNP NNB NR NP VV VA VX VCP VCN MM MAG MAJ IC JKS JKC JKG JKO JKB JKV JKQ JX JC "
    "EP EF EC ETN ETM XPN XSN XSV XSA XSM XR SF SP SS SSO SSC SE SO SW SL SH SN SB UN "
    "W_URL W_EMAIL W_MENTION W_HASHTAG W_SERIAL W_EMOJI Z_CODA Z_SIWA "
    "USER0 USER1 USER2 USER3 USER4".split()
)

TOKENIZER_KINDS = ("kiwi", "whitespace", "bigram")

#: Bumped whenever a built-in tokenizer gives other terms for the same text, so BM25 indexes
#: saved with the old terms are rebuilt rather than matched against new query terms.
#: 2: Kiwi's Latin pieces are joined and trailing periods dropped ("sys" + "tem." -> "system").
#: 3: english_stemming=True means Snowball's English stemmer ("porter"), no longer the plural-only one.
TERMS_VERSION = 3

# Leading and trailing punctuation (and underscores) of a whitespace piece.
_EDGE_PUNCT = re.compile(r"^[\W_]+|[\W_]+$")

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
    if isinstance(stopwords, str):
        raise InvalidInputError("stopwords must be an iterable of str, got a str")
    stop = list(stopwords) if stopwords is not None else []
    if not all(isinstance(s, str) for s in stop):
        raise InvalidInputError(f"stopwords must all be str, got {stop!r}")
    return frozenset(s.lower() for s in stop)


class _EnglishFilter:
    """Drops stopwords and stems Latin terms; one instance per tokenizer.

    The stem of each distinct word is memoised, so a corpus pays the rules once per
    vocabulary word rather than once per occurrence.
    """

    __slots__ = ("stopwords", "stemming", "user_stopwords", "_user_stems", "_stem", "_memo")

    def __init__(self, stopwords: bool, stemming: str | bool, user_stopwords: frozenset[str]) -> None:
        self.stopwords = stopwords
        self.stemming = stemming
        self.user_stopwords = user_stopwords
        self._stem = {"porter": english_porter_stem, "minimal": english_minimal_stem}.get(stemming)
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


@runtime_checkable
class Tokenizer(Protocol):
    """Turns text into terms; documents and queries go through the same calls."""

    def tokenize(self, text: str) -> list[str]:
        """Give back the terms of one text."""
        ...

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        """Give back the terms of each text, in input order."""
        ...


def _check_texts(texts: Any) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise InvalidInputError(f"texts must be a list of str, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(
            f"texts must be a list of str; found {type(texts[bad[0]]).__name__} at position {bad[0]}"
        )
    return list(texts)


def _check_text(text: Any) -> str:
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
    return text


# --------------------------------------------------------------------------- Kiwi

# One Kiwi per (num_workers, user words) per process, built on first use, never at import.
_KIWI_CACHE: dict[tuple[int, tuple[tuple[str, str], ...]], "Kiwi"] = {}
_KIWI_LOCK = threading.Lock()


_CPUS = max(1, os.cpu_count() or 1)  # read once: os.cpu_count() costs ~15 µs, paid per query otherwise

# Below this many texts Kiwi's multi-threaded batch call costs more than analysing each text in
# turn (its thread hand-off is ~150 µs; measured on 2 cores with short query texts).
_SMALL_BATCH = 4


def _resolve_workers(num_workers: int | None) -> int:
    if num_workers is None:
        return _CPUS
    return num_workers


def get_kiwi(num_workers: int | None = None, user_words: tuple[tuple[str, str], ...] = ()) -> "Kiwi":
    """Give back the process-wide Kiwi for these settings, loading its model on first call."""
    key = (_resolve_workers(num_workers), tuple(user_words))
    kiwi = _KIWI_CACHE.get(key)
    if kiwi is not None:
        return kiwi
    with _KIWI_LOCK:
        kiwi = _KIWI_CACHE.get(key)
        if kiwi is None:
            try:
                from kiwipiepy import Kiwi
            except ImportError as exc:  # pragma: no cover - kiwipiepy is a dependency
                raise BackendUnavailableError(
                    "the 'kiwi' tokenizer needs kiwipiepy: pip install kiwipiepy"
                ) from exc
            logger.debug("loading the Kiwi model (num_workers=%d)", key[0])
            kiwi = Kiwi(num_workers=key[0])
            for word, tag in user_words:
                try:
                    kiwi.add_user_word(word, tag)
                except ValueError as exc:
                    raise InvalidInputError(
                        f"user word {word!r} with tag {tag!r} was refused by Kiwi: {exc}"
                    ) from exc
            _KIWI_CACHE[key] = kiwi
    return kiwi


def _normalize_user_words(user_words: Iterable[Any] | None) -> tuple[tuple[str, str], ...]:
    if user_words is None:
        return ()
    if isinstance(user_words, str):
        raise InvalidInputError("user_words must be a list of str or (word, tag) pairs, got a str")
    out: list[tuple[str, str]] = []
    for item in user_words:
        if isinstance(item, str):
            word, tag = item, "NNP"
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            word, tag = item[0], item[1]
        else:
            raise InvalidInputError(
                f"user_words entries must be a str or a (word, tag) pair of str, got {item!r}"
            )
        if not word.strip():
            raise InvalidInputError(f"a user word must be non-empty, got {word!r}")
        if tag.split("-", 1)[0] not in KIWI_TAGS:
            raise InvalidInputError(f"unknown Kiwi tag {tag!r} for user word {word!r}; expected e.g. NNP or NNG")
        out.append((word, tag))
    return tuple(out)


def _normalize_pos(pos: Collection[str] | str | None) -> frozenset[str] | None:
    """None means every non-punctuation morpheme ("all")."""
    if pos is None:
        return DEFAULT_POS
    if isinstance(pos, str):
        if pos == ALL_POS:
            return None
        raise InvalidInputError(f"pos must be 'all' or a collection of Kiwi tags, got the str {pos!r}")
    tags = list(pos)
    if not tags or not all(isinstance(t, str) and t for t in tags):
        raise InvalidInputError(f"pos must be a non-empty collection of Kiwi tag strings, got {pos!r}")
    unknown = sorted({t for t in tags if t.split("-", 1)[0] not in KIWI_TAGS})
    if unknown:
        raise InvalidInputError(
            f"unknown Kiwi tags in pos: {', '.join(unknown)}; expected tags such as {', '.join(sorted(DEFAULT_POS))}"
        )
    return frozenset(t.split("-", 1)[0] for t in tags)


def _with_variants(tags: frozenset[str]) -> frozenset[str]:
    return frozenset(tags) | {f"{t}-{v}" for t in tags for v in ("I", "R")}


class KiwiTokenizer:
    """Korean morphological analysis with kiwipiepy; keeps content morphemes.

    pos: Kiwi tags to keep (default DEFAULT_POS), or "all" for every morpheme;
    irregular-conjugation tags such as VV-I count as their base tag VV.
    user_words: words added to Kiwi's dictionary, as str (tagged NNP) or (word, tag).
    stopwords: terms dropped after analysis (compared after lowercasing; for Latin
    words both the surface form and the stem are checked).
    english_stopwords: drop ENGLISH_STOPWORDS from Latin (SL) tokens, as Lucene's
    EnglishAnalyzer and Weaviate do (default True).
    english_stemming: stem Latin (SL) tokens: True or "porter" (the default) with Snowball's
    English stemmer ("vaccines" -> "vaccin", "running" -> "run"), "minimal" with Lucene's
    plural-only stemmer ("vaccines" -> "vaccine"), False not at all.
    num_workers: Kiwi's analysis threads (None = every core).

    Latin text is lowercased; verb and adjective stems are emitted in dictionary form
    (검색했다 -> 검색, 먹었다 -> 먹다), the same way for documents and queries. The two
    English options touch only tokens Kiwi tags SL (Latin letters); Korean morphemes,
    numbers and serials pass through unchanged.
    """

    def __init__(
        self,
        pos: Collection[str] | str | None = None,
        user_words: Iterable[str | tuple[str, str]] | None = None,
        stopwords: Iterable[str] | None = None,
        num_workers: int | None = None,
        english_stopwords: bool = True,
        english_stemming: bool | str = True,
    ) -> None:
        self._pos = _normalize_pos(pos)
        self._user_words = _normalize_user_words(user_words)
        self._stopwords = _normalize_stopwords(stopwords)
        self._english = _EnglishFilter(
            check_flag("english_stopwords", english_stopwords),
            _check_stemming(english_stemming),
            self._stopwords,
        )
        if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                        or num_workers < -1):
            raise InvalidInputError(f"num_workers must be None, -1, 0 or a positive int, got {num_workers!r}")
        self._num_workers = num_workers
        # Kiwi writes irregular conjugations as VV-I, VA-R ...: accept those spellings too
        self._keep_tags = None if self._pos is None else _with_variants(self._pos)
        self._drop_tags = _with_variants(_PUNCT_TAGS)
        self._lemma_tags = frozenset() if self._pos is None else _with_variants(_PREDICATE_TAGS)

    @property
    def pos(self) -> frozenset[str] | str:
        return ALL_POS if self._pos is None else self._pos

    def describe(self) -> dict[str, Any]:
        """Give back a JSON-able description that tokenizer_from_config rebuilds."""
        return {
            "kind": "kiwi",
            "pos": ALL_POS if self._pos is None else sorted(self._pos),
            "user_words": [list(w) for w in self._user_words],
            "stopwords": sorted(self._stopwords),
            "english_stopwords": self._english.stopwords,
            "english_stemming": self._english.stemming,
        }

    def _kiwi(self) -> "Kiwi":
        return get_kiwi(self._num_workers, self._user_words)

    def _terms(self, tokens: Iterable[Any]) -> list[str]:
        # the hot loop of indexing: plain set lookups, no string splitting per token
        keep, drop, lemma_tags, stop = self._keep_tags, self._drop_tags, self._lemma_tags, self._stopwords
        keep_latin = "SL" in keep if keep is not None else "SL" not in drop
        out: list[str] = []
        latin, latin_end = "", -1  # the Latin word being put back together (see _latin_term)
        for tok in tokens:
            tag = tok.tag
            if tag == "SL":
                if tok.start == latin_end:  # Kiwi cut one word into pieces: "sys" + "tem."
                    latin += tok.form
                else:
                    if latin:
                        self._latin_term(latin, keep_latin, out)
                    latin = tok.form
                latin_end = tok.start + tok.len
                continue
            if latin:
                self._latin_term(latin, keep_latin, out)
                latin, latin_end = "", -1
            if (tag in drop) if keep is None else (tag not in keep):
                continue
            term = (tok.lemma if tag in lemma_tags else tok.form).lower()
            if tag in _NUMBER_TAGS:  # "1." of a numbered list, "2.5." ending a sentence
                term = term.rstrip(".")
            if term and term not in stop:
                out.append(term)
        if latin:
            self._latin_term(latin, keep_latin, out)
        return out

    def _latin_term(self, word: str, keep: bool, out: list[str]) -> None:
        """Append the term of one Latin word, put back together from Kiwi's pieces.

        Kiwi (0.24) glues a sentence's final period to a Latin word ("film.") and sometimes
        cuts the word too ("sys" + "tem.", "b" + "lue."); pieces that touch are joined and
        trailing periods dropped, so "system." and "system" are one term. Inner dots stay:
        "U.S." -> "u.s", "e.g." -> "e.g", "codecs.Codec" -> "codecs.codec".
        """
        if not keep:
            return
        term = self._english.term(word.lower().rstrip("."))
        if term:
            out.append(term)

    def tokenize(self, text: str) -> list[str]:
        """Give back the terms of one text."""
        text = _check_text(text)
        if not text.strip():
            return []
        return self._terms(self._kiwi().tokenize(text))

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        """Give back the terms of each text, analysed with Kiwi's multi-threaded batch call."""
        texts = _check_texts(texts)
        if not texts:
            return []
        if len(texts) < _SMALL_BATCH:  # a query or two: skip the thread pool's hand-off
            return [self.tokenize(text) for text in texts]
        return [self._terms(tokens) for tokens in self._kiwi().tokenize(texts)]

    def __repr__(self) -> str:
        pos = "'all'" if self._pos is None else f"{sorted(self._pos)}"
        return (
            f"KiwiTokenizer(pos={pos}, user_words={len(self._user_words)}, stopwords={len(self._stopwords)}, "
            f"english_stopwords={self._english.stopwords}, english_stemming={self._english.stemming!r})"
        )


# --------------------------------------------------------------------------- simple ones


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

    def __init__(
        self,
        stopwords: Iterable[str] | None = None,
        english_stopwords: bool = True,
        english_stemming: bool | str = True,
    ) -> None:
        self._stopwords = _normalize_stopwords(stopwords)
        self._english = _EnglishFilter(
            check_flag("english_stopwords", english_stopwords),
            _check_stemming(english_stemming),
            self._stopwords,
        )

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
            return _pieces(_check_text(text))
        terms = (english.term(piece) for piece in _pieces(_check_text(text)))
        return [t for t in terms if t]

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in _check_texts(texts)]

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

    def describe(self) -> dict[str, Any]:
        return {"kind": "bigram"}

    def tokenize(self, text: str) -> list[str]:
        out: list[str] = []
        for word in _pieces(_check_text(text)):
            if len(word) == 1:
                out.append(word)
            else:
                out.extend(word[i : i + 2] for i in range(len(word) - 1))
        return out

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in _check_texts(texts)]

    def __repr__(self) -> str:
        return "BigramTokenizer()"


class CallableTokenizer:
    """Wraps any `str -> list[str]` function as a Tokenizer."""

    def __init__(self, fn: Callable[[str], list[str]], name: str | None = None) -> None:
        if not callable(fn):
            raise InvalidInputError(f"CallableTokenizer needs a callable, got {type(fn).__name__}")
        self._fn = fn
        self.name = name or getattr(fn, "__qualname__", None) or type(fn).__name__

    def describe(self) -> dict[str, Any]:
        return {"kind": "custom", "name": self.name}

    def tokenize(self, text: str) -> list[str]:
        terms = self._fn(_check_text(text))
        if isinstance(terms, str) or not isinstance(terms, (list, tuple)):
            raise InvalidInputError(
                f"tokenizer {self.name!r} must return a list of str, returned {type(terms).__name__}"
            )
        terms = list(terms)
        if not all(isinstance(t, str) for t in terms):
            raise InvalidInputError(f"tokenizer {self.name!r} must return a list of str, returned {terms!r}")
        return terms

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        return [self.tokenize(t) for t in _check_texts(texts)]

    def __repr__(self) -> str:
        return f"CallableTokenizer({self.name})"


# --------------------------------------------------------------------------- spec <-> config

TokenizerSpec = Union[str, Tokenizer, Callable[[str], list[str]]]


def resolve_tokenizer(spec: TokenizerSpec) -> tuple[Tokenizer, dict[str, Any]]:
    """Give back (tokenizer, JSON-able description) for what a user passed as tokenizer=."""
    if isinstance(spec, str):
        if spec == "kiwi":
            tok: Tokenizer = KiwiTokenizer()
        elif spec == "whitespace":
            tok = WhitespaceTokenizer()
        elif spec == "bigram":
            tok = BigramTokenizer()
        else:
            raise InvalidInputError(
                f"unknown tokenizer {spec!r}; expected one of {', '.join(TOKENIZER_KINDS)}, "
                "a Tokenizer object or a callable str -> list[str]"
            )
        return tok, tok.describe()  # type: ignore[attr-defined]
    if isinstance(spec, (KiwiTokenizer, WhitespaceTokenizer, BigramTokenizer, CallableTokenizer)):
        return spec, spec.describe()
    if isinstance(spec, Tokenizer):
        return spec, {"kind": "custom", "name": type(spec).__qualname__}
    if callable(spec):
        wrapped = CallableTokenizer(spec)
        return wrapped, wrapped.describe()
    raise InvalidInputError(
        f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, a Tokenizer object or a callable "
        f"str -> list[str], got {type(spec).__name__}"
    )


def tokenizer_from_config(desc: dict[str, Any]) -> Tokenizer | None:
    """Rebuild a built-in tokenizer from its description; None for a custom one."""
    if not isinstance(desc, dict) or "kind" not in desc:
        raise InvalidInputError(f"a tokenizer description must be a dict with 'kind', got {desc!r}")
    kind = desc["kind"]
    if kind == "kiwi":
        pos = desc.get("pos")
        return KiwiTokenizer(
            pos=pos if pos is not None else None,
            user_words=[tuple(w) if isinstance(w, list) else w for w in desc.get("user_words") or []],
            stopwords=desc.get("stopwords") or None,
            english_stopwords=desc.get("english_stopwords", True),
            english_stemming=desc.get("english_stemming", True),
        )
    if kind == "whitespace":
        return WhitespaceTokenizer(
            stopwords=desc.get("stopwords") or None,
            english_stopwords=desc.get("english_stopwords", True),
            english_stemming=desc.get("english_stemming", True),
        )
    if kind == "bigram":
        return BigramTokenizer()
    if kind == "custom":
        return None
    raise InvalidInputError(
        f"unknown tokenizer kind {kind!r} in the stored config; expected kiwi, whitespace, bigram or custom"
    )
