"""The quality benchmarks read gyeol's layout and BEIR's alike, and refuse malformed sets."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from retrieval_sets import RetrievalSetError, load_retrieval_set  # noqa: E402


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _write_beir(directory: Path, corpus: list[dict], queries: list[dict], qrels: list[tuple], split="test") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _write_jsonl(directory / "corpus.jsonl", corpus)
    _write_jsonl(directory / "queries.jsonl", queries)
    (directory / "qrels").mkdir(exist_ok=True)
    lines = ["query-id\tcorpus-id\tscore"] + ["\t".join(map(str, row)) for row in qrels]
    (directory / "qrels" / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def _beir_copy(source: Path, directory: Path) -> Path:
    """Write a gyeol-layout set out again in BEIR's layout."""
    corpus = [json.loads(line) for line in (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    queries = [json.loads(line) for line in (source / "queries.jsonl").read_text(encoding="utf-8").splitlines()]
    return _write_beir(
        directory,
        [{"_id": d["id"], "title": "", "text": d["text"]} for d in corpus],
        [{"_id": q["id"], "text": q["query"]} for q in queries],
        [(q["id"], doc, 1) for q in queries for doc in q["relevant"]],
    )


@pytest.mark.parametrize("name", ["ko_retrieval", "en_hybrid", "pydoc_en"])
def test_bundled_sets_load(name: str) -> None:
    data = load_retrieval_set(BENCHMARKS / "data" / name)
    assert data.name == name
    assert len(data.doc_ids) == len(data.doc_texts) > 300
    assert len(data.query_ids) == len(data.query_texts) == len(data.relevant) == len(data.kinds) >= 200
    assert all(rel <= set(data.doc_ids) for rel in data.relevant)


def test_beir_layout_reads_the_same_set_as_gyeol_layout(tmp_path: Path) -> None:
    source = BENCHMARKS / "data" / "ko_retrieval"
    gyeol_set = load_retrieval_set(source)
    beir_set = load_retrieval_set(_beir_copy(source, tmp_path / "ko_beir"))
    assert beir_set.doc_ids == gyeol_set.doc_ids
    assert beir_set.doc_texts == gyeol_set.doc_texts
    assert beir_set.query_ids == gyeol_set.query_ids
    assert beir_set.query_texts == gyeol_set.query_texts
    assert beir_set.relevant == gyeol_set.relevant


def test_beir_titles_scores_and_unjudged_queries(tmp_path: Path) -> None:
    directory = _write_beir(
        tmp_path / "tiny",
        [{"_id": "d1", "title": "Kimchi", "text": "fermented cabbage"},
         {"_id": "d2", "text": "no title here"},
         {"_id": "d3", "title": None, "text": "null title"}],
        [{"_id": "q1", "text": "kimchi"}, {"_id": "q2", "text": "unjudged"}, {"_id": "q3", "text": "only zero"}],
        [("q1", "d1", 2), ("q1", "d2", 1), ("q1", "d3", 0), ("q3", "d3", 0)],
    )
    data = load_retrieval_set(directory)
    assert data.doc_texts == ["Kimchi\nfermented cabbage", "no title here", "null title"]
    assert data.query_ids == ["q1"]  # q2 has no qrels, q3 only a score-0 judgement
    assert data.relevant == [{"d1", "d2"}]
    assert list(data.kinds) == ["all"]


def test_max_queries_keeps_the_first_in_file_order() -> None:
    full = load_retrieval_set(BENCHMARKS / "data" / "en_hybrid")
    head = load_retrieval_set(BENCHMARKS / "data" / "en_hybrid", max_queries=7)
    assert head.query_ids == full.query_ids[:7]
    assert list(head.kinds) == list(full.kinds[:7])
    with pytest.raises(RetrievalSetError, match="max_queries"):
        load_retrieval_set(BENCHMARKS / "data" / "en_hybrid", max_queries=0)


def test_malformed_sets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(RetrievalSetError, match="no corpus.jsonl"):
        load_retrieval_set(tmp_path / "missing")

    corpus = [{"_id": "d1", "text": "a"}]
    queries = [{"_id": "q1", "text": "a"}]
    other_split = _write_beir(tmp_path / "dev_only", corpus, queries, [("q1", "d1", 1)], split="dev")
    with pytest.raises(RetrievalSetError, match=r"no qrels/test.tsv \(splits here: \['dev'\]\)"):
        load_retrieval_set(other_split)
    assert load_retrieval_set(other_split, split="dev").query_ids == ["q1"]

    dangling = _write_beir(tmp_path / "dangling", corpus, queries, [("q1", "d9", 1)])
    with pytest.raises(RetrievalSetError, match="not in the corpus"):
        load_retrieval_set(dangling)

    duplicate = _write_beir(tmp_path / "duplicate", corpus * 2, queries, [("q1", "d1", 1)])
    with pytest.raises(RetrievalSetError, match="not unique"):
        load_retrieval_set(duplicate)

    no_judged = _write_beir(tmp_path / "no_judged", corpus, queries, [("q1", "d1", 0)])
    with pytest.raises(RetrievalSetError, match="no query has a relevant document"):
        load_retrieval_set(no_judged)

    gyeol_layout = tmp_path / "gyeol_layout"
    gyeol_layout.mkdir()
    _write_jsonl(gyeol_layout / "corpus.jsonl", [{"id": "d1", "text": "a"}])
    _write_jsonl(gyeol_layout / "queries.jsonl", [{"id": "q1", "query": "a"}])
    with pytest.raises(RetrievalSetError, match="no 'relevant' field"):
        load_retrieval_set(gyeol_layout)
    _write_jsonl(gyeol_layout / "queries.jsonl", [{"id": "q1", "query": "a", "relevant": []}])
    with pytest.raises(RetrievalSetError, match="lists no relevant document"):
        load_retrieval_set(gyeol_layout)


# ---------------------------------------------------------------- the sets built from Debian packages

DEBIAN_SETS = ["gnome_help_ko", "gnome_help_en", "libreoffice_help_ko", "libreoffice_help_en"]


def _fold(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


@pytest.mark.parametrize("name", DEBIAN_SETS)
def test_debian_sets_are_well_formed(name: str) -> None:
    directory = BENCHMARKS / "data" / name
    corpus = {row["id"]: row["text"] for row in map(json.loads, (directory / "corpus.jsonl").open(encoding="utf-8"))}
    queries = [json.loads(line) for line in (directory / "queries.jsonl").open(encoding="utf-8")]
    assert sum(1 for _ in (directory / "corpus.jsonl").open(encoding="utf-8")) == len(corpus) >= 300
    assert len({q["id"] for q in queries}) == len(queries) >= 150
    assert len({_fold(q["query"]) for q in queries}) == len(queries)
    split_of_document: dict[str, str] = {}
    for q in queries:
        assert q["split"] in ("tune", "report")
        assert len(q["relevant"]) == 1 and q["relevant"][0] in corpus
        doc = q["relevant"][0]
        assert _fold(q["query"]) != _fold(corpus[doc])
        assert len(q["query"].split()) >= 2 and len(re.sub(r"\s", "", q["query"])) >= 5
        assert split_of_document.setdefault(doc, q["split"]) == q["split"]  # one document, one half
    sizes = [(directory / f).stat().st_size for f in ("corpus.jsonl", "queries.jsonl")]
    assert sum(sizes) < 5_000_000
    sources = json.loads((directory / "sources.json").read_text(encoding="utf-8"))
    assert sources["documents"] == len(corpus) and sources["queries"] == len(queries)
    assert sources["packages"] and sources["licence"]

    tune, report = (load_retrieval_set(directory, split=s) for s in ("tune", "report"))
    whole = load_retrieval_set(directory, split="all")
    assert len(tune.query_ids) >= 75 and len(report.query_ids) >= 75
    assert sorted(tune.query_ids + report.query_ids) == sorted(whole.query_ids)
    assert tune.doc_ids == report.doc_ids == whole.doc_ids
    assert (tune.split, report.split, whole.split) == ("tune", "report", "all")
    assert load_retrieval_set(directory).query_ids == whole.query_ids  # the scripts' default "test"


@pytest.mark.parametrize("name", ["gnome_help_ko", "libreoffice_help_ko"])
def test_korean_debian_sets_are_in_korean(name: str) -> None:
    data = load_retrieval_set(BENCHMARKS / "data" / name)
    hangul = re.compile(r"[\uac00-\ud7a3]")
    assert all(hangul.search(q) for q in data.query_texts)
    assert all(hangul.search(t) for t in data.doc_texts)


def test_gyeol_layout_splits(tmp_path: Path) -> None:
    directory = tmp_path / "halves"
    directory.mkdir()
    _write_jsonl(directory / "corpus.jsonl", [{"id": "d1", "text": "a"}, {"id": "d2", "text": "b"}])
    _write_jsonl(directory / "queries.jsonl", [
        {"id": "q1", "query": "a", "relevant": ["d1"], "split": "tune"},
        {"id": "q2", "query": "b", "relevant": ["d2"], "split": "report"},
        {"id": "q3", "query": "bb", "relevant": ["d2"], "split": "report"},
    ])
    assert load_retrieval_set(directory, split="tune").query_ids == ["q1"]
    assert load_retrieval_set(directory, split="report", max_queries=1).query_ids == ["q2"]
    assert load_retrieval_set(directory, split="all").query_ids == ["q1", "q2", "q3"]
    with pytest.raises(RetrievalSetError,
                       match=r"no query has split 'dev' \(splits here: \['report', 'tune', 'all'\]\)"):
        load_retrieval_set(directory, split="dev")
    with pytest.raises(RetrievalSetError, match=r"splits here: \['all'\]"):
        load_retrieval_set(BENCHMARKS / "data" / "en_hybrid", split="tune")


# ---------------------------------------------------------------- the builder's parsing and cleaning

def test_mallard_page_gives_body_without_title_and_desc(tmp_path: Path) -> None:
    from make_debian_sets import gnome_docs

    help_dir = tmp_path / "gnome-user-docs" / "usr/share/help/ko/gnome-help"
    help_dir.mkdir(parents=True)
    (help_dir / "tip.page").write_text(
        '<page xmlns="http://projectmallard.org/1.0/" id="tip"><info><desc>요약 <gui>문장</gui></desc>'
        '<credit><name>누구</name></credit></info><title>제목 입니다</title>'
        '<p>첫 <em>문단</em>, <keyseq><key>Ctrl</key> <key>P</key></keyseq> 누름.</p><comment><p>숨김</p></comment>'
        '<section><info><desc>절 요약</desc></info><title>절 제목</title><steps><item><p>단계</p></item>'
        '</steps><screen>ls -l</screen></section></page>', encoding="utf-8")
    trees = {name: tmp_path / name for name in __import__("make_debian_sets").GNOME_PACKAGES}
    (doc,) = gnome_docs(trees, "ko")
    assert doc.id == "gnome-help/tip"
    assert doc.blocks == ["첫 문단, Ctrl+P 누름.", "절 제목", "단계", "ls -l"]
    assert doc.queries == [("desc", "요약 문장"), ("title", "제목 입니다")]


def test_libreoffice_page_gives_one_document_per_heading(tmp_path: Path) -> None:
    from make_debian_sets import libreoffice_docs

    base = tmp_path / "usr/share/libreoffice/help/ko/text/scalc"
    base.mkdir(parents=True)
    (base / "f.html").write_text(
        '<html><body><header><p>머리글</p></header><div id="DisplayArea">'
        '<h1 id="h1">고급 필터</h1><p class="paragraph">필터를 <span class="avis">지정합니다</span>.</p>'
        '<div class="howtoget"><p>Choose Data</p><div><p>메뉴</p></div></div>'
        '<p class="embedded"><a href="x.html">다른 쪽</a></p>'
        '<h2 id="h2">대/소문자 구분</h2><p>대문자와 <a href="y.html">소문자</a>를 구별합니다.</p><br>'
        '<p><span class="switchinline"><span hidden="true" class="MAC"><span>Command</span></span>'
        '<span hidden="true">Ctrl</span></span>+A 누름</p>'
        '<h2 id="h2">같은 앵커</h2><p class="related">관련 주제</p>'
        '</div><footer><p>꼬리말</p></footer></body></html>', encoding="utf-8")
    docs = libreoffice_docs(tmp_path, "ko")
    assert [d.id for d in docs] == ["scalc/f#h1", "scalc/f#h2", "scalc/f#b5"]
    assert [d.blocks for d in docs] == [["필터를 지정합니다."], ["대문자와 소문자를 구별합니다.", "Ctrl+A 누름"], []]
    assert [d.queries for d in docs] == [[("title", "고급 필터")], [("heading", "대/소문자 구분")],
                                         [("heading", "같은 앵커")]]


def test_near_duplicate_merge_equals_all_pairs_check() -> None:
    from make_debian_sets import NEAR_DUP, _shingles, merge_near_duplicates

    base = "설정에서 화면 밝기를 조절하고 전원을 절약하는 방법을 설명합니다 " * 3
    texts = {f"d{i:02d}": base + suffix for i, suffix in enumerate(
        ["", "!", "끝", "전혀 다른 내용이 길게 이어지는 문단입니다 " * 4, "Settings brightness power"])}
    texts.update({"z": "완전히 무관한 짧은 글", "a": "완전히 무관한 짧은 글."})
    merged = merge_near_duplicates(texts)
    ids = sorted(texts)
    reference = {i: i for i in ids}
    for i in ids:  # all pairs, merged transitively into the smallest id
        for j in ids:
            a, b = _shingles(texts[i]), _shingles(texts[j])
            if i < j and len(a & b) >= NEAR_DUP * len(a | b):
                low, high = sorted((reference[i], reference[j]))
                reference = {k: (low if v == high else v) for k, v in reference.items()}
    assert merged == reference
    assert merged["d01"] == merged["d02"] == "d00" and merged["z"] == "a" and merged["d03"] == "d03"


def test_finalize_strips_own_queries_and_drops_short_and_ambiguous() -> None:
    from make_debian_sets import Doc, finalize

    one = "화면이 어두워지지 않게 하려면 전원 설정에서 빈 화면 스위치를 끕니다. 절전 모드에서도 같습니다."
    two = "프린터를 추가하려면 설정을 열고 프린터 창에서 추가 단추를 누릅니다. 드라이버는 자동으로 찾습니다."
    three = "키보드 배치를 바꾸려면 입력 소스 목록에서 원하는 언어를 고릅니다. 단축키로도 바꿀 수 있습니다."
    five = "파일을 지우면 휴지통으로 옮겨지며, 휴지통을 비우기 전에는 되살릴 수 있습니다."
    docs = [
        Doc("p1", ["화면 밝기 조절", one], [("title", "화면 밝기 조절"), ("desc", "밝기")]),
        Doc("p2", [two], [("title", "같은 제목 입니다")]),
        Doc("p3", [three], [("title", "같은 제목 입니다.")]),
        Doc("p4", ["짧음"], [("title", "짧은 문서 제목")]),
        Doc("p5", [five, "English paragraph left out"], [("title", "English title only")]),
    ]
    corpus, queries, stats = finalize("t", docs, korean=True)
    texts = {d["id"]: d["text"] for d in corpus}
    assert sorted(texts) == ["p1", "p2", "p3", "p5"]
    assert texts["p1"] == one and texts["p5"] == five
    assert [q["id"] for q in queries] == ["p1:title"]
    assert stats["queries_dropped_short"] == 1 and stats["queries_dropped_ambiguous"] == 2
