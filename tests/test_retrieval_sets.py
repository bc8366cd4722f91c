"""The quality benchmarks read gyeol's layout and BEIR's alike, and refuse malformed sets."""

from __future__ import annotations

import json
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
