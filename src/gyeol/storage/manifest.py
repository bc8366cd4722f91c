"""Versioned JSON manifests: the catalog of collections and each collection's file list.

A manifest is the single commit point of a collection (the protocol of gyeol._fileset):
data files are written first, then the manifest that names them replaces the old one
atomically. Files that no manifest names are leftovers of an interrupted write and are
swept by the next writer.

Format 2 records each data file's length and crc32 ("checksums") and seals the manifest with
its own crc32; a format-1 manifest (no checksums) still opens, and the next commit writes
format 2 (reading each old file once to sum it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from .._checksum import FileSum, file_sum
from .._fileset import FORMAT_KEY, FileSet, checked_name
from ..errors import CorruptionError

DATA_DIR = "data"
# The names gyeol gives its files and folders; a name read from a manifest or the catalog must
# match one in whole, and a sweep deletes nothing else.
SEGMENT_NAME = r"seg-\d{4,}-\d{12,}-[0-9a-f]{8}\.parquet"
TOMBSTONE_NAME = r"tomb-\d{4,}-[0-9a-f]{12}\.parquet"
COLLECTION_FOLDER = re.compile(r"c-[0-9a-f]{16}")
# A collection's manifest names the Parquet segments and tombstones under data/.
MANIFEST = FileSet("manifest.json", format=2, names=f"{SEGMENT_NAME}|{TOMBSTONE_NAME}", folder=DATA_DIR,
                   reads=(1, 2), sealed=True)
# The database's catalog names the collection folders (swept by Database, not by FileSet).
CATALOG = FileSet("catalog.json", format=1, sealed=True)  # the seal is checked after the names
MANIFEST_NAME = MANIFEST.meta_name
CATALOG_NAME = CATALOG.meta_name


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
    # name -> length and crc32 of each file named (format 2); write_manifest fills in new files'
    checksums: dict[str, FileSum] = field(default_factory=dict, compare=False)
    # False when the manifest's own crc32 did not match its content (store.open reports it after
    # the more precise checks); None when it carried none (format 1)
    sealed_ok: bool | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "generation": self.generation,
            "next_label": self.next_label,
            "config": self.config,
            "segments": [vars(s) for s in self.segments],
            "tombstones": list(self.tombstones),
            "deleted": self.deleted,
            "checksums": {name: self.checksums[name].to_json() for name in sorted(self.checksums)},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: Path, sealed_ok: bool | None = None) -> "Manifest":
        """The manifest in data; CorruptionError naming where when it is malformed or names a file badly."""
        try:
            manifest = cls(
                version=int(data["version"]),
                generation=int(data["generation"]),
                next_label=int(data["next_label"]),
                config=data["config"],
                segments=tuple(SegmentRef(**s) for s in data["segments"]),
                tombstones=tuple(data["tombstones"]),
                deleted=int(data.get("deleted", 0)),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise CorruptionError(f"{where}: unreadable manifest ({exc})") from exc
        first = 0
        for seg in manifest.segments:
            checked_name(seg.file, SEGMENT_NAME, where)
            if type(seg.first_label) is not int or type(seg.rows) is not int or seg.rows < 0 or seg.first_label != first:
                raise CorruptionError(f"{where}: segment {seg.file} holds labels from {seg.first_label} "
                                      f"({seg.rows} rows), expected the next label {first}")
            first += seg.rows
        if first != manifest.next_label:
            raise CorruptionError(f"{where}: segments hold {first} labels, next_label says {manifest.next_label}")
        for name in manifest.tombstones:
            checked_name(name, TOMBSTONE_NAME, where)
        names = [s.file for s in manifest.segments] + list(manifest.tombstones)
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise CorruptionError(f"{where} lists {', '.join(twice)} more than once")
        sums = data.get("checksums")
        if data.get(FORMAT_KEY, 1) >= 2:
            if not isinstance(sums, dict):
                raise CorruptionError(f"{where}: a format-2 manifest without its checksums")
            missing = [n for n in names if n not in sums]
            if missing:
                raise CorruptionError(f"{where}: format 2, but no checksum for {missing[0]}")
            if sealed_ok is None:
                raise CorruptionError(f"{where}: a format-2 manifest without its own crc32")
        elif sums is not None:
            raise CorruptionError(f"{where}: a format-1 manifest with checksums")
        checksums = {n: FileSum.from_json(sums[n], where, n) for n in names} if sums else {}
        return replace(manifest, checksums=checksums, sealed_ok=sealed_ok)

    def next(self, **changes: Any) -> "Manifest":
        return replace(self, version=self.version + 1, **changes)

    def files(self) -> set[str]:
        return {s.file for s in self.segments} | set(self.tombstones)


def read_manifest(directory: Path) -> Manifest:
    """The committed manifest; its own crc32 is checked by check_sealed (after the checks against the data)."""
    data, sealed_ok = MANIFEST.read_unsealed(directory)
    if data is None:
        raise CorruptionError(f"{directory / MANIFEST_NAME} is missing")
    return Manifest.from_dict(data, directory / MANIFEST_NAME, sealed_ok)


def check_sealed(directory: Path, manifest: Manifest) -> None:
    """CorruptionError when the manifest read from directory did not match its own crc32."""
    if manifest.sealed_ok is False:
        raise CorruptionError(f"{directory / MANIFEST_NAME} is damaged: its crc32 does not match its content")


def write_manifest(directory: Path, manifest: Manifest) -> Manifest:
    """Commit manifest, summing the files it names that have no checksum yet; give back the manifest committed.

    The names of the data files written for it are made durable first. Keep the manifest given
    back: it carries the new files' checksums, which the next commit would otherwise sum again.
    """
    files = manifest.files()
    data = directory / DATA_DIR
    checksums = {n: manifest.checksums.get(n) or file_sum(data / n) for n in sorted(files)}
    manifest = replace(manifest, checksums=checksums, sealed_ok=True)
    MANIFEST.commit(directory, manifest.to_dict(), files, sweep=False)
    return manifest


@dataclass(frozen=True)
class Catalog:
    """The database's collections: name -> folder under collections/."""

    version: int = 0
    collections: dict[str, str] = field(default_factory=dict)


def read_catalog(root: Path) -> Catalog | None:
    """The committed catalog in root; None when there is none."""
    data, sealed_ok = CATALOG.read_unsealed(root)
    if data is None:
        return None
    where = root / CATALOG_NAME
    try:
        catalog = Catalog(version=int(data["version"]), collections=dict(data["collections"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise CorruptionError(f"{where}: unreadable catalog ({exc})") from exc
    for name, folder in catalog.collections.items():
        if not isinstance(name, str):
            raise CorruptionError(f"{where}: collection name {name!r} is not a string")
        checked_name(folder, COLLECTION_FOLDER, where)
    if len(set(catalog.collections.values())) != len(catalog.collections):
        raise CorruptionError(f"{where} names one folder for two collections")
    if sealed_ok is False:
        raise CorruptionError(f"{where} is damaged: its crc32 does not match its content")
    return catalog


def write_catalog(root: Path, catalog: Catalog) -> None:
    CATALOG.write_meta(root, {"version": catalog.version, "collections": catalog.collections})
