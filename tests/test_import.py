"""`import gyeol` stays light: no torch, no sentence-transformers, no Kiwi, until something needs them."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import subprocess_env

import gyeol

HEAVY = ["torch", "sentence_transformers", "transformers", "kiwipiepy"]


def modules_after(code: str) -> dict[str, bool]:
    """Run code in a fresh interpreter; give back which HEAVY modules it left imported."""
    script = code + f"\nimport json, sys\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY!r}}}))\n"
    out = subprocess.run([sys.executable, "-c", script], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_gyeol_imports_no_heavy_module():
    loaded = modules_after("import gyeol")
    assert not any(loaded.values()), loaded


def test_import_gyeol_leaves_the_rag_modules_to_first_use():
    code = """
import sys
import gyeol
lazy = ["gyeol.context", "gyeol.documents", "gyeol.chunking", "gyeol.rerank"]
assert not [m for m in lazy if m in sys.modules], [m for m in lazy if m in sys.modules]
assert gyeol.Context.__module__ == "gyeol.context" and "gyeol.context" in sys.modules
"""
    modules_after(code)


def test_no_embedder_collection_never_imports_torch(tmp_path):
    code = f"""
import numpy as np
import gyeol
for db in (gyeol.connect(), gyeol.connect({str(tmp_path / "kb")!r})):
    col = db.create_collection("c", embedder=None, dim=4, tokenizer="whitespace")
    col.add(["a b", "b c", "d e"], ids=["x", "y", "z"], vectors=np.eye(4, dtype="float32")[:3])
    assert col.search(vector=[1, 0, 0, 0], k=1, mode="vector").ids == ["x"]
    assert col.search("c", k=1, mode="keyword").ids == ["y"]
    assert col.search("a", vector=[0, 1, 0, 0], k=2).ids
    db.close()
with gyeol.connect({str(tmp_path / "kb")!r}) as db:
    db.get_collection("c").compact()
"""
    loaded = modules_after(code)
    assert not loaded["torch"] and not loaded["sentence_transformers"] and not loaded["transformers"], loaded
    assert not loaded["kiwipiepy"], "the whitespace tokenizer must not load Kiwi"


def test_a_model_name_is_not_loaded_until_used():
    code = """
import gyeol
from gyeol.embedders import resolve_embedder
embedder, desc = resolve_embedder("all-MiniLM-L6-v2")
assert desc == {"kind": "sentence-transformers", "name": "all-MiniLM-L6-v2"}, desc
"""
    loaded = modules_after(code)
    assert not loaded["torch"] and not loaded["sentence_transformers"], loaded


def test_public_names_resolve():
    for name in gyeol.__all__:
        assert getattr(gyeol, name) is not None, name
    assert isinstance(gyeol.__version__, str)
