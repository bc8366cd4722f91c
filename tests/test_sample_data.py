"""The bundled sample corpus and the benchmark retrieval sets are well-formed."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from gyeol.data import load_sample

BENCH_DATA = Path(__file__).resolve().parents[1] / "benchmarks" / "data"


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


# --- bundled sample -------------------------------------------------------------------------

def test_sample_loads_about_100_unique_ids() -> None:
    sample = load_sample()
    ids = [doc["id"] for doc in sample]
    assert 90 <= len(sample) <= 110
    duplicates = [i for i, n in Counter(ids).items() if n > 1]
    assert not duplicates, f"duplicate ids: {duplicates}"


def test_sample_has_both_languages_roughly_balanced() -> None:
    langs = Counter(doc["metadata"]["lang"] for doc in load_sample())
    assert set(langs) == {"ko", "en"}
    assert abs(langs["ko"] - langs["en"]) <= 10


def test_sample_documents_have_valid_fields() -> None:
    for doc in load_sample():
        assert set(doc) == {"id", "text", "metadata"}, doc["id"]
        assert isinstance(doc["text"], str) and doc["text"].strip(), doc["id"]
        meta = doc["metadata"]
        assert set(meta) == {"lang", "topic", "year", "tags"}, doc["id"]
        assert meta["lang"] in ("ko", "en")
        assert doc["id"].startswith(meta["lang"] + "-")
        assert isinstance(meta["topic"], str) and meta["topic"]
        assert isinstance(meta["year"], int) and not isinstance(meta["year"], bool)
        assert 1900 <= meta["year"] <= 2030
        tags = meta["tags"]
        assert isinstance(tags, list) and 1 <= len(tags) <= 3
        assert all(isinstance(tag, str) and tag for tag in tags)


def test_sample_language_matches_script() -> None:
    for doc in load_sample():
        hangul = sum("\uac00" <= ch <= "\ud7a3" for ch in doc["text"])
        if doc["metadata"]["lang"] == "ko":
            assert hangul >= 10, doc["id"]
        else:
            assert hangul == 0, doc["id"]


def test_sample_has_varied_topics() -> None:
    topics = Counter(doc["metadata"]["topic"] for doc in load_sample())
    assert len(topics) >= 8


def test_load_sample_returns_fresh_objects() -> None:
    first = load_sample()
    first[0]["text"] = "changed"
    assert load_sample()[0]["text"] != "changed"


# --- benchmark retrieval sets ------------------------------------------------------------------

def _check_retrieval_set(name: str, min_docs: int, min_queries: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    corpus = _read_jsonl(BENCH_DATA / name / "corpus.jsonl")
    queries = _read_jsonl(BENCH_DATA / name / "queries.jsonl")
    assert len(corpus) >= min_docs
    assert len(queries) >= min_queries
    doc_ids = [doc["id"] for doc in corpus]
    assert len(set(doc_ids)) == len(doc_ids), "duplicate document ids"
    for doc in corpus:
        assert set(doc) == {"id", "text"}, doc["id"]
        assert isinstance(doc["text"], str) and doc["text"].strip(), doc["id"]
    texts = [doc["text"] for doc in corpus]
    assert len(set(texts)) == len(texts), "duplicate document texts"
    query_ids = [q["id"] for q in queries]
    assert len(set(query_ids)) == len(query_ids), "duplicate query ids"
    known = set(doc_ids)
    for q in queries:
        assert isinstance(q["query"], str) and q["query"].strip(), q["id"]
        assert isinstance(q["relevant"], list) and q["relevant"], q["id"]
        missing = [r for r in q["relevant"] if r not in known]
        assert not missing, f"{q['id']} names unknown documents {missing}"
        assert len(set(q["relevant"])) == len(q["relevant"]), q["id"]
        distractors = q.get("distractors", [])
        assert all(d in known for d in distractors), q["id"]
        assert not set(distractors) & set(q["relevant"]), f"{q['id']}: a document is both relevant and a distractor"
    return corpus, queries


def test_korean_retrieval_set_is_well_formed() -> None:
    corpus, queries = _check_retrieval_set("ko_retrieval", min_docs=600, min_queries=200)
    for doc in corpus:
        assert sum("\uac00" <= ch <= "\ud7a3" for ch in doc["text"]) >= 10, doc["id"]
    for q in queries:
        assert any("\uac00" <= ch <= "\ud7a3" for ch in q["query"]), q["id"]
    # Most documents are distractors: relevant ones must be a minority of the corpus.
    relevant = {r for q in queries for r in q["relevant"]}
    assert len(relevant) < len(corpus) / 2


def test_korean_queries_use_other_inflections_than_their_passages() -> None:
    """Tokenization must matter: most queries share no whitespace token with a relevant passage."""
    corpus, queries = _check_retrieval_set("ko_retrieval", min_docs=600, min_queries=200)
    text = {doc["id"]: set(doc["text"].split()) for doc in corpus}
    no_overlap = [q for q in queries
                  if all(not set(q["query"].split()) & text[r] for r in q["relevant"])]
    assert len(no_overlap) >= len(queries) * 2 // 5


def test_english_hybrid_set_is_well_formed() -> None:
    _, queries = _check_retrieval_set("en_hybrid", min_docs=300, min_queries=100)
    kinds = Counter(q["kind"] for q in queries)
    assert set(kinds) == {"paraphrase", "exact", "mixed"}
    assert min(kinds.values()) >= 20


def test_pydoc_set_is_well_formed_and_one_to_one() -> None:
    """Python-docstring pairs: one relevant passage per query, each passage relevant to one query."""
    corpus, queries = _check_retrieval_set("pydoc_en", min_docs=300, min_queries=300)
    relevant = [q["relevant"] for q in queries]
    assert all(len(r) == 1 for r in relevant)
    assert len({r[0] for r in relevant}) == len(queries) == len(corpus)
    assert len({q["query"] for q in queries}) == len(queries)
