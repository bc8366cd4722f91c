"""The built-in tokenizers by name, and the JSON description a collection stores of its tokenizer.

resolve_tokenizer turns what a user passed as tokenizer= into (tokenizer, description);
tokenizer_from_config turns a stored description back into the tokenizer. tokenizer=None is a
collection without a keyword side, described {"kind": "none"}. It reads the
description strictly: an unknown key (a typo), a missing one or a value of the wrong type
is a CorruptionError naming it, never a silent default.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Union

from ...errors import CorruptionError, InvalidInputError
from .base import Tokenizer
from .english import ENGLISH_STEMMERS
from .kiwi import ALL_POS, DOC_LENGTHS, KiwiTokenizer
from .simple import BigramTokenizer, CallableTokenizer, WhitespaceTokenizer

__all__ = ["TokenizerSpec", "resolve_tokenizer", "tokenizer_from_config", "length_skips_of", "TOKENIZER_KINDS",
           "TERMS_VERSION", "NO_TOKENIZER", "has_keyword_side"]

#: Bumped whenever a built-in tokenizer gives other terms for the same text, so BM25 indexes
#: saved with the old terms are rebuilt rather than matched against new query terms.
#: 2: Kiwi's Latin pieces are joined and trailing periods dropped ("sys" + "tem." -> "system").
#: 3: english_stemming=True means Snowball's English stemmer ("porter"), no longer the plural-only one.
TERMS_VERSION = 3

TokenizerSpec = Union[str, Tokenizer, Callable[[str], list[str]], None]

#: The stored description of tokenizer=None: no keyword side, no BM25 index, Kiwi never loaded.
NO_TOKENIZER: dict[str, Any] = {"kind": "none"}


def has_keyword_side(desc: Any) -> bool:
    """Whether a stored tokenizer description gives the collection a keyword side (not tokenizer=None)."""
    return desc != NO_TOKENIZER

_REQUIRED = object()


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _is_pos(value: Any) -> bool:
    return value == ALL_POS or _is_str_list(value)


def _is_word_pairs(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, list) and len(v) == 2 and _is_str_list(v) for v in value)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_stemming(value: Any) -> bool:
    return isinstance(value, bool) or value in ENGLISH_STEMMERS


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


@dataclass(frozen=True)
class _Key:
    """One key of a stored description: how to check its JSON value, and its default.

    Keys a description has had since it was first written are required; a key added
    later has the default that a description written before it existed means.
    """

    check: Callable[[Any], bool]
    expected: str
    default: Any = _REQUIRED


_ENGLISH_KEYS = {  # added with English handling; older descriptions lack them
    "english_stopwords": _Key(_is_bool, "true or false", default=True),
    "english_stemming": _Key(_is_stemming, "true, false, 'porter' or 'minimal'", default=True),
}


@dataclass(frozen=True)
class _Kind:
    """A built-in tokenizer kind: its class (None: custom, passed again by the user) and stored keys."""

    cls: Callable[..., Tokenizer] | None
    keys: dict[str, _Key] = field(default_factory=dict)


_KINDS: dict[str, _Kind] = {
    "kiwi": _Kind(KiwiTokenizer, {
        "pos": _Key(_is_pos, "'all' or a list of Kiwi tags"),
        "user_words": _Key(_is_word_pairs, "a list of [word, tag] pairs"),
        "stopwords": _Key(_is_str_list, "a list of str"),
        **_ENGLISH_KEYS,
        # added with the bigrams and pairs of Korean text; older descriptions mean morphemes alone
        "mixed": _Key(_is_bool, "true or false", default=False),
        # added with document lengths of morpheme terms only; older descriptions mean every term
        "doc_length": _Key(lambda v: v in DOC_LENGTHS, " or ".join(map(repr, DOC_LENGTHS)), default="terms"),
        # added with the lighter Kiwi load; older descriptions mean Kiwi's dictionaries loaded
        "load_typo_dict": _Key(_is_bool, "true or false", default=True),
        "load_multi_dict": _Key(_is_bool, "true or false", default=True),
    }),
    "whitespace": _Kind(WhitespaceTokenizer, {
        "stopwords": _Key(_is_str_list, "a list of str", default=[]),
        **_ENGLISH_KEYS,
    }),
    "bigram": _Kind(BigramTokenizer),
    "custom": _Kind(None, {"name": _Key(_is_str, "a str")}),
}

#: The names a user may pass as tokenizer=.
TOKENIZER_KINDS = tuple(kind for kind, spec in _KINDS.items() if spec.cls is not None)

_BUILTIN_TYPES = (KiwiTokenizer, WhitespaceTokenizer, BigramTokenizer, CallableTokenizer)


def resolve_tokenizer(spec: TokenizerSpec) -> tuple[Tokenizer | None, dict[str, Any]]:
    """Give back (tokenizer, JSON-able description) for what a user passed as tokenizer= (None: none)."""
    if spec is None:
        return None, dict(NO_TOKENIZER)
    if isinstance(spec, str):
        kind = _KINDS.get(spec)
        if kind is None or kind.cls is None:
            raise InvalidInputError(
                f"unknown tokenizer {spec!r}; expected one of {', '.join(TOKENIZER_KINDS)}, "
                "a Tokenizer object or a callable str -> list[str]"
            )
        tok = kind.cls()
        return tok, tok.describe()  # type: ignore[attr-defined]
    if isinstance(spec, _BUILTIN_TYPES):
        return spec, spec.describe()
    if isinstance(spec, Tokenizer):
        return spec, {"kind": "custom", "name": type(spec).__qualname__}
    if callable(spec):
        wrapped = CallableTokenizer(spec)
        return wrapped, wrapped.describe()
    raise InvalidInputError(
        f"tokenizer must be one of {', '.join(TOKENIZER_KINDS)}, a Tokenizer object, a callable "
        f"str -> list[str] or None (no keyword side), got {type(spec).__name__}"
    )


def tokenizer_from_config(desc: Any) -> Tokenizer | None:
    """Rebuild a built-in tokenizer from its stored description; None for a custom one or for none.

    Raises CorruptionError when the description is not one that describe() writes.
    """
    if not isinstance(desc, dict) or not isinstance(desc.get("kind"), str):
        raise CorruptionError(f"the stored tokenizer config must be an object with a 'kind' string, got {desc!r}")
    if desc == NO_TOKENIZER:
        return None
    kind = _KINDS.get(desc["kind"])
    if kind is None:
        raise CorruptionError(
            f"unknown tokenizer kind {desc['kind']!r} in the stored config; expected one of {', '.join(_KINDS)}"
        )
    where = f"the stored {desc['kind']!r} tokenizer config"
    unknown = sorted(set(desc) - set(kind.keys) - {"kind"})
    if unknown:
        raise CorruptionError(
            f"{where} has unknown keys {', '.join(map(repr, unknown))}; "
            f"expected {', '.join(map(repr, kind.keys)) or 'only kind'}"
        )
    missing = [key for key, spec in kind.keys.items() if spec.default is _REQUIRED and key not in desc]
    if missing:
        raise CorruptionError(f"{where} lacks {', '.join(map(repr, missing))}: {desc!r}")
    values = {key: desc.get(key, spec.default) for key, spec in kind.keys.items()}
    for key, value in values.items():
        spec = kind.keys[key]
        if not spec.check(value):
            raise CorruptionError(f"{where} has {key}={value!r}; expected {spec.expected}")
    if kind.cls is None:
        return None
    try:
        return kind.cls(**values)
    except InvalidInputError as exc:
        raise CorruptionError(f"{where} is not valid: {exc}") from exc


def length_skips_of(tokenizer: Any) -> tuple[str, ...]:
    """Give back the term prefixes BM25 leaves out of document lengths for this tokenizer
    (BM25Index's length_skips): KiwiTokenizer.length_skips, () for every other tokenizer."""
    return tokenizer.length_skips if isinstance(tokenizer, KiwiTokenizer) else ()
