"""An embedder's identity: name, dim, prompts, normalisation, and a fingerprint of its output.

A collection stores the identity of the embedder its vectors came from, so that reopening
it with another model raises instead of silently mixing two vector spaces. The fingerprint
is computed from the embedder's output on a fixed probe text:

- `probe`: the output projected on 16 fixed random directions (seeded by dim), normalised,
  rounded to 4 decimals. Two loads of one model agree to ~1e-6 (float noise across threads
  or machines); two different models are nearly orthogonal, so check_identity compares
  probes by cosine (>= PROBE_MIN_COSINE) rather than bit for bit.
- `fingerprint`: a 12-hex hash of dim and the probe rounded to 1 decimal, short enough to
  show in messages and stable across loads (a rounding boundary is ~0.05 away from typical
  float noise).
"""

from __future__ import annotations

import hashlib
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EmbedderMismatchError
from .base import BaseEmbedder, embed_documents, embedder_name

__all__ = ["PROBE_TEXT", "PROBE_MIN_COSINE", "embedder_identity", "describe_embedder", "check_identity", "fingerprint"]

# Korean and English in one text, so that tokenizers that drop one script still differ.
PROBE_TEXT = "gyeol embedder probe: 한국어 문서와 English passages를 함께 검색합니다. 2024-06-11, 42%."
PROBE_SKETCH = 16
PROBE_MIN_COSINE = 0.99
_IDENTITIES: "weakref.WeakKeyDictionary[BaseEmbedder, dict[str, Any]]" = weakref.WeakKeyDictionary()


def _sketch(vector: np.ndarray) -> np.ndarray:
    dim = vector.shape[0]
    directions = np.random.default_rng(dim).standard_normal((PROBE_SKETCH, dim))
    unit = vector.astype(np.float64) / max(float(np.linalg.norm(vector)), 1e-12)
    sketch = directions @ unit
    return sketch / max(float(np.linalg.norm(sketch)), 1e-12)


def fingerprint(vector: np.ndarray) -> tuple[str, list[float]]:
    """(short hash, probe sketch) of one output vector; see the module docstring."""
    sketch = _sketch(np.asarray(vector, dtype=np.float32).ravel())
    coarse = ",".join(f"{x:.1f}" for x in np.round(sketch, 1) + 0.0)  # + 0.0 turns -0.0 into 0.0
    digest = hashlib.sha256(f"{sketch.size}:{vector.size}:{coarse}".encode()).hexdigest()[:12]
    return digest, [round(float(x), 4) for x in sketch]


def _portable_name(name: str) -> str:
    """A model name as stored: a local path keeps only its last part (absolute paths do not travel)."""
    path = Path(name).expanduser()
    if path.is_absolute() or name.startswith((".", "~")) or path.exists():
        return path.resolve().name or name
    return name


def _describe(embedder: Any) -> dict[str, Any]:
    describe = getattr(embedder, "describe", None)
    if callable(describe):
        desc = dict(describe())
    else:
        desc = {
            "kind": getattr(embedder, "kind", None) or "object",
            "name": embedder_name(embedder),
            "query_prompt": getattr(embedder, "query_prompt", None),
            "document_prompt": getattr(embedder, "document_prompt", None),
            "normalize": getattr(embedder, "normalize", None),
        }
    desc["name"] = _portable_name(str(desc.get("name") or embedder_name(embedder)))
    return desc


def embedder_identity(embedder: Any) -> dict[str, Any]:
    """The identity to store: the embedder's description plus dim, fingerprint and probe (runs it once)."""
    cached = _IDENTITIES.get(embedder) if isinstance(embedder, BaseEmbedder) else None
    if cached is not None:
        return dict(cached)
    desc = _describe(embedder)
    vector = embed_documents(embedder, [PROBE_TEXT])[0]
    digest, probe = fingerprint(vector)
    identity = {**desc, "dim": int(vector.shape[0]), "fingerprint": digest, "probe": probe}
    if isinstance(embedder, BaseEmbedder):  # gyeol's own never change after loading: keep the answer
        _IDENTITIES[embedder] = dict(identity)
    return identity


def describe_embedder(embedder: Any, desc: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The description a collection stores: resolve_embedder's desc merged with the identity."""
    if embedder is None:
        return None
    identity = embedder_identity(embedder)
    merged = {**(desc or {}), **identity}
    if desc and desc.get("kind"):
        merged["kind"] = desc["kind"]
        if desc["kind"] in ("object", "callable") and desc.get("name"):
            merged["name"] = desc["name"]
    return merged


def _label(desc: dict[str, Any]) -> str:
    parts = [repr(desc.get("name"))]
    if desc.get("dim"):
        parts.append(f"dim {desc['dim']}")
    if desc.get("fingerprint"):
        parts.append(f"fingerprint {desc['fingerprint']}")
    return f"{parts[0]} ({', '.join(parts[1:])})" if len(parts) > 1 else parts[0]


def _cosine(a: Any, b: Any) -> float:
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape or x.size == 0:
        return -1.0
    return float(x @ y / max(np.linalg.norm(x) * np.linalg.norm(y), 1e-12))


def check_identity(stored: dict[str, Any] | None, embedder: Any, *, collection: str | None = None) -> None:
    """Raise EmbedderMismatchError when `embedder` is not the model a collection's vectors came from.

    `stored` is the description the collection recorded (describe_embedder's output, or the
    older {"kind", "name"} form, which is checked by name only). Nothing is checked when
    either side is None. Same outputs under another name (a hub id and a local copy of it)
    pass; another model, dim, prompt or normalisation raises.
    """
    if stored is None or embedder is None:
        return
    current = embedder_identity(embedder)
    where = f"collection {collection!r}" if collection else "this collection"
    hint = ("pass the embedder it was created with, or migrate the vectors with col.reembed(new_embedder)")

    if stored.get("dim") is not None and int(stored["dim"]) != current["dim"]:
        raise EmbedderMismatchError(
            f"{where} was embedded with {_label(stored)}; the embedder given, {_label(current)}, "
            f"makes vectors of dimension {current['dim']}, not {stored['dim']}: {hint}"
        )
    if "probe" not in stored:  # an older description: a name is all there is to compare
        if stored.get("kind") == "sentence-transformers" and stored.get("name"):
            if _portable_name(str(stored["name"])).lower() != str(current["name"]).lower():
                raise EmbedderMismatchError(
                    f"{where} was embedded with {stored['name']!r}; the embedder given is {current['name']!r}: {hint}"
                )
        return
    similarity = _cosine(stored["probe"], current["probe"])
    if similarity < PROBE_MIN_COSINE:
        raise EmbedderMismatchError(
            f"{where} was embedded with {_label(stored)}; the embedder given is {_label(current)}, whose "
            f"output on the probe text differs (cosine {similarity:.3f} < {PROBE_MIN_COSINE}): "
            f"a different model would mix two vector spaces; {hint}"
        )
    for field, what in (("document_prompt", "document prompt"), ("query_prompt", "query prompt"),
                        ("normalize", "normalize setting")):
        if field in stored and stored[field] != current.get(field):
            raise EmbedderMismatchError(
                f"{where} was embedded with {what} {stored[field]!r}; the embedder given has "
                f"{current.get(field)!r} (model {current['name']!r}): {hint}"
            )
