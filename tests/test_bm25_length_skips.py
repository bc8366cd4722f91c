"""BM25Index(length_skips=...): terms with those prefixes are scored but not counted in document length.

The reference is Okapi BM25 written out in numpy (rank_bm25's formula, epsilon floor included)
with each document's length counted by hand; without skips the index equals rank_bm25.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from gyeol.config import BM25
from gyeol.errors import InvalidInputError
from gyeol.lexical import BM25Index, KiwiTokenizer

SKIPS = ("\x01", "\x02")


def corpus(n_docs: int, seed: int) -> list[list[str]]:
    """Documents of plain words plus "\x01"/"\x02" terms, in random proportions so lengths differ."""
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(40)]
    docs = []
    for _ in range(n_docs):
        plain = list(rng.choice(words, size=rng.integers(1, 12)))
        extra = [f"{rng.choice(SKIPS)}{rng.choice(words)}" for _ in range(rng.integers(0, 25))]
        doc = plain + extra
        rng.shuffle(doc)
        docs.append([str(t) for t in doc])
    return docs


def okapi_reference(docs: list[list[str]], query: list[str], p: BM25, skips: tuple[str, ...]) -> np.ndarray:
    """Okapi BM25 by hand: length = the terms not starting with a skip prefix."""
    n = len(docs)
    lengths = np.array([sum(not t.startswith(skips) for t in d) for d in docs], dtype=np.float64)
    avgdl = lengths.mean()
    vocab = sorted({t for d in docs for t in d})
    df = {t: sum(t in d for d in docs) for t in vocab}
    raw = {t: np.log(n - df[t] + 0.5) - np.log(df[t] + 0.5) for t in vocab}
    mean_idf = np.mean(list(raw.values()))
    scores = np.zeros(n)
    for term in query:
        if term not in df:
            continue
        idf = raw[term] if raw[term] >= 0 else p.epsilon * mean_idf
        tf = np.array([d.count(term) for d in docs], dtype=np.float64)
        scores += idf * tf * (p.k1 + 1) / (tf + p.k1 * (1 - p.b + p.b * lengths / avgdl))
    return scores


QUERIES = [["w1", "\x01w1"], ["w3", "w3", "\x02w5"], ["\x01w7"], ["w0", "w39", "\x01w2", "\x02w2"]]


@pytest.mark.parametrize("params", [BM25(), BM25(k1=1.2, b=0.9)], ids=["default", "k1=1.2-b=0.9"])
def test_scores_equal_the_hand_reference(params):
    docs = corpus(120, seed=3)
    index = BM25Index(params, SKIPS)
    for part in np.array_split(np.arange(len(docs)), 3):  # lengths are counted per add batch too
        index.add([docs[i] for i in part])
    for query in QUERIES:
        np.testing.assert_allclose(index.get_scores(query), okapi_reference(docs, query, params, SKIPS), atol=1e-9)
    # the rule matters here: counting every term gives other scores, and those are rank_bm25's
    plain = BM25Index(params)
    plain.add(docs)
    assert not np.allclose(plain.get_scores(QUERIES[0]), index.get_scores(QUERIES[0]))
    np.testing.assert_allclose(plain.get_scores(QUERIES[0]), okapi_reference(docs, QUERIES[0], params, ()),
                               atol=1e-9)
    np.testing.assert_allclose(plain.get_scores(QUERIES[0]),
                               BM25Okapi(docs, k1=params.k1, b=params.b).get_scores(QUERIES[0]), atol=1e-9)


def test_deletes_reloads_and_later_adds_keep_the_rule(tmp_path: Path):
    docs = corpus(90, seed=5)
    index = BM25Index(BM25(), SKIPS)
    index.add(docs[:60])
    index.delete(np.array([4, 9, 33]))
    index.save(tmp_path, generation=1)
    loaded = BM25Index.load(tmp_path, 1, BM25(), max_labels=100, length_skips=SKIPS)
    assert loaded is not None
    loaded.add(docs[60:])
    live = [i for i in range(90) if i not in (4, 9, 33)]
    for query in QUERIES:
        want = okapi_reference([docs[i] for i in live], query, BM25(), SKIPS)
        np.testing.assert_allclose(loaded.get_scores(query)[live], want, atol=1e-9)


def test_documents_of_skipped_terms_only():
    index = BM25Index(BM25(), SKIPS)
    index.add([["\x01ab"], ["\x01ab", "\x01bc"], []])
    assert index.avgdl == 0.0
    scores = index.get_scores(["\x01bc"])
    assert np.isfinite(scores).all() and scores[1] > 0 and scores[0] == scores[2] == 0


def test_bad_length_skips_are_refused():
    for bad in (["\x01"], ("",), ("\x01", 2), "\x01"):
        with pytest.raises(InvalidInputError, match="length_skips must be a tuple of non-empty str"):
            BM25Index(BM25(), bad)  # type: ignore[arg-type]


def test_the_default_kiwi_tokenizer_leaves_bigrams_and_pairs_out_of_lengths():
    tok = KiwiTokenizer()
    terms = tok.tokenize("파일 관리자를 엽니다")
    index = BM25Index(BM25(), tok.length_skips)
    index.add([terms])
    morphemes = [t for t in terms if not t.startswith(("\x01", "\x02"))]
    assert len(morphemes) < len(terms) and index.avgdl == len(morphemes)  # each morpheme counted 3 times


# ----------------------------------------------------------------------------- through a collection

TEXTS = ["파일 관리자에서 파일을 엽니다", "Open the file manager to browse files",
         "파일 관리자 설정을 바꾸려면 메뉴를 엽니다", "Writer 문서의 글꼴을 바꿉니다",
         "Change the font of a Writer document", "관리자 권한"]
OLD_DEFAULT = dict(doc_length="terms", load_typo_dict=True, load_multi_dict=True)  # describes as before


@pytest.mark.parametrize("options, skips", [({}, SKIPS), (OLD_DEFAULT, ())], ids=["default", "old default"])
def test_collection_keyword_scores_follow_the_stored_rule(tmp_path: Path, options, skips):
    import gyeol

    from conftest import HashEmbedder

    tok = KiwiTokenizer(**options)
    if not skips:  # a collection made before doc_length existed stored exactly this description
        assert "doc_length" not in tok.describe() and "load_typo_dict" not in tok.describe()
    db = gyeol.connect(tmp_path / "db")
    col = db.create_collection("c", embedder=HashEmbedder(), tokenizer=tok)
    col.add(TEXTS[:4], ids=[f"d{i}" for i in range(4)])
    col.search("파일", mode="keyword")  # builds (and later saves) the BM25 index
    db.close()
    db = gyeol.connect(tmp_path / "db")  # reopened: the tokenizer comes back from the stored description
    col = db.get_collection("c", embedder=HashEmbedder())
    col.add(TEXTS[4:], ids=["d4", "d5"])
    terms = [tok.tokenize(t) for t in TEXTS]
    for query in ("파일 관리자", "Writer font", "관리자 문서"):
        want = okapi_reference(terms, tok.tokenize(query), BM25(), skips)
        res = col.search(query, mode="keyword", k=10)
        assert res.ids
        for hit in res:
            assert hit.score == pytest.approx(want[int(hit.id[1:])], abs=1e-9)
        best = int(np.argmax(want))
        assert res.ids[0] == f"d{best}"
    db.close()
