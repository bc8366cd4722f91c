"""Keyword search: tokenizers (Kiwi for Korean, whitespace, bigram, custom) and a BM25 index.

Importing this package loads no Kiwi model; the first Kiwi tokenization does.
"""

from .bm25 import BM25Index
from .tokenizers import (
    ALL_POS,
    DEFAULT_POS,
    BigramTokenizer,
    CallableTokenizer,
    KiwiTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
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
    "resolve_tokenizer",
    "tokenizer_from_config",
]
