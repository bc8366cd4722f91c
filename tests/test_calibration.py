"""Auto fusion (gyeol.calibration) against hand-computed cases and a plain-Python reference."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gyeol.calibration import (
    AUTO_DEFAULTS,
    BASE_ALPHA,
    LOW_ALPHA,
    MIN_SAMPLES,
    AutoFusion,
    auto_depth,
    calibrate,
    calibration_sample,
    fuse_auto,
    prior_alpha,
    pseudo_query,
    side_weight,
)
from gyeol.errors import InvalidInputError
from gyeol.fusion import relative_score, rrf
from gyeol.ranked import Ranked


def reference_fuse(vl, vs, kl, ks, k, alpha, sharpness):
    """The module docstring's rule in plain Python: dicts and loops, no shared helpers."""
    depth = max(2 * k, 20)
    vl, vs, kl, ks = list(vl)[:depth], list(vs)[:depth], list(kl)[:depth], list(ks)[:depth]

    def standardise(scores, pad):
        if not scores:
            return [], 0.0
        fill = min(0.0, min(scores))  # BM25 scores are >= 0: zeros, never above a listed score
        ref = scores + [fill] * (depth - len(scores)) if pad and len(scores) < depth else scores
        mean = sum(ref) / len(ref)
        std = math.sqrt(sum((x - mean) ** 2 for x in ref) / len(ref))
        if std == 0:
            return [0.0] * len(scores), 0.0
        z = [(x - mean) / std for x in scores]
        floor = (fill - mean) / std if pad and len(scores) < depth else min(z)
        return z, floor

    zv, fv = standardise(vs, pad=False)
    zk, fk = standardise(ks, pad=True)
    if not zv:
        wv = 0.0
    elif not zk:
        wv = 1.0
    elif alpha in (0.0, 1.0) or sharpness == 0:
        wv = alpha
    else:
        tv, tk = max(max(zv), 1e-6) ** sharpness, max(max(zk), 1e-6) ** sharpness
        wv = alpha * tv / (alpha * tv + (1 - alpha) * tk)
    fused = {}
    for doc in set(vl) | set(kl):
        v = zv[vl.index(doc)] if doc in vl else fv
        kw = zk[kl.index(doc)] if doc in kl else fk
        fused[doc] = (wv * v if wv else 0.0) + ((1 - wv) * kw if wv != 1 else 0.0)
    ranked = sorted(fused, key=lambda d: (-fused[d], d))[:k]
    return ranked, [fused[d] for d in ranked], wv


def random_side(rng, n_docs, length, keyword):
    labels = rng.choice(n_docs, size=length, replace=False)
    scores = np.sort(rng.uniform(0.5, 12.0, length) if keyword else rng.uniform(-0.2, 0.9, length))[::-1]
    return labels.astype(np.int64), scores


# ----------------------------------------------------------------------------- fuse_auto


def test_hand_computed_fixed_weights():
    # k=1: depth 20. Vector (3 hits, not padded): mean 0.5, std sqrt(0.32/3); z = +-1.2247, 0.
    # Keyword [4, 2] padded with 18 zeros: mean 0.3, std sqrt(0.91); z(4)=3.8787, z(2)=1.7822, z(0)=-0.3145.
    params = AutoFusion(alpha=0.5, sharpness=0.0)
    out = fuse_auto([1, 2, 3], [0.9, 0.5, 0.1], [3, 4], [4.0, 2.0], 4, params)
    sv, sk = math.sqrt(0.32 / 3), math.sqrt(0.91)
    zv = {1: 0.4 / sv, 2: 0.0, 3: -0.4 / sv}
    zk = {3: 3.7 / sk, 4: 1.7 / sk}
    expected = {d: 0.5 * zv.get(d, -0.4 / sv) + 0.5 * zk.get(d, -0.3 / sk) for d in (1, 2, 3, 4)}
    # 3: -0.612 + 1.939 = 1.327; 1: 0.612 - 0.157 = 0.455; 4: -0.612 + 0.891 = 0.279; 2: 0 - 0.157
    assert out.labels.tolist() == [3, 1, 4, 2]
    assert np.allclose(out.scores, [expected[d] for d in (3, 1, 4, 2)])
    assert np.allclose(out.scores, [1.3270, 0.4551, 0.2787, -0.1572], atol=1e-4)
    assert out.vector_weight == 0.5 and out.keyword_weight == 0.5


def test_hand_computed_per_query_weight():
    out = fuse_auto([1, 2, 3], [0.9, 0.5, 0.1], [3, 4], [4.0, 2.0], 4, AutoFusion(alpha=0.5, sharpness=2.0))
    top_v, top_k = (0.4 / math.sqrt(0.32 / 3)) ** 2, (3.7 / math.sqrt(0.91)) ** 2  # 1.5 and 15.04
    assert out.vector_weight == pytest.approx(top_v / (top_v + top_k))
    assert out.vector_weight + out.keyword_weight == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 15))
    vl, vs = random_side(rng, 60, int(rng.integers(0, 2 * k + 25)), keyword=False)
    kl, ks = random_side(rng, 60, int(rng.integers(0, 2 * k + 25)), keyword=True)
    params = AutoFusion(alpha=float(rng.choice([0.0, 0.2, 0.5, 0.9, 1.0])), sharpness=float(rng.choice([0, 1, 2])))
    out = fuse_auto(vl, vs, kl, ks, k, params)
    labels, scores, wv = reference_fuse(vl, vs, kl, ks, k, params.alpha, params.sharpness)
    assert out.labels.tolist() == labels
    assert np.allclose(out.scores, scores)
    assert out.vector_weight == pytest.approx(wv)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_empty_keyword_side_ranks_as_vector_side_and_as_explicit_alpha(alpha):
    rng = np.random.default_rng(1)
    vl, vs = random_side(rng, 100, 30, keyword=False)
    empty_l, empty_s = np.empty(0, np.int64), np.empty(0)
    out = fuse_auto(vl, vs, empty_l, empty_s, 10, AutoFusion(alpha=alpha))
    assert out.labels.tolist() == vl[:10].tolist()
    assert out.labels.tolist() == relative_score([Ranked(vl, vs), Ranked(empty_l, empty_s)], [alpha, 1 - alpha]).labels[:10].tolist()
    assert out.labels.tolist() == rrf([Ranked(vl, vs), Ranked(empty_l, empty_s)], [alpha, 1 - alpha]).labels[:10].tolist()
    assert (out.vector_weight, out.keyword_weight) == (1.0, 0.0)


@pytest.mark.parametrize("alpha", [0.1, 0.5, 0.9])
def test_empty_vector_side_ranks_as_keyword_side_and_as_explicit_alpha(alpha):
    rng = np.random.default_rng(2)
    kl, ks = random_side(rng, 100, 7, keyword=True)  # shorter than k and than the depth
    empty_l, empty_s = np.empty(0, np.int64), np.empty(0)
    out = fuse_auto(empty_l, empty_s, kl, ks, 10, AutoFusion(alpha=alpha))
    assert out.labels.tolist() == kl.tolist()
    assert out.labels.tolist() == relative_score([Ranked(empty_l, empty_s), Ranked(kl, ks)], [alpha, 1 - alpha]).labels[:10].tolist()
    assert out.labels.tolist() == rrf([Ranked(empty_l, empty_s), Ranked(kl, ks)], [alpha, 1 - alpha]).labels[:10].tolist()
    assert (out.vector_weight, out.keyword_weight) == (0.0, 1.0)


def test_negative_keyword_scores_are_never_padded_above_a_hit():
    # a scorer with negative scores: the short list is padded with its lowest score, not with zero
    out = fuse_auto([7, 8], [0.5, 0.4], [1, 2], [-1.0, -3.0], 4, AutoFusion(alpha=0.5, sharpness=0.0))
    labels, scores, _ = reference_fuse([7, 8], [0.5, 0.4], [1, 2], [-1.0, -3.0], 4, 0.5, 0.0)
    assert out.labels.tolist() == labels and np.allclose(out.scores, scores)
    by_label = dict(zip(out.labels.tolist(), out.scores.tolist()))
    assert by_label[1] > by_label[2]


def test_both_sides_empty():
    out = fuse_auto([], [], [], [], 5)
    assert out.labels.tolist() == [] and out.scores.tolist() == []
    assert out.labels.dtype == np.int64


def test_alpha_one_and_zero_follow_one_side():
    rng = np.random.default_rng(3)
    vl, vs = random_side(rng, 80, 20, keyword=False)
    kl, ks = random_side(rng, 80, 20, keyword=True)
    assert fuse_auto(vl, vs, kl, ks, 10, AutoFusion(alpha=1.0)).labels.tolist() == vl[:10].tolist()
    assert fuse_auto(vl, vs, kl, ks, 10, AutoFusion(alpha=0.0)).labels.tolist() == kl[:10].tolist()


def test_deterministic_and_ties_to_smaller_label():
    # identical scores on both sides for 5 and 9: a tie broken by the smaller label
    args = ([9, 5, 1], [0.8, 0.8, 0.1], [5, 9, 2], [3.0, 3.0, 1.0], 3)
    first = fuse_auto(*args)
    for _ in range(3):
        again = fuse_auto(*args)
        assert again.labels.tolist() == first.labels.tolist() and np.array_equal(again.scores, first.scores)
    assert first.labels.tolist()[:2] == [5, 9]


def test_hits_past_the_depth_are_ignored():
    rng = np.random.default_rng(4)
    vl, vs = random_side(rng, 200, 60, keyword=False)
    kl, ks = random_side(rng, 200, 60, keyword=True)
    depth = auto_depth(10)
    a = fuse_auto(vl, vs, kl, ks, 10)
    b = fuse_auto(vl[:depth], vs[:depth], kl[:depth], ks[:depth], 10)
    assert a.labels.tolist() == b.labels.tolist() and np.allclose(a.scores, b.scores)
    assert auto_depth(10) == 20 and auto_depth(15) == 30 and auto_depth(1) == 20


def test_inputs_are_not_mutated():
    vl, vs = np.array([3, 1, 2]), np.array([0.9, 0.4, 0.2])
    kl, ks = np.array([2, 7]), np.array([5.0, 1.0])
    copies = [x.copy() for x in (vl, vs, kl, ks)]
    fuse_auto(vl, vs, kl, ks, 2)
    assert all(np.array_equal(x, c) for x, c in zip((vl, vs, kl, ks), copies))


def test_agreement_on_top_document_puts_it_first():
    out = fuse_auto([4, 1, 2, 3], [0.9, 0.3, 0.2, 0.1], [4, 5], [9.0, 1.0], 3)
    assert out.labels[0] == 4


@pytest.mark.parametrize(
    "args",
    [
        ([1, 2], [0.5], [], [], 5),  # lengths differ
        ([1, 2], [0.5, np.nan], [], [], 5),  # NaN score
        ([], [], [1.5], [2.0], 5),  # non-integer label
        ([1, 1], [0.5, 0.4], [], [], 5),  # repeated label
        ([[1]], [[0.5]], [], [], 5),  # 2-d
        ([1], ["x"], [], [], 5),  # non-numeric score
        ([1], [0.5], [], [], 0),  # k
        ([1], [0.5], [], [], True),
    ],
)
def test_bad_input_raises(args):
    with pytest.raises(InvalidInputError):
        fuse_auto(*args)


def test_bad_params_raise():
    with pytest.raises(InvalidInputError):
        fuse_auto([1], [0.5], [], [], 5, params={"alpha": 0.5})
    for bad in ({"alpha": 1.5}, {"alpha": -0.1}, {"alpha": True}, {"sharpness": -1}, {"sharpness": math.inf},
                {"vector_mrr": 2.0}, {"samples": -1}):
        with pytest.raises(InvalidInputError):
            AutoFusion(**bad)


# ----------------------------------------------------------------------------- parameters and calibration


def test_params_json_round_trip():
    params = AutoFusion(alpha=0.3, sharpness=1.0, vector_mrr=0.75, keyword_mrr=0.99, samples=100)
    restored = AutoFusion.from_json(json.loads(json.dumps(params.to_json())))
    assert restored == params
    assert AutoFusion.from_json(AUTO_DEFAULTS.to_json()) == AUTO_DEFAULTS
    with pytest.raises(InvalidInputError):
        AutoFusion.from_json({"alpha": 0.5, "beta": 1})
    with pytest.raises(InvalidInputError):
        AutoFusion.from_json([0.5])


def test_side_weight():
    z = np.array([2.0, 0.0, -2.0])
    assert side_weight(z, z, AutoFusion(alpha=0.3)) == pytest.approx(0.3)
    assert side_weight(z, 2 * z, AutoFusion(alpha=0.5, sharpness=2.0)) == pytest.approx(1 / 5)
    assert side_weight(np.zeros(3), z) == pytest.approx(0.0, abs=1e-9)  # a flat list carries no signal
    assert side_weight(np.empty(0), z) == 0.0 and side_weight(z, np.empty(0)) == 1.0


def test_prior_alpha():
    assert prior_alpha(0.99, 0.99) == BASE_ALPHA
    assert prior_alpha(1.0, 0.6) == BASE_ALPHA  # a stronger vector side is never favoured on these queries
    assert prior_alpha(0.90, 1.0) == pytest.approx(BASE_ALPHA)  # within the tolerance
    assert prior_alpha(0.85, 1.0) == pytest.approx((BASE_ALPHA + LOW_ALPHA) / 2)
    assert prior_alpha(0.72, 0.995) == LOW_ALPHA
    with pytest.raises(InvalidInputError):
        prior_alpha(1.2, 0.5)


def test_pseudo_query():
    assert pseudo_query("독감 백신은 가을에 맞는다. 효과는 2주 뒤에 나타난다.") == "독감 백신은 가을에 맞는다."
    assert pseudo_query("Title line\nbody text. More.") == "Title line"
    assert pseudo_query("What is it? It is a thing.") == "What is it?"
    assert pseudo_query("  no end mark  ") == "no end mark"
    assert pseudo_query("x" * 500) == "x" * 200
    assert pseudo_query("   ") == ""
    with pytest.raises(InvalidInputError):
        pseudo_query(None)


def test_calibration_sample_is_deterministic():
    a, b = calibration_sample(1000), calibration_sample(1000)
    assert np.array_equal(a, b) and len(a) == 100 and len(set(a.tolist())) == 100
    assert (np.diff(a) > 0).all() and a.max() < 1000
    assert calibration_sample(7).tolist() == list(range(7))
    assert len(calibration_sample(0)) == 0
    with pytest.raises(InvalidInputError):
        calibration_sample(10, size=0)


def _corpus(n):
    ids = [f"d{i}" for i in range(n)]
    texts = [f"Passage {i} about topic {i}. More words follow here." for i in range(n)]
    return ids, texts


def _searcher(ids, texts, hit_rate):
    """A fake search: finds the passage a pseudo-query came from for the first hit_rate share of queries."""
    by_query = {pseudo_query(t): i for i, t in zip(ids, texts)}
    order = {q: n for n, q in enumerate(by_query)}

    def search(queries):
        out = []
        for q in queries:
            own = by_query[q]
            found = order[q] < hit_rate * len(by_query)
            others = [x for x in ids if x != own][:9]
            out.append([own] + others if found else others)
        return out
    return search


def test_calibrate_keeps_base_alpha_when_both_sides_find_the_passage():
    ids, texts = _corpus(50)
    params = calibrate(_searcher(ids, texts, 1.0), _searcher(ids, texts, 1.0), ids, texts)
    assert params.alpha == BASE_ALPHA and params.vector_mrr == 1.0 and params.keyword_mrr == 1.0
    assert params.samples == 50


def test_calibrate_lowers_alpha_when_the_vector_side_fails():
    ids, texts = _corpus(50)
    params = calibrate(_searcher(ids, texts, 0.6), _searcher(ids, texts, 1.0), ids, texts)
    assert params.vector_mrr == pytest.approx(0.6) and params.keyword_mrr == 1.0
    assert params.alpha == LOW_ALPHA
    assert AutoFusion.from_json(params.to_json()) == params


def test_calibrate_with_few_samples_keeps_base_alpha():
    ids, texts = _corpus(MIN_SAMPLES - 1)
    params = calibrate(_searcher(ids, texts, 0.0), _searcher(ids, texts, 1.0), ids, texts)
    assert params.alpha == BASE_ALPHA and params.vector_mrr == 0.0 and params.samples == MIN_SAMPLES - 1


def test_calibrate_skips_empty_texts_and_checks_its_inputs():
    ids, texts = _corpus(30)
    texts[0] = "   "
    seen = []

    def search(queries):
        seen.append(list(queries))
        return [[ids[1 + i]] for i in range(len(queries))]

    params = calibrate(search, search, ids, texts)
    assert params.samples == 29 and len(seen[0]) == 29 and params.vector_mrr == 1.0
    with pytest.raises(InvalidInputError):
        calibrate(search, search, ids, texts[:-1])
    with pytest.raises(InvalidInputError):
        calibrate(lambda q: [[]], search, ids, texts)  # one list for 29 queries
