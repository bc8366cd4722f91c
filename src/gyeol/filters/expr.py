"""The where-filter language: a where-dict compiles to a validated expression tree.

The semantics are described in :mod:`gyeol.filters`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias, Union

import numpy as np

from ..errors import FilterError

__all__ = ["Compare", "And", "Or", "MatchAll", "Expr", "compile_where", "MAX_FILTER_DEPTH"]

MAX_FILTER_DEPTH = 32  # $and / $or nesting; deeper is refused, not left to Python's recursion limit

Scalar: TypeAlias = Union[str, int, float, bool, None]

_COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_OPERATORS = (*_COMPARISONS, "$in", "$nin", "$exists", "$contains")
_LOGICAL = ("$and", "$or")
_ORDERING = ("$gt", "$gte", "$lt", "$lte")


# --------------------------------------------------------------------------- expressions


@dataclass(frozen=True, slots=True)
class Compare:
    """One test of one metadata key: ``op`` is an operator such as "$gte".

    ``value`` is a scalar, except for "$in"/"$nin" (a tuple of scalars) and a list
    equality "$eq"/"$ne" (a tuple of scalars).
    """

    key: str
    op: str
    value: Scalar | tuple[Scalar, ...]


@dataclass(frozen=True, slots=True)
class And:
    """True where every child is True."""

    children: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class Or:
    """True where any child is True."""

    children: tuple["Expr", ...]


@dataclass(frozen=True, slots=True)
class MatchAll:
    """True everywhere: the expression of an empty where-dict."""


Expr: TypeAlias = Union[Compare, And, Or, MatchAll]


def _show(value: Any) -> str:
    try:
        text = repr(value)
    except RecursionError:
        return f"a {type(value).__name__} nested too deep to show"
    return text if len(text) <= 80 else text[:77] + "..."


def _found(value: Any) -> str:
    return f"found {type(value).__name__}: {_show(value)}"


def _as_scalar(value: Any) -> tuple[bool, Scalar]:
    """Give back (True, value as a plain Python scalar), or (False, None) for a non-scalar."""
    if value is None or type(value) in (str, bool, int, float):
        return True, value
    if isinstance(value, np.generic) and isinstance(
        value, (np.bool_, np.integer, np.floating, np.str_)
    ):
        return True, value.item()
    for base in (bool, int, float, str):  # subclasses such as IntEnum; bool before int
        if isinstance(value, base):
            return True, base(value)
    return False, None


def _check_number_range(value: Scalar, where: str) -> None:
    if type(value) is float and value != value:  # NaN equals nothing and orders nothing: a mistake
        raise FilterError(f"Expected a number that is not NaN at {where}, found float: nan")
    if type(value) is int:
        try:
            float(value)
        except OverflowError:
            raise FilterError(
                f"Expected a number within float64 range at {where}, found int: {_show(value)}"
            ) from None


def _scalar_operand(value: Any, where: str, op: str) -> Scalar:
    ok, scalar = _as_scalar(value)
    if not ok:
        raise FilterError(
            f"Expected a str, int, float, bool or None for {op} at {where}, {_found(value)}"
        )
    _check_number_range(scalar, where)
    return scalar


def _scalar_list(value: Any, where: str, op: str, *, allow_empty: bool) -> tuple[Scalar, ...]:
    if not isinstance(value, (list, tuple)):
        raise FilterError(f"Expected a list of scalars for {op} at {where}, {_found(value)}")
    if not value and not allow_empty:
        raise FilterError(f"Expected a non-empty list of scalars for {op} at {where}, found []")
    items = []
    for item in value:
        ok, scalar = _as_scalar(item)
        if not ok:
            raise FilterError(
                f"Expected only str, int, float, bool or None items in the list for {op} "
                f"at {where}, {_found(item)}"
            )
        _check_number_range(scalar, where)
        items.append(scalar)
    return tuple(items)


def _compile_operator(key: str, op: str, value: Any, where: str) -> Compare:
    at = f"{where}[{op!r}]"
    if op in ("$eq", "$ne"):
        if isinstance(value, (list, tuple)):
            return Compare(key, op, _scalar_list(value, at, op, allow_empty=True))
        return Compare(key, op, _scalar_operand(value, at, op))
    if op in _ORDERING:
        ok, scalar = _as_scalar(value)
        if not ok or scalar is None:
            raise FilterError(f"Expected a number, str or bool for {op} at {at}, {_found(value)}")
        _check_number_range(scalar, at)
        return Compare(key, op, scalar)
    if op in ("$in", "$nin"):
        return Compare(key, op, _scalar_list(value, at, op, allow_empty=False))
    if op == "$exists":
        if not isinstance(value, (bool, np.bool_)):
            raise FilterError(f"Expected True or False for $exists at {at}, {_found(value)}")
        return Compare(key, op, bool(value))
    if op == "$contains":
        return Compare(key, op, _scalar_operand(value, at, op))
    raise FilterError(
        f"Unknown operator {op!r} at {where}; expected one of {', '.join(_OPERATORS)}"
    )


def _compile_field(key: str, value: Any, where: str) -> Expr:
    if isinstance(value, dict):
        if not value:
            raise FilterError(
                f"Expected at least one operator (e.g. {{'$eq': ...}}) at {where}, "
                "found an empty dict"
            )
        parts: list[Expr] = []
        for op, operand in value.items():
            if not isinstance(op, str) or not op.startswith("$"):
                raise FilterError(
                    f"Expected operator keys starting with '$' at {where} (metadata values cannot "
                    f"be dicts), found key {_show(op)}"
                )
            parts.append(_compile_operator(key, op, operand, where))
        return parts[0] if len(parts) == 1 else And(tuple(parts))
    if isinstance(value, (list, tuple)):
        return Compare(key, "$eq", _scalar_list(value, where, "$eq", allow_empty=True))
    ok, scalar = _as_scalar(value)
    if not ok:
        raise FilterError(
            f"Expected a scalar, a list of scalars or an operator dict at {where}, {_found(value)}"
        )
    _check_number_range(scalar, where)
    return Compare(key, "$eq", scalar)


def _compile(where: Any, path: str, depth: int = 0) -> Expr:
    if not isinstance(where, dict):
        raise FilterError(f"Expected a dict at {path}, {_found(where)}")
    if depth > MAX_FILTER_DEPTH:
        raise FilterError(f"where nests $and / $or more than {MAX_FILTER_DEPTH} deep; flatten it")
    parts: list[Expr] = []
    for key, value in where.items():
        at = f"{path}[{key!r}]"
        if not isinstance(key, str) or not key:
            raise FilterError(f"Expected a non-empty string key in {path}, found key {_show(key)}")
        if key.startswith("$"):
            if key not in _LOGICAL:
                raise FilterError(
                    f"Unknown operator {key!r} in {path}; expected a field name or one of $and, $or"
                )
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(
                    f"Expected a non-empty list of dicts for {key} at {at}, {_found(value)}"
                )
            children = []
            for i, child in enumerate(value):
                if not isinstance(child, dict):
                    raise FilterError(f"Expected a dict at {at}[{i}], {_found(child)}")
                children.append(_compile(child, f"{at}[{i}]", depth + 1))
            parts.append(And(tuple(children)) if key == "$and" else Or(tuple(children)))
        else:
            parts.append(_compile_field(key, value, at))
    if not parts:
        return MatchAll()
    return parts[0] if len(parts) == 1 else And(tuple(parts))


def compile_where(where: dict[str, Any]) -> Expr:
    """Give back the validated expression of a where-dict; raise FilterError if malformed."""
    return _compile(where, "where")
