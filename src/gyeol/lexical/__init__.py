"""Keyword search: tokenizers (Kiwi for Korean, whitespace, bigram, custom) and a BM25 index.

Importing this package loads no Kiwi model; the first Kiwi tokenization does.
"""

from .bm25 import BM25Index
from .tokenizers import (
    ALL_POS,
    DEFAULT_POS,
    ENGLISH_STOPWORDS,
    BigramTokenizer,
    CallableTokenizer,
    KiwiTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    ENGLISH_STEMMERS,
    english_minimal_stem,
    english_porter_stem,
    resolve_tokenizer,
    tokenizer_from_config,
)

__all__ = [
    "BM25Index",
    "Tokenizer",
    "KiwiTokenizer",
    "WhitespaceTokenizer",
    "BigramTokenizer",
    "CallableTokenizer",
    "DEFAULT_POS",
    "ALL_POS",
    "ENGLISH_STOPWORDS",
    "ENGLISH_STEMMERS",
    "english_minimal_stem",
    "english_porter_stem",
    "resolve_tokenizer",
    "tokenizer_from_config",
]
