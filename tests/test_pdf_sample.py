"""Real PDFs through pypdf (written by tests/helpers/minipdf.py) and gyeol's bundled sample folder."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import HELPERS, HashEmbedder

import gyeol
from gyeol.chunking import SentenceChunker

sys.path.insert(0, str(HELPERS))
import minipdf  # noqa: E402

PAGES = [("설치 안내", "프로그램을 설치했습니다. 설치가 끝나면 다시 시작합니다."), None,
         ("Usage", "Open the settings window. Press the search button to find files.")]


@pytest.fixture
def col():
    db = gyeol.connect()
    return db.create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace")


def test_pypdf_reads_the_written_text_layer(tmp_path):
    pypdf = pytest.importorskip("pypdf")
    pdf = minipdf.write_pdf(tmp_path / "guide.pdf", PAGES, title="안내서")
    reader = pypdf.PdfReader(str(pdf), strict=True)
    texts = [page.extract_text() for page in reader.pages]
    assert texts[0].splitlines() == ["설치 안내", "프로그램을 설치했습니다. 설치가 끝나면 다시 시작합니다."]
    assert texts[1] == ""  # the drawing-only page has no text layer
    assert texts[2].splitlines()[0] == "Usage"
    assert reader.metadata["/Title"] == "안내서"


def test_pdf_chunks_stay_on_their_page_and_cite_it(col, tmp_path):
    pytest.importorskip("pypdf")
    pdf = minipdf.write_pdf(tmp_path / "guide.pdf", PAGES, title="안내서")
    report = col.add_documents([pdf], chunker=SentenceChunker(size=200, overlap=0))
    assert report.ok and report.chunks == 2  # one per page with text: a chunk never crosses a page
    chunks = sorted(col.get(), key=lambda d: d.metadata["chunk_index"])
    assert [c.metadata["page"] for c in chunks] == [1, 3]
    assert chunks[0].text.startswith("설치 안내") and chunks[1].text.startswith("Usage")
    assert all(c.metadata["title"] == "안내서" for c in chunks)
    ctx = col.search("search button", mode="vector", k=2).context()
    # both pages' chunks are adjacent (chunk_index 0, 1) yet stay two passages, each cited by its page
    assert [s["citation"] for s in ctx.sources] == ["guide.pdf, p.3", "guide.pdf, p.1"]


def test_a_pdf_without_text_layer_is_a_warning_not_a_chunk(col, tmp_path):
    pytest.importorskip("pypdf")
    scan = minipdf.write_pdf(tmp_path / "scan.pdf", [None, None])
    good = tmp_path / "good.md"
    good.write_text("# Title\n\nSome text.", encoding="utf-8")
    report = col.add_documents([scan, good])
    assert [s for s, _ in report.warnings] == [str(scan)] and "no text layer" in report.warnings[0][1]
    assert report.added == [good.resolve().as_posix()]


def test_bundled_pdf_is_what_minipdf_writes():
    """The sample PDF is generated, not hand-edited: `python tests/helpers/minipdf.py` rewrites it."""
    assert (gyeol.sample_folder() / "pdf" / "bluetooth.pdf").read_bytes() == minipdf.sample_pdf()


def test_sample_folder_holds_the_files_its_queries_name():
    folder = gyeol.sample_folder()
    assert "sample_folder" in dir(gyeol) and "sample_folder" in gyeol.__all__
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert [f for f in files if f.endswith(".pdf")] == ["pdf/bluetooth.pdf"]
    assert len([f for f in files if f.startswith("ko/")]) == 6 and len([f for f in files if f.startswith("en/")]) == 3
    items = json.loads((folder / "queries.json").read_text(encoding="utf-8"))
    assert {i["file"] for i in items} == {f for f in files if f.endswith((".md", ".pdf"))}
    assert sorted(i["page"] for i in items if "page" in i) == [1, 2, 3]


def test_sample_folder_pdf_pages_are_read(col):
    pytest.importorskip("pypdf")
    report = col.add_documents([gyeol.sample_folder() / "pdf"], chunker=SentenceChunker(size=2000, overlap=0))
    assert report.ok and report.chunks == 3
    pages = {c.metadata["page"]: c.text.splitlines()[0] for c in col.get()}
    assert pages == {1: "블루투스를 켜거나 끄기", 2: "블루투스 장치에 파일 보내기", 3: "블루투스 가시성은 뭘까요?"}
