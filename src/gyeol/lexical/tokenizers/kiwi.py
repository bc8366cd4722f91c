"""KiwiTokenizer: Korean morphological analysis with kiwipiepy, content morphemes as terms.

By default (mixed=True) a text with Hangul also gets character bigrams of its Hangul words
and pairs of adjacent content morphemes, in the same bag of terms: see KiwiTokenizer.
kiwipiepy is imported, and its model loaded (seconds, hundreds of MB), only when a
KiwiTokenizer first tokenizes; one Kiwi per settings is shared by the whole process.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING, Any

from ..._validation import check_flag
from ...errors import BackendUnavailableError, InvalidInputError
from .base import check_text, check_texts, checked_arguments
from .english import EnglishFilter

if TYPE_CHECKING:  # kiwipiepy is imported lazily: its model costs seconds and hundreds of MB
    from kiwipiepy import Kiwi

__all__ = [
    "KiwiTokenizer", "DEFAULT_POS", "KIWI_TAGS", "ALL_POS", "KIWI_DICTS", "DOC_LENGTHS", "get_kiwi",
    "MORPHEME_WEIGHT", "BIGRAM_PREFIX", "PAIR_PREFIX",
]

logger = logging.getLogger(__name__)

#: Kiwi tags kept by default: content morphemes only.
#: NNG/NNP common and proper nouns, NR numeral words, SN numbers, SL foreign (Latin) words,
#: SH hanja, XR roots (e.g. 깨끗 in 깨끗하다), VV/VA verb and adjective stems and VX
#: auxiliary predicates (emitted in dictionary form, 먹었다 -> 먹다), and Kiwi's pattern
#: matches (URL, e-mail, hashtag, serial numbers). Left out: particles (J*), endings (E*),
#: affixes (XP*, XS*), bound nouns (NNB: 것, 수, 개 ...), pronouns (NP), copulas (VC*),
#: adverbs and determiners (MAG, MAJ, MM), interjections and punctuation.
#: Chosen by measurement on benchmarks/data/ko_retrieval (okapi, MRR@10 over 249 queries):
#: this set 0.931; without VX 0.914 (Kiwi tags some main verbs VX, e.g. 갔다 -> 가/VX);
#: + NNB 0.913; + NP + MAG 0.920; nouns only 0.895; every morpheme ("all") 0.902.
DEFAULT_POS: frozenset[str] = frozenset(
    {"NNG", "NNP", "NR", "SN", "SL", "SH", "XR", "VV", "VA", "VX",
     "W_URL", "W_EMAIL", "W_HASHTAG", "W_SERIAL"}
)

#: `pos="all"`: every morpheme becomes a term (particles and endings included) except
#: punctuation and whitespace, the way Weaviate's kagome_kr tokenizes. A baseline.
ALL_POS = "all"

# Punctuation and symbols are never terms, not even in "all" mode.
_PUNCT_TAGS = frozenset({"SF", "SP", "SS", "SSO", "SSC", "SE", "SO", "SW", "SB", "W_EMOJI"})
# Numbers and serials whose trailing period Kiwi keeps.
_NUMBER_TAGS = frozenset({"SN", "W_SERIAL"})
# Stems emitted as their dictionary form (stem + 다) so 감다 (verb) and 감 (noun) stay apart.
_PREDICATE_TAGS = frozenset({"VV", "VA", "VX", "VCP", "VCN"})

#: mixed=True: how many times each morpheme term of a Korean text is counted, so that its
#: exact matches outweigh the bigrams and pairs that come with it (BM25 counts repeats).
#: Chosen on the tune queries of gnome_help_ko and libreoffice_help_ko (MRR@10 gain over
#: morphemes alone, benchmarks/korean_keyword_study.py): weight 1 +0.016 / +0.018,
#: 2 +0.020 / +0.027, 3 +0.017 / +0.032, 4 +0.008 / +0.031; ko_retrieval -0.021, -0.006,
#: +0.000, +0.006.
MORPHEME_WEIGHT = 3
#: doc_length choices under mixed=True. "morphemes" (the default): a document's BM25 length
#: counts its morpheme terms only (see KiwiTokenizer.length_skips). Measured on the tune
#: queries (benchmarks/korean_keyword_study.py): Korean-only sets within noise (gnome_help_ko
#: -0.004 [-0.009, +0.001], libreoffice_help_ko +0.000 MRR@10); a Korean + English collection
#: in one index: English queries +0.013 / +0.011, Korean queries +0.001 / +0.006 over "terms".
DOC_LENGTHS = ("morphemes", "terms")
#: mixed=True: character bigrams of Hangul words are "\x01" + the two syllables, and pairs of
#: adjacent content terms "\x02" + first + " " + second, so neither can equal a morpheme term.
BIGRAM_PREFIX = "\x01"
PAIR_PREFIX = "\x02"
_HANGUL_RUN = re.compile("[\uac00-\ud7a3]+")  # Hangul syllables; spaces and punctuation end a run

#: Every tag Kiwi emits (irregular forms such as VV-I are checked by their base tag).
KIWI_TAGS: frozenset[str] = frozenset(
    "NNG NNP NNB NR NP VV VA VX VCP VCN MM MAG MAJ IC JKS JKC JKG JKO JKB JKV JKQ JX JC "
    "EP EF EC ETN ETM XPN XSN XSV XSA XSM XR SF SP SS SSO SSC SE SO SW SL SH SN SB UN "
    "W_URL W_EMAIL W_MENTION W_HASHTAG W_SERIAL W_EMOJI Z_CODA Z_SIWA "
    "USER0 USER1 USER2 USER3 USER4".split()
)

#: Kiwi's optional dictionaries, loaded unless switched off: load_typo_dict (common misspellings
#: as dictionary entries) and load_multi_dict (multi-word proper nouns). Off by default: they
#: double the cold start (import, load and first tokenization in a fresh process: 7.0 s against
#: 3.0 s without, best of 3 on 2 busy cores), and without them the terms of 13 of 5,420 documents
#: change and keyword MRR@10 not at all on gnome_help_ko, libreoffice_help_ko and ko_retrieval
#: (benchmarks/korean_keyword_study.py, row "Kiwi typo + multi dictionaries (before)").
#: A stored description without these keys means both loaded, as gyeol did before.
KIWI_DICTS = ("load_typo_dict", "load_multi_dict")

# One Kiwi per (num_workers, user words, dictionaries) per process, built on first use, never at import.
_KIWI_CACHE: dict[tuple[int, tuple[tuple[str, str], ...], bool, bool], "Kiwi"] = {}
_KIWI_LOCK = threading.Lock()


_CPUS = max(1, os.cpu_count() or 1)  # read once: os.cpu_count() costs ~15 µs, paid per query otherwise

# Below this many texts Kiwi's multi-threaded batch call costs more than analysing each text in
# turn (its thread hand-off is ~150 µs; measured on 2 cores with short query texts).
_SMALL_BATCH = 4


def _resolve_workers(num_workers: int | None) -> int:
    if num_workers is None:
        return _CPUS
    return num_workers


def get_kiwi(
    num_workers: int | None = None,
    user_words: tuple[tuple[str, str], ...] = (),
    load_typo_dict: bool = False,
    load_multi_dict: bool = False,
) -> "Kiwi":
    """Give back the process-wide Kiwi for these settings, loading its model on first call.

    load_typo_dict / load_multi_dict: Kiwi's optional dictionaries (see KIWI_DICTS).
    """
    key = (_resolve_workers(num_workers), tuple(user_words), bool(load_typo_dict), bool(load_multi_dict))
    kiwi = _KIWI_CACHE.get(key)
    if kiwi is not None:
        return kiwi
    with _KIWI_LOCK:
        kiwi = _KIWI_CACHE.get(key)
        if kiwi is None:
            try:
                from kiwipiepy import Kiwi
            except ImportError as exc:  # pragma: no cover - kiwipiepy is a dependency
                raise BackendUnavailableError(
                    "the 'kiwi' tokenizer needs kiwipiepy: pip install kiwipiepy"
                ) from exc
            logger.debug("loading the Kiwi model (num_workers=%d)", key[0])
            kiwi = Kiwi(num_workers=key[0], load_typo_dict=key[2], load_multi_dict=key[3])
            for word, tag in user_words:
                try:
                    kiwi.add_user_word(word, tag)
                except ValueError as exc:
                    raise InvalidInputError(
                        f"user word {word!r} with tag {tag!r} was refused by Kiwi: {exc}"
                    ) from exc
            _KIWI_CACHE[key] = kiwi
    return kiwi


def _normalize_user_words(user_words: Iterable[Any] | None) -> tuple[tuple[str, str], ...]:
    if user_words is None:
        return ()
    if isinstance(user_words, str):
        raise InvalidInputError("user_words must be a list of str or (word, tag) pairs, got a str")
    out: list[tuple[str, str]] = []
    for item in user_words:
        if isinstance(item, str):
            word, tag = item, "NNP"
        elif isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(x, str) for x in item):
            word, tag = item[0], item[1]
        else:
            raise InvalidInputError(
                f"user_words entries must be a str or a (word, tag) pair of str, got {item!r}"
            )
        if not word.strip():
            raise InvalidInputError(f"a user word must be non-empty, got {word!r}")
        if tag.split("-", 1)[0] not in KIWI_TAGS:
            raise InvalidInputError(f"unknown Kiwi tag {tag!r} for user word {word!r}; expected e.g. NNP or NNG")
        out.append((word, tag))
    return tuple(out)


def _normalize_pos(pos: Collection[str] | str | None) -> frozenset[str] | None:
    """None means every non-punctuation morpheme ("all")."""
    if pos is None:
        return DEFAULT_POS
    if isinstance(pos, str):
        if pos == ALL_POS:
            return None
        raise InvalidInputError(f"pos must be 'all' or a collection of Kiwi tags, got the str {pos!r}")
    tags = list(pos)
    if not tags or not all(isinstance(t, str) and t for t in tags):
        raise InvalidInputError(f"pos must be a non-empty collection of Kiwi tag strings, got {pos!r}")
    unknown = sorted({t for t in tags if t.split("-", 1)[0] not in KIWI_TAGS})
    if unknown:
        raise InvalidInputError(
            f"unknown Kiwi tags in pos: {', '.join(unknown)}; expected tags such as {', '.join(sorted(DEFAULT_POS))}"
        )
    return frozenset(t.split("-", 1)[0] for t in tags)


def _with_variants(tags: frozenset[str]) -> frozenset[str]:
    return frozenset(tags) | {f"{t}-{v}" for t in tags for v in ("I", "R")}


class KiwiTokenizer:
    """Korean morphological analysis with kiwipiepy; keeps content morphemes.

    pos: Kiwi tags to keep (default DEFAULT_POS), or "all" for every morpheme;
    irregular-conjugation tags such as VV-I count as their base tag VV.
    user_words: words added to Kiwi's dictionary, as str (tagged NNP) or (word, tag).
    stopwords: terms dropped after analysis (compared after lowercasing; for Latin
    words both the surface form and the stem are checked).
    english_stopwords: drop ENGLISH_STOPWORDS from Latin (SL) tokens, as Lucene's
    EnglishAnalyzer and Weaviate do (default True).
    english_stemming: stem Latin (SL) tokens: True or "porter" (the default) with Snowball's
    English stemmer ("vaccines" -> "vaccin", "running" -> "run"), "minimal" with Lucene's
    plural-only stemmer ("vaccines" -> "vaccine"), False not at all.
    num_workers: Kiwi's analysis threads (None = every core).
    mixed: in a text that contains Hangul, add to the morpheme terms (each counted
    MORPHEME_WEIGHT times) the pairs of adjacent content terms not separated by punctuation
    (PAIR_PREFIX + "파일 관리자"; particles and endings in between are skipped) and the
    character bigrams of every Hangul word (BIGRAM_PREFIX + "관리", one-syllable words whole):
    a morpheme field, a phrase field and a bigram field fused in one bag of terms. Bigrams
    match the parts of compounds and of words Kiwi analyses differently in different
    contexts (들여쓰기 / 들이다 + 쓰다); pairs reward a query's words in the same order.
    A text without Hangul gets exactly the terms of mixed=False. Default True; False gives
    the morpheme terms alone, as gyeol wrote them before (stored descriptions without the
    key mean False, so saved BM25 terms stay valid).
    doc_length: under mixed=True, what BM25 counts as a document's length: "morphemes" (the
    default) its morpheme terms (with their weight), not the bigrams and pairs; "terms" every
    term, as gyeol did before (stored descriptions without the key). The bigrams and pairs
    double or triple a Korean text's terms, so counting them made Korean documents look
    longer than English ones in a collection of both (see DOC_LENGTHS).
    load_typo_dict, load_multi_dict: load Kiwi's optional typo and multi-word dictionaries
    (default False: a faster cold start; see KIWI_DICTS). Stored descriptions without the
    keys mean True, Kiwi's own default and gyeol's before.

    Latin text is lowercased; verb and adjective stems are emitted in dictionary form
    (검색했다 -> 검색, 먹었다 -> 먹다), the same way for documents and queries. The two
    English options touch only tokens Kiwi tags SL (Latin letters); Korean morphemes,
    numbers and serials pass through unchanged.
    """

    @checked_arguments
    def __init__(
        self,
        pos: Collection[str] | str | None = None,
        user_words: Iterable[str | tuple[str, str]] | None = None,
        stopwords: Iterable[str] | None = None,
        num_workers: int | None = None,
        english_stopwords: bool = True,
        english_stemming: bool | str = True,
        mixed: bool = True,
        *,
        load_typo_dict: bool = False,
        load_multi_dict: bool = False,
        doc_length: str = "morphemes",
    ) -> None:
        self._pos = _normalize_pos(pos)
        self._mixed = check_flag("mixed", mixed)
        if doc_length not in DOC_LENGTHS:
            choices = ", ".join(map(repr, DOC_LENGTHS))
            raise InvalidInputError(f"doc_length must be one of {choices}, got {doc_length!r}")
        self._doc_length = doc_length
        self._dicts = (check_flag("load_typo_dict", load_typo_dict), check_flag("load_multi_dict", load_multi_dict))
        self._user_words = _normalize_user_words(user_words)
        self._english = EnglishFilter(english_stopwords, english_stemming, stopwords)
        self._stopwords = self._english.user_stopwords
        if num_workers is not None and (isinstance(num_workers, bool) or not isinstance(num_workers, int)
                                        or num_workers < -1):
            raise InvalidInputError(f"num_workers must be None, -1, 0 or a positive int, got {num_workers!r}")
        self._num_workers = num_workers
        # Kiwi writes irregular conjugations as VV-I, VA-R ...: accept those spellings too
        self._keep_tags = None if self._pos is None else _with_variants(self._pos)
        self._drop_tags = _with_variants(_PUNCT_TAGS)
        self._lemma_tags = frozenset() if self._pos is None else _with_variants(_PREDICATE_TAGS)

    @property
    def pos(self) -> frozenset[str] | str:
        return ALL_POS if self._pos is None else self._pos

    def describe(self) -> dict[str, Any]:
        """Give back a JSON-able description that tokenizer_from_config rebuilds.

        "mixed" is written only when True, "doc_length" only with mixed=True and when it is
        not "terms", and load_typo_dict / load_multi_dict only when False: a description
        without them is the one gyeol wrote before the options existed, so collections built
        then keep their saved terms and lengths.
        """
        desc: dict[str, Any] = {
            "kind": "kiwi",
            "pos": ALL_POS if self._pos is None else sorted(self._pos),
            "user_words": [list(w) for w in self._user_words],
            "stopwords": sorted(self._stopwords),
            "english_stopwords": self._english.stopwords,
            "english_stemming": self._english.stemming,
        }
        if self._mixed:
            desc["mixed"] = True
        if self._mixed and self._doc_length != "terms":
            desc["doc_length"] = self._doc_length
        for name, loaded in zip(KIWI_DICTS, self._dicts):
            if not loaded:
                desc[name] = False
        return desc

    def _kiwi(self) -> "Kiwi":
        return get_kiwi(self._num_workers, self._user_words, *self._dicts)

    @property
    def mixed(self) -> bool:
        return self._mixed

    @property
    def doc_length(self) -> str:
        return self._doc_length

    @property
    def length_skips(self) -> tuple[str, ...]:
        """The term prefixes that BM25 leaves out of a document's length (BM25Index's length_skips):
        the bigrams and pairs under mixed=True with doc_length="morphemes", else none."""
        if self._mixed and self._doc_length == "morphemes":
            return (BIGRAM_PREFIX, PAIR_PREFIX)
        return ()

    def _terms(self, tokens: Iterable[Any], text: str) -> list[str]:
        # the hot loop of indexing: plain set lookups, no string splitting per token
        keep, drop, lemma_tags, stop = self._keep_tags, self._drop_tags, self._lemma_tags, self._stopwords
        keep_latin = "SL" in keep if keep is not None else "SL" not in drop
        out: list[str] = []
        # mixed: positions in out before which a punctuation mark stood (no pair crosses one)
        cuts: list[int] | None = [] if self._mixed else None
        latin, latin_end = "", -1  # the Latin word being put back together (see _latin_term)
        for tok in tokens:
            tag = tok.tag
            if tag == "SL":
                if tok.start == latin_end:  # Kiwi cut one word into pieces: "sys" + "tem."
                    latin += tok.form
                else:
                    if latin:
                        self._latin_term(latin, keep_latin, out)
                    latin = tok.form
                latin_end = tok.start + tok.len
                continue
            if latin:
                self._latin_term(latin, keep_latin, out)
                latin, latin_end = "", -1
            if (tag in drop) if keep is None else (tag not in keep):
                if cuts is not None and tag in _PUNCT_TAGS:
                    cuts.append(len(out))
                continue
            term = (tok.lemma if tag in lemma_tags else tok.form).lower()
            if tag in _NUMBER_TAGS:  # "1." of a numbered list, "2.5." ending a sentence
                term = term.rstrip(".")
            if term and term not in stop:
                out.append(term)
        if latin:
            self._latin_term(latin, keep_latin, out)
        if cuts is None or _HANGUL_RUN.search(text) is None:
            return out
        return _mixed_terms(out, cuts, text)

    def _latin_term(self, word: str, keep: bool, out: list[str]) -> None:
        """Append the term of one Latin word, put back together from Kiwi's pieces.

        Kiwi (0.24) glues a sentence's final period to a Latin word ("film.") and sometimes
        cuts the word too ("sys" + "tem.", "b" + "lue."); pieces that touch are joined and
        trailing periods dropped, so "system." and "system" are one term. Inner dots stay:
        "U.S." -> "u.s", "e.g." -> "e.g", "codecs.Codec" -> "codecs.codec".
        """
        if not keep:
            return
        term = self._english.term(word.lower().rstrip("."))
        if term:
            out.append(term)

    def tokenize(self, text: str) -> list[str]:
        """Give back the terms of one text."""
        text = check_text(text)
        if not text.strip():
            return []
        return self._terms(self._kiwi().tokenize(text), text)

    def tokenize_batch(self, texts: list[str]) -> list[list[str]]:
        """Give back the terms of each text, analysed with Kiwi's multi-threaded batch call."""
        texts = check_texts(texts)
        if not texts:
            return []
        if len(texts) < _SMALL_BATCH:  # a query or two: skip the thread pool's hand-off
            return [self.tokenize(text) for text in texts]
        return [self._terms(tokens, text) for tokens, text in zip(self._kiwi().tokenize(texts), texts)]

    def __repr__(self) -> str:
        pos = "'all'" if self._pos is None else f"{sorted(self._pos)}"
        return (
            f"KiwiTokenizer(pos={pos}, user_words={len(self._user_words)}, stopwords={len(self._stopwords)}, "
            f"english_stopwords={self._english.stopwords}, english_stemming={self._english.stemming!r}, "
            f"mixed={self._mixed}, doc_length={self._doc_length!r}, load_typo_dict={self._dicts[0]}, "
            f"load_multi_dict={self._dicts[1]})"
        )


def _mixed_terms(morphemes: list[str], cuts: list[int], text: str) -> list[str]:
    """Give back the terms of a Korean text under mixed=True (see KiwiTokenizer).

    morphemes: its morpheme terms in text order; cuts: the positions in morphemes that a
    punctuation mark precedes.
    """
    out = morphemes * MORPHEME_WEIGHT
    cut = set(cuts)
    out.extend(
        f"{PAIR_PREFIX}{first} {second}"
        for i, (first, second) in enumerate(zip(morphemes, morphemes[1:]), 1)
        if i not in cut
    )
    for run in _HANGUL_RUN.findall(text):
        if len(run) == 1:
            out.append(BIGRAM_PREFIX + run)
        else:
            out.extend(BIGRAM_PREFIX + run[i : i + 2] for i in range(len(run) - 1))
    return out
