"""Reading sources into texts: files (.txt, .md, .html, .pdf) and folders of them.

A loader gives back a LoadedText (the text, its pages' start offsets, a title) or raises
LoadError with a reason for the ingest report; nothing here touches a collection.
HTML is read with the standard library's html.parser: headings become Markdown heading
lines, so the chunker keeps them as each chunk's section. PDF needs pypdf (optional extra
gyeol[pdf]); each page's text is joined with a blank line and its start offset kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

__all__ = ["LoadedText", "LoadError", "SUFFIXES", "load_file", "expand_paths", "page_of"]

SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_SNIFF = 8192  # bytes read to tell binary files from text


class LoadError(Exception):
    """A source that could not be read (the reason goes to the ingest report as a warning)."""


@dataclass(frozen=True)
class LoadedText:
    """A source's text; pages: (start offset, page number from 1) for PDFs, empty otherwise."""

    text: str
    kind: str  # "text" | "markdown" | "html" | "pdf"
    title: str | None = None
    pages: list[tuple[int, int]] = field(default_factory=list)


def page_of(pages: list[tuple[int, int]], offset: int) -> int | None:
    """The page number that offset falls on (None without pages)."""
    page = None
    for start, number in pages:
        if start > offset:
            break
        page = number
    return page


def expand_paths(path: Path) -> list[Path]:
    """The files to read for a path: itself, or a folder's supported files (recursive, sorted,
    hidden ones skipped). A missing path or a folder with none raises InvalidInputError."""
    if path.is_file():
        return [path]
    if not path.exists():
        raise InvalidInputError(f"no such file or folder: {str(path)!r}")
    if not path.is_dir():
        raise InvalidInputError(f"{str(path)!r} is neither a file nor a folder")
    found = []
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(SUFFIXES):
                found.append(Path(root) / name)
    if not found:
        raise InvalidInputError(
            f"folder {str(path)!r} has no files to ingest (looked for {', '.join(SUFFIXES)})"
        )
    return found


def load_file(path: Path) -> LoadedText:
    """The text of one file, by its suffix (an unknown suffix is read as plain text)."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return _load_pdf(path)
    data = _read_bytes(path)
    if b"\x00" in data[:_SNIFF]:
        raise LoadError("binary file (NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise LoadError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if suffix in (".html", ".htm"):
        return _html_text(text)
    return LoadedText(text, "markdown" if suffix in (".md", ".markdown") else "text")


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise LoadError("file disappeared before it was read") from None
    except OSError as exc:
        raise LoadError(f"unreadable: {exc.strerror or exc}") from None


# ------------------------------------------------------------------ HTML

_BLOCK = frozenset(
    "p div br li ul ol tr table section article header footer blockquote pre dd dt hr main aside".split()
)
_SKIP = frozenset({"script", "style", "head", "noscript", "template", "svg"})
_HEADINGS = {f"h{i}": i for i in range(1, 7)}


class _TextParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title: list[str] = []
        self._skip = 0
        self._in_title = False
        self._heading: int | None = None

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag in _SKIP:
            self._skip += 1
        if tag == "title":
            self._in_title = True
        elif tag in _HEADINGS:
            self._heading = _HEADINGS[tag]
            self.parts.append("\n\n" + "#" * self._heading + " ")
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag != "br" else "\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        elif tag in _HEADINGS:
            self._heading = None
            self.parts.append("\n\n")
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
            return
        if self._skip:
            return
        if self._heading is not None:
            data = " ".join(data.split())  # a heading stays on its line
        self.parts.append(data)


def _html_text(source: str) -> LoadedText:
    parser = _TextParser()
    parser.feed(source)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    text, blank = [], True
    for line in lines:  # at most one blank line between blocks
        if line:
            text.append(line)
            blank = False
        elif not blank:
            text.append("")
            blank = True
    title = " ".join("".join(parser.title).split()) or None
    return LoadedText("\n".join(text).strip(), "html", title)


# ------------------------------------------------------------------ PDF


def _load_pdf(path: Path) -> LoadedText:
    try:
        import pypdf  # optional extra: gyeol[pdf]
    except ImportError:
        raise LoadError("reading PDF needs pypdf: pip install 'gyeol[pdf]'") from None
    if not path.exists():
        raise LoadError("file disappeared before it was read")
    try:
        reader = pypdf.PdfReader(str(path))
        page_texts = [(page.extract_text() or "").strip() for page in reader.pages]
    except Exception as exc:  # pypdf raises many types for damaged files
        raise LoadError(f"unreadable PDF: {exc}") from None
    text_parts: list[str] = []
    pages: list[tuple[int, int]] = []
    offset = 0
    for number, page_text in enumerate(page_texts, 1):
        if not page_text:
            continue
        if text_parts:
            offset += 2
        pages.append((offset, number))
        text_parts.append(page_text)
        offset += len(page_text)
    if not text_parts:
        raise LoadError("PDF has no text layer (scanned pages need OCR first)")
    title: Any = None
    try:
        info: Any = reader.metadata or {}
        title = info.get("/Title") or None
    except Exception:
        title = None
    return LoadedText("\n\n".join(text_parts), "pdf", str(title) if title else None, pages)
