"""connect() and Database: a directory of collections, its write lock, and the catalog."""

from __future__ import annotations

import logging
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

from .collection import Collection
from .config import (
    BM25,
    DEVICES,
    METRICS,
    TIERS,
    CollectionConfig,
    check_choice,
    check_dim,
    coerce_index_spec,
    tier_needs_disk,
)
from .embedders import check_identity, describe_embedder, embedder_dim, embedder_from_desc, resolve_embedder
from .errors import (
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptionError,
    GyeolError,
    InvalidInputError,
    ReadOnlyError,
)
from ._fileset import confined, fsync_dir, is_inside, sweep_temp_files
from .storage.lock import DirectoryLock
from .storage.manifest import CATALOG_NAME, COLLECTION_FOLDER, Catalog, read_catalog, write_catalog
from .storage.store import SegmentStore

__all__ = ["connect", "Database"]

log = logging.getLogger(__name__)

COLLECTIONS_DIR = "collections"
DEFAULT_EMBEDDER = "default"


def connect(path: str | Path | None = None, *, read_only: bool = False) -> "Database":
    """Open (creating if missing) a database directory, or an in-memory one when path is None."""
    return Database(path, read_only=read_only)


class Database:
    """A set of named collections in one directory (or in memory)."""

    def __init__(self, path: str | Path | None = None, *, read_only: bool = False) -> None:
        if path is not None and not isinstance(path, (str, Path)):
            raise InvalidInputError(f"path must be a str, a Path or None, got {type(path).__name__}")
        if isinstance(path, str) and not path:  # Path("") is the working directory: never by accident
            raise InvalidInputError("path is empty (''); pass a folder, or nothing for an in-memory database")
        if path is not None and "\x00" in str(path):
            raise InvalidInputError(f"path {str(path)!r} holds a NUL character, which no file system accepts")
        self.path = None if path is None else Path(path)
        self.read_only = bool(read_only)
        self._lock = threading.RLock()
        self._dir_lock: DirectoryLock | None = None
        self._open: dict[str, Collection] = {}
        self._closed = False
        if self.path is None:
            if read_only:
                raise InvalidInputError("read_only=True needs a path: an in-memory database has nothing to read")
            self._catalog = Catalog()
            return
        if read_only:
            if not self.path.is_dir():
                raise InvalidInputError(f"{self.path} does not exist; a read-only database cannot create it")
        else:
            if self.path.exists() and not self.path.is_dir():
                raise InvalidInputError(f"{self.path} exists and is not a directory")
            self.path.mkdir(parents=True, exist_ok=True)
            self._dir_lock = DirectoryLock(self.path)
            self._dir_lock.acquire()
            sweep_temp_files(self.path)
        self._catalog = self._read_catalog(self.path)
        if not read_only:
            self._sweep_orphans(self.path)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Save derived indexes of open collections, release the write lock; later calls raise."""
        with self._lock:
            if self._closed:
                return
            try:
                for col in self._open.values():
                    col.release()
            finally:
                self._open.clear()
                self._closed = True
                if self._dir_lock is not None:
                    self._dir_lock.release()
                    self._dir_lock = None

    def __enter__(self) -> "Database":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:  # release the lock of a forgotten handle
        try:
            if not self._closed and self._dir_lock is not None:
                self._dir_lock.release()
        except Exception:
            pass

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        flags = " read-only" if self.read_only else ""
        return f"Database({where}{flags}, {len(self._catalog.collections)} collections)"

    def _check_open(self) -> None:
        if self._closed:
            raise GyeolError("the database is closed")

    def _check_writable(self) -> None:
        self._check_open()
        if self.read_only:
            raise ReadOnlyError(f"database {self.path} is open read-only; writes are refused")

    def _refresh_catalog(self) -> None:
        if self.path is not None and self.read_only:
            self._catalog = self._read_catalog(self.path)

    def _read_catalog(self, db_path: Path) -> Catalog:
        """The committed catalog; a new writer commits an empty one, so a missing one later is damage.

        Raises CorruptionError when catalog.json is missing while collection folders exist:
        treating them as orphans would delete every collection.
        """
        catalog = read_catalog(db_path)
        if catalog is not None:
            return catalog
        root = db_path / COLLECTIONS_DIR
        folders = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
        if folders:
            raise CorruptionError(
                f"{db_path / CATALOG_NAME} is missing but {root} holds {len(folders)} collection "
                f"folder(s) ({', '.join(folders[:3])}{', ...' if len(folders) > 3 else ''}); "
                "restore the catalog from a backup; nothing was changed"
            )
        catalog = Catalog()
        if not self.read_only:
            write_catalog(db_path, catalog)
        return catalog

    def _sweep_orphans(self, db_path: Path) -> None:
        """Remove collection folders of gyeol's naming that no catalog names (a create or drop cut short)."""
        root = db_path / COLLECTIONS_DIR
        if not root.is_dir() or not is_inside(root, db_path):
            return
        named = set(self._catalog.collections.values())
        for folder in root.iterdir():
            if folder.name in named or not COLLECTION_FOLDER.fullmatch(folder.name):
                continue
            if folder.is_symlink() or not folder.is_dir():
                continue  # not a folder gyeol made: leave it (and whatever it points at) alone
            log.info("removing %s, left by an interrupted create or drop", folder)
            shutil.rmtree(folder, ignore_errors=True)

    # ------------------------------------------------------------------ collections

    def list_collections(self) -> list[str]:
        """Names of the collections, sorted."""
        with self._lock:
            self._check_open()
            self._refresh_catalog()
            return sorted(self._catalog.collections)

    def create_collection(
        self,
        name: str,
        *,
        embedder: Any = DEFAULT_EMBEDDER,
        dim: int | None = None,
        metric: str = "cosine",
        tier: str = "memory",
        index: Any = None,
        device: str = "cpu",
        tokenizer: Any = "kiwi",
        bm25: BM25 | None = None,
        exist_ok: bool = False,
    ) -> Collection:
        """Create a collection (or, with exist_ok, open the existing one of that name)."""
        from .index import validate_spec
        from .index.device import resolve_device
        from .lexical.tokenizers import resolve_tokenizer

        with self._lock:
            self._check_writable()
            _check_name(name)
            if name in self._catalog.collections:
                if exist_ok:
                    return self.get_collection(name)
                raise CollectionExistsError(f"collection {name!r} already exists (pass exist_ok=True to open it)")
            check_choice("metric", metric, METRICS)
            check_choice("tier", tier, TIERS)
            check_choice("device", device, DEVICES)
            spec = coerce_index_spec(index)
            if bm25 is None:
                bm25 = BM25()
            elif not isinstance(bm25, BM25):
                raise InvalidInputError(f"bm25 must be a gyeol.BM25(...) or None, got {type(bm25).__name__}")
            if dim is not None:
                dim = check_dim(dim)
            embedder_obj, embedder_desc = resolve_embedder(embedder)
            tokenizer_obj, tokenizer_desc = resolve_tokenizer(tokenizer)
            if embedder_obj is None and dim is None:
                raise InvalidInputError("dim is required when embedder is None")
            if dim is None:
                dim = check_dim(embedder_dim(embedder_obj))
            embedder_desc = describe_embedder(embedder_obj, embedder_desc)  # name, prompts, fingerprint
            validate_spec(spec, tier=tier, metric=metric, dim=dim, in_memory=self.path is None)
            placed = resolve_device(device)
            config = CollectionConfig(
                name=name, dim=dim, metric=metric, tier=tier, device=device, index=spec,
                tokenizer=tokenizer_desc, bm25=bm25, embedder=embedder_desc,
            )
            folder = None
            if self.path is not None:
                folder = self.path / COLLECTIONS_DIR / f"c-{uuid.uuid4().hex[:16]}"
            store = SegmentStore.create(folder, config.to_dict())
            collection = self._handle(store, config, embedder_obj, tokenizer_obj, tier=tier, device=placed)
            catalog = Catalog(
                version=self._catalog.version + 1,
                collections={**self._catalog.collections, name: "" if folder is None else folder.name},
            )
            if self.path is not None:
                try:
                    # the new folder's name (and collections/ itself) are durable before the catalog names them
                    fsync_dir(self.path / COLLECTIONS_DIR)
                    fsync_dir(self.path)
                    write_catalog(self.path, catalog)
                except BaseException:
                    store.destroy()
                    raise
            self._catalog = catalog
            self._open[name] = collection  # in memory, the handle holds the only store: kept from create to drop
            return collection

    def get_collection(
        self,
        name: str,
        *,
        tier: str | None = None,
        device: str | None = None,
        embedder: Any = None,
        tokenizer: Any = None,
    ) -> Collection:
        """Open a collection, optionally on another tier or device (the index is rebuilt if needed).

        embedder / tokenizer: pass again the custom objects a collection was created with;
        built-in ones (model names, "kiwi", "whitespace", "bigram") are restored from the config.
        """
        from .index.device import resolve_device
        from .lexical.tokenizers import resolve_tokenizer, tokenizer_from_config

        with self._lock:
            self._check_open()
            self._refresh_catalog()
            if not isinstance(name, str) or name not in self._catalog.collections:
                raise CollectionNotFoundError(f"no collection named {name!r}; have: {sorted(self._catalog.collections)}")
            if tier is not None:
                check_choice("tier", tier, TIERS)
            if device is not None:
                check_choice("device", device, DEVICES)
            existing = self._open.get(name)
            config: CollectionConfig | None = None  # read from the store when no handle is open
            if existing is not None:
                current_tier, current_device = existing.tier, existing.device
            else:
                store = self._load_store(name)
                config = CollectionConfig.from_dict(store.manifest.config)
                current_tier, current_device = config.tier, config.device
            want_tier = tier or current_tier
            if self.path is None and want_tier != "memory":
                raise tier_needs_disk(want_tier)
            want_device = resolve_device(device or current_device)
            embedder_obj = None if embedder is None else resolve_embedder(embedder)[0]
            tokenizer_obj = None if tokenizer is None else resolve_tokenizer(tokenizer)[0]
            if embedder_obj is not None:  # another model would mix two vector spaces
                if existing is not None:
                    stored = existing.config.get("embedder")
                else:
                    assert config is not None
                    stored = config.to_dict().get("embedder")
                check_identity(stored, embedder_obj, collection=name)
            if existing is not None:
                existing.reconfigure(tier=want_tier, device=want_device, embedder=embedder_obj, tokenizer=tokenizer_obj)
                return existing
            assert config is not None
            if embedder_obj is None:
                embedder_obj = embedder_from_desc(config.embedder)
            if tokenizer_obj is None:
                tokenizer_obj = tokenizer_from_config(config.tokenizer)
            collection = self._handle(store, config, embedder_obj, tokenizer_obj, tier=want_tier, device=want_device)
            self._open[name] = collection
            return collection

    def _handle(self, store: SegmentStore, config: CollectionConfig, embedder: Any, tokenizer: Any, *,
                tier: str, device: str) -> Collection:
        """A Collection over store that checks this database's state on every call."""
        return Collection(store, config, embedder=embedder, tokenizer=tokenizer, tier=tier, device=device,
                          read_only=self.read_only, check_open=self._check_open,
                          check_writable=self._check_writable)

    def _load_store(self, name: str) -> SegmentStore:
        # in memory every collection has its open handle (create to drop), which holds its store and swaps
        # it (col.reembed): a second reference here would keep the old documents alive until close()
        assert self.path is not None, "an in-memory collection is always open"
        root = confined(self.path / COLLECTIONS_DIR, self.path, self.path / COLLECTIONS_DIR)
        folder = confined(root / self._catalog.collections[name], root, root / self._catalog.collections[name])
        return SegmentStore.open(folder, writable=not self.read_only)

    def drop_collection(self, name: str) -> None:
        """Delete a collection and its files."""
        with self._lock:
            self._check_writable()
            if not isinstance(name, str) or name not in self._catalog.collections:
                raise CollectionNotFoundError(f"no collection named {name!r}")
            remaining = dict(self._catalog.collections)
            folder_name = remaining.pop(name)
            catalog = Catalog(version=self._catalog.version + 1, collections=remaining)
            if self.path is not None:
                write_catalog(self.path, catalog)  # the commit point; the folder is now an orphan
            self._catalog = catalog
            col = self._open.pop(name, None)
            if col is not None:
                col.release(save=False)  # its files go next
            if self.path is not None:
                _remove_folder(self.path / COLLECTIONS_DIR / folder_name, self.path)


def _remove_folder(folder: Path, root: Path) -> None:
    """Delete a collection folder; a symlink in its place is removed as a link, its target left alone.

    Nothing is deleted when the folder above leads outside root.
    """
    if not is_inside(folder.parent, root):
        log.warning("not removing %s: %s leads outside %s", folder, folder.parent, root)
    elif folder.is_symlink():
        folder.unlink(missing_ok=True)
    elif folder.is_dir():
        shutil.rmtree(folder, ignore_errors=True)


def _check_name(name: Any) -> None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"collection name must be a non-empty str, got {name!r}")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInputError(f"collection name {name!r} is not valid Unicode text ({exc.reason})") from None
    if len(name) > 256:
        raise InvalidInputError(f"collection name is {len(name)} characters long; at most 256 are allowed")

