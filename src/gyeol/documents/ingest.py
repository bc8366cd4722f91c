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
from typing import Any

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


def prepare(sources: Any, *, chunker: Any = None, metadata: Any = None, show_progress: bool | None = None) -> Prepared:
    """Read and chunk every source; a source that cannot be read becomes a warning, a bad argument an error."""
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
                doc_id = path.resolve().as_posix()
                if doc_id not in seen:  # a file named twice (alone and in its folder) is read once
                    seen.add(doc_id)
                    pending.append((doc_id, str(path), path, meta))
        else:
            doc_id = "text:" + hashlib.sha256(item.encode("utf-8")).hexdigest()[:24]
            if doc_id not in seen:
                seen.add(doc_id)
                pending.append((doc_id, None, LoadedText(item, "text"), meta))
    documents, warnings = [], []
    with progress(len(pending), f"reading {len(pending)} documents", unit="doc",
                  enabled=False if len(pending) < 2 else show_progress) as bar:
        for doc_id, label, loaded, meta in pending:
            try:
                if isinstance(loaded, Path):
                    loaded = load_file(loaded)
                if not loaded.text.strip():
                    raise LoadError("no text")
                documents.append(_chunk(doc_id, label, loaded, meta, chunker, signature))
            except LoadError as exc:
                source = label if label is not None else doc_id
                warnings.append((source, str(exc)))
                log.warning("add_documents skipped %s: %s", source, exc)
            bar.update(1)
    return Prepared(documents, warnings)


def _chunk(doc_id: str, label: str | None, loaded: LoadedText, meta: dict[str, Any], chunker: Chunker,
           signature: str) -> PreparedDocument:
    text = loaded.text
    base: dict[str, Any] = {}
    if label is not None:
        base["source"] = label
    if loaded.title:
        base["title"] = loaded.title
    base.update(meta)
    doc_hash = hashlib.sha256(
        "\x00".join([text, json.dumps(base, sort_keys=True, ensure_ascii=False), signature]).encode("utf-8")
    ).hexdigest()[:32]
    chunks = _chunks_of(chunker, text, loaded.pages)
    ids: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, Any]] = []
    for i, c in enumerate(chunks):
        if not isinstance(getattr(c, "text", None), str) or text[c.start : c.end] != c.text:
            raise InvalidInputError(f"chunk {i} of {label or doc_id} is not the slice of its text its offsets say")
        if not c.text.strip():
            continue
        m = dict(base)
        m.update(doc_id=doc_id, chunk_index=len(ids), char_start=c.start, char_end=c.end,
                 section=list(c.section), doc_hash=doc_hash)
        if loaded.pages:
            m["page"] = page_of(loaded.pages, c.start)
        ids.append(chunk_id(doc_id, len(ids)))
        texts.append(c.text)
        metas.append(m)
    if not ids:
        raise LoadError("the chunker found no text")
    return PreparedDocument(doc_id, doc_hash, ids, texts, metas)


def _chunks_of(chunker: Chunker, text: str, pages: list[tuple[int, int]]) -> list[Any]:
    """The chunker's chunks of text; a PDF is chunked page by page (offsets into the whole text), so
    every chunk lies on one page and its citation names that page."""
    spans = [(start, (pages[i + 1][0] if i + 1 < len(pages) else len(text))) for i, (start, _) in enumerate(pages)]
    out: list[Any] = []
    for start, end in spans or [(0, len(text))]:
        chunks = chunker.chunk(text[start:end])
        if not isinstance(chunks, list):
            raise InvalidInputError(f"chunker.chunk must return a list of Chunk, got {type(chunks).__name__}")
        if start:
            chunks = [_shifted(c, start) for c in chunks]
        out.extend(chunks)
    return out


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
