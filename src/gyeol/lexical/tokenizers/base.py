"""What every tokenizer shares: the Tokenizer protocol and the checks of its inputs."""

from __future__ import annotations

import difflib
import functools
import inspect
from collections.abc import Callable
from typing import Any, ParamSpec, Protocol, TypeVar, runtime_checkable

from ...errors import InvalidInputError

__all__ = ["Tokenizer", "check_text", "check_texts", "checked_arguments"]

P = ParamSpec("P")
R = TypeVar("R")


@runtime_checkable
class Tokenizer(Protocol):
    """Turns text into terms; documents and queries go through the same calls."""

    def tokenize(self, text: str) -> list[str]:
        """Give back the terms of one text."""
        ...

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        """Give back the terms of each text, in input order."""
        ...


def check_texts(texts: Any) -> list[str]:
    """Give back texts as a list, or raise InvalidInputError unless it is a list (or tuple) of str."""
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise InvalidInputError(f"texts must be a list of str, got {type(texts).__name__}")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str)]
    if bad:
        raise InvalidInputError(
            f"texts must be a list of str; found {type(texts[bad[0]]).__name__} at position {bad[0]}"
        )
    return list(texts)


def check_text(text: Any) -> str:
    """Give back text, or raise InvalidInputError unless it is a str."""
    if not isinstance(text, str):
        raise InvalidInputError(f"text must be a str, got {type(text).__name__}")
    return text


def checked_arguments(init: Callable[P, R]) -> Callable[P, R]:
    """Give back init raising InvalidInputError, not TypeError, for a misspelled or extra argument.

    KiwiTokenizer(post=["NNG"]) then says which arguments exist and which one was meant.
    """
    signature = inspect.signature(init)
    names = [name for name in signature.parameters if name != "self"]
    owner = init.__qualname__.rsplit(".", 1)[0]

    @functools.wraps(init)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            unknown = [key for key in kwargs if key not in names]
            hint = ""
            if unknown:
                close = difflib.get_close_matches(unknown[0], names, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise InvalidInputError(
                f"{owner}(): {exc}{hint}; it takes {', '.join(names) or 'no arguments'}"
            ) from None
        return init(*args, **kwargs)

    return wrapper
