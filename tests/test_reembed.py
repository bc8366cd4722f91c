"""col.reembed: another model (and dim), identity switch, prompts, kill -9 at any point, resume."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import HELPERS, assert_same_ranking, exact_scores, exact_search, helper_command, snapshot, \
    stored_form, subprocess_env

import gyeol
from gyeol.errors import EmbedderMismatchError, GyeolError, InvalidInputError, ReadOnlyError

sys.path.insert(0, str(HELPERS))
from reembed_models import NewModel, OldModel  # noqa: E402

WORDS = "alpha beta gamma delta kimchi bibimbap seoul busan river mountain search index vector".split()
N = 60
DELETED = ["d3", "d17"]
BATCH = 8


def corpus() -> tuple[list[str], list[str], list[dict]]:
    rng = random.Random(11)
    texts = [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 8))) + f" doc{i}" for i in range(N)]
    return [f"d{i}" for i in range(N)], texts, [{"i": i, "tags": ["even" if i % 2 else "odd"]} for i in range(N)]


def build(db: gyeol.Database, **kwargs) -> gyeol.Collection:
    ids, texts, metas = corpus()
    kwargs.setdefault("index", gyeol.Flat())
    col = db.create_collection("docs", embedder=OldModel(), tokenizer="whitespace", **kwargs)
    col.add(texts, ids=ids, metadata=metas)
    col.delete(DELETED)
    return col


def documents(col: gyeol.Collection) -> list[tuple[str, str, str]]:
    return [(d.id, d.text, json.dumps(d.metadata, sort_keys=True)) for d in col.get()]


def expected_documents() -> list[tuple[str, str, str]]:
    ids, texts, metas = corpus()
    return [(i, t, json.dumps(m, sort_keys=True)) for i, t, m in zip(ids, texts, metas) if i not in DELETED]


def model_of(col: gyeol.Collection) -> str:
    """"old" or "new": which model every stored vector came from (fails on a mix)."""
    docs = col.get(include_vectors=True)
    vectors = np.stack([d.vector for d in docs])
    texts = [d.text for d in docs]
    for name, model in (("old", OldModel()), ("new", NewModel())):
        if vectors.shape[1] == model.dim:
            np.testing.assert_allclose(vectors, stored_form(model.vectors(texts), "cosine"), rtol=1e-5, atol=1e-5)
            return name
    raise AssertionError(f"vectors of dim {vectors.shape[1]} come from neither model")


# --------------------------------------------------------------------------- the migration


@pytest.mark.parametrize("where, tier", [("memory", "memory"), ("disk", "memory"), ("disk", "hybrid"),
                                         ("disk", "disk")])
def test_reembed_to_another_dim_then_search_equals_exact_search(where, tier, db_path):
    db = gyeol.connect(None if where == "memory" else db_path)
    col = build(db, tier=tier)
    keyword_before = [(r.ids, list(r.scores)) for r in col.search_many(WORDS[:5], k=6, mode="keyword")]
    report = col.reembed(NewModel(), batch_size=BATCH, progress=False)
    live = N - len(DELETED)
    assert (report.documents, report.embedded, report.reused, report.dim) == (live, live, 0, NewModel.dim)
    assert col.dim == NewModel.dim and col.config["embedder"]["name"] == "new-model"
    assert col.count() == live and documents(col) == expected_documents()
    assert model_of(col) == "new"
    # vector search equals an exact search over the new model's vectors of the live documents
    ids = [d[0] for d in expected_documents()]
    stored = NewModel().vectors([d[1] for d in expected_documents()])
    for query in ["kimchi seoul", "vector index search", "river mountain doc5"]:
        qv = NewModel().vectors([query])[0]
        hits = col.search(query, k=7, mode="vector")
        ref_ids, ref_scores = exact_search(ids, stored, qv, "cosine", 7)
        assert_same_ranking(hits.ids, hits.scores, ref_ids, ref_scores,
                            all_scores=dict(zip(ids, exact_scores(stored, qv, "cosine"))))
    # the keyword side is unaffected, and writes go on with the new model
    assert [(r.ids, list(r.scores)) for r in col.search_many(WORDS[:5], k=6, mode="keyword")] == keyword_before
    col.add(["seoul river new"], ids=["late"])
    assert col.search("seoul river new", k=1, mode="vector").ids == ["late"]
    db.close()


def test_identity_switch_on_reopen(db_path):
    with gyeol.connect(db_path) as db:
        build(db).reembed(NewModel(), progress=False)
    with gyeol.connect(db_path) as db:
        with pytest.raises(EmbedderMismatchError, match="dimension 32, not 48"):
            db.get_collection("docs", embedder=OldModel())
        col = db.get_collection("docs", embedder=NewModel())
        assert col.dim == 48 and col.config["embedder"]["dim"] == 48
        assert model_of(col) == "new" and documents(col) == expected_documents()
        assert col.search("kimchi", k=3).ids  # hybrid search with the new model works


def test_documents_go_through_embed_documents_with_the_document_prompt(db_path):
    from test_embedders import FakeSentenceTransformer

    from gyeol.embedders import SentenceTransformerEmbedder

    fake = FakeSentenceTransformer(dim=24)
    new = SentenceTransformerEmbedder(fake, query_prompt="Q: ", document_prompt="passage: ")
    with gyeol.connect(db_path) as db:
        col = build(db)
        fake.calls.clear()
        col.reembed(new, batch_size=BATCH, progress=False)
        sides = {c["prompt"] for c in fake.calls}
        assert sides == {"passage: "}, f"documents must be embedded with the document prompt, got {sides}"
        seen = [t for c in fake.calls for t in c["texts"] if not t.startswith("gyeol embedder probe")]
        assert sorted(seen) == sorted(d[1] for d in expected_documents())
        # what is stored is the prompted output
        docs = col.get(["d0"], include_vectors=True)
        np.testing.assert_allclose(docs[0].vector, stored_form(new.embed_documents([docs[0].text]), "cosine")[0],
                                   rtol=1e-5, atol=1e-5)
        assert col.config["embedder"]["document_prompt"] == "passage: "


def test_auto_fusion_calibration_is_measured_again(db_path):
    with gyeol.connect(db_path) as db:
        col = build(db)
        col.save_indexes(keyword=True)  # measures and saves index/fusion/auto.json
        folder = _folder(db_path)
        params = folder / "index" / "fusion" / "auto.json"
        assert params.is_file()
        col.reembed(NewModel(), progress=False)
        assert not params.exists()
        col.search("kimchi seoul", k=3)  # measures on the new vectors
        col.save_indexes()
        assert params.is_file()


def test_a_reader_sees_the_old_state_until_the_switch(db_path):
    with gyeol.connect(db_path) as db:
        build(db)
    db = gyeol.connect(db_path)
    col = db.get_collection("docs", embedder=OldModel())
    reader_db = gyeol.connect(db_path, read_only=True)
    reader = reader_db.get_collection("docs", embedder=OldModel())
    seen = []

    def check_reader(done: int, total: int) -> None:
        seen.append((done, reader.count(), model_of(reader), reader.search("kimchi", k=2).ids))

    col.reembed(NewModel(), batch_size=BATCH, progress=check_reader)
    assert len(seen) > 2 and all(count == N - len(DELETED) and model == "old" for _, count, model, _ in seen)
    assert seen[-1][0] == N - len(DELETED)
    for _ in range(2):  # and goes on refusing: it never serves the new vectors with the old model
        with pytest.raises(GyeolError, match="re-embedded by its writer"):
            reader.search("kimchi", k=2)
    with pytest.raises(GyeolError, match="re-embedded by its writer"):
        reader.count()
    reader_db.close()
    with gyeol.connect(db_path, read_only=True) as again:
        assert model_of(again.get_collection("docs", embedder=NewModel())) == "new"
    db.close()


# --------------------------------------------------------------------------- refusals


def test_refusals_change_nothing(db_path):
    with gyeol.connect(db_path) as db:
        col = build(db)
        col.add(texts=None, ids=["vec-only"], vectors=np.ones((1, 32)))
        before = snapshot(db_path)
        cases = [
            (lambda: col.reembed(None), InvalidInputError, "needs an embedder"),
            (lambda: col.reembed(NewModel()), InvalidInputError, "have none.*'vec-only'"),
            (lambda: col.reembed(NewModel(), batch_size=0), InvalidInputError, "batch_size"),
            (lambda: col.reembed(NewModel(), progress="yes"), InvalidInputError, "progress"),
            (lambda: col.reembed(17), InvalidInputError, "embedder must be"),
        ]
        for call, error, match in cases:
            with pytest.raises(error, match=match):
                call()
            assert snapshot(db_path) == before and col.count() == N - len(DELETED) + 1 and col.dim == 32
    closed = snapshot(db_path)
    with gyeol.connect(db_path, read_only=True) as ro:
        with pytest.raises(ReadOnlyError):
            ro.get_collection("docs", embedder=OldModel()).reembed(NewModel())
    assert snapshot(db_path) == closed


def test_an_index_that_cannot_take_the_new_dim_is_refused_first(db_path):
    with gyeol.connect(db_path) as db:
        col = build(db, tier="hybrid", index=gyeol.IVFPQ(m=16))  # 16 divides 32, not 24
        before = snapshot(db_path)
        with pytest.raises(InvalidInputError, match="24"):
            col.reembed(gyeol.embedders.CallableEmbedder(lambda t: NewModel().vectors(t)[:, :24]))
        assert snapshot(db_path) == before and model_of(col) == "old"


# --------------------------------------------------------------------------- kill -9 and resume


def _folder(db_path: Path) -> Path:
    return next(p for p in (db_path / "collections").iterdir() if p.name.startswith("c-"))


def _progress_file(db_path: Path) -> Path:
    return _folder(db_path) / "reembed.json"


def _check_after_kill(db_path: Path) -> str:
    """Reopen after a kill: old or new state, complete, no stray files; give back which."""
    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs")
        state = "new" if col.dim == NewModel.dim else "old"
        col = db.get_collection("docs", embedder=NewModel() if state == "new" else OldModel())
        assert col.count() == N - len(DELETED) and documents(col) == expected_documents()
        assert model_of(col) == state
        folder = _folder(db_path)
        manifest = json.loads((folder / "manifest.json").read_text())
        named = {s["file"] for s in manifest["segments"]} | set(manifest["tombstones"])
        pending = set()
        if _progress_file(db_path).exists():
            assert state == "old"
            pending = {s["file"] for s in json.loads(_progress_file(db_path).read_text())["segments"]}
        data_files = {p.name for p in (folder / "data").iterdir()}
        assert data_files == named | pending, f"stray files: {data_files - named - pending}"
        assert not [p for p in folder.rglob("*.tmp")], "temp files left after the writer's sweep"
    return state


def _resume_and_check(db_path: Path, state: str) -> None:
    """Finish the migration in this process; it must reuse the batches the killed run recorded."""
    done = 0
    if _progress_file(db_path).exists():
        done = sum(s["rows"] for s in json.loads(_progress_file(db_path).read_text())["segments"])
    live = N - len(DELETED)
    new = NewModel()
    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs", embedder=new if state == "new" else OldModel())
        report = col.reembed(new, batch_size=BATCH, progress=False)
        # a collection already on the new model is left as it is; otherwise the recorded batches are reused
        assert (report.reused, report.embedded) == ((live, 0) if state == "new" else (done, live - done))
        assert len(new.embedded_documents()) == report.embedded
    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs", embedder=NewModel())
        assert model_of(col) == "new" and documents(col) == expected_documents()
        assert not _progress_file(db_path).exists()


def _run_child(db_path: Path, point: str, *, sleep: float = 0.0, kill_after: float | None = None) -> int:
    proc = subprocess.Popen(helper_command("reembed_child.py", db_path, BATCH, point, sleep), env=subprocess_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        if kill_after is not None:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            time.sleep(kill_after)
            proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (0, -9), proc.stderr.read() if proc.stderr else proc.returncode
    return proc.returncode


# Points of the run at which the writer dies: before any batch, mid-batches (a segment written but not
# yet recorded, batches recorded), after the last batch, around the index build and the final commit.
KILL_POINTS = [
    "write_batch:1:before",
    "write_batch:2:after",
    "write_progress:3:after",
    "write_progress:8:after",
    "build_index:1:after",
    "write_manifest:1:before",
    "write_manifest:1:after",
    "remove_progress:1:after",
    "save_index:1:after",
]
EXPECTED = {"write_manifest:1:after": "new", "remove_progress:1:after": "new", "save_index:1:after": "new"}


@pytest.mark.parametrize("point", KILL_POINTS)
def test_kill_9_leaves_old_or_new_and_resume_completes(point, db_path):
    with gyeol.connect(db_path) as db:
        build(db, tier="disk" if "index" in point else "memory")
    assert _run_child(db_path, point) == -9
    state = _check_after_kill(db_path)
    assert state == EXPECTED.get(point, "old")
    _resume_and_check(db_path, state)


def test_kill_9_at_random_times(db_path):
    """A slowed run killed at random moments, resumed by the next run each time, until one finishes."""
    with gyeol.connect(db_path) as db:
        build(db)
    rng = random.Random(5)
    states = []
    for _ in range(4):
        code = _run_child(db_path, "-", sleep=0.02, kill_after=rng.uniform(0.0, 0.25))
        states.append(_check_after_kill(db_path))
        if code == 0 or states[-1] == "new":
            break
    _resume_and_check(db_path, states[-1])


def test_a_changed_collection_or_embedder_starts_over(db_path):
    with gyeol.connect(db_path) as db:
        build(db)
    assert _run_child(db_path, "write_progress:3:after") == -9
    recorded = {s["file"] for s in json.loads(_progress_file(db_path).read_text())["segments"]}
    with gyeol.connect(db_path) as db:
        col = db.get_collection("docs", embedder=OldModel())
        other = gyeol.embedders.CallableEmbedder(lambda t: NewModel().vectors(t) + 1.0, name="shifted")
        report = col.reembed(other, batch_size=BATCH, progress=False)  # another model: nothing reused
        assert report.reused == 0 and report.embedded == N - len(DELETED)
        data = {p.name for p in (_folder(db_path) / "data").iterdir()}
        assert not recorded & data
    with gyeol.connect(db_path) as db:
        build_again = db.get_collection("docs", embedder=gyeol.embedders.CallableEmbedder(
            lambda t: NewModel().vectors(t) + 1.0, name="shifted"))
        assert build_again.count() == N - len(DELETED)
    # a write after an interrupted run: its batches are stale and swept
    path2 = db_path.parent / "kb2"
    with gyeol.connect(path2) as db:
        build(db)
    assert _run_child(path2, "write_progress:3:after") == -9
    with gyeol.connect(path2) as db:
        col = db.get_collection("docs", embedder=OldModel())
        col.add(["one more"], ids=["extra"])
        report = col.reembed(NewModel(), batch_size=BATCH, progress=False)
        assert report.reused == 0 and report.documents == N - len(DELETED) + 1


@pytest.mark.parametrize("content", [b"{not json", b'{"format": 1, "segments": [{"file": "../../escape.parquet", '
                                     b'"first_label": 0, "rows": 8}], "source_version": 1, "source_generation": 1, '
                                     b'"rows": 58, "embedder": {}}'])
def test_a_damaged_progress_file_is_dropped_and_nothing_outside_is_touched(content, db_path):
    with gyeol.connect(db_path) as db:
        build(db)
    assert _run_child(db_path, "write_progress:2:after") == -9
    outside = db_path / "collections" / "escape.parquet"  # where data/../../escape.parquet leads
    outside.write_bytes(b"not gyeol's")
    _progress_file(db_path).write_bytes(content)
    assert _check_after_kill(db_path) == "old"  # the writer's open removed the file; its batches were swept
    assert not _progress_file(db_path).exists() and outside.read_bytes() == b"not gyeol's"
    _resume_and_check(db_path, "old")


def test_in_memory_reembed_frees_the_old_store():
    """The old documents and vectors are garbage once the switch is made, not kept until db.close()."""
    import gc

    from gyeol.storage.store import SegmentStore

    def stores() -> int:
        gc.collect()
        return sum(type(o) is SegmentStore for o in gc.get_objects())  # type(): no proxy __class__ lookups

    before = stores()
    db = gyeol.connect()
    col = build(db)
    assert stores() == before + 1
    col.reembed(NewModel(), batch_size=BATCH, progress=False)
    assert stores() == before + 1  # the new one only
    assert db.get_collection("docs") is col and col.dim == NewModel.dim
    assert documents(col) == expected_documents()
    db.drop_collection("docs")
    del col  # the caller's handle was the last reference
    assert stores() == before
    db.close()
