"""gyeol.verify(path) (defined here): check every file of a database directory against the file that names it, read-only.

Nothing is written, locked or repaired: the report says, per file, whether it is ok, damaged,
missing (named but absent) or extra (of gyeol's naming but named by nothing). Source files
(catalog, manifests, segments, tombstones) that are damaged make a collection unopenable;
damaged derived files (indexes, caches, calibration) are rebuilt by the next writer's open.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from ._checksum import FileSum, check_file, file_sum, unseal
from ._fileset import TEMP_NAME, is_inside
from .errors import CorruptionError, GyeolError, InvalidInputError

OK, DAMAGED, MISSING, EXTRA = "ok", "damaged", "missing", "extra"
SOURCE_KINDS = frozenset({"catalog", "manifest", "segment", "tombstone"})


@dataclass(frozen=True)
class FileStatus:
    """One file's verdict: path (relative to the database), kind, status, and what was found."""

    path: str
    kind: str
    status: str
    detail: str = ""

    @property
    def source(self) -> bool:
        """True for source data (damage there makes a collection unopenable); False for derived files."""
        return self.kind in SOURCE_KINDS


@dataclass(frozen=True)
class VerifyReport:
    """What gyeol.verify found in a database directory; `.ok` is True when no file is damaged or missing."""

    path: str
    files: list[FileStatus] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.status in (OK, EXTRA) for f in self.files)

    @property
    def problems(self) -> list[FileStatus]:
        """The files that are not ok (extra files included)."""
        return [f for f in self.files if f.status != OK]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "ok": self.ok, "files": [asdict(f) for f in self.files]}

    def __repr__(self) -> str:
        counts: dict[str, int] = {}
        for f in self.files:
            counts[f.status] = counts.get(f.status, 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no files"
        lines = [f"VerifyReport({self.path!r}: {'ok' if self.ok else 'DAMAGE FOUND'}; {summary})"]
        lines += [f"  {f.status:8} {f.kind:14} {f.path}" + (f"  ({f.detail})" if f.detail else "") for f in self.problems]
        return "\n".join(lines)


def verify(path: str | Path) -> VerifyReport:
    """Check every file of the database at path against the checksums and counts recorded for it.

    Read-only: takes no lock and changes nothing. Raises InvalidInputError when path is not a
    directory.
    """
    if not isinstance(path, (str, Path)) or "\x00" in str(path):
        raise InvalidInputError(f"path must be a str or Path without NUL characters, got {path!r}")
    root = Path(path)
    if not root.is_dir():
        raise InvalidInputError(f"{root} is not a directory")
    checker = _Checker(root)
    checker.database()
    return VerifyReport(str(root), checker.files)


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[FileStatus] = []

    def add(self, path: Path, kind: str, status: str, detail: str = "") -> None:
        try:
            shown = str(path.relative_to(self.root))
        except ValueError:
            shown = str(path)
        self.files.append(FileStatus(shown, kind, status, detail))

    def check(self, path: Path, kind: str, test: Callable[[], str | None]) -> bool:
        """Run test (raises on damage; may return a detail); record the verdict; True when ok."""
        if not path.exists() and not path.is_symlink():
            self.add(path, kind, MISSING)
            return False
        try:
            detail = test()
        except (GyeolError, OSError, ValueError, KeyError, TypeError) as exc:
            self.add(path, kind, DAMAGED, str(exc))
            return False
        self.add(path, kind, OK, detail or "")
        return True

    # ------------------------------------------------------------------ the database and its collections

    def database(self) -> None:
        from .database import COLLECTIONS_DIR
        from .storage.manifest import CATALOG_NAME, COLLECTION_FOLDER, read_catalog

        catalog_path = self.root / CATALOG_NAME
        box: dict[str, Any] = {}
        collections = self.root / COLLECTIONS_DIR
        folders = sorted(p for p in collections.iterdir()) if collections.is_dir() else []
        if not catalog_path.exists() and not folders:
            return  # an empty directory: a database yet to be created
        self.check(catalog_path, "catalog", lambda: box.update(c=read_catalog(self.root)) or None)
        catalog = box.get("c")
        named = set(catalog.collections.values()) if catalog is not None else set()
        for folder in folders:
            if folder.name not in named and COLLECTION_FOLDER.fullmatch(folder.name) and catalog is not None:
                self.add(folder, "collection", EXTRA, "no collection of the catalog lives here")
        if catalog is None:
            return
        for name, folder_name in sorted(catalog.collections.items()):
            folder = collections / folder_name
            if not is_inside(folder, self.root):
                self.add(folder, "collection", DAMAGED, f"collection {name!r} leads outside {self.root}")
            elif not folder.is_dir():
                self.add(folder, "collection", MISSING, f"collection {name!r}")
            else:
                self.collection(folder)

    def collection(self, folder: Path) -> None:
        from .storage.manifest import DATA_DIR, MANIFEST, check_sealed, read_manifest

        box: dict[str, Any] = {}

        def manifest() -> str | None:
            box["m"] = m = read_manifest(folder)
            check_sealed(folder, m)
            return None if m.checksums else "format 1: its files carry no checksums"

        if not self.check(folder / MANIFEST.meta_name, "manifest", manifest):
            return
        m = box["m"]
        data = folder / DATA_DIR
        where = folder / MANIFEST.meta_name
        for kind, names in (("segment", [s.file for s in m.segments]), ("tombstone", list(m.tombstones))):
            for name in names:
                self.check(data / name, kind, self._sum_test(data / name, m.checksums.get(name), kind, where))
        self.extras(data, MANIFEST.name_pattern, m.files(), "data file")
        self.derived(folder, m)

    def _sum_test(self, path: Path, expected: FileSum | None, kind: str, where: Path, exact: bool = True):
        def test() -> str | None:
            if not is_inside(path, path.parent):
                raise CorruptionError(f"{path} leads outside {path.parent}")
            if expected is None:
                file_sum(path)  # readable at least
                return "no checksum recorded (written before checksums)"
            check_file(path, expected, what=kind, where=where, exact=exact)
            return None
        return test

    def extras(self, directory: Path, pattern: Any, named: set[str], kind: str) -> None:
        if not directory.is_dir():
            return
        for p in sorted(directory.iterdir()):
            if p.name not in named and (pattern.fullmatch(p.name) or TEMP_NAME.fullmatch(p.name)):
                self.add(p, kind, EXTRA, "named by nothing: swept by the next writer")

    # ------------------------------------------------------------------ derived files

    def derived(self, folder: Path, manifest: Any) -> None:
        from .storage.docs_cache import DOCS_FILES
        from .storage.store import DOCS_CACHE, FILTERS_FILES, IDS_FILES, INDEX_DIR

        index_root = folder / INDEX_DIR
        if not index_root.is_dir():
            return
        docs = index_root / DOCS_CACHE
        if docs.is_dir():
            self.docs(docs, DOCS_FILES, {f"{s.file}.arrow" for s in manifest.segments})
        for part in sorted(p for p in index_root.iterdir() if p.is_dir()):
            if (part / "vector.json").exists():
                self.vector(part, manifest)
            elif (part / "bm25.json").exists():
                self.bm25(part)
            elif any((part / files.meta_name).exists() for files in (IDS_FILES, FILTERS_FILES)):
                self.saved_arrays(part, IDS_FILES if (part / IDS_FILES.meta_name).exists() else FILTERS_FILES)
        fusion = index_root / "fusion" / "auto.json"
        if fusion.exists():
            self.check(fusion, "fusion", lambda: _sealed_json(fusion, manifest.config.get("name")))

    def docs(self, docs: Path, fileset: Any, current: set[str]) -> None:
        box: dict[str, Any] = {}
        meta_path = docs / fileset.meta_name
        if meta_path.exists():
            self.check(meta_path, "docs meta", lambda: box.update(m=fileset.read(docs)) or None)
        recorded = (box.get("m") or {}).get("files") or {}
        if not isinstance(recorded, dict):
            recorded = {}
        for p in sorted(docs.iterdir()):
            if p.name == fileset.meta_name or not fileset.name_pattern.fullmatch(p.name):
                continue
            if p.name not in current:
                self.add(p, "docs cache", EXTRA, "of no current segment: swept by the next writer")
            elif not meta_path.exists():
                self.add(p, "docs cache", OK, "no checksum recorded (written before checksums): remade by the next writer")
            elif p.name not in recorded:
                self.add(p, "docs cache", DAMAGED, f"{meta_path.name} records no checksum for it")
            else:
                try:
                    expected = FileSum.from_json(recorded[p.name], meta_path, p.name)
                except CorruptionError as exc:
                    self.add(p, "docs cache", DAMAGED, str(exc))
                    continue
                self.check(p, "docs cache", self._sum_test(p, expected, "document cache", meta_path))

    def saved_arrays(self, part: Path, files: Any) -> None:
        """The id map or filter columns (storage/saved_arrays.py): the sealed JSON and the file it names."""
        from ._fileset import checked_name

        box: dict[str, Any] = {}
        meta_path = part / files.meta_name
        kind = "id map" if files.meta_name.startswith("ids") else "filter columns"
        self.check(meta_path, f"{kind} meta", lambda: box.update(m=files.read(part)) or None)
        named: set[str] = set()
        meta = box.get("m")
        if isinstance(meta, dict):
            try:
                name = checked_name(meta.get("file"), files.name_pattern, meta_path)
                expected = FileSum.from_json(meta.get("sum"), meta_path, name)
            except CorruptionError as exc:
                self.add(meta_path, f"{kind} meta", DAMAGED, str(exc))
            else:
                named.add(name)
                self.check(part / name, kind, self._sum_test(part / name, expected, kind, meta_path))
        self.extras(part, files.name_pattern, named, f"{kind} file")

    def vector(self, part: Path, manifest: Any) -> None:
        from .index.files import VECTOR_FILES

        planned: list[tuple[Path, str, Callable[[], str | None]]] = []
        meta_path = part / VECTOR_FILES.meta_name

        def meta() -> None:
            found = VECTOR_FILES.read(part)
            assert found is not None  # check() saw the file
            self._state(part, found["index"], int(found["dim"]), planned)

        self.check(meta_path, "vector meta", meta)
        for path, kind, test in planned:
            self.check(path, kind, test)
        self.extras(part, VECTOR_FILES.name_pattern, {p.name for p, _, _ in planned}, "index file")

    def _state(self, part: Path, state: dict[str, Any], dim: int, planned: list) -> None:
        """Plan the checks of the files an index state names (raises when the state is malformed)."""
        from .index.files import FAISS_NAME, ROWS_NAME

        where = part / "vector.json"
        kind = state["type"]
        if kind == "faiss":
            path = part / _bare(state["file"], FAISS_NAME, where)
            expected = None if state.get("crc32") is None else FileSum(int(state["crc32"]), int(state["bytes"]))
            planned.append((path, "vector index", self._sum_test(path, expected, "vector index file", where)))
        elif kind == "disk":
            self._state(part, state["base"], dim, planned)
            self._rows(part, _bare(state["delta"], ROWS_NAME, where), int(state["delta_n"]), dim,
                       state.get("delta_crc32"), planned)
        elif kind == "rescored":
            if state.get("inner"):
                self._state(part, state["inner"], dim, planned)
            self._rows(part, _bare(state["vectors"], ROWS_NAME, where), int(state["ntotal"]), dim,
                       state.get("vectors_crc32"), planned)
        else:
            raise ValueError(f"unknown index state type {kind!r}")

    def _rows(self, part: Path, name: str, n: int, dim: int, crc: Any, planned: list) -> None:
        path = part / name
        if crc is None:
            planned.append((path, "vectors", lambda: None if path.stat().st_size >= n * dim * 4
                            else _raise(f"{name} holds fewer than {n} vectors")))
            return
        planned.append((path, "vectors", self._sum_test(path, FileSum(int(crc), n * dim * 4), "vector file",
                                                        part / "vector.json", exact=False)))

    def bm25(self, part: Path) -> None:
        from .lexical._persist import ARRAY_FILES, ARRAY_NAME, META_NAME, open_saved
        from .lexical.bm25_files import ARRAY_DTYPES

        box: dict[str, Any] = {}
        if not self.check(part / META_NAME, "bm25 meta", lambda: box.update(s=open_saved(part)) or None):
            return
        saved = box["s"]
        named: set[str] = set()
        from .lexical.counts import COUNT_DTYPES

        # the base save's arrays, then each per-commit delta's term counts (lexical/deltas.py)
        for one, dtypes in [(saved, ARRAY_DTYPES)] + [(delta, COUNT_DTYPES) for delta in saved.deltas]:
            for name, entry in sorted(one.files.items()):
                file_name = entry.get("file") if isinstance(entry, dict) else None
                try:
                    path = part / _bare(file_name, ARRAY_NAME, part / META_NAME)
                except CorruptionError as exc:
                    self.add(part / META_NAME, "bm25 meta", DAMAGED, str(exc))
                    continue
                named.add(path.name)
                dtype = dtypes.get(name)
                if dtype is None:
                    self.add(path, "bm25 array", DAMAGED, f"unknown array {name!r}")
                    continue
                self.check(path, "bm25 array", functools.partial(_load_array, one, name, dtype))
        self.extras(part, ARRAY_FILES.name_pattern, named, "bm25 array")


def _load_array(saved: Any, name: str, dtype: Any) -> None:
    saved.load({name: dtype})


def _bare(name: Any, pattern: str, where: Path) -> str:
    from ._fileset import checked_name

    return checked_name(name, pattern, where)


def _raise(message: str) -> None:
    raise CorruptionError(message)


def _sealed_json(path: Path, collection: Any) -> str | None:
    record = json.loads(path.read_bytes())
    if not isinstance(record, dict):
        raise CorruptionError(f"{path} holds no JSON object")
    record, ok = unseal(record)
    if ok is False:
        raise CorruptionError(f"{path} is damaged: its crc32 does not match its content")
    if record.get("collection", collection) != collection:
        raise CorruptionError(f"{path} was measured for collection {record['collection']!r}, not {collection!r}")
    return "no checksum recorded" if ok is None else None
