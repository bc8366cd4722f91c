"""Chunking: texts cut into retrievable pieces that keep their offsets and Markdown section.

    from gyeol.chunking import SentenceChunker, token_length
    chunker = SentenceChunker(size=800, overlap=100)                 # characters
    chunker = SentenceChunker(size=256, overlap=32, length=token_length(embedder))
    chunks = chunker.chunk(text)       # Chunk(text, start, end, index, section)

Sentences come from Kiwi's split_into_sents for paragraphs with Hangul (loaded lazily) and a
rule-based splitter for the rest. Any callable str -> list[str] also serves as a chunker.
"""

from .chunker import CallableChunker, Chunk, Chunker, SentenceChunker, as_chunker, token_length
from .markdown import markdown_sections
from .sentences import split_paragraphs, split_sentences

__all__ = [
    "Chunk", "Chunker", "SentenceChunker", "CallableChunker", "as_chunker", "token_length",
    "markdown_sections", "split_sentences", "split_paragraphs",
]
