"""The tokenizer registry reads stored descriptions strictly, and constructors refuse misspelled arguments.

A stored description that is wrong (a key gyeol never wrote, a key it always writes missing,
a value of the wrong type) is a CorruptionError naming the key; an argument a user mistypes
is an InvalidInputError. None of them falls back to a default.
"""

from __future__ import annotations

import json

import pytest

from gyeol.errors import CorruptionError, InvalidInputError
from gyeol.lexical import (
    DEFAULT_POS,
    BigramTokenizer,
    CallableTokenizer,
    KiwiTokenizer,
    WhitespaceTokenizer,
    resolve_tokenizer,
    tokenizer_from_config,
)

# Descriptions exactly as gyeol wrote them into collection configs: these must keep opening.
_DEFAULT_POS = ["NNG", "NNP", "NR", "SH", "SL", "SN", "VA", "VV", "VX", "W_EMAIL", "W_HASHTAG", "W_SERIAL",
                "W_URL", "XR"]
STORED = {
    "kiwi": {  # today's default
        "kind": "kiwi", "pos": _DEFAULT_POS, "user_words": [], "stopwords": [],
        "english_stopwords": True, "english_stemming": "porter", "mixed": True, "doc_length": "morphemes",
        "load_typo_dict": False, "load_multi_dict": False,
    },
    "kiwi mixed, every term long": {  # the default before morpheme lengths and the light Kiwi load
        "kind": "kiwi", "pos": _DEFAULT_POS, "user_words": [], "stopwords": [],
        "english_stopwords": True, "english_stemming": "porter", "mixed": True,
    },
    "kiwi morphemes": {  # the default before mixed terms: collections built then hold these terms
        "kind": "kiwi", "pos": _DEFAULT_POS, "user_words": [], "stopwords": [],
        "english_stopwords": True, "english_stemming": "porter",
    },
    "kiwi custom": {
        "kind": "kiwi", "pos": "all", "user_words": [["겨울왕국3", "NNP"], ["개봉작", "NNG"]],
        "stopwords": ["gpu"], "english_stopwords": False, "english_stemming": "minimal",
    },
    "kiwi no stemming": {
        "kind": "kiwi", "pos": ["NNG"], "user_words": [], "stopwords": [],
        "english_stopwords": True, "english_stemming": False,
    },
    "whitespace": {"kind": "whitespace", "stopwords": [], "english_stopwords": True, "english_stemming": "porter"},
    "bigram": {"kind": "bigram"},
}
# Written before English handling existed (gyeol's first tokenizer descriptions).
LEGACY = {
    "kiwi": {"kind": "kiwi", "pos": ["NNG", "NNP"], "user_words": [["겨울왕국3", "NNP"]], "stopwords": ["gpu"]},
    "whitespace": {"kind": "whitespace"},
}
BUILT = {"kiwi": KiwiTokenizer, "whitespace": WhitespaceTokenizer, "bigram": BigramTokenizer}


@pytest.mark.parametrize("name", list(STORED))
def test_stored_descriptions_open_as_they_were_written(name):
    desc = STORED[name]
    tok = tokenizer_from_config(json.loads(json.dumps(desc)))
    assert isinstance(tok, BUILT[desc["kind"]])
    assert tok.describe() == desc  # the same settings, so the saved BM25 terms still match


def test_todays_defaults_describe_as_stored():
    assert resolve_tokenizer("kiwi")[1] == STORED["kiwi"]
    assert sorted(DEFAULT_POS) == STORED["kiwi"]["pos"]
    assert resolve_tokenizer("whitespace")[1] == STORED["whitespace"]
    assert resolve_tokenizer("bigram")[1] == STORED["bigram"]


def test_the_old_default_description_still_means_morphemes_alone():
    old = tokenizer_from_config(STORED["kiwi morphemes"])
    assert not old.mixed
    assert old.tokenize("파일 관리자") == ["파일", "관리자"]  # the terms its saved BM25 index holds
    today = tokenizer_from_config(STORED["kiwi"])
    assert today.mixed and today.tokenize("파일 관리자") == KiwiTokenizer().tokenize("파일 관리자")


def test_the_mixed_default_before_morpheme_lengths_keeps_its_rule_and_dictionaries():
    old = tokenizer_from_config(STORED["kiwi mixed, every term long"])
    assert old.mixed and old.doc_length == "terms" and old.length_skips == ()
    assert "load_typo_dict=True, load_multi_dict=True" in repr(old)  # Kiwi's dictionaries, as then
    today = tokenizer_from_config(STORED["kiwi"])
    assert today.doc_length == "morphemes" and today.length_skips == ("\x01", "\x02")
    assert "load_typo_dict=False, load_multi_dict=False" in repr(today)
    assert old.tokenize("파일 관리자") == today.tokenize("파일 관리자")  # the same terms; only lengths differ
    assert KiwiTokenizer(mixed=False).length_skips == ()


def test_kiwi_dictionary_and_length_options_are_checked():
    with pytest.raises(InvalidInputError, match="doc_length must be one of 'morphemes', 'terms', got 'chars'"):
        KiwiTokenizer(doc_length="chars")
    with pytest.raises(InvalidInputError, match="load_typo_dict must be True or False"):
        KiwiTokenizer(load_typo_dict="no")  # type: ignore[arg-type]
    bad = {**STORED["kiwi"], "doc_length": "chars"}
    with pytest.raises(CorruptionError, match="doc_length='chars'"):
        tokenizer_from_config(bad)


def test_legacy_descriptions_get_the_defaults_of_keys_added_later():
    kiwi = tokenizer_from_config(LEGACY["kiwi"])
    assert kiwi.describe() == {**LEGACY["kiwi"], "english_stopwords": True, "english_stemming": "porter"}
    assert tokenizer_from_config(LEGACY["whitespace"]).describe() == STORED["whitespace"]


def test_a_custom_description_gives_none():
    assert tokenizer_from_config({"kind": "custom", "name": "my_split"}) is None


@pytest.mark.parametrize("name", list(STORED))
def test_an_unknown_key_is_refused(name):
    for typo in ["englsh_stemming", "stopword", "pos_tags", "num_workers"]:
        desc = {**STORED[name], typo: True}
        with pytest.raises(CorruptionError, match=f"unknown keys '{typo}'"):
            tokenizer_from_config(desc)
    with pytest.raises(CorruptionError, match="unknown keys 'nme'"):
        tokenizer_from_config({"kind": "custom", "name": "f", "nme": "f"})


@pytest.mark.parametrize("key", ["pos", "user_words", "stopwords"])
def test_a_missing_kiwi_key_is_refused(key):
    desc = {k: v for k, v in STORED["kiwi"].items() if k != key}
    with pytest.raises(CorruptionError, match=f"lacks '{key}'"):
        tokenizer_from_config(desc)


def test_a_missing_custom_name_is_refused():
    with pytest.raises(CorruptionError, match="lacks 'name'"):
        tokenizer_from_config({"kind": "custom"})


@pytest.mark.parametrize(
    "kind, key, value, message",
    [
        ("kiwi", "pos", "nouns", "pos='nouns'; expected 'all' or a list of Kiwi tags"),
        ("kiwi", "pos", None, "pos=None"),
        ("kiwi", "pos", [], "pos must be a non-empty"),
        ("kiwi", "pos", ["NNG", "XYZ"], "unknown Kiwi tags in pos: XYZ"),
        ("kiwi", "pos", [1, 2], "pos=\\[1, 2\\]"),
        ("kiwi", "user_words", ["겨울왕국3"], "user_words=\\['겨울왕국3'\\]; expected a list of \\[word, tag\\] pairs"),
        ("kiwi", "user_words", [["단어", "BAD"]], "unknown Kiwi tag 'BAD'"),
        ("kiwi", "user_words", [["a", "NNP", "x"]], "user_words="),
        ("kiwi", "user_words", {"a": "NNP"}, "user_words="),
        ("kiwi", "stopwords", {"gpu": 1}, "stopwords=\\{'gpu': 1\\}; expected a list of str"),
        ("kiwi", "stopwords", "gpu", "stopwords='gpu'"),
        ("kiwi", "stopwords", None, "stopwords=None"),
        ("kiwi", "english_stopwords", "yes", "english_stopwords='yes'; expected true or false"),
        ("kiwi", "english_stopwords", 1, "english_stopwords=1"),
        ("kiwi", "english_stemming", "snowball", "english_stemming='snowball'"),
        ("kiwi", "english_stemming", None, "english_stemming=None"),
        ("kiwi", "mixed", "yes", "mixed='yes'; expected true or false"),
        ("kiwi", "mixed", 1, "mixed=1"),
        ("kiwi", "mixed", None, "mixed=None"),
        ("whitespace", "stopwords", [3], "stopwords=\\[3\\]"),
        ("whitespace", "english_stemming", "Porter", "english_stemming='Porter'"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(kind, key, value, message):
    desc = {**STORED[kind], key: value}
    with pytest.raises(CorruptionError, match=message):
        tokenizer_from_config(desc)


@pytest.mark.parametrize(
    "desc, message",
    [
        (None, "must be an object with a 'kind' string, got None"),
        ("kiwi", "got 'kiwi'"),
        ([], "got \\[\\]"),
        ({}, "got \\{\\}"),
        ({"pos": ["NNG"]}, "with a 'kind' string"),
        ({"kind": ["kiwi"]}, "with a 'kind' string"),
        ({"kind": "Kiwi"}, "unknown tokenizer kind 'Kiwi' in the stored config; expected one of kiwi, whitespace, "
                           "bigram, custom"),
        ({"kind": "mecab"}, "unknown tokenizer kind 'mecab'"),
    ],
)
def test_a_malformed_description_is_refused(desc, message):
    with pytest.raises(CorruptionError, match=message):
        tokenizer_from_config(desc)


def test_a_refused_description_is_not_an_input_error():
    # the user did nothing wrong: the stored config is damaged (or from an unknown gyeol)
    with pytest.raises(CorruptionError) as info:
        tokenizer_from_config({**STORED["kiwi"], "english_stemming": "snowball"})
    assert not isinstance(info.value, InvalidInputError)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: KiwiTokenizer(post=["NNG"]), "unexpected keyword argument 'post' \\(did you mean 'pos'\\?\\)"),
        (lambda: KiwiTokenizer(english_steming="minimal"), "did you mean 'english_stemming'"),
        (lambda: KiwiTokenizer(userwords=["단어"]), "did you mean 'user_words'"),
        (lambda: KiwiTokenizer(stop_words=["검색"]), "did you mean 'stopwords'"),
        (lambda: KiwiTokenizer(language="ko"), "KiwiTokenizer\\(\\): got an unexpected keyword argument 'language'; "
                                               "it takes pos, user_words, stopwords, num_workers"),
        (lambda: KiwiTokenizer(None, None, None, None, True, True, True, "extra"), "too many positional arguments"),
        (lambda: KiwiTokenizer(mixd=False), "did you mean 'mixed'"),
        (lambda: KiwiTokenizer(["NNG"], pos=["NNG"]), "multiple values for argument 'pos'"),
        (lambda: WhitespaceTokenizer(stopword=["a"]), "did you mean 'stopwords'"),
        (lambda: WhitespaceTokenizer(lowercase=False), "WhitespaceTokenizer\\(\\): got an unexpected keyword"),
        (lambda: BigramTokenizer(2), "BigramTokenizer\\(\\): too many positional arguments; it takes no arguments"),
        (lambda: BigramTokenizer(n=3), "unexpected keyword argument 'n'"),
        (lambda: CallableTokenizer(str.split, nam="split"), "did you mean 'name'"),
        (lambda: CallableTokenizer(), "missing a required argument: 'fn'"),
    ],
)
def test_a_mistyped_argument_is_an_input_error(make, message):
    with pytest.raises(InvalidInputError, match=message):
        make()


def test_a_misspelled_tokenizer_name_is_an_input_error():
    with pytest.raises(InvalidInputError, match="unknown tokenizer 'Kiwi'; expected one of kiwi, whitespace, bigram"):
        resolve_tokenizer("Kiwi")
    with pytest.raises(InvalidInputError, match="unknown tokenizer 'custom'"):
        resolve_tokenizer("custom")  # a stored kind, not a name to pass


def test_the_argument_checks_keep_the_signatures():
    import inspect

    assert list(inspect.signature(KiwiTokenizer).parameters) == [
        "pos", "user_words", "stopwords", "num_workers", "english_stopwords", "english_stemming", "mixed",
        "load_typo_dict", "load_multi_dict", "doc_length"]  # the last three keyword-only
    assert list(inspect.signature(WhitespaceTokenizer).parameters) == [
        "stopwords", "english_stopwords", "english_stemming"]
    assert KiwiTokenizer(["NNG"], None, ["검색"]).describe()["pos"] == ["NNG"]  # positional still work
