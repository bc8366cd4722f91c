"""Markdown sections: each heading opens a section whose path is the headings above it."""

from __future__ import annotations

import re

__all__ = ["Section", "markdown_sections"]

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")

Section = tuple[int, int, tuple[str, ...]]  # (start, end, heading path)


def markdown_sections(text: str) -> list[Section]:
    """(start, end, heading path) of each section of a Markdown text, in order, covering it all.

    A section starts at its heading line (so the heading is part of its text) and ends where
    the next heading starts; text before the first heading has the empty path. Lines inside
    fenced code blocks are never headings.
    """
    sections: list[Section] = []
    path: list[tuple[int, str]] = []  # (level, title)
    current_start = 0
    current_path: tuple[str, ...] = ()
    in_fence = None
    pos = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        fence = _FENCE.match(stripped)
        if fence is not None:
            if in_fence is None:
                in_fence = fence.group(1)
            elif fence.group(1) == in_fence:
                in_fence = None
        elif in_fence is None:
            m = _HEADING.match(stripped)
            if m is not None:
                if pos > current_start:
                    sections.append((current_start, pos, current_path))
                level, title = len(m.group(1)), m.group(2).strip()
                while path and path[-1][0] >= level:
                    path.pop()
                path.append((level, title))
                current_start, current_path = pos, tuple(t for _, t in path)
        pos += len(line)
    if len(text) > current_start or not sections:
        sections.append((current_start, len(text), current_path))
    return sections
