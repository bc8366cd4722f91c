"""Tokenizers: Kiwi morphemes and mixed terms, whitespace, bigram, callables, and their config round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gyeol.errors import CorruptionError, InvalidInputError
from gyeol.lexical import (
    DEFAULT_POS,
    BigramTokenizer,
    CallableTokenizer,
    KiwiTokenizer,
    Tokenizer,
    WhitespaceTokenizer,
    BM25Index,
    resolve_tokenizer,
    tokenizer_from_config,
)
from gyeol.config import BM25
from gyeol.lexical.tokenizers import ENGLISH_STOPWORDS, english_minimal_stem, english_porter_stem
from gyeol.lexical.tokenizers.kiwi import BIGRAM_PREFIX, MORPHEME_WEIGHT, PAIR_PREFIX

SRC = Path(__file__).resolve().parents[1] / "src"


@pytest.fixture(scope="module")
def kiwi() -> KiwiTokenizer:
    """The morpheme analysis alone (mixed=False), whose terms the tests below spell out."""
    return KiwiTokenizer(mixed=False)


@pytest.fixture(scope="module")
def default_kiwi() -> KiwiTokenizer:
    return KiwiTokenizer()


def test_import_does_not_load_kiwi():
    code = (
        "import sys, gyeol.lexical, gyeol.lexical.tokenizers.kiwi as t; "
        "print(len(t._KIWI_CACHE), 'kiwipiepy' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert out.stdout.split() == ["0", "False", "False"]


@pytest.mark.parametrize("text", ["검색했습니다", "검색을", "검색이", "검색하고 싶어요", "검색은"])
def test_inflections_share_the_stem(kiwi, default_kiwi, text):
    assert "검색" in kiwi.tokenize(text)
    assert "검색" in default_kiwi.tokenize(text)


def test_particles_and_endings_are_dropped(kiwi):
    terms = kiwi.tokenize("학교에서 공부했습니다")
    assert terms == ["학교", "공부"]


def test_verbs_and_adjectives_in_dictionary_form(kiwi):
    # the same form for documents and queries, whatever the conjugation
    assert kiwi.tokenize("밥을 먹었다") == kiwi.tokenize("밥을 먹고") == ["밥", "먹다"]
    assert "춥다" in kiwi.tokenize("날씨가 추워서")  # irregular (VA-I) counted as VA


def test_mixed_korean_english_numbers(kiwi):
    assert kiwi.tokenize("GPU 2개로 검색했다") == ["gpu", "2", "검색"]
    terms = kiwi.tokenize("RAG시스템은 OpenAI의 모델로 2.5배 빨라졌다")
    assert {"rag", "시스템", "openai", "모델", "2.5", "빠르다"} <= set(terms)
    assert all(t == t.lower() for t in terms)


def test_lowercasing_latin(kiwi):
    assert kiwi.tokenize("FAISS Index") == kiwi.tokenize("faiss index") == ["faiss", "index"]


def test_empty_and_blank(kiwi):
    assert kiwi.tokenize("") == []
    assert kiwi.tokenize("  \n ") == []
    assert kiwi.tokenize_batch([]) == []
    assert kiwi.tokenize_batch(["", "검색"]) == [[], ["검색"]]


def test_batch_equals_one_by_one(kiwi):
    texts = ["검색했습니다", "", "GPU 2개로 검색했다", "서울은 한국의 수도이다.", "Hello World", "밥을 먹었다"] * 3
    assert kiwi.tokenize_batch(texts) == [kiwi.tokenize(t) for t in texts]
    for n in range(1, 7):  # small batches skip Kiwi's thread pool; the terms must not change
        assert kiwi.tokenize_batch(texts[:n]) == [kiwi.tokenize(t) for t in texts[:n]]
        assert kiwi.tokenize_batch([" \n"] * n) == [[]] * n


def test_stopwords_are_dropped_after_analysis():
    tok = KiwiTokenizer(stopwords=["검색", "GPU"], mixed=False)
    assert tok.tokenize("GPU로 검색한 결과") == ["결과"]


def test_user_words_join_a_compound():
    text = "겨울왕국3이 개봉했다"
    plain = KiwiTokenizer().tokenize(text)
    assert "겨울왕국3" not in plain
    with_word = KiwiTokenizer(user_words=["겨울왕국3", ("개봉작", "NNG")]).tokenize(text)
    assert "겨울왕국3" in with_word and "개봉" in with_word


def test_pos_choice_and_all_mode():
    nouns = KiwiTokenizer(pos=["NNG"], mixed=False)
    assert nouns.tokenize("학교에서 빨리 달렸다") == ["학교"]
    everything = KiwiTokenizer(pos="all", mixed=False)
    terms = everything.tokenize("학교에서 공부했습니다.")
    assert terms[:2] == ["학교", "에서"] and "." not in terms and len(terms) > 3
    assert KiwiTokenizer(pos=["VV-I"]).pos == frozenset({"VV"})
    assert KiwiTokenizer().pos == DEFAULT_POS


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pos": ["NNG", "XYZ"]}, "unknown Kiwi tags in pos: XYZ"),
        ({"pos": "nouns"}, "pos must be 'all'"),
        ({"pos": []}, "non-empty"),
        ({"user_words": [("단어", "BAD")]}, "unknown Kiwi tag 'BAD'"),
        ({"user_words": [3]}, "user_words entries"),
        ({"user_words": "단어"}, "got a str"),
        ({"stopwords": "검색"}, "got a str"),
        ({"num_workers": -5}, "num_workers"),
    ],
)
def test_kiwi_bad_arguments(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        KiwiTokenizer(**kwargs)


def test_bad_text_types(kiwi):
    with pytest.raises(InvalidInputError, match="text must be a str"):
        kiwi.tokenize(None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="found int at position 1"):
        kiwi.tokenize_batch(["a", 3])  # type: ignore[list-item]
    with pytest.raises(InvalidInputError, match="list of str"):
        WhitespaceTokenizer().tokenize_batch("one string")  # type: ignore[arg-type]


def test_whitespace_tokenizer():
    tok = WhitespaceTokenizer()
    assert tok.tokenize("Hello, World!  GPT-4o... (검색을)") == ["hello", "world", "gpt-4o", "검색을"]
    assert tok.tokenize(" ... ") == []
    assert tok.tokenize_batch(["A b", ""]) == [["b"], []]  # "a" is an English stopword
    assert WhitespaceTokenizer(english_stopwords=False).tokenize_batch(["A b", ""]) == [["a", "b"], []]


def test_bigram_tokenizer():
    tok = BigramTokenizer()
    assert tok.tokenize("한국어 검색!") == ["한국", "국어", "검색"]
    assert tok.tokenize("A 나") == ["a", "나"]  # single characters stay whole
    assert tok.tokenize("ABC") == ["ab", "bc"]
    assert tok.tokenize_batch(["가나다", ""]) == [["가나", "나다"], []]


def test_callable_tokenizer():
    tok = CallableTokenizer(lambda s: s.split("-"))
    assert tok.tokenize("a-b") == ["a", "b"]
    assert tok.tokenize_batch(["a-b", "c"]) == [["a", "b"], ["c"]]
    with pytest.raises(InvalidInputError, match="must return a list of str"):
        CallableTokenizer(lambda s: s).tokenize("abc")
    with pytest.raises(InvalidInputError, match="needs a callable"):
        CallableTokenizer("nope")  # type: ignore[arg-type]


def test_resolve_and_rebuild_builtins():
    for spec, cls in (("kiwi", KiwiTokenizer), ("whitespace", WhitespaceTokenizer), ("bigram", BigramTokenizer)):
        tok, desc = resolve_tokenizer(spec)
        assert isinstance(tok, cls) and isinstance(tok, Tokenizer)
        desc = json.loads(json.dumps(desc))  # JSON-able, as stored in the collection config
        assert desc["kind"] == spec
        assert isinstance(tokenizer_from_config(desc), cls)

    custom_kiwi = KiwiTokenizer(pos=["NNG", "NNP", "SL"], user_words=["겨울왕국3", ("개봉작", "NNG")], stopwords=["GPU"],
                                mixed=False)
    tok, desc = resolve_tokenizer(custom_kiwi)
    assert tok is custom_kiwi
    rebuilt = tokenizer_from_config(json.loads(json.dumps(desc)))
    assert isinstance(rebuilt, KiwiTokenizer)
    text = "GPU 겨울왕국3 개봉 NVIDIA"
    assert rebuilt.tokenize(text) == custom_kiwi.tokenize(text) == ["겨울왕국3", "개봉", "nvidia"]
    all_mode, desc = resolve_tokenizer(KiwiTokenizer(pos="all"))
    assert tokenizer_from_config(desc).pos == "all"


def test_resolve_custom():
    def split_commas(text: str) -> list[str]:
        return text.split(",")

    tok, desc = resolve_tokenizer(split_commas)
    assert tok.tokenize("a,b") == ["a", "b"]
    assert desc == {"kind": "custom", "name": "test_resolve_custom.<locals>.split_commas"}
    assert tokenizer_from_config(desc) is None  # the user passes it again on reopen

    class Mine:
        def tokenize(self, text: str) -> list[str]:
            return [text]

        def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
            return [[t] for t in texts]

    mine = Mine()
    tok, desc = resolve_tokenizer(mine)
    assert tok is mine and desc["kind"] == "custom"


def test_resolve_errors():
    with pytest.raises(InvalidInputError, match="unknown tokenizer 'mecab'; expected one of kiwi, whitespace, bigram"):
        resolve_tokenizer("mecab")
    with pytest.raises(InvalidInputError, match="got int"):
        resolve_tokenizer(3)  # type: ignore[arg-type]
    with pytest.raises(CorruptionError, match="unknown tokenizer kind"):  # a stored config that is wrong
        tokenizer_from_config({"kind": "nope"})
    with pytest.raises(CorruptionError):
        tokenizer_from_config({"pos": []})


# --------------------------------------------------------------------------- English handling


def test_english_stopwords_are_lucenes_list():
    # Lucene EnglishAnalyzer.ENGLISH_STOP_WORDS_SET = Weaviate's "en" preset: 33 words
    assert len(ENGLISH_STOPWORDS) == 33
    assert {"the", "a", "to", "is", "with", "their"} <= ENGLISH_STOPWORDS
    assert not {"how", "do", "what"} & ENGLISH_STOPWORDS  # kept, as in Lucene and Weaviate


@pytest.mark.parametrize(
    "word, stem",
    [
        ("vaccines", "vaccine"), ("queries", "query"), ("flies", "fly"), ("horses", "horse"),
        ("cats", "cat"), ("boxes", "boxe"),  # Lucene's minimal stemmer only drops the s here
        ("plays", "play"), ("days", "day"),
        ("virus", "virus"), ("glass", "glass"), ("shoes", "shoes"), ("trees", "trees"),
        ("canoes", "canoes"), ("aies", "aies"),
        ("eies", "eies"), ("raies", "raies"), ("gas", "gas"), ("its", "its"), ("has", "has"),  # <= 3 letters
        ("vaccine", "vaccine"), ("6204s", "6204s"), ("gpt-4s", "gpt-4s"), ("검색들", "검색들"), ("", ""),
    ],
)
def test_english_minimal_stem(word, stem):
    assert english_minimal_stem(word) == stem


def test_kiwi_drops_english_stopwords_and_stems(kiwi):
    assert kiwi.tokenize("How do vaccines train the body to fight viruses?") == [
        "how", "do", "vaccin", "train", "bodi", "fight", "virus"]
    # documents and queries meet on the stem
    assert kiwi.tokenize("Queries with the Vaccines") == kiwi.tokenize("query vaccine") == ["queri", "vaccin"]
    assert kiwi.tokenize("running runs") == kiwi.tokenize("run run") == ["run", "run"]
    minimal = KiwiTokenizer(english_stemming="minimal")  # Lucene's plural-only stemmer
    assert minimal.tokenize("How do vaccines fight viruses? running") == [
        "how", "do", "vaccine", "fight", "viruse", "running"]


@pytest.mark.parametrize(
    "word, stem",
    [("vaccines", "vaccin"), ("vaccine", "vaccin"), ("running", "run"), ("queries", "queri"),
     ("connections", "connect"), ("generously", "generous"), ("was", "was"), ("its", "it"),
     ("6204s", "6204s"), ("gpt-4s", "gpt-4s"), ("u.s", "u.s"), ("검색들", "검색들"), ("Capital", "Capital"), ("", "")],
)
def test_english_porter_stem(word, stem):
    assert english_porter_stem(word) == stem


def test_kiwi_english_options_off_restore_the_old_terms():
    off = KiwiTokenizer(english_stopwords=False, english_stemming=False)
    assert off.tokenize("How do vaccines train the body?") == ["how", "do", "vaccines", "train", "the", "body"]
    assert KiwiTokenizer(english_stemming=False).tokenize("the vaccines") == ["vaccines"]
    assert KiwiTokenizer(english_stopwords=False).tokenize("the vaccines") == ["the", "vaccin"]


def test_english_handling_leaves_korean_numbers_and_codes_alone(kiwi):
    off = KiwiTokenizer(english_stopwords=False, english_stemming=False, mixed=False)
    texts = ["학교에서 공부했습니다", "밥을 먹었다", "서울은 한국의 수도이다.", "GPU 2개로 검색했다",
             "CVE-2021-44228 패치, 6204-2RS 베어링", "버스들이 지나간다 3s 10s"]
    assert kiwi.tokenize_batch(texts) == off.tokenize_batch(texts)


def test_user_stopwords_still_work_with_english_handling():
    tok = KiwiTokenizer(stopwords=["검색", "GPU"], mixed=False)
    assert tok.tokenize("GPU로 검색한 결과") == ["결과"]
    # a user stopword also catches the words that stem onto it, with either stemmer
    assert KiwiTokenizer(stopwords=["vaccine"]).tokenize("vaccines and boosters") == ["booster"]
    assert WhitespaceTokenizer(stopwords=["Booster"]).tokenize("vaccines and boosters") == ["vaccin"]
    minimal = WhitespaceTokenizer(stopwords=["Booster"], english_stemming="minimal")
    assert minimal.tokenize("vaccines and boosters") == ["vaccine"]


def test_whitespace_english_handling():
    tok = WhitespaceTokenizer()
    assert tok.tokenize("How do the Vaccines work, babies? GPT-4s 검색들") == [
        "how", "do", "vaccin", "work", "babi", "gpt-4s", "검색들"]
    off = WhitespaceTokenizer(english_stopwords=False, english_stemming=False)
    assert off.tokenize("How do the Vaccines work?") == ["how", "do", "the", "vaccines", "work"]


@pytest.mark.parametrize("cls", [KiwiTokenizer, WhitespaceTokenizer])
def test_english_flags_are_checked(cls):
    for bad in ["yes", "snowball", None, 1]:
        with pytest.raises(InvalidInputError,
                           match=r"english_stemming must be True, False, 'porter' or 'minimal', got "):
            cls(english_stemming=bad)
    with pytest.raises(InvalidInputError, match="english_stopwords must be True or False"):
        cls(english_stopwords=None)


@pytest.mark.parametrize("cls", [KiwiTokenizer, WhitespaceTokenizer])
@pytest.mark.parametrize("stop, stem", [(True, True), (False, True), (True, False), (False, False),
                                        (True, "minimal"), (False, "porter")])
def test_english_options_survive_the_config_round_trip(cls, stop, stem):
    tok, desc = resolve_tokenizer(cls(english_stopwords=stop, english_stemming=stem, stopwords=["boosters"]))
    rebuilt = tokenizer_from_config(json.loads(json.dumps(desc)))
    assert isinstance(rebuilt, cls) and rebuilt.describe() == desc
    text = "The vaccines and the boosters"
    assert rebuilt.tokenize(text) == tok.tokenize(text)
    # a description without the keys (written before they existed) gives the defaults
    legacy = {k: v for k, v in desc.items() if not k.startswith("english_")}
    assert tokenizer_from_config(legacy).describe()["english_stemming"] == "porter"


def test_sentence_final_latin_words_match_their_other_occurrences(kiwi):
    """Kiwi glues a sentence's final period to a Latin word and sometimes cuts the word
    ("sys" + "tem."); the tokenizer joins the pieces and drops the period."""
    text = "The sky is blue. It rains. I saw the film. Check the system. 서울에 갔다. GPU."
    assert kiwi.tokenize(text) == ["sky", "blue", "rain", "i", "saw", "film", "check", "system", "서울", "가다", "gpu"]
    for word in ["blue", "film", "system", "returns", "object", "directory", "platform", "exception"]:
        expected = kiwi.tokenize(word)
        assert kiwi.tokenize(f"This is the {word}.")[-len(expected):] == expected, word
        assert kiwi.tokenize(f"See the {word}. Next") == kiwi.tokenize(f"See the {word} Next"), word


def test_dots_inside_codes_and_numbers(kiwi):
    assert kiwi.tokenize("U.S. and e.g. Dr. Smith") == ["u.s", "e.g", "dr", "smith"]
    assert kiwi.tokenize("version 2.5. Next") == ["version", "2.5", "next"]
    assert not [t for t in kiwi.tokenize("서울에 갔다. GPU. 1. 서론 2.5. 끝") if t.endswith(".")]
    assert kiwi.tokenize("codecs.Codec") == ["codecs.codec"]


# --------------------------------------------------------------------------- mixed terms (the default)

FILLER = ["날씨가 맑습니다.", "밥을 먹었다.", "버스를 타고 갔다.", "책을 읽었습니다.", "음악을 들었다.", "공원을 걸었다."]


def scores(tokenizer: KiwiTokenizer, docs: list[str], query: str) -> list[float]:
    """BM25 scores (gyeol's defaults) of docs + FILLER for query, in docs order."""
    index = BM25Index(BM25())
    index.add(tokenizer.tokenize_batch(docs + FILLER))
    return index.get_scores(tokenizer.tokenize(query))[: len(docs)].tolist()


def test_mixed_is_the_default_and_adds_pairs_and_bigrams_to_the_morphemes(default_kiwi, kiwi):
    assert default_kiwi.mixed and not kiwi.mixed
    text = "파일 관리자 표시 기본 설정"
    morphemes = kiwi.tokenize(text)
    assert morphemes == ["파일", "관리", "표시", "기본", "설정"]
    terms = default_kiwi.tokenize(text)
    assert terms[: MORPHEME_WEIGHT * len(morphemes)] == morphemes * MORPHEME_WEIGHT
    pairs = [t for t in terms if t.startswith(PAIR_PREFIX)]
    assert pairs == [PAIR_PREFIX + p for p in ["파일 관리", "관리 표시", "표시 기본", "기본 설정"]]
    bigrams = [t for t in terms if t.startswith(BIGRAM_PREFIX)]
    assert bigrams == [BIGRAM_PREFIX + b for b in ["파일", "관리", "리자", "표시", "기본", "설정"]]
    assert len(terms) == MORPHEME_WEIGHT * len(morphemes) + len(pairs) + len(bigrams)


def test_a_query_matches_the_parts_of_a_compound(default_kiwi, kiwi):
    # Kiwi keeps 소수점 and 자릿수 whole: their morphemes do not meet the query's 소수 and 자리
    docs = ["소수점 아래 자릿수를 정합니다.", "정수 부분만 표시합니다."]
    assert scores(kiwi, docs, "소수 자리") == [0.0, 0.0]
    mixed = scores(default_kiwi, docs, "소수 자리")
    assert mixed[0] > 0 and mixed[1] == 0.0


def test_a_word_kiwi_analyses_two_ways_still_matches(default_kiwi, kiwi):
    # 들여쓰기 is one noun in the document but 들이다 + 쓰다 in the query
    assert "들여쓰기" in kiwi.tokenize("단락의 들여쓰기를 변경합니다.")
    assert "들여쓰기" not in kiwi.tokenize("단락 들여쓰기")
    docs = ["단락의 들여쓰기를 변경합니다.", "단락의 간격을 변경합니다."]
    old = scores(kiwi, docs, "단락 들여쓰기")
    assert old[0] == pytest.approx(old[1])  # only 단락 matches, in both (of the same length)
    mixed = scores(default_kiwi, docs, "단락 들여쓰기")
    assert mixed[0] > mixed[1]


def test_pairs_reward_the_query_words_in_their_order(default_kiwi, kiwi):
    docs = ["이메일 주소를 입력합니다.", "주소로 이메일을 보냅니다."]
    old = scores(kiwi, docs, "이메일 주소")
    assert old[0] == pytest.approx(old[1])  # both hold 이메일 and 주소 once, in three terms
    mixed = scores(default_kiwi, docs, "이메일 주소")
    assert mixed[0] > mixed[1]


def test_a_compound_written_joined_or_spaced_shares_its_morphemes_and_pair(default_kiwi):
    joined, spaced = default_kiwi.tokenize("저장장치"), default_kiwi.tokenize("저장 장치")
    assert set(spaced) <= set(joined)  # joined adds only the bigram across the seam, "장장"
    assert set(joined) - set(spaced) == {BIGRAM_PREFIX + "장장"}


def test_pairs_do_not_cross_punctuation(default_kiwi):
    terms = default_kiwi.tokenize("파일. 관리")
    assert not [t for t in terms if t.startswith(PAIR_PREFIX)]
    assert PAIR_PREFIX + "파일 관리" in default_kiwi.tokenize("파일을 관리")  # particles do not cut


def test_pair_and_bigram_terms_never_equal_a_morpheme(default_kiwi):
    for terms in default_kiwi.tokenize_batch(["검색했습니다", "GPU 2개로 검색했다", "관리 관리자"]):
        plain = {t for t in terms if not t.startswith((PAIR_PREFIX, BIGRAM_PREFIX))}
        extra = {t for t in terms if t.startswith((PAIR_PREFIX, BIGRAM_PREFIX))}
        assert extra and not plain & extra
        assert all(t[1:] and "\x01" not in t[1:] and "\x02" not in t[1:] for t in extra)


def test_text_without_hangul_gets_the_morpheme_terms_alone(default_kiwi, kiwi):
    texts = ["How do vaccines train the body to fight viruses?", "FAISS Index 2.5", "CVE-2021-44228", "ㅋㅋㅋ", ""]
    assert default_kiwi.tokenize_batch(texts) == kiwi.tokenize_batch(texts)


def test_mixed_is_checked_and_survives_the_config_round_trip():
    with pytest.raises(InvalidInputError, match="mixed must be True or False, got 'yes'"):
        KiwiTokenizer(mixed="yes")  # type: ignore[arg-type]
    for mixed in (True, False):
        tok, desc = resolve_tokenizer(KiwiTokenizer(mixed=mixed))
        rebuilt = tokenizer_from_config(json.loads(json.dumps(desc)))
        assert rebuilt.mixed is mixed and rebuilt.describe() == desc
        assert rebuilt.tokenize("파일 관리자") == tok.tokenize("파일 관리자")
    assert "mixed" not in KiwiTokenizer(mixed=False).describe()  # as gyeol wrote it before the option
