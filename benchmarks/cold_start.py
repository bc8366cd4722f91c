"""Cold start of the quickstart: fresh processes from `python` to the first result, through the public API.

Builds the quickstart's persisted sample collection once, with the quickstart's code in a fresh
process (create the collection, add the bundled 100 passages with the default embedder, close:
no search, so whatever the derived indexes need is what the writer saved), then times fresh
processes on it, --runs times each:

- steps: import gyeol; open the database and the collection; first keyword search; first vector
  search; first (auto) hybrid search, one after the other in one process;
- first hybrid: import, open, then a hybrid search straight away (the number a user waits for);
- quickstart: the whole examples/quickstart.py on the built collection (wall time, interpreter
  start included).

With --compare-preload the first-hybrid process is also run with the background Kiwi load
switched off, to measure what loading Kiwi off the critical path saves.

    python benchmarks/cold_start.py [--runs 5] [--compare-preload] [--out DIR] [--smoke]

Prints a table (median, min, max seconds) and writes benchmarks/results/cold_start.json,
with the machine's load average before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, add_output_args, apply_smoke, fresh_python, machine, report_path, write_report

QUICKSTART = ROOT / "examples" / "quickstart.py"

BUILD = r"""
import sys, time, json, os
t0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gyeol
sample = gyeol.load_sample()
with gyeol.connect(sys.argv[1]) as db:
    col = db.create_collection("sample")  # as examples/quickstart.py: the default embedder and tokenizer
    col.add([d["text"] for d in sample], ids=[d["id"] for d in sample], metadata=[d["metadata"] for d in sample])
    t_add = time.perf_counter()
print(json.dumps({"add_s": t_add - t0, "total_s": time.perf_counter() - t0, "cpu_s": time.process_time()}))
"""

# The child's first lines time what it measures; the parent's wall time adds interpreter start-up.
PRELUDE = r"""
import sys, time, json, os
t0 = time.perf_counter()
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gyeol
t_import = time.perf_counter()
import gyeol.engine.keyword_side as ks  # the A/B of --compare-preload (no-preload: Kiwi loads on first need)
ks.KeywordSide.PRELOAD_KIWI = sys.argv[2] == "preload"
db = gyeol.connect(sys.argv[1])
col = db.get_collection("sample")
t_open = time.perf_counter()
"""

STEPS = PRELUDE + r"""
kw = col.search("우주 망원경", k=3, mode="keyword")
t_kw = time.perf_counter()
vec = col.search("how do vaccines train the immune system", k=3, mode="vector")
t_vec = time.perf_counter()
hyb = col.search("우주 망원경으로 관측한 은하", k=3)
t_hyb = time.perf_counter()
db.close()
print(json.dumps({"import_s": t_import - t0, "open_s": t_open - t_import, "first_keyword_s": t_kw - t_open,
                  "first_vector_s": t_vec - t_kw, "first_hybrid_s": t_hyb - t_vec, "total_s": t_hyb - t0,
                  "cpu_s": time.process_time(), "hits": [len(kw), len(vec), len(hyb)]}))
"""

FIRST_HYBRID = PRELUDE + r"""
hyb = col.search("우주 망원경으로 관측한 은하", k=3)
t_hyb = time.perf_counter()
db.close()
print(json.dumps({"import_s": t_import - t0, "open_s": t_open - t_import, "search_s": t_hyb - t_open,
                  "to_first_hybrid_s": t_hyb - t0, "cpu_s": time.process_time(), "hits": len(hyb)}))
"""


def run_quickstart(path: Path) -> float:
    """Wall seconds of `python examples/quickstart.py --path path`, in a fresh process."""
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, str(QUICKSTART), "--path", str(path)], capture_output=True, text=True,
                         env=env, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"examples/quickstart.py failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return wall


def summary(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per measurement")
    parser.add_argument("--compare-preload", action="store_true",
                        help="also time the first hybrid search with the background Kiwi load switched off")
    add_output_args(parser, smoke="--runs 1")
    args = apply_smoke(parser.parse_args(), runs=1)
    load_before = os.getloadavg()
    report: dict = {"machine": machine(), "runs": args.runs, "load_avg_before": load_before}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kb"
        report["build"], report["build_wall_s"] = fresh_python(BUILD, str(path), what="build")
        index_files = sorted(str(p.relative_to(path)) for p in path.rglob("index/*/*.json"))
        report["index_files"] = index_files
        variants = ["preload", "no-preload"] if args.compare_preload else ["preload"]
        steps, first, quick = [], {v: [] for v in variants}, []
        def pristine() -> Path:
            """A copy of the built collection: every measured process (a writer, which saves at close)
            starts from what the build left."""
            copy = Path(tmp) / "run"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(path, copy)
            return copy

        for _ in range(args.runs):  # interleaved, so a change in the machine's load hits every kind alike
            steps.append(fresh_python(STEPS, str(pristine()), "preload", what="cold steps")[0])
            for variant in variants:
                result, wall = fresh_python(FIRST_HYBRID, str(pristine()), variant, what="cold first hybrid")
                first[variant].append({**result, "wall_s": wall})
            quick.append(run_quickstart(pristine()))
    report["load_avg_after"] = os.getloadavg()
    report["steps"] = {key: summary([r[key] for r in steps]) for key in
                       ("import_s", "open_s", "first_keyword_s", "first_vector_s", "first_hybrid_s", "total_s",
                        "cpu_s")}
    report["steps_runs"] = steps
    report["first_hybrid"] = {variant: {key: summary([r[key] for r in runs]) for key in
                                        ("import_s", "open_s", "search_s", "to_first_hybrid_s", "wall_s", "cpu_s")}
                              for variant, runs in first.items()}
    report["first_hybrid_runs"] = first
    report["quickstart_wall_s"] = summary(quick)
    out = report_path(args, "cold_start")
    write_report(out, report, indent=1)

    def row(name: str, stats: dict[str, float]) -> str:
        return f"| {name} | {stats['median']:.2f} | {stats['min']:.2f} | {stats['max']:.2f} |"

    print(f"\nquickstart sample (100 passages), {args.runs} fresh processes each; "
          f"load average {load_before[0]:.2f} before, {report['load_avg_after'][0]:.2f} after\n")
    print("| step (seconds) | median | min | max |\n|---|---|---|---|")
    names = {"import_s": "import gyeol", "open_s": "open db + collection", "first_keyword_s": "first keyword search",
             "first_vector_s": "then first vector search", "first_hybrid_s": "then first hybrid search",
             "total_s": "steps total (from import)", "cpu_s": "  CPU seconds of that process (all threads)"}
    for key, name in names.items():
        print(row(name, report["steps"][key]))
    for variant, stats in report["first_hybrid"].items():
        print(row(f"import + open + first hybrid result ({variant})", stats["to_first_hybrid_s"]))
        print(row(f"  same, process wall with interpreter start ({variant})", stats["wall_s"]))
        print(row(f"  CPU seconds of that process ({variant})", stats["cpu_s"]))
    print(row("whole examples/quickstart.py (built collection)", report["quickstart_wall_s"]))
    print(f"\nbuilding it (create, add 100 passages, close; fresh process): {report['build_wall_s']:.2f} s; "
          f"saved derived indexes: {', '.join(index_files) or 'none'}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
