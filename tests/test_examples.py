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


_OFFLINE_RUN = """
import runpy, socket, sys
def _refuse(self, *args, **kwargs):
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise OSError("the quickstart must run offline")
    return _connect(self, *args, **kwargs)
_connect = socket.socket.connect
socket.socket.connect = _refuse
socket.socket.connect_ex = _refuse
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def _answers(stdout: str) -> dict[str, str]:
    """Each question's first context line (its best passage's number and citation)."""
    out, question = {}, None
    for line in stdout.splitlines():
        if line.startswith("Q: "):
            question = line[3:]
        elif question is not None and line.startswith("[1] "):
            out[question] = line
            question = None
    return out


@pytest.mark.slow
def test_quickstart_ingests_the_folder_and_cites_the_answer_offline(tmp_path):
    """README's quickstart: the sample folder in, a Korean question, a context citing the right file
    (and the right PDF page), with every network connection refused."""
    pdf = True
    try:
        import pypdf  # noqa: F401
    except ImportError:
        pdf = False
    env = {**os.environ, "PYTHONPATH": str(SRC), "GYEOL_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", _OFFLINE_RUN, str(EXAMPLES / "quickstart.py"), "--path",
                          str(tmp_path / "kb")], capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert f"IngestReport(added={10 if pdf else 9}, updated=0, unchanged=0" in out.stdout
    assert ("warnings=0" in out.stdout) == pdf
    answers = _answers(out.stdout)
    assert answers["숨겨진 무선 네트워크에는 어떻게 연결하나요?"] == "[1] net-wireless-hidden.md"
    if pdf:
        assert answers["블루투스로 휴대폰에 파일을 보내려면 어떻게 해야 하나요?"] == "[1] bluetooth.pdf, p.2"
    # a second run over the same database finds every file unchanged
    again = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py"), "--path", str(tmp_path / "kb"),
                            "--question", "키보드 배치를 바꾸려면?"], capture_output=True, text=True, timeout=300, env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "IngestReport(added=0, updated=0, unchanged=" in again.stdout
    assert _answers(again.stdout)["키보드 배치를 바꾸려면?"] == "[1] keyboard-layouts.md"


def _readme_quickstart() -> str:
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Quickstart"):]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.slow
def test_readme_quickstart_prints_what_its_comments_say(tmp_path):
    """The README's quickstart block runs as written (in an empty folder) and prints its # comments' lines."""
    pytest.importorskip("pypdf")
    code = _readme_quickstart()
    expected = [line.strip()[2:] for line in code.splitlines() if line.strip().startswith("# ")]
    env = {**os.environ, "PYTHONPATH": str(SRC), "GYEOL_PROGRESS": "0", "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    printed = out.stdout.splitlines()
    assert expected and printed[: len(expected) - 1] == expected[:-1]
    assert printed[len(expected) - 1].startswith(expected[-1].rstrip(". "))
