"""BM25Index against rank_bm25 (and a direct numpy formula for lucene)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25L, BM25Okapi, BM25Plus

from gyeol.config import BM25
from gyeol.errors import InvalidInputError
from gyeol.lexical import BM25Index
from gyeol.lexical import bm25 as bm25_module

VOCAB = [f"w{i}" for i in range(3000)]


def zipf_corpus(n_docs: int, seed: int, vocab: list[str] = VOCAB) -> list[list[str]]:
    """Documents of Zipf-distributed terms: a few terms sit in most documents (negative idf)."""
    rng = np.random.default_rng(seed)
    ranks = np.arange(1, len(vocab) + 1)
    probs = 1.0 / ranks**1.1
    probs /= probs.sum()
    lengths = rng.integers(0, 60, size=n_docs)
    lengths[rng.random(n_docs) < 0.02] = 0  # some empty documents
    draws = rng.choice(len(vocab), size=int(lengths.sum()), p=probs)
    out, pos = [], 0
    for length in lengths:
        out.append([vocab[i] for i in draws[pos : pos + length]])
        pos += length
    return out


def make_queries(seed: int, n: int = 25) -> list[list[str]]:
    rng = np.random.default_rng(seed)
    queries = []
    for _ in range(n):
        terms = [VOCAB[int(i)] for i in rng.zipf(1.3, size=rng.integers(1, 6)) % len(VOCAB)]
        if rng.random() < 0.4:
            terms.append(terms[0])  # a repeated query term counts twice
        if rng.random() < 0.3:
            terms.append("never-seen")
        queries.append(terms)
    queries.append(["w0", "w0", "w1"])  # the most frequent terms: okapi's epsilon floor
    queries.append(["w2999", "w1500", "missing"])
    return queries


REFERENCES = {
    "okapi": lambda corpus, p: BM25Okapi(corpus, k1=p.k1, b=p.b, epsilon=p.epsilon),
    "bm25l": lambda corpus, p: BM25L(corpus, k1=p.k1, b=p.b, delta=p.effective_delta),
    "bm25plus": lambda corpus, p: BM25Plus(corpus, k1=p.k1, b=p.b, delta=p.effective_delta),
}

PARAMS = [
    BM25(variant="okapi"),
    BM25(variant="okapi", k1=1.2, b=0.5, epsilon=0.1),
    BM25(variant="bm25l"),
    BM25(variant="bm25l", k1=0.9, b=0.4, delta=0.3),
    BM25(variant="bm25plus"),
    BM25(variant="bm25plus", k1=2.0, b=1.0, delta=0.5),
]


def lucene_scores(corpus: list[list[str]], query: list[str], p: BM25) -> np.ndarray:
    """Lucene's idf with Okapi's tf part, written out directly."""
    n = len(corpus)
    lengths = np.array([len(d) for d in corpus], dtype=np.float64)
    avgdl = lengths.mean()
    scores = np.zeros(n)
    for term in query:
        tf = np.array([d.count(term) for d in corpus], dtype=np.float64)
        df = np.count_nonzero(tf)
        if df == 0:
            continue
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        scores += idf * tf * (p.k1 + 1) / (tf + p.k1 * (1 - p.b + p.b * lengths / avgdl))
    return scores


def reference_scores(corpus: list[list[str]], query: list[str], p: BM25) -> np.ndarray:
    if p.variant == "lucene":
        return lucene_scores(corpus, query, p)
    return np.asarray(REFERENCES[p.variant](corpus, p).get_scores(query))


def expected_top(corpus: list[list[str]], scores: np.ndarray, query: list[str], k: int,
                 labels: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Best k among documents holding a query term, score desc then label asc."""
    labels = np.arange(len(corpus)) if labels is None else labels
    qset = set(query)
    has = np.array([bool(qset.intersection(d)) for d in corpus], dtype=bool)
    cand_scores, cand_labels = scores[has], labels[has]
    order = np.lexsort((cand_labels, -cand_scores))[:k]
    return cand_scores[order], cand_labels[order]


def assert_top_k(scores: np.ndarray, labels: np.ndarray, want_scores: np.ndarray, want_labels: np.ndarray,
                 ref_of: dict[int, float], k: int, tol: float = 1e-6) -> None:
    """Our top-k equals the expected one, allowing swaps among scores equal up to rounding."""
    assert len(labels) == len(want_labels) == min(k, len(want_labels))
    np.testing.assert_allclose(scores, want_scores, atol=tol)  # the same score at each rank
    np.testing.assert_allclose(scores, [ref_of[int(label)] for label in labels], atol=tol)
    assert len(set(labels.tolist())) == len(labels)
    clear = want_scores > (want_scores[-1] + tol if len(want_scores) else 0)
    assert set(want_labels[clear].tolist()) <= set(labels.tolist())  # all but boundary ties agree
    assert (np.diff(scores) <= 0).all()


@pytest.fixture(scope="module")
def corpus() -> list[list[str]]:
    return zipf_corpus(3000, seed=7)


@pytest.fixture(scope="module")
def queries() -> list[list[str]]:
    return make_queries(seed=11)


def build(corpus: list[list[str]], params: BM25, batches: int = 1) -> BM25Index:
    index = BM25Index(params)
    for part in np.array_split(np.arange(len(corpus)), batches):
        index.add([corpus[i] for i in part])
    return index


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")
@pytest.mark.parametrize("params", PARAMS, ids=lambda p: f"{p.variant}-k1={p.k1}-b={p.b}")
def test_scores_equal_rank_bm25(corpus, queries, params):
    index = build(corpus, params, batches=5)  # several adds: tail chunks and merges
    reference = REFERENCES[params.variant](corpus, params)
    assert index.n_labels == len(corpus)
    empty = np.array([len(d) == 0 for d in corpus])
    for query in queries:
        ours, ref = index.get_scores(query), np.asarray(reference.get_scores(query))
        # rank_bm25's BM25Plus divides 0 by 0 for an empty document when b == 1; we give it idf*delta
        undefined = np.isnan(ref)
        assert (undefined <= empty).all() and np.isfinite(ours).all()
        np.testing.assert_allclose(ours[~undefined], ref[~undefined], rtol=0, atol=1e-6)


def test_okapi_floor_is_exercised(corpus):
    reference = BM25Okapi(corpus)
    assert reference.idf["w0"] == pytest.approx(0.25 * reference.average_idf)  # negative idf floored
    np.testing.assert_allclose(build(corpus, BM25()).get_scores(["w0"]), reference.get_scores(["w0"]), atol=1e-9)


@pytest.mark.parametrize("k1,b", [(1.5, 0.75), (1.2, 0.3)])
def test_lucene_matches_direct_formula(corpus, queries, k1, b):
    params = BM25(variant="lucene", k1=k1, b=b)
    index = build(corpus, params)
    for query in queries[:10]:
        np.testing.assert_allclose(index.get_scores(query), lucene_scores(corpus, query, params), atol=1e-6)


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus", "lucene"])
def test_search_is_top_k_of_reference_scores(corpus, queries, variant):
    params = BM25(variant=variant)
    index = build(corpus, params, batches=3)
    for query in queries:
        ref = reference_scores(corpus, query, params)
        for k in (1, 10, 5000):
            hits = index.search(query, k)
            scores, labels = hits.scores, hits.labels
            want_scores, want_labels = expected_top(corpus, ref, query, k)
            assert labels.dtype == np.int64 and scores.dtype == np.float64
            assert_top_k(scores, labels, want_scores, want_labels, dict(enumerate(ref.tolist())), k)


def test_ties_break_by_label():
    index = build([["a"], ["b"], ["a"], ["a"], ["c"]], BM25())
    hits = index.search(["a"], 2)
    scores, labels = hits.scores, hits.labels
    np.testing.assert_array_equal(labels, [0, 2])
    assert scores[0] == scores[1]
    hits = index.search(["a"], 10)
    scores, labels = hits.scores, hits.labels
    np.testing.assert_array_equal(labels, [0, 2, 3])


def test_zero_score_hit_is_returned_and_non_hits_are_not():
    # "b" is in exactly half of the documents: okapi idf is exactly 0, still a keyword hit
    index = build([["a", "b"], ["b"], ["c"], ["d"]], BM25())
    hits = index.search(["b"], 10)
    scores, labels = hits.scores, hits.labels
    np.testing.assert_array_equal(labels, [0, 1])
    np.testing.assert_array_equal(scores, [0.0, 0.0])


@pytest.mark.parametrize("variant", ["okapi", "bm25plus", "lucene"])
def test_unknown_and_empty_queries(corpus, variant):
    index = build(corpus, BM25(variant=variant))
    for query in ([], ["never-seen"], ["x", "y"]):
        hits = index.search(query, 10)
        scores, labels = hits.scores, hits.labels
        assert len(scores) == len(labels) == 0
        assert not index.get_scores(query).any()
    hits = BM25Index(BM25()).search(["w1"], 5)
    scores, labels = hits.scores, hits.labels
    assert len(labels) == 0


def surviving_reference(corpus_by_label: list[list[str]], live: np.ndarray, query: list[str], params: BM25):
    live_labels = np.flatnonzero(live)
    survivors = [corpus_by_label[i] for i in live_labels]
    return live_labels, survivors, reference_scores(survivors, query, params)


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus", "lucene"])
def test_deletes_and_upserts_equal_fresh_index(corpus, queries, variant):
    params = BM25(variant=variant)
    rng = np.random.default_rng(3)
    index = build(corpus, params)
    by_label = list(corpus)
    live = np.ones(len(corpus), dtype=bool)
    for round_ in range(3):
        victims = rng.choice(len(by_label), size=300, replace=False)
        index.delete(victims)
        index.delete(victims[:50])  # idempotent
        live[victims] = False
        # an upsert: replaced documents come back as new labels with new text
        new_docs = zipf_corpus(200, seed=100 + round_)
        index.add(new_docs)
        by_label.extend(new_docs)
        live = np.concatenate([live, np.ones(len(new_docs), dtype=bool)])
        assert index.n_labels == len(by_label) and index.n_live == int(live.sum())
        for query in queries[:12]:
            live_labels, survivors, ref = surviving_reference(by_label, live, query, params)
            full = index.get_scores(query)
            assert not full[~live].any()
            np.testing.assert_allclose(full[live_labels], ref, atol=1e-6)
            hits = index.search(query, 10)
            scores, labels = hits.scores, hits.labels
            want_scores, want_labels = expected_top(survivors, ref, query, 10, live_labels)
            assert_top_k(scores, labels, want_scores, want_labels, dict(zip(live_labels.tolist(), ref.tolist())), 10)
    # the same stats as an index built from the survivors alone
    fresh = build([by_label[i] for i in np.flatnonzero(live)], params)
    for query in queries[:5]:
        np.testing.assert_allclose(index.get_scores(query)[live], fresh.get_scores(query), atol=1e-9)


def test_delete_every_document_of_a_term(corpus):
    index = build([["a", "x"], ["a"], ["b"], ["c", "b"]], BM25())
    index.delete(np.array([0, 1]))
    assert len(index.search(["a"], 5).labels) == 0
    index.delete(np.arange(4))
    assert index.n_live == 0 and len(index.search(["b"], 5).labels) == 0
    index.add([["a"], ["z"]])
    np.testing.assert_array_equal(index.search(["a"], 5).labels, [4])


def test_many_small_adds_merge_tail(corpus, queries, monkeypatch):
    monkeypatch.setattr(bm25_module, "_TAIL_MAX_CHUNKS", 4)
    index = BM25Index(BM25())
    for start in range(0, 1000, 37):
        index.add(corpus[start : start + 37])
        if start == 370:
            index.delete(np.arange(0, 100, 3))
    live = np.ones(index.n_labels, dtype=bool)
    live[np.arange(0, 100, 3)] = False
    assert len(index._tail) <= 4
    for query in queries[:8]:
        live_labels, survivors, ref = surviving_reference(corpus[: index.n_labels], live, query, BM25())
        np.testing.assert_allclose(index.get_scores(query)[live_labels], ref, atol=1e-6)


@pytest.mark.parametrize("variant", ["okapi", "bm25plus"])
def test_allowed_mask(corpus, queries, variant):
    params = BM25(variant=variant)
    index = build(corpus, params)
    index.delete(np.arange(0, 3000, 7))
    rng = np.random.default_rng(5)
    allowed = rng.random(len(corpus)) < 0.3
    live = np.ones(len(corpus), dtype=bool)
    live[np.arange(0, 3000, 7)] = False
    for query in queries:
        full = index.get_scores(query)  # stats from every live doc, whatever the mask
        qset = set(query)
        hit = np.array([bool(qset.intersection(d)) for d in corpus]) & live & allowed
        cand = np.flatnonzero(hit)
        order = np.lexsort((cand, -full[cand]))[:10]
        hits = index.search(query, 10, allowed=allowed)
        scores, labels = hits.scores, hits.labels
        np.testing.assert_array_equal(labels, cand[order])
        np.testing.assert_allclose(scores, full[cand[order]], atol=1e-12)
        assert allowed[labels].all()
    nothing = np.zeros(len(corpus), dtype=bool)
    assert len(index.search(["w0"], 10, allowed=nothing).labels) == 0


def test_save_load_round_trip(tmp_path: Path, corpus, queries):
    params = BM25(variant="okapi")
    index = build(corpus[:2000], params, batches=4)
    index.delete(np.arange(0, 2000, 11))
    index.save(tmp_path, generation=3)
    loaded = BM25Index.load(tmp_path, 3, params, max_labels=5000)
    assert loaded is not None and loaded.n_labels == 2000 and loaded.n_live == index.n_live
    assert isinstance(loaded._post_doc.base, np.memmap) and not loaded._post_doc.flags.writeable  # mapped
    for query in queries:
        np.testing.assert_array_equal(loaded.get_scores(query), index.get_scores(query))
    # writes after load copy the memory-mapped arrays, never touch the files
    loaded.add(corpus[2000:])
    loaded.delete(np.array([1, 2, 2500]))
    live = np.ones(len(corpus), dtype=bool)
    live[np.arange(0, 2000, 11)] = False
    live[[1, 2, 2500]] = False
    for query in queries:
        live_labels, _, ref = surviving_reference(corpus, live, query, params)
        np.testing.assert_allclose(loaded.get_scores(query)[live_labels], ref, atol=1e-6)
    again = BM25Index.load(tmp_path, 3, params, max_labels=5000)
    assert again is not None and again.n_labels == 2000
    # other parameters apply at load: the arrays do not depend on them
    plus = BM25Index.load(tmp_path, 3, BM25(variant="bm25plus"), max_labels=5000)
    live_at_save = np.ones(2000, dtype=bool)
    live_at_save[np.arange(0, 2000, 11)] = False
    live_labels, _, ref = surviving_reference(corpus[:2000], live_at_save, queries[0], BM25(variant="bm25plus"))
    np.testing.assert_allclose(plus.get_scores(queries[0])[live_labels], ref, atol=1e-6)
    # a second save replaces the first and leaves only its own arrays
    loaded.save(tmp_path, generation=4)
    meta = json.loads((tmp_path / "bm25.json").read_bytes())
    assert sorted(p.name for p in tmp_path.glob("bm25.*.npy")) == sorted(f["file"] for f in meta["files"].values())
    assert BM25Index.load(tmp_path, 4, params, max_labels=len(corpus)).n_live == loaded.n_live


@pytest.mark.parametrize("variant", ["okapi", "lucene"])
def test_a_save_newer_than_the_snapshot_loads_cut_to_it(tmp_path: Path, corpus, queries, variant):
    """A reader whose snapshot predates the writer's save gets the first max_labels labels, scored as
    an index of those alone (rank_bm25's reference), deletes and deltas included."""
    from gyeol.lexical.counts import count_terms
    from gyeol.lexical.deltas import append_delta

    params = BM25(variant=variant)
    index = build(corpus[:400], params, batches=3)
    index.delete(np.array([3, 150, 399]))
    index.save(tmp_path, generation=1)
    assert append_delta(tmp_path, count_terms(corpus[400:450]), 400, 1, None)
    live = np.ones(450, bool)
    live[[3, 150, 399]] = False
    for max_labels in (450, 420, 300):
        loaded = BM25Index.load(tmp_path, 1, params, max_labels=max_labels)
        assert loaded.n_labels == max_labels
        for query in queries[:5]:
            live_labels, _, ref = surviving_reference(corpus[:max_labels], live[:max_labels], query, params)
            np.testing.assert_allclose(loaded.get_scores(query)[live_labels], ref, atol=1e-6)


def test_subset_renumbers_labels_in_order(corpus, queries):
    params = BM25()
    index = build(corpus[:300], params, batches=4)
    index.delete(np.array([0, 10, 11, 299]))
    keep = np.setdiff1d(np.arange(300), [0, 10, 11, 299])
    small = index.subset(keep)
    fresh = build([corpus[i] for i in keep], params)
    for query in queries[:8]:
        np.testing.assert_allclose(small.get_scores(query), fresh.get_scores(query), rtol=1e-12)
        assert small.search(query, 10).labels.tolist() == fresh.search(query, 10).labels.tolist()
    with pytest.raises(InvalidInputError):
        index.subset(np.array([5, 4]))


def test_load_refuses_what_it_cannot_trust(tmp_path: Path, corpus):
    params = BM25()
    assert BM25Index.load(tmp_path / "nothing-here", 0, params, max_labels=10) is None
    build(corpus[:500], params).save(tmp_path, generation=1)
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is not None
    assert BM25Index.load(tmp_path, 2, params, max_labels=500) is None  # another generation
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is not None

    meta = json.loads((tmp_path / "bm25.json").read_bytes())
    post_doc = tmp_path / meta["files"]["post_doc"]["file"]
    original = post_doc.read_bytes()
    damaged = bytearray(original)
    damaged[-3] ^= 0xFF  # a flipped bit in the data: the checksum catches it
    post_doc.write_bytes(bytes(damaged))
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is None
    post_doc.write_bytes(original[: len(original) // 2])  # truncated
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is None
    post_doc.unlink()  # missing
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is None
    post_doc.write_bytes(original)
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is not None
    (tmp_path / "bm25.json").write_bytes(b'{"format": 1, "generation": ')
    assert BM25Index.load(tmp_path, 1, params, max_labels=500) is None


def test_bad_input_raises_typed_errors(corpus):
    index = build(corpus[:50], BM25())
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search(["w1"], 0)
    with pytest.raises(InvalidInputError, match="allowed must be a bool array"):
        index.search(["w1"], 5, allowed=np.ones(49, dtype=bool))
    with pytest.raises(InvalidInputError, match="allowed must be a bool array"):
        index.search(["w1"], 5, allowed=np.ones(50, dtype=np.int8))
    with pytest.raises(InvalidInputError, match=r"labels must be in \[0, 50\)"):
        index.delete(np.array([3, 50]))
    with pytest.raises(InvalidInputError, match="list of str"):
        index.search("w1", 5)
    with pytest.raises(InvalidInputError, match="must be a list of str"):
        index.add(["not a token list"])
    with pytest.raises(InvalidInputError, match="must be a str"):
        index.add([["ok", 3]])
    with pytest.raises(InvalidInputError):
        BM25Index({"variant": "okapi"})  # type: ignore[arg-type]
    assert index.n_labels == 50  # failed calls changed nothing
    with pytest.raises(InvalidInputError, match="unknown BM25 variant"):
        BM25(variant="tfidf")


def test_empty_index_round_trip(tmp_path: Path):
    BM25Index(BM25()).save(tmp_path, generation=0)
    loaded = BM25Index.load(tmp_path, 0, BM25(), max_labels=0)
    assert loaded is not None and loaded.n_labels == 0 and loaded.vocabulary_size == 0
    loaded.add([["a", "b"], []])
    np.testing.assert_array_equal(loaded.search(["a"], 3).labels, [0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_operation_sequences(tmp_path: Path, seed: int):
    """Random adds, deletes, saves and reloads; after each step scores equal rank_bm25 on the survivors."""
    rng = np.random.default_rng(seed)
    variant = ["okapi", "bm25l", "bm25plus"][seed]
    params = BM25(variant=variant)
    index = BM25Index(params)
    by_label: list[list[str]] = []
    live = np.zeros(0, dtype=bool)
    vocab = VOCAB[:60]
    for step in range(12):
        op = rng.random()
        if op < 0.5 or live.sum() < 5:
            docs = zipf_corpus(int(rng.integers(1, 40)), seed=1000 * seed + step, vocab=vocab)
            index.add(docs)
            by_label.extend(docs)
            live = np.concatenate([live, np.ones(len(docs), dtype=bool)])
        elif op < 0.8:
            victims = rng.choice(len(by_label), size=int(rng.integers(1, 10)))
            index.delete(victims)
            live[victims] = False
        else:
            index.save(tmp_path, generation=step)
            index = BM25Index.load(tmp_path, step, params, max_labels=len(by_label))
        if live.sum() == 0 or sum(len(by_label[i]) for i in np.flatnonzero(live)) == 0:
            continue
        query = [vocab[int(i)] for i in rng.integers(0, len(vocab), size=3)]
        live_labels, _, ref = surviving_reference(by_label, live, query, params)
        np.testing.assert_allclose(index.get_scores(query)[live_labels], ref, atol=1e-6)
        assert not index.get_scores(query)[~live].any()


PATHS = {"dense": dict(DENSE_CELLS=1 << 22, DENSE_FILL=10**9), "sparse": dict(DENSE_CELLS=1 << 22, DENSE_FILL=0),
         "dense-chunks": dict(DENSE_CELLS=3000 * 4, DENSE_FILL=10**9), "auto-chunks": dict(DENSE_CELLS=3000 * 5)}


@pytest.mark.parametrize("variant", ["okapi", "bm25l", "bm25plus", "lucene"])
def test_search_many_is_each_query_ranked_on_its_own(corpus, queries, variant, monkeypatch):
    """Every scoring path (dense rows, sparse keys, blocks of queries) gives each query rank_bm25's top k on the
    live, allowed documents, and the very same floats and order whichever the path."""
    from gyeol.lexical import batch

    params = BM25(variant=variant)
    index = build(corpus, params, batches=3)  # a tail of chunks beside the CSR
    rng = np.random.default_rng(21)
    victims = rng.choice(len(corpus), size=400, replace=False)
    index.delete(victims)
    live = np.ones(len(corpus), dtype=bool)
    live[victims] = False
    allowed = rng.random(len(corpus)) < 0.5
    batch_queries = queries + [["w0"], [], ["never-seen"], ["w5", "w5", "w5"]]
    live_labels, survivors, _ = surviving_reference(corpus, live, [], params)
    refs = [surviving_reference(corpus, live, q, params)[2] for q in batch_queries]
    for mask in (None, allowed):
        for k in (1, 10, 100):
            seen = None
            for path, settings in PATHS.items():
                for name, value in settings.items():
                    monkeypatch.setattr(batch, name, value)
                got = index.search_many(batch_queries, k, allowed=mask)
                assert len(got) == len(batch_queries)
                for query, ref, hits in zip(batch_queries, refs, got):
                    ok = np.ones(len(live_labels), bool) if mask is None else mask[live_labels]
                    want_scores, want_labels = expected_top([survivors[i] for i in np.flatnonzero(ok)], ref[ok],
                                                            query, k, live_labels[ok])
                    assert hits.labels.dtype == np.int64 and hits.scores.dtype == np.float64
                    assert_top_k(hits.scores, hits.labels, want_scores, want_labels,
                                 dict(zip(live_labels.tolist(), ref.tolist())), k)
                flat = [(h.labels.tolist(), h.scores.tolist()) for h in got]
                assert seen is None or flat == seen, path  # bit for bit the same on every path
                seen = flat
            single = [index.search(q, k, allowed=mask) for q in batch_queries]
            assert [(h.labels.tolist(), h.scores.tolist()) for h in single] == seen
            merged = merged_copy(index)  # no tail: search() takes its own lean path (BM25Index._search_one)
            for path, settings in PATHS.items():
                for name, value in settings.items():
                    monkeypatch.setattr(batch, name, value)
                single = [merged.search(q, k, allowed=mask) for q in batch_queries]
                assert [(h.labels.tolist(), h.scores.tolist()) for h in single] == seen, path


def merged_copy(index: BM25Index) -> BM25Index:
    """The same index, its tail merged into the CSR (dead postings kept out), as a save and load would give."""
    copy = BM25Index.from_arrays(index.params, index.export_arrays(), n_labels=index.n_labels,
                                 vocabulary_size=index.vocabulary_size)
    assert not copy._tail
    return copy


@pytest.mark.parametrize("path", list(PATHS))
def test_search_many_breaks_ties_by_label(path, monkeypatch):
    from gyeol.lexical import batch

    for name, value in PATHS[path].items():
        monkeypatch.setattr(batch, name, value)
    docs = [["a", "b"], ["b"], ["a", "b"], ["a", "b"], ["c"], ["a", "b"]] * 50
    index = build(docs, BM25())
    for hits in index.search_many([["a", "b"], ["b", "a", "zz"], ["c"]], 3):
        assert hits.scores[0] == hits.scores[-1]
        assert hits.labels.tolist() == sorted(hits.labels.tolist())
    got = index.search_many([["a"], ["c"], ["a", "c"]], 3)
    assert got[0].labels.tolist() == [0, 2, 3] and got[1].labels.tolist() == [4, 10, 16]
    assert got[2].labels.tolist() == [4, 10, 16]  # "c" is the rarer term


def test_search_many_bad_input():
    index = build([["a"], ["b"]], BM25())
    with pytest.raises(InvalidInputError, match="k must be a positive integer"):
        index.search_many([["a"]], 0)
    with pytest.raises(InvalidInputError, match="list of str"):
        index.search_many(["a"], 3)
    with pytest.raises(InvalidInputError, match="list of token lists"):
        index.search_many("a", 3)
    with pytest.raises(InvalidInputError, match="allowed must be a bool array"):
        index.search_many([["a"]], 3, allowed=np.ones(3, bool))
    assert index.search_many([], 3) == []
