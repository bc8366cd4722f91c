"""What the package ships and needs: the PEP 561 marker, no run-time rank_bm25, a clean mypy."""

from __future__ import annotations

import importlib.resources
import re
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import SRC, subprocess_env

ROOT = SRC.parent  # the checkout holding pyproject.toml


def test_py_typed_marker_is_in_the_package():
    assert importlib.resources.files("gyeol").joinpath("py.typed").is_file()


@pytest.mark.slow
def test_wheel_ships_py_typed_and_the_sample_data(tmp_path):
    """Built from a copy of the checkout, the wheel holds py.typed (else a user's mypy sees Any)."""
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("gyeol is not imported from a source checkout")
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "pyproject.toml", project)
    shutil.copy(ROOT / "README.md", project)
    shutil.copytree(ROOT / "src", project / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    build = subprocess.run(
        [sys.executable, "-c", "from setuptools import build_meta; print(build_meta.build_wheel('dist'))"],
        cwd=project, capture_output=True, text=True, timeout=120,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = project / "dist" / build.stdout.strip().splitlines()[-1]
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "gyeol/py.typed" in names
    assert "gyeol/data/sample.jsonl" in names
    folder = SRC / "gyeol" / "data" / "gnome_help"  # gyeol.sample_folder(): every file ships
    shipped = {p.relative_to(SRC).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert len(shipped) == 12 and shipped <= names, sorted(shipped - names)


def _names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~\[; ]", r, maxsplit=1)[0].lower() for r in requirements}


def test_rank_bm25_is_not_a_runtime_dependency():
    tomllib = pytest.importorskip("tomllib")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("gyeol is not imported from a source checkout")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert "rank-bm25" not in _names(project["dependencies"])
    assert "rank-bm25" in _names(project["optional-dependencies"]["dev"])  # the tests' reference


def test_gyeol_runs_without_rank_bm25(tmp_path):
    """Every module imports, and keyword search works, where rank_bm25 cannot be imported."""
    code = f"""
import sys
sys.modules["rank_bm25"] = None  # any `import rank_bm25` now raises ImportError
import importlib, pkgutil
import numpy as np
import gyeol
for info in pkgutil.walk_packages(gyeol.__path__, "gyeol."):
    importlib.import_module(info.name)
for db in (gyeol.connect(), gyeol.connect({str(tmp_path / "kb")!r})):
    col = db.create_collection("c", embedder=None, dim=3, tokenizer="whitespace")
    col.add(["red apple", "green apple pie", "blue sky"], ids=["a", "b", "c"], vectors=np.eye(3, dtype="float32"))
    assert col.search("apple", mode="keyword").ids == ["a", "b"]
    assert col.search("sky", vector=[0, 0, 1], k=1).ids == ["c"]
    col.compact()
    db.close()
with gyeol.connect({str(tmp_path / "kb")!r}) as db:
    assert db.get_collection("c").search("pie", mode="keyword").ids == ["b"]
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().endswith("ok")


@pytest.mark.slow
def test_mypy_is_clean():
    """`mypy` with the checked-in [tool.mypy] config (files = src/gyeol) finds nothing.

    Cold, it reads numpy's stubs (about 40 s of CPU); later runs reuse .mypy_cache (a few seconds).
    """
    pytest.importorskip("mypy")
    if not (ROOT / "pyproject.toml").is_file():
        pytest.skip("gyeol is not imported from a source checkout")
    out = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-4000:]
