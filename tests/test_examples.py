"""The examples run: the notebook under nbclient (as CI does) and the service loop briefly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SRC

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_korean_rag_notebook_runs(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(EXAMPLES / "korean_rag.ipynb", as_version=4)
    env_path = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(SRC), env_path) if p)  # the kernel imports this gyeol
    try:
        client = nbclient.NotebookClient(nb, timeout=120, kernel_name="python3",
                                         resources={"metadata": {"path": str(EXAMPLES)}})
        client.execute()
    finally:
        if env_path is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = env_path
    outputs = "".join(str(out.get("text", "")) + str(out.get("data", {}).get("text/plain", ""))
                      for cell in nb.cells if cell.cell_type == "code" for out in cell.outputs)
    assert "IngestReport" in outputs and "[1]" in outputs and "mrr@10" in outputs


@pytest.mark.slow
def test_app_serves_questions_from_threads(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "GYEOL_PROGRESS": "0"}
    out = subprocess.run([sys.executable, str(EXAMPLES / "app.py"), "--db", str(tmp_path / "kb"), "--threads", "3",
                          "--seconds", "1"], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr
    assert "IngestReport(added=9" in out.stdout and "sources: [(1, '" in out.stdout
    assert "answered" in out.stdout and "on 3 threads" in out.stdout
