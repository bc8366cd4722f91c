"""add_documents: files, folders, texts and Documents in; chunks with parent, offsets and section out."""

from __future__ import annotations

import sys
import types

import pytest
from conftest import HashEmbedder

import gyeol
from gyeol.chunking import SentenceChunker
from gyeol.documents import ingest as ingest_mod
from gyeol.storage.store import SegmentStore

MD = "# 설치\n\n검색했습니다. 설치가 쉽습니다.\n\n## 사용법\n\nHello world. It works well.\n"
HTML = ("<html><head><title>Guide</title><style>p{}</style><script>var x = 1;</script></head>"
        "<body><h1>Start</h1><p>First para. Second &amp; more.</p><h2>Next</h2><p>Later text.</p></body></html>")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text(MD, encoding="utf-8")
    (root / "sub" / "b.html").write_text(HTML, encoding="utf-8")
    (root / "notes.txt").write_text("Plain notes. Nothing more.", encoding="utf-8")
    (root / ".hidden.md").write_text("# secret", encoding="utf-8")
    (root / "image.png").write_bytes(b"\x89PNG\x00\x00")
    return root


@pytest.fixture
def col():
    db = gyeol.connect()
    return db.create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace")


def by_doc(col):
    out = {}
    for d in col.get():
        out.setdefault(d.metadata["doc_id"], []).append(d)
    return {k: sorted(v, key=lambda d: d.metadata["chunk_index"]) for k, v in out.items()}


def test_a_folder_is_read_and_chunks_keep_parent_offsets_and_sections(col, folder):
    report = col.add_documents([folder], chunker=SentenceChunker(size=60, overlap=0))
    assert report.ok and len(report.added) == 3 and report.chunks == col.count()
    docs = by_doc(col)
    md_id = (folder / "a.md").resolve().as_posix()
    md_chunks = docs[md_id]
    for i, c in enumerate(md_chunks):
        assert c.id == f"{md_id}#{i}" and c.metadata["chunk_index"] == i
        assert MD[c.metadata["char_start"] : c.metadata["char_end"]] == c.text
        assert c.metadata["source"] == str(folder / "a.md")
    assert [c.metadata["section"] for c in md_chunks] == [["설치"], ["설치", "사용법"]]
    html_chunks = docs[(folder / "sub" / "b.html").resolve().as_posix()]
    assert html_chunks[0].metadata["title"] == "Guide"
    assert [c.metadata["section"] for c in html_chunks] == [["Start"], ["Start", "Next"]]
    joined = " ".join(c.text for c in html_chunks)
    assert "Second & more." in joined and "var x" not in joined and "p{}" not in joined
    assert not any(".hidden" in k or "image" in k for k in docs)


def test_unchanged_files_are_skipped_and_changed_ones_replaced_in_one_commit(tmp_path, folder, monkeypatch):
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("docs", embedder=HashEmbedder(), tokenizer="whitespace")
    chunker = SentenceChunker(size=40, overlap=0)
    first = col.add_documents([folder], chunker=chunker)
    commits = []
    original = SegmentStore.commit
    monkeypatch.setattr(SegmentStore, "commit", lambda self, *a, **k: (commits.append(1), original(self, *a, **k))[1])
    again = col.add_documents([folder], chunker=chunker)
    assert again.unchanged == first.added and again.chunks == 0 and commits == []
    md = folder / "a.md"
    md.write_text("# 설치\n\n이제 한 문장뿐입니다.\n", encoding="utf-8")  # fewer chunks than before
    changed = col.add_documents([folder], chunker=chunker)
    assert changed.updated == [md.resolve().as_posix()] and len(changed.unchanged) == 2
    assert commits == [1]
    md_chunks = by_doc(col)[md.resolve().as_posix()]
    assert [c.text for c in md_chunks] == ["# 설치\n\n이제 한 문장뿐입니다."]
    assert col.count() == sum(len(v) for v in by_doc(col).values())
    assert col.search("이제", mode="keyword", k=1).ids == [md_chunks[0].id]
    assert col.search("Hello", mode="keyword", k=5).ids == []  # the old chunks are gone
    db.close()
    with gyeol.connect(tmp_path / "kb") as db2:  # and stay gone after reopening
        col2 = db2.get_collection("docs", embedder=HashEmbedder())
        assert col2.add_documents([folder], chunker=chunker).chunks == 0
        assert len(by_doc(col2)[md.resolve().as_posix()]) == 1


def test_a_changed_chunker_rechunks(col, folder):
    col.add_documents([folder / "a.md"], chunker=SentenceChunker(size=400, overlap=0))
    report = col.add_documents([folder / "a.md"], chunker=SentenceChunker(size=30, overlap=0))
    assert len(report.updated) == 1 and report.chunks > 1


def test_texts_and_documents(col):
    report = col.add_documents(
        ["첫 번째 글입니다. 두 번째 문장.", gyeol.Document("guide", "Guide text. More.", {"lang": "en"})],
        metadata=[{"lang": "ko"}, {"year": 2024}],
    )
    assert len(report.added) == 2
    docs = by_doc(col)
    assert docs["guide"][0].id == "guide#0"
    assert docs["guide"][0].metadata["lang"] == "en" and docs["guide"][0].metadata["year"] == 2024
    text_id = next(k for k in docs if k.startswith("text:"))
    assert docs[text_id][0].metadata["lang"] == "ko"
    assert col.add_documents(["첫 번째 글입니다. 두 번째 문장."], metadata={"lang": "ko"}).unchanged == [text_id]
    assert col.get(where={"doc_id": "guide"})[0].id == "guide#0"


def test_unreadable_sources_become_warnings_and_the_rest_is_added(col, folder, tmp_path, monkeypatch):
    (folder / "binary.txt").write_bytes(b"abc\x00def")
    (folder / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (folder / "empty.md").write_text("   \n", encoding="utf-8")
    (folder / "scan.pdf").write_bytes(b"%PDF-1.4")
    gone = folder / "gone.md"
    gone.write_text("# soon gone", encoding="utf-8")
    real_expand = ingest_mod.expand_paths

    def expand_then_delete(path):
        found = real_expand(path)
        gone.unlink()  # the file disappears between the listing and its read
        return found

    monkeypatch.setattr(ingest_mod, "expand_paths", expand_then_delete)
    monkeypatch.setitem(sys.modules, "pypdf", None)  # not installed
    report = col.add_documents([folder])
    reasons = {src.rsplit("/", 1)[-1]: why for src, why in report.warnings}
    assert set(reasons) == {"binary.txt", "latin1.txt", "empty.md", "scan.pdf", "gone.md"}
    assert "binary" in reasons["binary.txt"] and "UTF-8" in reasons["latin1.txt"]
    assert "pypdf" in reasons["scan.pdf"] and "disappeared" in reasons["gone.md"]
    assert len(report.added) == 3 and not report.ok


class _FakePage:
    def __init__(self, text):
        self._text = text

    def extract_text(self):
        return self._text


def _fake_pypdf(pages):
    module = types.ModuleType("pypdf")

    class PdfReader:
        def __init__(self, path):
            self.pages = [_FakePage(t) for t in pages]
            self.metadata = {"/Title": "Manual"}

    module.PdfReader = PdfReader
    return module


def test_pdf_pages_through_pypdf(col, tmp_path, monkeypatch):
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(b"%PDF-1.4 fake")
    monkeypatch.setitem(sys.modules, "pypdf", _fake_pypdf(["First page text. Short.", "", "Third page here."]))
    report = col.add_documents([pdf], chunker=SentenceChunker(size=25, overlap=0))
    assert report.ok
    chunks = by_doc(col)[pdf.resolve().as_posix()]
    assert [(c.text, c.metadata["page"]) for c in chunks] == [
        ("First page text. Short.", 1), ("Third page here.", 3)]
    assert chunks[0].metadata["title"] == "Manual"
    monkeypatch.setitem(sys.modules, "pypdf", _fake_pypdf(["", "  "]))
    pdf2 = tmp_path / "scan.pdf"
    pdf2.write_bytes(b"%PDF")
    report = col.add_documents([pdf2])
    assert "no text layer" in report.warnings[0][1] and report.chunks == 0


@pytest.mark.parametrize("call", [
    lambda c, f: c.add_documents(str(f)),                                  # not a list
    lambda c, f: c.add_documents([]),
    lambda c, f: c.add_documents([f / "missing.md"]),
    lambda c, f: c.add_documents(["does/not/exist.md"]),
    lambda c, f: c.add_documents([f], chunker=SentenceChunker(10, 0) if False else "nope"),
    lambda c, f: c.add_documents([f], metadata={"doc_id": "x"}),
    lambda c, f: c.add_documents([f], metadata=[{}, {}]),
    lambda c, f: c.add_documents([gyeol.Document("a#1", "x")]),
    lambda c, f: c.add_documents([gyeol.Document("a", "x"), gyeol.Document("a", "y")]),
    lambda c, f: c.add_documents([42]),
    lambda c, f: c.add_documents([f], chunker=lambda t: ["not a slice"]),
    lambda c, f: c.add_documents([f], progress="yes"),
])
def test_bad_input_is_a_typed_error_and_changes_nothing(col, folder, call):
    col.add(["existing"], ids=["e"])
    with pytest.raises(gyeol.InvalidInputError):
        call(col, folder)
    assert col.count() == 1


def test_an_empty_folder_and_a_size_below_overlap_are_refused(col, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(gyeol.InvalidInputError, match="no files"):
        col.add_documents([tmp_path / "empty"])
    with pytest.raises(gyeol.InvalidInputError, match="overlap"):
        SentenceChunker(size=50, overlap=80)
    assert col.count() == 0


def test_an_embedder_failure_adds_nothing(folder):
    class Broken(HashEmbedder):
        broken = False

        def embed(self, texts):
            if self.broken:
                raise RuntimeError("model crashed")
            return super().embed(texts)

    db = gyeol.connect()
    embedder = Broken()
    col = db.create_collection("c", embedder=embedder, tokenizer="whitespace")
    embedder.broken = True
    with pytest.raises(RuntimeError):
        col.add_documents([folder])
    assert col.count() == 0
    no_embedder = db.create_collection("v", embedder=None, dim=4)
    with pytest.raises(gyeol.InvalidInputError, match="embedder"):
        no_embedder.add_documents([folder])


def test_chunk_ids_of_another_document_are_not_overwritten(col):
    col.add(["manual"], ids=["guide#0"])
    with pytest.raises(gyeol.DuplicateIdError):
        col.add_documents([gyeol.Document("guide", "Guide text.")])
    assert col.get(["guide#0"])[0].text == "manual"


def test_progress_false_silences_this_call_only(col, monkeypatch, progress_bars):
    from gyeol import progress as progress_mod
    from gyeol.engine import embedding

    monkeypatch.setattr(embedding, "EMBED_BATCH", 1)  # a call per chunk: the embedding has a bar
    texts = [f"Text number {i}. Second sentence {i}." for i in range(4)]
    col.add_documents(texts, progress=False)
    assert progress_bars == []
    col.add_documents([t + " more" for t in texts])
    descs = [desc for _, desc, _ in progress_bars]
    assert any(d.startswith("reading") for d in descs) and any(d.startswith("embedding") for d in descs)
    assert progress_mod.progress_enabled()  # the override ended with its call


def test_an_unchanged_document_is_not_chunked_again(col, folder):
    seen = []

    class Counting(SentenceChunker):
        def chunk_many(self, texts):
            seen.extend(texts)
            return super().chunk_many(texts)

        def __repr__(self):  # the same settings, the same hash: SentenceChunker's signature
            return SentenceChunker.__repr__(self)

    chunker = Counting(size=60, overlap=0)
    first = col.add_documents([folder], chunker=chunker)
    assert len(first.added) == 3 and len(seen) == 3
    seen.clear()
    (folder / "notes.txt").write_text("Plain notes. Changed now.", encoding="utf-8")
    again = col.add_documents([folder], chunker=chunker)
    assert len(again.unchanged) == 2 and again.updated == [(folder / "notes.txt").resolve().as_posix()]
    assert seen == ["Plain notes. Changed now."]  # only the changed file was chunked
    assert col.count() == first.chunks - 1 + again.chunks


def test_an_unreadable_file_is_a_warning_and_nothing_else_is_lost(col, folder, monkeypatch):
    # OSErrors that are not "file not found", whoever runs the tests (root reads a chmod 000 file):
    # a symbolic link that points at itself (ELOOP) and a read refused with EACCES
    (folder / "loop.md").symlink_to(folder / "loop.md")
    locked = folder / "locked.txt"
    locked.write_text("Secret words here.", encoding="utf-8")
    real_read = type(locked).read_bytes

    def refuse_locked(self):
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_read(self)

    monkeypatch.setattr(type(locked), "read_bytes", refuse_locked)
    report = col.add_documents([folder], chunker=SentenceChunker(size=60, overlap=0))
    reasons = {src.rsplit("/", 1)[-1]: why for src, why in report.warnings}
    assert reasons == {"loop.md": reasons["loop.md"], "locked.txt": "unreadable: Permission denied"}
    assert reasons["loop.md"].startswith("unreadable: ") and "disappeared" not in reasons["loop.md"]
    assert not report.ok and len(report.added) == 3 and report.chunks == col.count()
    readable = {(folder / n).resolve().as_posix() for n in ("a.md", "sub/b.html", "notes.txt")}
    assert set(report.added) == readable == set(by_doc(col))
    assert col.search("Plain", mode="keyword", k=1)[0].text == "Plain notes. Nothing more."


def test_a_corrupt_pdf_is_an_unreadable_pdf_warning(col, tmp_path):
    pytest.importorskip("pypdf")  # the real one: it raises on a file that only starts like a PDF
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    (tmp_path / "fine.txt").write_text("Fine words. Still added.", encoding="utf-8")
    report = col.add_documents([tmp_path])
    assert [(src.rsplit("/", 1)[-1], why.split(":")[0]) for src, why in report.warnings] == \
        [("broken.pdf", "unreadable PDF")]
    assert report.added == [(tmp_path / "fine.txt").resolve().as_posix()] and col.count() == report.chunks == 1
