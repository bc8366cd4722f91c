"""Versioned JSON manifests: the catalog of collections and each collection's file list.

A manifest is the single commit point: data files are written first, then the
manifest that names them replaces the old one atomically. Files that no manifest
names are leftovers of an interrupted write and are swept by the next writer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..errors import CorruptionError
from .atomic import write_bytes_atomic

FORMAT = 1
CATALOG_NAME = "catalog.json"
MANIFEST_NAME = "manifest.json"


@dataclass(frozen=True)
class SegmentRef:
    """A Parquet segment holding labels first_label .. first_label + rows - 1."""

    file: str
    first_label: int
    rows: int


@dataclass(frozen=True)
class Manifest:
    """One committed state of a collection."""

    version: int
    generation: int  # bumps when compact renumbers labels; derived indexes key on it
    next_label: int
    config: dict[str, Any]
    segments: tuple[SegmentRef, ...] = ()
    tombstones: tuple[str, ...] = ()
    deleted: int = 0  # labels tombstoned so far in this generation

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": self.version,
                "generation": self.generation,
                "next_label": self.next_label,
                "config": self.config,
                "segments": [vars(s) for s in self.segments],
                "tombstones": list(self.tombstones),
                "deleted": self.deleted,
            },
            ensure_ascii=False,
            indent=1,
        ).encode()

    @classmethod
    def from_json(cls, raw: bytes, where: Path) -> "Manifest":
        try:
            data = json.loads(raw)
            if data.get("format") != FORMAT:
                raise CorruptionError(f"{where}: unsupported manifest format {data.get('format')!r}")
            return cls(
                version=int(data["version"]),
                generation=int(data["generation"]),
                next_label=int(data["next_label"]),
                config=data["config"],
                segments=tuple(SegmentRef(**s) for s in data["segments"]),
                tombstones=tuple(data["tombstones"]),
                deleted=int(data.get("deleted", 0)),
            )
        except CorruptionError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptionError(f"{where}: unreadable manifest ({exc})") from exc

    def next(self, **changes: Any) -> "Manifest":
        return replace(self, version=self.version + 1, **changes)

    def files(self) -> set[str]:
        return {s.file for s in self.segments} | set(self.tombstones)


def read_manifest(directory: Path) -> Manifest:
    path = directory / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CorruptionError(f"{path} is missing") from None
    return Manifest.from_json(raw, path)


def write_manifest(directory: Path, manifest: Manifest) -> None:
    write_bytes_atomic(directory / MANIFEST_NAME, manifest.to_json())


@dataclass(frozen=True)
class Catalog:
    """The database's collections: name -> folder under collections/."""

    version: int = 0
    collections: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(
            {"format": FORMAT, "version": self.version, "collections": self.collections},
            ensure_ascii=False,
            indent=1,
        ).encode()


def read_catalog(root: Path) -> Catalog:
    path = root / CATALOG_NAME
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return Catalog()
    try:
        data = json.loads(raw)
        if data.get("format") != FORMAT:
            raise CorruptionError(f"{path}: unsupported catalog format {data.get('format')!r}")
        return Catalog(version=int(data["version"]), collections=dict(data["collections"]))
    except CorruptionError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptionError(f"{path}: unreadable catalog ({exc})") from exc


def write_catalog(root: Path, catalog: Catalog) -> None:
    write_bytes_atomic(root / CATALOG_NAME, catalog.to_json())
