"""Tokenizers that turn text into BM25 terms: Kiwi (Korean morphemes), whitespace, bigram, custom.

Every tokenizer has the same two calls, `tokenize(text)` and `tokenize_batch(texts)`;
documents and queries go through the same code path, so a term is spelled the same
on both sides. One module per job: base (the protocol), english (stopwords and
stemming of Latin words), kiwi, simple (whitespace, bigram, callables) and registry
(names and stored descriptions). Importing this package loads no Kiwi model.
"""

from .base import Tokenizer
from .english import ENGLISH_STEMMERS, ENGLISH_STOPWORDS, english_minimal_stem, english_porter_stem
from .kiwi import ALL_POS, DEFAULT_POS, KIWI_TAGS, KiwiTokenizer
from .registry import (
    NO_TOKENIZER, TERMS_VERSION, TOKENIZER_KINDS, TokenizerSpec, has_keyword_side, length_skips_of,
    resolve_tokenizer,
    tokenizer_from_config,
)
from .simple import BigramTokenizer, CallableTokenizer, WhitespaceTokenizer

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
    "length_skips_of",
    "TokenizerSpec",
    "TOKENIZER_KINDS",
    "TERMS_VERSION",
    "NO_TOKENIZER",
    "has_keyword_side",
]
