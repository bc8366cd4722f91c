"""Every script in benchmarks/ runs end to end at a tiny size, the way the README runs it.

Each script is started as `python benchmarks/NAME.py --smoke --out DIR` from the repository
root in a fresh process (so benchmarks/ is sys.path[0], as for a user), and must exit 0 and
write its report with the keys the README's figures are read from. A file added to
benchmarks/ without an entry in SCRIPTS or LIBRARIES fails here.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import SRC

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

# Modules the scripts import as siblings; they have no command line.
LIBRARIES = {"harness.py", "korean_study_lib.py", "retrieval_sets.py"}

# Scripts that download from a package archive for minutes: CI checks that they start (--help) and
# tests their parsers on small handmade inputs (tests/test_retrieval_sets.py), but does not download.
DOWNLOADERS = {"make_debian_sets.py"}

# script -> (arguments after `python benchmarks/NAME.py`, {file written under {out}: keys it must hold}).
# A key path is dotted; "[]" means every element of a list.
SCRIPTS: dict[str, tuple[list[str], dict[str, list[str]]]] = {
    "disk_open.py": (["--smoke", "--out", "{out}"], {
        "disk_open_smoke.json": ["config.n", "config.file_bytes", *(f"rows.{name}.{key}.{stat}" for name in ("whole", "lazy")
                                 for key in ("open_s", "open_first_result_s") for stat in ("best", "median"))],
    }),
    "checksum_cost.py": (["--smoke", "--out", "{out}"], {
        "checksum_cost_smoke.json": ["config.n", *(f"rows[].{key}" for key in (
            "name", "add_docs_per_s_off", "add_docs_per_s_on", "add_ratio", "open_writer_ms_off", "open_writer_ms_on",
            "open_writer_ratio", "open_reader_ms_off", "open_reader_ms_on", "open_reader_ratio", "open_writer_ms_lazy",
            "open_writer_ratio_lazy", "add_cpu_ratio", "open_writer_cpu_ratio", "open_writer_cpu_ratio_lazy",
            "open_reader_cpu_ratio"))],
    }),
    "cold_keyword.py": (["--smoke", "--out", "{out}"], {
        "cold_keyword_smoke.json": ["docs", "runs[].hits", *(f"median.{key}" for key in (
            "import_s", "open_s", "first_keyword_s", "second_keyword_s", "total_s"))],
    }),
    "cold_start.py": (["--smoke", "--out", "{out}"], {
        "cold_start_smoke.json": ["build_wall_s", "build.add_s", "load_avg_before", "quickstart_wall_s.median",
                                  "index_files", *(f"steps.{key}.median" for key in (
                                      "import_s", "open_s", "first_keyword_s", "first_vector_s", "first_hybrid_s",
                                      "total_s")),
                                  "first_hybrid.preload.to_first_hybrid_s.median", "first_hybrid.preload.cpu_s.median",
                                  "steps_runs[].hits"],
    }),
    "concurrency.py": (["--smoke", "--out", "{out}"], {
        "concurrency_smoke.json": ["config.docs", "load_average.before", *(f"rows[].{key}" for key in (
            "name", "qps_1", "qps_2", "speedup_2", "qps_4", "speedup_4", "qps_serial_2", "speedup_serial_2"))],
    }),
    "chunking.py": (["--smoke", "--out", "{out}"], {
        "chunking_smoke.json": ["mode", "set.documents", *(f"rows[].{key}" for key in (
            "name", "chunks", "evaluate_mrr@10", "page_mrr@10", "page_recall@10", "chunks_per_s"))],
    }),
    "compare_tiers.py": (["--smoke", "--out", "{out}"], {
        "compare_tiers_2000_smoke.json": ["config.n", "config.data", *(f"rows[].{key}" for key in (
            "tier", "index", "build_s", "recall_at_10", "qps_batched", "qps_single", "p50_ms", "p95_ms",
            "raw_qps_batched", "raw_qps_single", "index_qps_batched", "index_ram_bytes_per_vector",
            "cold_open_s", "rss_open_bytes", "index_open_s", "peak_rss_bytes", "disk_bytes"))],
        "compare_tiers_2000_smoke.md": [],
        "compare_tiers_2000_smoke.png": [],
    }),
    "embedders.py": (["--smoke", "--out", "{out}"], {"embedders.json": ["models", "speed", "table"]}),
    "filtered_recall.py": (["--smoke", "--out", "{out}"], {
        "filtered_recall_6000_smoke.json": ["config.n", "rows[].name", "rows[].0_1pct", "rows[].0_1pct_exact_k", "table"],
    }),
    "korean_keyword_study.py": (["--smoke", "--out", "{out}"], {
        "korean_keyword_study.json": ["rows", "cost", "sets"],
    }),
    "korean_keyword_ablations.py": (["--smoke", "--out", "{out}"], {
        "korean_keyword_ablations.json": ["rows[].row", "rows[].mrr@10", "checks", "best_by_smaller_tune_gain"],
    }),
    "fusion_calibration.py": (["--smoke", "--out", "{out}"], {"fusion_calibration.json": []}),
    "hybrid_quality.py": (["--smoke", "--out", "{out}"], {
        "hybrid_quality_smoke.json": [
            *(f"cases.{case}.{key}" for case in ("en_hybrid", "pydoc_en", "ko_retrieval") for key in (
                "modes[].name", "modes[].mrr@10", "modes[].recall@10", "alpha_sweep[].rrf mrr@10",
                "alpha_sweep[].relative_score recall@10", "rrf_k_sweep[].mrr@10", "target.met",
                "target.mrr_margin_ci95", "depth_sweep[].rrf depth", "depth_sweep[].relative_score mrr@10",
                "verify.vector_top10_equal", "verify.keyword_top10_equal")),
        ],
    }),
    "keyword_scale.py": (["--smoke", "--out", "{out}"], {
        "keyword_scale_2000_smoke.json": ["data.docs", "data.tokens", "load_before", "load_after", "build.gyeol.build_s",
                                    "build.bm25s.build_s", "build.gyeol.disk_bytes", "build.bm25s.disk_bytes",
                                    "exactness.top10_scores_equal_bm25s", "exactness.rank_bm25_max_abs_diff",
                                    *(f"timing.k{k}.{e}.{key}" for k in (10, 100) for e in ("gyeol", "bm25s")
                                      for key in ("qps_batched", "qps_single", "p50_ms", "p95_ms")),
                                    "timing.k10.qps_batched_ratio", "timing.k100.p50_ratio",
                                    *(f"cold.{e}.{key}" for e in ("gyeol", "bm25s", "bm25s-mmap")
                                      for key in ("cold_s", "load_s", "first_query_s", "index_rss"))],
    }),
    "keyword_batch.py": (["--smoke", "--out", "{out}"], {
        "keyword_batch_smoke.json": [*(f"sets.{s}.{key}" for s in ("ko", "en") for key in (
            "docs", "k10.gyeol.qps_batched", "k10.bm25s.qps_batched", "k100.batched_ratio", "k10.gyeol.p50_ms",
            "k10.bm25s.p95_ms", "single_p50_ratio", "profile_k100.gyeol[].own_ms"))],
    }),
    "keyword_search.py": (["--smoke", "--out", "{out}"], {
        "keyword_search_smoke.json": [
            *(f"latency.{engine}.{p}" for engine in ("gyeol_okapi", "gyeol_lucene", "rank_bm25_get_top_n",
                                                     "bm25s_get_scores_topk", "bm25s_retrieve")
              for p in ("p50_ms", "p95_ms")),
            "build_s.gyeol", "build_s.rank_bm25", "build_s.bm25s", "top10_overlap.okapi_vs_rank_bm25",
            "tokenize.kiwi_raw_docs_per_s", "tokenize.gyeol_docs_per_s", "speedup_p50.vs_rank_bm25",
            "cold_first_tokenize.total_s", "cold_first_keyword_result.first_tokenize_s",
        ],
    }),
    "korean_quality.py": (["--smoke", "--out", "{out}"], {
        "korean_quality_smoke.json": ["tokenizers[].name", "tokenizers[].mrr@10", "tokenizers[].recall@10",
                                      "tokenizers[].delta_mrr_ci95", "bm25_variants_default_kiwi[].mrr@10",
                                      "best_kiwi_pos_set"],
    }),
    "merge_policy.py": (["--smoke", "--out", "{out}"], {
        "merge_policy_smoke.json": ["config.adds", "config.batch", *(f"rows[].{key}" for key in (
            "name", "segments", "build_s", "data_bytes", "open_writer_ms", "open_reader_ms", "qps_vector",
            "qps_keyword", "qps_hybrid", "qps_vector_vs_compacted", "qps_keyword_vs_compacted",
            "qps_hybrid_vs_compacted", "cpu_qps_keyword_vs_compacted", "add_s.max", "exclusive_hold_s.max",
            "get_ms"))],
    }),
    "rerank.py": (["--smoke", "--out", "{out}"], {
        "rerank_smoke.json": ["k", "rerank_depth", "load_average.before", "load_average.after", "machine",
                              *(f"sets[].{key}" for key in ("name", "documents", "queries", "first_stage_recall@50",
                                                           "col_evaluate_check.equal")),
                              *(f"sets[].rows[].{key}" for key in ("name", "mrr@10", "recall@10", "ndcg@10",
                                                                  "delta_mrr@10", "delta_mrr@10_ci95",
                                                                  "delta_recall@10_ci95", "queries_better_worse",
                                                                  "top10_cos"))],
    }),
    "scale.py": (["--smoke", "--out", "{out}"], {
        "scale_smoke.png": [],
        "scale_smoke.json": ["config.n", *(f"rows[].{key}" for key in (
            "n", "ingest_docs_per_s", "kiwi_docs_per_s", "ingest_vs_kiwi", "adds_docs_per_s", "add_max_s",
            "peak_rss_mb", "collection_rss_mb", "disk_mb", "segments", "open_s", "first_vector_s",
            "first_keyword_s", "first_hybrid_s", "first_filtered_s", "cold_hybrid_s", "qps_vector_1",
            "qps_keyword_2", "qps_hybrid_4", "speedup_keyword_2", "compact_s", "load_before"))],
    }),
    "open_filter.py": (["--smoke", "--out", "{out}"], {
        "open_filter_smoke.json": ["config.n", "config.gyeol.this", *(f"rows[].{key}" for key in (
            "name", "n", "open_ms", "filter_import_ms", "first_filter_ms", "second_filter_ms", "first_ids_ms", "filtered_search_ms",
            "build_s", "count"))],
    }),
    "make_pydoc_set.py": (["--out", "{out}/pydoc_en"], {"pydoc_en/corpus.jsonl": [], "pydoc_en/queries.jsonl": []}),
    "search_latency.py": (["--smoke", "--out", "{out}"], {
        "search_latency_smoke.json": [f"rows[].{key}" for key in (
            "name", "gyeol_p50_ms", "gyeol_p95_ms", "parts_p50_ms", "parts_p95_ms", "overhead_us", "single_ratio",
            "gyeol_batch_qps", "parts_batch_qps", "batch_ratio")],
    }),
    "vector_overhead.py": (["--smoke", "--out", "{out}"], {
        "vector_overhead_smoke.json": [f"results[].{key}" for key in (
            "index", "batched_qps_raw", "batched_qps_gyeol", "batched_ratio", "single_us_raw_p50",
            "single_us_gyeol_p50", "single_overhead_us", "add_rows_per_s_raw", "add_rows_per_s_gyeol", "add_ratio")],
    }),
}


def run(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    """`python *args` from the repository root, importing the gyeol under test, offline."""
    env = dict(os.environ, HF_HUB_OFFLINE="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def values_at(data: Any, path: str) -> list[Any]:
    """Every value at a dotted key path ("[]" steps into each element of a list)."""
    found = [data]
    for part in path.split("."):
        step = []
        each = part.endswith("[]")
        key = part[:-2] if each else part
        for node in found:
            assert isinstance(node, dict) and key in node, f"no {key!r} in {path!r}"
            value = node[key]
            if each:
                assert isinstance(value, list) and value, f"{path!r}: {key!r} is not a non-empty list"
                step.extend(value)
            else:
                step.append(value)
        found = step
    return found


def test_every_benchmark_file_has_a_smoke_entry():
    files = {p.name for p in BENCHMARKS.glob("*.py")}
    assert files - SCRIPTS.keys() - LIBRARIES - DOWNLOADERS == set(), "add the new script to SCRIPTS (with its smoke command)"
    assert (SCRIPTS.keys() | LIBRARIES | DOWNLOADERS) - files == set(), "SCRIPTS, LIBRARIES or DOWNLOADERS names a file that is gone"


def test_no_benchmark_file_shadows_a_standard_module():
    # `python benchmarks/x.py` puts benchmarks/ first on sys.path: a keyword.py there broke `import re`
    shadowing = {p.stem for p in BENCHMARKS.glob("*.py")} & set(sys.stdlib_module_names)
    assert shadowing == set()


@pytest.mark.parametrize("name", sorted(SCRIPTS.keys() | LIBRARIES | DOWNLOADERS))
def test_imports_only_packages_and_shared_modules(name):
    """No sys.path patches; a script's sibling imports are the shared modules, never another script."""
    tree = ast.parse((BENCHMARKS / name).read_text(encoding="utf-8"))
    siblings = {p.stem for p in BENCHMARKS.glob("*.py")}
    shared = {Path(n).stem for n in LIBRARIES}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "path" and getattr(node.value, "id", None) == "sys":
            pytest.fail(f"{name}:{node.lineno} touches sys.path")
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module.split(".")[0]]
        for module in modules:
            assert module not in siblings - shared, f"{name}:{node.lineno} imports the script {module}.py"


def test_scripts_named_in_the_docs_exist():
    texts = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *BENCHMARKS.glob("**/*.md"), *BENCHMARKS.glob("*.sh"),
             *BENCHMARKS.glob("*.py")]
    pattern = re.compile(r"benchmarks/([a-z][a-z0-9_]*\.(?:py|sh))")
    named = {name for path in texts for name in pattern.findall(path.read_text(encoding="utf-8"))}
    assert "vector_overhead.py" in named
    assert {n for n in named if not (BENCHMARKS / n).is_file()} == set()


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", str(BENCHMARKS / "gpu_check.sh")], check=True)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCRIPTS.keys() | DOWNLOADERS))
def test_help(name):
    result = run([f"benchmarks/{name}", "--help"], timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--out" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(LIBRARIES))
def test_shared_module_imports_as_a_sibling(name):
    # run as a file: benchmarks/ is sys.path[0], as when a script imports it; it has nothing to run
    result = run([f"benchmarks/{name}"], timeout=60)
    assert (result.returncode, result.stdout) == (0, ""), result.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_runs_end_to_end_at_smoke_size(name, tmp_path):
    args, outputs = SCRIPTS[name]
    result = run([f"benchmarks/{name}", *(a.format(out=tmp_path) for a in args)])
    assert result.returncode == 0, f"{name} failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}"
    for file, keys in outputs.items():
        path = tmp_path / file
        assert path.is_file() and path.stat().st_size > 0, f"{name} did not write {file}"
        if path.suffix == ".json":
            report = json.loads(path.read_text(encoding="utf-8"))
            for key in keys:
                values_at(report, key)
    assert not any(tmp_path.glob("*.tmp")), "a report was left half-written"
    if name == "make_pydoc_set.py":  # one relevant passage per query, all in the corpus
        corpus = [json.loads(line) for line in (tmp_path / "pydoc_en" / "corpus.jsonl").open(encoding="utf-8")]
        queries = [json.loads(line) for line in (tmp_path / "pydoc_en" / "queries.jsonl").open(encoding="utf-8")]
        assert len(queries) > 100
        assert {q["relevant"][0] for q in queries} == {d["id"] for d in corpus}
