"""The tokenizer contract, run over every built-in tokenizer and the settings benchmarks use.

A batch gives the same terms as one text at a time (KiwiTokenizer switches from one-by-one
analysis to Kiwi's multi-threaded batch call at 4 texts), and a tokenizer survives both
pickling and its stored description: describe -> JSON -> tokenizer_from_config gives a
tokenizer that makes the same terms.
"""

from __future__ import annotations

import json
import pickle

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gyeol.lexical import (
    DEFAULT_POS,
    BigramTokenizer,
    CallableTokenizer,
    KiwiTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    resolve_tokenizer,
    tokenizer_from_config,
)


def split_on_spaces(text: str) -> list[str]:
    """A user's tokenizer function (module level, so it pickles)."""
    return text.split()


# name -> how to build it; the Kiwi variants are the ones benchmarks/korean_quality.py,
# benchmarks/hybrid_quality.py and benchmarks/korean_keyword_study.py compare.
FACTORIES = {
    "kiwi": lambda: resolve_tokenizer("kiwi")[0],
    "kiwi morphemes only": lambda: KiwiTokenizer(mixed=False),
    "kiwi pos=all": lambda: KiwiTokenizer(pos="all"),
    "kiwi every morpheme (pos=all, mixed=False)": lambda: KiwiTokenizer(pos="all", mixed=False),
    "kiwi nouns": lambda: KiwiTokenizer(pos=["NNG", "NNP"]),
    "kiwi default + NNB NP MAG": lambda: KiwiTokenizer(pos=sorted(DEFAULT_POS | {"NNB", "NP", "MAG"})),
    "kiwi minimal stemming": lambda: KiwiTokenizer(english_stemming="minimal"),
    "kiwi english off": lambda: KiwiTokenizer(english_stopwords=False, english_stemming=False),
    "kiwi user words and stopwords": lambda: KiwiTokenizer(
        user_words=["겨울왕국3", ("개봉작", "NNG")], stopwords=["vaccine", "검색"]),
    "whitespace": lambda: resolve_tokenizer("whitespace")[0],
    "whitespace minimal stemming": lambda: WhitespaceTokenizer(english_stemming="minimal", stopwords=["Booster"]),
    "whitespace english off": lambda: WhitespaceTokenizer(english_stopwords=False, english_stemming=False),
    "bigram": lambda: resolve_tokenizer("bigram")[0],
    "callable": lambda: resolve_tokenizer(split_on_spaces)[0],
}

KOREAN = [
    "검색했습니다",
    "학교에서 공부했습니다.",
    "서울은 한국의 수도이다. 날씨가 추워서 밥을 먹었다",
    "겨울왕국3이 개봉했다",
    "먹었닼ㅋㅋ 배송이 빨랐닼ㅋ",  # chat-style codas, which Kiwi's options treat differently
]
ENGLISH = [
    "How do vaccines train the body to fight viruses?",
    "The sky is blue. It rains. I saw the film. Check the system.",
    "U.S. and e.g. Dr. Smith, version 2.5. Next",
    "codecs.Codec GPT-4o... (boosters)",
]
MIXED = [
    "GPU 2개로 검색했다",
    "RAG시스템은 OpenAI의 모델로 2.5배 빨라졌다",
    "CVE-2021-44228 패치, 6204-2RS 베어링 https://example.com a@b.kr #해시태그",
    "버스들이 지나간다 3s 10s 1. 서론 2.5. 끝",
]
BLANK = ["", " ", "\n\t  \r\n", "\u3000"]  # \u3000: the ideographic space
EMOJI = ["🙂", "검색 🔍 결과 👍🏽", "👨‍👩‍👧 family emoji", "🇰🇷🇺🇸 flags."]
LONG = [
    " ".join(KOREAN + MIXED) * 8,  # ~1,600 characters of sentences
    "검색" * 1000,  # one long word without spaces
    ("word " * 1000).strip(),
]
SHORT = KOREAN + ENGLISH + MIXED + BLANK + EMOJI
TEXTS = SHORT + LONG


@pytest.fixture(scope="module", params=list(FACTORIES))
def tokenizer(request) -> Tokenizer:
    return FACTORIES[request.param]()


def one_by_one(tokenizer: Tokenizer, texts: list[str]) -> list[list[str]]:
    return [tokenizer.tokenize(text) for text in texts]


def test_is_a_tokenizer(tokenizer):
    assert isinstance(tokenizer, Tokenizer)
    assert tokenizer.tokenize_batch([]) == []
    assert tokenizer.tokenize_batch(BLANK) == [[]] * len(BLANK)


@pytest.fixture(scope="module")
def reference(tokenizer) -> dict[str, list[str]]:
    """The terms of each text, analysed one at a time."""
    return dict(zip(TEXTS, one_by_one(tokenizer, TEXTS)))


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 100])
def test_batch_equals_one_by_one(tokenizer, reference, size):
    # every kind of text at every position of a batch of this size, the blank ones included
    cycled = SHORT * (size // len(SHORT) + 2)
    for start in range(len(SHORT)) if size <= 5 else [0]:
        window = cycled[start : start + size]
        assert tokenizer.tokenize_batch(window) == [reference[t] for t in window]


@pytest.mark.parametrize("texts", [LONG[:1], LONG, LONG + SHORT[:2], SHORT * 4 + LONG, TEXTS], ids=len)
def test_long_texts_in_batches(tokenizer, reference, texts):
    assert tokenizer.tokenize_batch(texts) == [reference[t] for t in texts]


def test_a_tuple_is_a_batch_too(tokenizer, reference):
    assert tokenizer.tokenize_batch(tuple(SHORT)) == [reference[t] for t in SHORT]


def test_terms_are_nonempty_strings(tokenizer):
    for terms in tokenizer.tokenize_batch(TEXTS):
        assert all(isinstance(t, str) and t for t in terms)


# Hangul syllables and jamo, Latin letters and digits, punctuation, spaces and emoji: the
# characters that steer Kiwi's tags and the Latin-word joining.
_PIECES = st.one_of(
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.sampled_from(list("abcXYZ0123456789 .,-!?@#/:'\n\tㄱㅏ")),
    st.sampled_from(["🙂", "🔍", "👍🏽", "👨‍👩‍👧", "\u3000", "é", "漢", "the", "vaccines", "했다", "https://a.kr"]),
)
_TEXT = st.lists(_PIECES, max_size=30).map("".join)


@settings(max_examples=40, deadline=None)
@given(texts=st.lists(_TEXT, max_size=7))
def test_batch_equals_one_by_one_on_generated_texts(tokenizer, texts):
    assert tokenizer.tokenize_batch(texts) == one_by_one(tokenizer, texts)


def test_pickle_round_trip(tokenizer):
    copy = pickle.loads(pickle.dumps(tokenizer))
    assert type(copy) is type(tokenizer)
    assert copy.tokenize_batch(TEXTS) == tokenizer.tokenize_batch(TEXTS)


def test_description_round_trip(tokenizer):
    rebuilt_from, desc = resolve_tokenizer(tokenizer)
    assert rebuilt_from is tokenizer
    stored = json.loads(json.dumps(desc))  # as the collection config keeps it
    rebuilt = tokenizer_from_config(stored)
    if isinstance(tokenizer, CallableTokenizer):
        assert stored == {"kind": "custom", "name": "split_on_spaces"}
        assert rebuilt is None  # a custom tokenizer is passed again by the user
        return
    assert type(rebuilt) is type(tokenizer)
    assert rebuilt.describe() == desc
    assert rebuilt.tokenize_batch(TEXTS) == tokenizer.tokenize_batch(TEXTS)
    assert one_by_one(rebuilt, KOREAN + MIXED) == one_by_one(tokenizer, KOREAN + MIXED)


def test_the_builtin_names_cover_the_builtin_classes():
    kinds = {type(resolve_tokenizer(name)[0]) for name in ("kiwi", "whitespace", "bigram")}
    assert kinds == {KiwiTokenizer, WhitespaceTokenizer, BigramTokenizer}
    built = {type(make()) for make in FACTORIES.values()}
    assert built == kinds | {CallableTokenizer}
