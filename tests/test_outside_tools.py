"""Outside tools see the truth: DuckDB and pyarrow read exactly the live rows from the data folder,
typed meta.<key> columns follow storage/typed_meta.py's rule, and col.scan / to_arrow / to_pandas
stream the live rows."""

from __future__ import annotations

import glob
import json

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

import gyeol
from gyeol.errors import FilterError, InvalidInputError

duckdb = pytest.importorskip("duckdb")

DIM = 4

# The documented one-liners (docs/durability.md); {data} is col.data_path.
DUCKDB_LIVE = ("SELECT * EXCLUDE (label, vector) FROM read_parquet('{data}/seg-*.parquet', union_by_name = true) "
               "WHERE label NOT IN (SELECT label FROM read_parquet('{data}/*.parquet', union_by_name = true) "
               "WHERE id IS NULL)")


def pyarrow_live(data) -> pa.Table:
    segs = pa.concat_tables(pq.read_table(p, columns=["id", "label", "text", "metadata"])
                            for p in glob.glob(f"{data}/seg-*.parquet"))
    dead = pa.concat_tables([pq.read_table(p) for p in glob.glob(f"{data}/tomb-*.parquet")]
                            or [pa.table({"label": pa.array([], pa.int64())})])
    return segs.filter(pc.invert(pc.is_in(segs["label"], dead["label"])))


def pandas_live(data):
    import pandas as pd

    segs = pd.concat([pd.read_parquet(p) for p in glob.glob(f"{data}/seg-*.parquet")], ignore_index=True)
    dead = pd.concat([pd.read_parquet(p) for p in glob.glob(f"{data}/tomb-*.parquet")] or [pd.DataFrame({"label": []})])
    return segs[~segs["label"].isin(dead["label"])]


def _vectors(rng, n):
    return rng.normal(size=(n, DIM)).astype(np.float32)


def _rows(table_or_frame) -> set[tuple]:
    if isinstance(table_or_frame, pa.Table):
        rows = table_or_frame.select(["id", "text", "metadata"]).to_pylist()
    else:
        rows = table_or_frame[["id", "text", "metadata"]].to_dict("records")
    return {(r["id"], r["text"], json.dumps(json.loads(r["metadata"]), sort_keys=True)) for r in rows}


def _live(col) -> set[tuple]:
    return {(d.id, d.text, json.dumps(d.metadata, sort_keys=True)) for d in col.get()}


def _check_outside(col) -> None:
    data = col.data_path
    expected = _live(col)
    got = duckdb.sql(DUCKDB_LIVE.format(data=data)).df()
    assert len(got) == len(expected) and _rows(got) == expected
    assert _rows(pyarrow_live(data)) == expected
    frame = pandas_live(data)
    assert len(frame) == len(expected) and _rows(frame) == expected
    assert _rows(col.to_arrow()) == expected


def test_duckdb_and_pyarrow_one_liners_return_exactly_the_live_rows(tmp_path):
    rng = np.random.default_rng(0)
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("c", dim=DIM, embedder=None, tokenizer=None)
    col.add([f"t{i}" for i in range(10)], ids=[f"d{i}" for i in range(10)], vectors=_vectors(rng, 10),
            metadata=[{"n": i, "lang": "ko" if i % 2 else "en"} for i in range(10)])
    _check_outside(col)  # no tombstone yet
    col.upsert(["new3", "new4"], ids=["d3", "d4"], vectors=_vectors(rng, 2), metadata=[{"n": "three"}, {}])
    col.delete(["d0", "d9"])
    _check_outside(col)
    for b in range(14):  # enough small adds to merge segments
        col.add([f"b{b}-{i}" for i in range(3)], ids=[f"b{b}-{i}" for i in range(3)], vectors=_vectors(rng, 3),
                metadata=[{"n": float(i) + 0.5, "tags": ["x", str(b)]} for i in range(3)])
        if b % 4 == 0:
            col.delete([f"b{b}-1"])
            col.upsert([f"again{b}"], ids=[f"b{b}-2"], vectors=_vectors(rng, 1), metadata=[{"n": None}])
    assert len(col._engine.store.manifest.segments) < 16  # merges ran
    _check_outside(col)
    typed = duckdb.sql(f"SELECT count(*) FROM ({DUCKDB_LIVE.format(data=col.data_path)}) WHERE \"meta.lang\" = 'ko'")
    assert typed.fetchall()[0][0] == len(col.get(where={"lang": "ko"}))
    col.compact()
    _check_outside(col)
    db.close()
    db = gyeol.connect(tmp_path / "kb")
    _check_outside(db.get_collection("c"))
    db.close()


def test_scan_streams_the_live_rows_in_batches_with_filters_and_vectors(tmp_path):
    rng = np.random.default_rng(1)
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("c", dim=DIM, embedder=None, tokenizer=None, metric="l2")
    vectors = _vectors(rng, 30)
    for start in range(0, 30, 10):
        col.add([f"t{i}" for i in range(start, start + 10)], ids=[f"d{i}" for i in range(start, start + 10)],
                vectors=vectors[start : start + 10], metadata=[{"i": i} for i in range(start, start + 10)])
    col.delete([f"d{i}" for i in range(0, 30, 3)])
    batches = list(col.scan(["id", "vector"], where={"i": {"$gte": 5}}, batch_size=4))
    assert all(isinstance(b, pa.RecordBatch) and b.num_rows <= 4 for b in batches)
    table = pa.Table.from_batches(batches)
    want = [i for i in range(5, 30) if i % 3]
    assert table.column("id").to_pylist() == [f"d{i}" for i in want]
    got = np.asarray(table.column("vector").combine_chunks().flatten()).reshape(-1, DIM)
    np.testing.assert_array_equal(got, vectors[want])
    # a snapshot: a compaction (which removes the segments) while iterating changes nothing yielded
    stream = col.scan(["id", "vector"], batch_size=5)
    first = next(stream)
    col.compact()
    rest = pa.Table.from_batches([first, *stream])
    assert rest.column("id").to_pylist() == [f"d{i}" for i in range(30) if i % 3]
    frame = col.to_pandas(limit=2)
    assert list(frame["id"]) == ["d1", "d2"] and frame["metadata"].tolist() == [{"i": 1}, {"i": 2}]
    db.close()


@pytest.mark.parametrize("kwargs, error", [
    ({"columns": ["id", "nope"]}, InvalidInputError),
    ({"columns": "id"}, InvalidInputError),
    ({"columns": []}, InvalidInputError),
    ({"columns": ["id", "id"]}, InvalidInputError),
    ({"batch_size": 0}, InvalidInputError),
    ({"batch_size": True}, InvalidInputError),
    ({"where": {"$bad": 1}}, FilterError),
])
def test_scan_rejects_bad_arguments_with_typed_errors(kwargs, error):
    col = gyeol.connect().create_collection("c", dim=DIM, embedder=None, tokenizer=None)
    with pytest.raises(error):
        list(col.scan(**kwargs))


# ---------------------------------------------------------------- typed metadata columns vs a model

scalars = st.one_of(st.text(max_size=4), st.integers(-(2**70), 2**70), st.booleans(), st.none(),
                    st.floats(allow_nan=False, allow_infinity=False, width=64))
values = st.one_of(scalars, st.lists(scalars, max_size=3))
metadatas = st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "키"]), values, max_size=3), min_size=1, max_size=8)


def _model_type(vals: list) -> str | None:
    """The rule of storage/typed_meta.py, written plainly."""
    present = [v for v in vals if v is not None]
    kinds = {type(v) for v in present}
    if not kinds:
        return "null"
    if kinds == {str}:
        return "string"
    if kinds == {bool}:
        return "bool"
    if kinds == {int}:
        return "int64" if all(-(2**63) <= v < 2**63 for v in present) else "double"
    if kinds <= {int, float}:
        return "double"
    if kinds == {list}:
        inner = _model_type([x for v in present for x in v])
        return None if inner in (None, "null") else f"list<item: {inner}>"
    return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(metadatas, min_size=1, max_size=3))
@example(batches=[[{"a": 2**63 + 1}]])  # an int beyond int64: a float64 column, compared as float
@example(batches=[[{"b": 0.0}], [{"b": 2**53 + 1}]])  # float64 and int64 segments merged: the int rounds as float() does
def test_typed_columns_follow_the_rule_and_metadata_round_trips_exactly(tmp_path_factory, batches):
    folder = tmp_path_factory.mktemp("kb")
    db = gyeol.connect(folder)
    col = db.create_collection("c", dim=DIM, embedder=None, tokenizer=None)
    rng = np.random.default_rng(2)
    model: dict[str, dict] = {}
    for b, batch in enumerate(batches):
        ids = [f"{b}-{i}" for i in range(len(batch))]
        col.add([""] * len(batch), ids=ids, vectors=_vectors(rng, len(batch)), metadata=batch)
        model.update(zip(ids, batch))
        seg = col._engine.store.manifest.segments[-1] if len(col._engine.store.manifest.segments) else None
        table = pq.read_table(col.data_path / seg.file)
        for key in {k for m in batch for k in m}:
            vals = [m.get(key) for m in batch]
            kind = _model_type(vals)
            name = f"meta.{key}"
            if kind is None:
                assert name not in table.schema.names
                assert key in json.loads(table.schema.metadata[b"gyeol"])["untyped"]
                continue
            assert str(table.schema.field(name).type).replace("element:", "item:") == kind
            assert table.column(name).to_pylist() == [
                None if v is None else ([None if x is None else float(x) for x in v] if "double" in kind and isinstance(v, list)
                                        else float(v) if kind == "double" else v) for v in vals]
    for reopen in (False, True):
        if reopen:
            db.close()
            db = gyeol.connect(folder)
            col = db.get_collection("c")
        got = {d.id: d.metadata for d in col.get()}
        assert got == model
        assert all(type(got[i][k]) is type(model[i][k]) for i in model for k in model[i])  # 1 stays int, 1.0 float
    col.compact()
    typed = pq.read_table(col.data_path / col._engine.store.manifest.segments[0].file)
    for name in typed.schema.names:
        if name.startswith("meta."):  # every typed value equals the JSON's
            key, double = name[5:], "double" in str(typed.schema.field(name).type)

            def as_stored(v):  # a float64 column holds float(v), ints beyond int64 included
                return float(v) if double and isinstance(v, int) and not isinstance(v, bool) else v

            for row, value in zip(typed.column("id").to_pylist(), typed.column(name).to_pylist()):
                want = model[row].get(key)
                assert value == (None if want is None else
                                 [as_stored(x) for x in want] if isinstance(want, list) else as_stored(want))
    db.close()


def test_an_old_data_folder_opens_and_one_compaction_makes_the_one_liners_exact(tmp_path):
    """Segments of format 1 (tests/data/format1_db) have no label or meta.<key> columns: gyeol reads them as
    before, a merge or compaction types their metadata from the JSON, and then DuckDB sees the live rows."""
    import shutil
    from pathlib import Path

    root = Path(shutil.copytree(Path(__file__).resolve().parent / "data" / "format1_db", tmp_path / "kb"))
    db = gyeol.connect(root)
    col = db.get_collection("memory")
    before = _live(col)
    assert before and {json.loads(m)["tag"] for _, _, m in before} == {"t0", "t1", "t2"}
    col.add(["new"], ids=["new-1"], vectors=np.random.default_rng(3).normal(size=(1, col.dim)).astype(np.float32),
            metadata=[{"n": 1.5}])
    col.delete([sorted(before)[0][0]])
    col.compact()
    _check_outside(col)
    table = pq.read_table(col.data_path / col._engine.store.manifest.segments[0].file)
    assert str(table.schema.field("meta.tag").type) == "string" and str(table.schema.field("meta.n").type) == "double"
    db.close()


def test_to_list_gives_the_live_rows_as_plain_dicts(tmp_path):
    rng = np.random.default_rng(2)
    db = gyeol.connect(tmp_path / "kb")
    col = db.create_collection("c", dim=DIM, embedder=None, tokenizer="whitespace", metric="l2")
    vectors = _vectors(rng, 6)
    col.add([f"t{i}" for i in range(6)], ids=[f"d{i}" for i in range(6)], vectors=vectors,
            metadata=[{"i": i, "tags": ["a", str(i)]} if i != 5 else {} for i in range(6)])
    col.delete(["d1", "d4"])  # tombstoned: never listed
    rows = col.to_list()
    assert rows == [{"id": f"d{i}", "text": f"t{i}", "metadata": {"i": i, "tags": ["a", str(i)]}} for i in (0, 2, 3)] \
        + [{"id": "d5", "text": "t5", "metadata": {}}]
    assert rows == [{**r, "metadata": json.loads(r["metadata"])} for r in col.to_arrow().to_pylist()]
    # the row shape of Results.to_list, less the scores
    hit = col.search("t3", mode="keyword", k=1).to_list()[0]
    assert {k: hit[k] for k in rows[0]} == rows[2]
    assert col.to_list(where={"i": {"$gte": 2}}, limit=1) == [rows[1]]
    with_vectors = col.to_list(columns=["vector", "id"])
    assert [list(r) for r in with_vectors] == [["vector", "id"]] * 4
    assert all(isinstance(r["vector"], list) for r in with_vectors)
    np.testing.assert_array_equal(np.asarray([r["vector"] for r in with_vectors], np.float32), vectors[[0, 2, 3, 5]])
    with pytest.raises(InvalidInputError):
        col.to_list(columns=["label"])
    db.close()
