"""add_documents' two pure steps: prepare (read and chunk every source) and plan (what to write).

Nothing here touches a collection: the Collection reads the stored chunks of the incoming
document ids, calls plan(), and writes the plan's chunks and tombstones in one commit, so an
ingest batch is all there or not at all.

Every chunk is stored with its parent in metadata (CHUNK_KEYS): doc_id, chunk_index,
char_start / char_end (offsets into the parent's text), section (Markdown heading path),
doc_hash (of the text, the metadata and the chunker), and for files source, title and page.
Its id is "<doc_id>#<chunk_index>".
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from .. import _validation as v
from ..chunking import Chunk, Chunker, SentenceChunker, as_chunker
from ..errors import DuplicateIdError, InvalidInputError
from ..progress import progress
from ..types import Document
from .loaders import SUFFIXES, LoadedText, LoadError, expand_paths, load_file, page_of

__all__ = ["IngestReport", "PreparedDocument", "Prepared", "IngestPlan", "prepare", "plan", "CHUNK_KEYS",
           "chunk_id"]

log = logging.getLogger("gyeol")

#: Metadata keys add_documents sets on every chunk; a caller's metadata may not use them.
CHUNK_KEYS = ("doc_id", "chunk_index", "char_start", "char_end", "section", "doc_hash", "page")
_PATH_MAX = 4096
CHUNK_BATCH = 64  # documents per chunker.chunk_many call (one Kiwi batch; one step of the bar)


def chunk_id(doc_id: str, index: int) -> str:
    return f"{doc_id}#{index}"


@dataclass
class IngestReport:
    """What an add_documents call did, per parent document (ids), and the chunk ids it wrote."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (source, reason): skipped sources
    chunk_ids: list[str] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return len(self.chunk_ids)

    @property
    def ok(self) -> bool:
        """True when every source was read (no warnings)."""
        return not self.warnings

    def __repr__(self) -> str:
        return (f"IngestReport(added={len(self.added)}, updated={len(self.updated)}, "
                f"unchanged={len(self.unchanged)}, chunks={self.chunks}, warnings={len(self.warnings)})")


@dataclass(frozen=True)
class PreparedDocument:
    doc_id: str
    doc_hash: str
    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]


@dataclass
class Prepared:
    documents: list[PreparedDocument]
    warnings: list[tuple[str, str]]
    stored: list[Document] = field(default_factory=list)  # the stored chunks of these documents, when asked

    @property
    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.documents]


@dataclass(frozen=True)
class IngestPlan:
    ids: list[str]
    texts: list[str]
    metadata: list[dict[str, Any]]
    replaced_ids: list[str]  # stored chunks of updated documents
    report: IngestReport


# ------------------------------------------------------------------ prepare


def prepare(sources: Any, *, chunker: Any = None, metadata: Any = None, show_progress: bool | None = None,
            stored: Callable[[list[str]], list[Document]] | None = None) -> Prepared:
    """Read and chunk every source; a source that cannot be read becomes a warning, a bad argument an error.

    stored(doc_ids): the stored chunks of those documents (add_documents passes its collection's);
    a document whose stored chunks carry its hash is not chunked again (plan() skips it).
    """
    items = _check_sources(sources)
    metas = _check_metadata(metadata, len(items))
    chunker = as_chunker(chunker)
    signature = _chunker_signature(chunker)
    # (doc_id, source label, LoadedText or a path still to read, user metadata)
    pending: list[tuple[str, str | None, LoadedText | Path, dict[str, Any]]] = []
    seen: set[str] = set()
    for item, meta in zip(items, metas):
        if isinstance(item, Document):
            if item.id in seen:
                raise DuplicateIdError(f"Expected document ids to be unique, found duplicates of: {item.id}")
            seen.add(item.id)
            pending.append((item.id, None, LoadedText(item.text or "", "text"), {**item.metadata, **meta}))
        elif isinstance(item, Path):
            for path in expand_paths(item):
                doc_id = _path_id(path)
                if doc_id not in seen:  # a file named twice (alone and in its folder) is read once
                    seen.add(doc_id)
                    pending.append((doc_id, str(path), path, meta))
        else:
            doc_id = "text:" + hashlib.sha256(item.encode("utf-8")).hexdigest()[:24]
            if doc_id not in seen:
                seen.add(doc_id)
                pending.append((doc_id, None, LoadedText(item, "text"), meta))
    read: list[_Read | tuple[str, str]] = []  # in source order: a read document, or (source, reason)
    with progress(len(pending), f"reading {len(pending)} documents", unit="doc",
                  enabled=False if len(pending) < 2 else show_progress) as bar:
        for doc_id, label, loaded, meta in pending:
            try:
                if isinstance(loaded, Path):
                    loaded = load_file(loaded)
                if not loaded.text.strip():
                    raise LoadError("no text")
                read.append(_read(doc_id, label, loaded, meta, signature))
            except LoadError as exc:
                read.append((label if label is not None else doc_id, str(exc)))
            bar.update(1)
    docs = [r for r in read if isinstance(r, _Read)]
    old = stored([r.doc_id for r in docs]) if stored is not None and docs else []
    unchanged = _unchanged(docs, old)
    chunked = _chunk_all(chunker, [r for r in docs if r.doc_id not in unchanged], show_progress)
    documents, warnings = [], []
    for r in read:
        if isinstance(r, _Read) and r.doc_id in unchanged:
            documents.append(PreparedDocument(r.doc_id, r.doc_hash, [], [], []))
            continue
        result = chunked[r.doc_id] if isinstance(r, _Read) else r
        if isinstance(result, PreparedDocument):
            documents.append(result)
        else:
            warnings.append(result)
            log.warning("add_documents skipped %s: %s", *result)
    return Prepared(documents, warnings, old)


def _path_id(path: Path) -> str:
    """A file's document id: its resolved path, or (a symbolic link loop: its read becomes the warning)
    its absolute one."""
    try:
        return path.resolve().as_posix()
    except (RuntimeError, OSError):  # Python < 3.13 raises RuntimeError for a loop, later ones OSError
        return path.absolute().as_posix()


@dataclass(frozen=True)
class _Read:
    """A document read and hashed, not yet chunked."""

    doc_id: str
    label: str | None
    loaded: LoadedText
    base: dict[str, Any]  # source, title and the caller's metadata
    doc_hash: str


def _read(doc_id: str, label: str | None, loaded: LoadedText, meta: dict[str, Any], signature: str) -> _Read:
    base: dict[str, Any] = {}
    if label is not None:
        base["source"] = label
    if loaded.title:
        base["title"] = loaded.title
    base.update(meta)
    doc_hash = hashlib.sha256(
        "\x00".join([loaded.text, json.dumps(base, sort_keys=True, ensure_ascii=False), signature]).encode("utf-8")
    ).hexdigest()[:32]
    return _Read(doc_id, label, loaded, base, doc_hash)


def _unchanged(docs: list[_Read], stored: list[Document]) -> set[str]:
    """Ids of the documents whose stored chunks all carry the hash they have now."""
    hashes: dict[str, set[str]] = {}
    for doc in stored:
        doc_id = doc.metadata.get("doc_id")
        if isinstance(doc_id, str):
            hashes.setdefault(doc_id, set()).add(str(doc.metadata.get("doc_hash")))
    return {r.doc_id for r in docs if hashes.get(r.doc_id) == {r.doc_hash}}


def _chunk_all(chunker: Chunker, docs: list[_Read], show_progress: bool | None) -> dict[str, Any]:
    """doc_id -> PreparedDocument, or (source, reason) when the chunker found no text. Texts (a PDF's
    pages apart) go CHUNK_BATCH documents at a time to chunker.chunk_many where it has one."""
    out: dict[str, Any] = {}
    with progress(len(docs), f"chunking {len(docs)} documents", unit="doc",
                  enabled=False if len(docs) < 2 else show_progress) as bar:
        for start in range(0, len(docs), CHUNK_BATCH):
            part = docs[start : start + CHUNK_BATCH]
            spans = [_page_spans(r.loaded) for r in part]
            pieces = [r.loaded.text[a:b] for r, doc_spans in zip(part, spans) for a, b in doc_spans]
            many = getattr(chunker, "chunk_many", None)
            found = many(pieces) if callable(many) else [chunker.chunk(piece) for piece in pieces]
            if not isinstance(found, list) or len(found) != len(pieces):
                raise InvalidInputError("chunker.chunk_many must return one list of Chunk per text")
            at = 0
            for r, doc_spans in zip(part, spans):
                chunks: list[Any] = []
                for a, _ in doc_spans:
                    got = found[at]
                    at += 1
                    if not isinstance(got, list):
                        raise InvalidInputError(f"chunker.chunk must return a list of Chunk, got {type(got).__name__}")
                    chunks.extend([_shifted(c, a) for c in got] if a else got)
                try:
                    out[r.doc_id] = _prepared(r, chunks)
                except LoadError as exc:
                    out[r.doc_id] = (r.label if r.label is not None else r.doc_id, str(exc))
            bar.update(len(part))
    return out


def _page_spans(loaded: LoadedText) -> list[tuple[int, int]]:
    """What is chunked apart: a PDF page by page (so every chunk lies on one page and its citation
    names it), any other text whole."""
    text, pages = loaded.text, loaded.pages
    if not pages:
        return [(0, len(text))]
    return [(start, pages[i + 1][0] if i + 1 < len(pages) else len(text)) for i, (start, _) in enumerate(pages)]


def _prepared(r: _Read, chunks: list[Any]) -> PreparedDocument:
    text = r.loaded.text
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    for i, c in enumerate(chunks):
        start, end = getattr(c, "start", None), getattr(c, "end", None)
        if not isinstance(getattr(c, "text", None), str) or not isinstance(start, int) or not isinstance(end, int) \
                or text[start:end] != c.text:
            raise InvalidInputError(f"chunk {i} of {r.label or r.doc_id} is not the slice of its text its offsets say")
        if not c.text.strip():
            continue
        m = dict(r.base)
        m.update(doc_id=r.doc_id, chunk_index=len(ids), char_start=c.start, char_end=c.end,
                 section=list(c.section), doc_hash=r.doc_hash)
        if r.loaded.pages:
            m["page"] = page_of(r.loaded.pages, c.start)
        ids.append(chunk_id(r.doc_id, len(ids)))
        texts.append(c.text)
        metas.append(m)
    if not ids:
        raise LoadError("the chunker found no text")
    return PreparedDocument(r.doc_id, r.doc_hash, ids, texts, metas)


def _shifted(chunk: Any, offset: int) -> Chunk:
    start, end = getattr(chunk, "start", None), getattr(chunk, "end", None)
    if isinstance(start, bool) or not isinstance(start, int) or isinstance(end, bool) or not isinstance(end, int):
        raise InvalidInputError(f"chunker.chunk must return a list of Chunk, got {type(chunk).__name__}")
    return Chunk(getattr(chunk, "text", None), start + offset, end + offset,  # type: ignore[arg-type]
                 getattr(chunk, "index", 0), tuple(getattr(chunk, "section", ()) or ()))


def _chunker_signature(chunker: Chunker) -> str:
    # a stable description where there is one, so an unchanged file under an unchanged chunker is skipped
    return repr(chunker) if isinstance(chunker, SentenceChunker) else type(chunker).__qualname__


def _check_sources(sources: Any) -> list[Any]:
    if isinstance(sources, (str, bytes, Path, Document)) or not isinstance(sources, (list, tuple)):
        raise InvalidInputError(
            f"sources must be a list of paths, texts or gyeol.Document (wrap one in a list), "
            f"got {type(sources).__name__}"
        )
    if not sources:
        raise InvalidInputError("add_documents needs at least one source")
    out: list[Any] = []
    for i, item in enumerate(sources):
        if isinstance(item, os.PathLike):
            out.append(Path(item))
        elif isinstance(item, Document):
            if not isinstance(item.id, str) or not item.id or "#" in item.id:
                raise InvalidInputError(f"sources[{i}]: a Document needs a non-empty id without '#', got {item.id!r}")
            if item.text is not None and not isinstance(item.text, str):
                raise InvalidInputError(f"sources[{i}]: Document.text must be a str")
            out.append(item)
        elif isinstance(item, str):
            out.append(Path(item) if _looks_like_path(item) else item)
        else:
            raise InvalidInputError(
                f"sources[{i}] must be a path, a str or a gyeol.Document, got {type(item).__name__}"
            )
    v.check_texts([x for x in out if isinstance(x, str)] + [x.text for x in out if isinstance(x, Document)])
    return out


def _looks_like_path(item: str) -> bool:
    """A str is a path when one exists there, or when it is one line ending in a file suffix we read."""
    if not item or "\n" in item or len(item) > _PATH_MAX:
        return False
    try:
        if os.path.exists(item):
            return True
    except (OSError, ValueError):
        return False
    return item.strip().lower().endswith(SUFFIXES) and " " not in item.strip()


def _check_metadata(metadata: Any, n: int) -> list[dict[str, Any]]:
    """One metadata dict per source: a dict applies to all, a list gives one each."""
    if metadata is None:
        metas: list[Any] = [{}] * n
    elif isinstance(metadata, dict):
        metas = [metadata] * n
    else:
        metas = list(metadata) if isinstance(metadata, (list, tuple)) else [metadata]
    checked, _ = v.check_metadata(metas, n)
    for m in checked:
        bad = sorted(set(m) & set(CHUNK_KEYS))
        if bad:
            raise InvalidInputError(f"metadata keys {', '.join(bad)} are set by add_documents on every chunk")
    return checked


# ------------------------------------------------------------------ plan


def plan(prepared: Prepared, stored: list[Document]) -> IngestPlan:
    """The chunks to write and the stored chunks they replace, given the stored chunks of the
    incoming documents (each stored chunk's metadata has doc_id and doc_hash)."""
    old_chunks: dict[str, list[str]] = {}
    old_hash: dict[str, set[str]] = {}
    for doc in stored:
        doc_id = doc.metadata.get("doc_id")
        if isinstance(doc_id, str):
            old_chunks.setdefault(doc_id, []).append(doc.id)
            old_hash.setdefault(doc_id, set()).add(str(doc.metadata.get("doc_hash")))
    report = IngestReport(warnings=list(prepared.warnings))
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    replaced: list[str] = []
    for d in prepared.documents:
        if d.doc_id in old_chunks:
            if old_hash[d.doc_id] == {d.doc_hash}:
                report.unchanged.append(d.doc_id)
                continue
            report.updated.append(d.doc_id)
            replaced.extend(old_chunks[d.doc_id])
        else:
            report.added.append(d.doc_id)
        ids.extend(d.ids)
        texts.extend(d.texts)
        metas.extend(d.metadata)
    report.chunk_ids = list(ids)
    return IngestPlan(ids, texts, metas, replaced, report)
