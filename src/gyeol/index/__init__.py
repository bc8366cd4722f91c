"""Vector indexes: build one for a tier, spec and device; save it; load it back if still fresh.

Tiers (docs/tiers.md):
    memory  the whole index in RAM (HNSW; Flat below a few thousand vectors)
    hybrid  compressed IVF-PQ codes in RAM, full vectors in a memory-mapped file for rescoring
    disk    a memory-mapped FAISS index file (IVF-Flat; Flat when small) plus a delta of later adds
"""

from __future__ import annotations

from .base import VectorIndex
from .builder import build_index, load_index, save_index
from .device import resolve_device
from .specs import FLAT_BELOW, plan_index, validate_spec

__all__ = [
    "VectorIndex",
    "build_index",
    "save_index",
    "load_index",
    "validate_spec",
    "resolve_device",
    "plan_index",
    "FLAT_BELOW",
]
