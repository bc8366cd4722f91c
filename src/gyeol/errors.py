"""The exception tree of gyeol: every raised error derives from GyeolError."""

from __future__ import annotations

__all__ = [
    "GyeolError",
    "InvalidInputError",
    "DimensionMismatchError",
    "EmbedderMismatchError",
    "DuplicateIdError",
    "FilterError",
    "CollectionNotFoundError",
    "CollectionExistsError",
    "StorageLockedError",
    "ReadOnlyError",
    "CorruptionError",
    "BackendUnavailableError",
]


class GyeolError(Exception):
    """Base class of every error gyeol raises."""


class InvalidInputError(GyeolError, ValueError):
    """An argument has the wrong type, shape or value."""


class DimensionMismatchError(InvalidInputError):
    """A vector's dimension differs from the collection's."""


class EmbedderMismatchError(InvalidInputError):
    """A collection is reopened with an embedder other than the one its vectors came from."""


class DuplicateIdError(InvalidInputError):
    """An id repeats within a call, or (for add) already exists."""


class FilterError(InvalidInputError):
    """A where-filter is malformed: unknown operator, wrong type or shape."""


class CollectionNotFoundError(GyeolError, KeyError):
    """No collection of that name exists."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class CollectionExistsError(GyeolError):
    """A collection of that name already exists."""


class StorageLockedError(GyeolError):
    """Another process holds the database's write lock."""


class ReadOnlyError(GyeolError):
    """A write was attempted on a read-only database."""


class CorruptionError(GyeolError):
    """Stored data is damaged or unreadable."""


class BackendUnavailableError(GyeolError, ImportError):
    """An optional backend (GPU, a model, a package) is not available here."""
