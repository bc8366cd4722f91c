"""Grounded context: merged, cited passages within a budget; highlights; parent expansion."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from conftest import HashEmbedder
from test_documents import _fake_pypdf

import gyeol
from gyeol.chunking import SentenceChunker
from gyeol.context import approx_tokens, build_context
from gyeol.highlight import match_spans

GUIDE = ("# Guide\n\nAlpha one starts here. Alpha two follows on. Alpha three keeps going. "
         "Alpha four ends it.\n\n## Other\n\nBeta five is elsewhere. Beta six too.\n")
NOTES = "Gamma notes mention alpha once. Gamma more text here. Gamma final words."


def squash(text):
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture
def kb(tmp_path):
    (tmp_path / "guide.md").write_text(GUIDE, encoding="utf-8")
    (tmp_path / "notes.txt").write_text(NOTES, encoding="utf-8")
    db = gyeol.connect()
    col = db.create_collection("c", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add_documents([tmp_path], chunker=SentenceChunker(size=50, overlap=25))
    return col, tmp_path


def test_overlapping_chunks_of_a_document_merge_into_their_source_text(kb):
    col, root = kb
    res = col.search("alpha", mode="keyword", k=20)
    guide_hits = [h for h in res if h.metadata["source"].endswith("guide.md")]
    assert len(guide_hits) >= 3
    ctx = res.context(max_tokens=10_000)
    guide = [s for s in ctx.sources if s["citation"] == "guide.md"]
    assert len(guide) == 1  # one passage for the run of overlapping chunks
    start, end = guide[0]["start"], guide[0]["end"]
    assert start == min(h.metadata["char_start"] for h in guide_hits)
    assert end == max(h.metadata["char_end"] for h in guide_hits)
    n = guide[0]["n"]
    assert f"[{n}] guide.md\n{GUIDE[start:end]}" in ctx.text  # each sentence once, exactly as in the file
    for sentence in ("Alpha one starts here.", "Alpha two follows on.", "Alpha three keeps going."):
        assert ctx.text.count(sentence) == 1
    assert sorted(s["n"] for s in ctx.sources) == list(range(1, len(ctx.sources) + 1))


def test_context_fits_the_budget_and_numbers_sources(kb):
    col, _ = kb
    res = col.search("alpha gamma", mode="keyword", k=20)
    full = res.context(max_tokens=10_000)
    for budget in (5, 20, 40, full.tokens):
        ctx = res.context(max_tokens=budget)
        assert ctx.tokens <= budget and approx_tokens(ctx.text) <= budget
        assert [f"[{s['n']}] {s['citation']}" for s in ctx.sources] == re.findall(r"^\[\d+\] [^\n]+", ctx.text, re.M)
    assert res.context(max_tokens=full.tokens).text == full.text
    words = res.context(max_tokens=12, length=lambda t: len(t.split()))
    assert len(words.text.split()) <= 12


def test_order_by_score_or_by_position(kb):
    col, _ = kb
    res = col.search("alpha four beta six", mode="keyword", k=20)
    by_score = res.context(max_tokens=10_000, template="{text}", separator="\n---\n")
    by_pos = res.context(max_tokens=10_000, order="position", template="{text}", separator="\n---\n")
    scores = [s["score"] for s in by_score.sources]
    assert scores == sorted(scores, reverse=True)
    starts = {}
    for s in by_pos.sources:
        starts.setdefault(s["doc_id"], []).append(s["start"])
    assert all(v == sorted(v) for v in starts.values())
    assert sorted(by_pos.text.split("\n---\n")) == sorted(by_score.text.split("\n---\n"))


def test_pdf_citations_show_the_page(tmp_path, monkeypatch):
    pdf = tmp_path / "manual.pdf"
    pdf.write_bytes(b"%PDF")
    monkeypatch.setitem(sys.modules, "pypdf", _fake_pypdf(["intro words only.", "", "the answer is here."]))
    db = gyeol.connect()
    col = db.create_collection("p", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add_documents([pdf], chunker=SentenceChunker(size=20, overlap=0))
    ctx = col.search("answer", mode="keyword", k=1).context()
    assert ctx.text == "[1] manual.pdf, p.3\nthe answer is here."


def test_plain_hits_and_duplicates():
    db = gyeol.connect()
    col = db.create_collection("p", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add(["same words", "same words", "other words"], ids=["a", "b", "c"], metadata=[{"title": "A"}, {}, {}])
    ctx = col.search("words", mode="keyword", k=3).context(template="[{n}] {citation}: {text}")
    assert ctx.text.count("same words") == 1
    assert len(ctx.sources) == 2


@pytest.mark.parametrize("kwargs", [
    {"max_tokens": 0}, {"max_tokens": 2.5}, {"order": "date"}, {"template": "{nope} {text}"},
    {"template": "{n}"}, {"template": "{} {text}"}, {"template": "{text"}, {"template": 3}, {"length": 5},
])
def test_bad_context_arguments(kb, kwargs):
    col, _ = kb
    with pytest.raises(gyeol.InvalidInputError):
        col.search("alpha", mode="keyword").context(**kwargs)


def test_korean_highlight_by_morphemes():
    assert gyeol.Hit("x", 1.0, "오늘 검색했습니다.", {}).highlight("검색") == "오늘 **검색했습니다**."
    hit = gyeol.Hit("x", 1.0, "오늘 검색했습니다.", {}, query="검색")
    assert hit.highlight(unit="morpheme", pre="<b>", post="</b>") == "오늘 <b>검색</b>했습니다."
    assert gyeol.Hit("x", 1.0, "밥을 먹었다. 물을 마셨다.", {}).highlight("먹는 사람") == "밥을 **먹었다**. 물을 마셨다."
    assert gyeol.Hit("x", 1.0, "Hybrid 검색 engines", {}).highlight("engine") == "Hybrid 검색 **engines**"
    assert gyeol.Hit("x", 1.0, "Searching the Index.", {}).highlight("search indexes") == \
        "**Searching** the **Index**."
    assert match_spans("nothing here", "absent") == []


def test_search_results_carry_their_query(kb):
    col, _ = kb
    res = col.search("alpha", mode="keyword", k=3)
    assert res.query == "alpha" and res[0].query == "alpha" and res[:2].query == "alpha"
    assert "**alpha**" in res[0].highlight().lower()
    snippets = res.snippets(window=30)
    assert len(snippets) == 3 and all("**alpha**" in s.lower() for s in snippets)
    long_text = "x " * 200 + "the alpha word " + "y " * 200
    s = gyeol.Hit("h", 1.0, long_text, {}).snippet("alpha", window=40)
    assert "**alpha**" in s and s.startswith("\u2026") and s.endswith("\u2026") and len(s) <= 40 + 6
    vec_only = col.search(vector=np.ones(col.dim, np.float32), k=1)
    assert vec_only.query is None
    with pytest.raises(gyeol.InvalidInputError, match="query"):
        vec_only[0].highlight()
    assert vec_only.snippets("alpha", window=400)[0] == vec_only[0].snippet("alpha", window=400)  # an explicit query works
    with pytest.raises(gyeol.InvalidInputError):
        res[0].highlight(unit="sentence")
    with pytest.raises(gyeol.InvalidInputError):
        res[0].snippet(window=0)


def test_expand_parent_gives_whole_documents(kb):
    col, root = kb
    chunks = col.search("alpha", mode="keyword", k=10)
    parents = col.search("alpha", mode="keyword", k=2, expand="parent")
    assert len(parents) == 2 and len(set(parents.ids)) == 2
    guide_id = (root / "guide.md").resolve().as_posix()
    assert parents.ids[0] == chunks[0].metadata["doc_id"]
    guide = next(h for h in parents if h.id == guide_id)
    assert squash(guide.text) == squash(GUIDE)
    assert guide.metadata["source"].endswith("guide.md") and "char_start" not in guide.metadata
    assert set(guide.metadata["chunk_ids"]) <= {h.id for h in chunks} | set(guide.metadata["chunk_ids"])
    assert guide.metadata["chunk_ids"][0] in [h.id for h in chunks]
    assert parents.scores == sorted(parents.scores, reverse=True)
    assert parents.query == "alpha" and "**alpha**" in guide.highlight().lower()
    assert parents.context(max_tokens=10_000).sources[0]["citation"] in ("guide.md", "notes.txt")
    reranked = col.search("alpha", mode="keyword", k=1, expand="parent", rerank=lambda q, t: [len(x) for x in t])
    assert len(reranked) == 1
    with pytest.raises(gyeol.InvalidInputError):
        col.search("alpha", expand="child")


def test_expand_parent_keeps_plain_documents():
    db = gyeol.connect()
    col = db.create_collection("p", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add(["plain alpha"], ids=["p1"])
    res = col.search("alpha", mode="keyword", expand="parent")
    assert res.ids == ["p1"] and res[0].text == "plain alpha"


def test_build_context_on_no_hits():
    ctx = build_context([], max_tokens=10)
    assert ctx.text == "" and ctx.sources == [] and str(ctx) == ""


def test_adjacent_chunks_with_consecutive_indexes_merge_without_overlap(tmp_path):
    text = "Alpha one starts here.\n\nAlpha two follows on.\n\nAlpha three keeps going.\n"
    (tmp_path / "a.txt").write_text(text, encoding="utf-8")
    col = gyeol.connect().create_collection("c", embedder=HashEmbedder(), tokenizer="whitespace")
    col.add_documents([tmp_path], chunker=SentenceChunker(size=25, overlap=0))
    hits = list(col.search("alpha", mode="keyword", k=10))
    spans = sorted((h.metadata["chunk_index"], h.metadata["char_start"], h.metadata["char_end"]) for h in hits)
    assert [i for i, _, _ in spans] == [0, 1, 2]
    assert all(end < next_start for (_, _, end), (_, next_start, _) in zip(spans, spans[1:]))  # gaps, no overlap
    ctx = build_context(hits, max_tokens=10_000)
    assert [(s["start"], s["end"]) for s in ctx.sources] == [(0, spans[-1][2])]  # one passage: the whole run
    assert ctx.text == "[1] a.txt\n" + text.strip()
    # chunks 0 and 2 are not adjacent (1 is missing): two passages, each its own text
    apart = build_context([h for h in hits if h.metadata["chunk_index"] != 1], max_tokens=10_000, order="position")
    assert [(s["start"], s["end"]) for s in apart.sources] == [spans[0][1:], spans[2][1:]]
    assert "Alpha two" not in apart.text and apart.text.count("a.txt") == 2
