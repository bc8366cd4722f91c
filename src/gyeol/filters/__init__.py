"""Metadata filters: a where-dict becomes a validated expression, then a boolean row mask.

The language (Chroma / MongoDB style)::

    {"lang": "ko"}                                  # equality, same as {"lang": {"$eq": "ko"}}
    {"year": {"$gte": 2020, "$lt": 2024}}           # several operators on one key are ANDed
    {"lang": "ko", "year": {"$gte": 2020}}          # several keys in one dict are ANDed
    {"$or": [{"lang": "ko"}, {"tags": {"$contains": "news"}}]}
    {}                                              # matches every document

Operators: ``$eq $ne $gt $gte $lt $lte $in $nin $exists $contains``; logical ``$and $or``.
Metadata values are JSON scalars (str, int, float, bool, None) or lists of scalars.

Semantics, chosen to match what a Chroma or MongoDB user expects:

- A comparison against a key the document does not have is False, except ``$ne`` and
  ``$nin``, which are the exact negations of ``$eq`` and ``$in`` and so are True for
  documents missing the key (MongoDB semantics). ``{"$exists": False}`` selects them too.
- ``$exists`` is True when the key is present, whatever its value (null included).
- Numbers compare across int and float (``1 == 1.0``) as float64, which is exact for
  integers up to 2**53. bool is not a number: ``True`` never equals ``1``.
- ``None`` (JSON null) equals only a stored null; ordering operators do not take it.
- ``$gt $gte $lt $lte`` compare numbers with numbers, strings with strings (by code
  point, like Python) and bools with bools (False < True). A value of another type, e.g.
  a string field compared with a number, is simply False for that document, never an error.
- On a list-valued field, ``$eq`` (and the bare ``{"key": [...]}`` form) is True when the
  stored list equals the given list element by element, with the rules above; a scalar
  ``$eq``, ``$in`` or an ordering operator is False for a list field (use ``$contains``).
- ``$contains`` is True when a list field contains an element equal to the value; it is
  False on a scalar field.
- ``$in`` / ``$nin`` take a non-empty list of scalars, which may mix types.

Field names are non-empty strings that do not start with ``$``. ``$and`` / ``$or`` nest at
most ``MAX_FILTER_DEPTH`` (32) deep. Anything malformed raises
:class:`~gyeol.errors.FilterError` saying what was expected and what was found.

:class:`MetadataColumns` keeps every label's metadata as typed, append-only arrays per key
(one ``(labels, values)`` pair per value type, strings dictionary-encoded, lists flattened
to elements plus an interned code per whole list), so :meth:`MetadataColumns.mask`
evaluates a filter with numpy and pyarrow.compute, never a Python loop per document.
"""

from .columns import MetadataColumns
from .expr import MAX_FILTER_DEPTH, And, Compare, Expr, MatchAll, Or, compile_where

__all__ = ["Compare", "And", "Or", "MatchAll", "Expr", "compile_where", "MetadataColumns", "MAX_FILTER_DEPTH"]
