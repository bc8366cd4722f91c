"""Open time and the first filtered query of a fresh process, against the collection's size.

For each N, one collection of N documents (given random vectors, embedder=None, tokenizer=None so
Kiwi is never loaded; metadata keys lang (str), year (int), score (float), tags (list of str)),
written in adds of --batch documents and closed. Then, in fresh processes (best of --opens), a
read-only handle measures: open (connect + get_collection), the first filtered query
(col.get(where=..., limit=10), which builds or maps the filter columns), a second one, the first
lookup of 10 ids, and a filtered vector search. With --baseline SRC the same is measured with the
gyeol at SRC (e.g. /work/main/src: before persisted filter columns and id map), on a collection
that gyeol wrote itself. The imports a first query pays at every N (gyeol.filters with
pyarrow.compute, and pandas, which pyarrow imports at its first conversion of a Python value)
are timed apart from the first filter. The vector index is a memory-mapped Flat (tier="disk"), so
neither the build nor the open is about FAISS. Run:

    python benchmarks/open_filter.py --n 10000 100000 1000000 --baseline /work/main/src --baseline-max-n 100000
    python benchmarks/open_filter.py --components --n 100000 1000000   # the saved arrays alone
    python benchmarks/open_filter.py --smoke --out /tmp/of      # tiny: does it run

Prints a markdown table and writes benchmarks/results/open_filter.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, add_output_args, apply_smoke, machine, markdown_table, report_path, write_report

BUILD = r"""
import json, sys, time
import numpy as np
import gyeol
path, n, batch, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rng = np.random.default_rng(0)
t0 = time.perf_counter()
db = gyeol.connect(path)
# a memory-mapped Flat index: what an open costs besides loading a FAISS index
col = db.create_collection("c", dim=dim, embedder=None, tokenizer=None, tier="disk", index=gyeol.Flat())
langs = np.array(["ko", "en"])
for start in range(0, n, batch):
    m = min(batch, n - start)
    years = rng.integers(1990, 2026, m).tolist()
    meta = [{"lang": str(langs[i % 2]), "year": y, "score": float(i % 97) / 7, "tags": ["t%d" % (i % 13), "all"]}
            for i, y in zip(range(start, start + m), years)]
    col.add([f"passage {i}" for i in range(start, start + m)], ids=[f"doc-{i}" for i in range(start, start + m)],
            vectors=rng.standard_normal((m, dim)).astype(np.float32), metadata=meta)
db.close()
print(json.dumps({"build_s": time.perf_counter() - t0}))
"""

MEASURE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import gyeol
path, n, dim = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t1 = time.perf_counter()
db = gyeol.connect(path, read_only=True)
col = db.get_collection("c")
t2 = time.perf_counter()
# fixed costs, the same at every N, timed apart: the filter machinery (pyarrow.compute), and pandas,
# which pyarrow imports at its first conversion of a Python value (pa.scalar, pa.array), whatever asks
import gyeol.filters, pandas
t_import = time.perf_counter()
where = {"lang": "ko", "year": {"$gte": 2020}}
first = col.get(where=where, limit=10)
t3 = time.perf_counter()
second = col.get(where={"tags": {"$contains": "t3"}}, limit=10)
t4 = time.perf_counter()
ids = col.get([f"doc-{i}" for i in range(0, n, max(1, n // 10))][:10])
t5 = time.perf_counter()
query = np.random.default_rng(1).standard_normal(dim).astype(np.float32)
hits = col.search(vector=query, k=10, mode="vector", where={"year": {"$lt": 2000}})
t6 = time.perf_counter()
assert len(first) == 10 and len(ids) == 10 and len(hits) == 10
print(json.dumps({"import_s": t1 - t0, "open_s": t2 - t1, "filter_import_s": t_import - t2,
                  "first_filter_s": t3 - t_import, "second_filter_s": t4 - t3,
                  "first_ids_s": t5 - t4, "filtered_search_s": t6 - t5, "count": col.count()}))
"""


# --components: the saved filter columns and id map alone, at N labels, without a collection (cheap at 1M)
COMPONENTS_BUILD = r"""
import sys, numpy as np
from pathlib import Path
from gyeol.filters import MetadataColumns
from gyeol.filters.saved import save_columns
from gyeol.storage.idmap import hash_ids, save_map
n, folder = int(sys.argv[1]), Path(sys.argv[2])
rng = np.random.default_rng(0)
cols = MetadataColumns()
years = rng.integers(1990, 2026, n).tolist()
for s in range(0, n, 50_000):
    cols.append([{"lang": "ko" if i % 2 else "en", "year": years[i], "score": (i % 97) / 7, "tags": ["t%d" % (i % 13), "all"]}
                 for i in range(s, min(n, s + 50_000))])
save_columns(folder / "filters", cols, 1)
h = hash_ids([f"doc-{i}" for i in range(n)]); o = np.argsort(h)
save_map(folder / "ids", h[o], o.astype(np.int64), 1, n)
"""

COMPONENTS_MEASURE = r"""
import sys, time, json
import numpy as np, pyarrow, pyarrow.compute, pandas
from pathlib import Path
import gyeol.filters
from gyeol.filters import compile_where
from gyeol.filters.saved import load_columns
from gyeol.storage.idmap import load_saved_map
n, folder = int(sys.argv[1]), Path(sys.argv[2])
expr = compile_where({"lang": "ko", "year": {"$gte": 2020}})
t0 = time.perf_counter(); ids = load_saved_map(folder / "ids", 1, n); t1 = time.perf_counter()
cols = load_columns(folder / "filters", 1, n); m = cols.mask(expr); t2 = time.perf_counter()
m2 = cols.mask(compile_where({"tags": {"$contains": "t3"}})); t3 = time.perf_counter()
print(json.dumps({"id_map_load_ms": (t1 - t0) * 1e3, "columns_load_and_first_filter_ms": (t2 - t1) * 1e3,
                  "second_filter_other_key_ms": (t3 - t2) * 1e3, "matches": int(m.sum())}))
"""


def components(n: int, src: str, opens: int) -> dict:
    """Load times of the saved id map and filter columns of n labels, and the first filters over them."""
    folder = Path(tempfile.mkdtemp(prefix="gyeol-components-"))
    try:
        run(COMPONENTS_BUILD + "\nprint('{}')", [str(n), str(folder)], src)
        runs = [run(COMPONENTS_MEASURE, [str(n), str(folder)], src) for _ in range(opens)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return {"n": n, **{key: round(min(r[key] for r in runs), 1) for key in runs[0] if key.endswith("_ms")}}


def run(code: str, args: list[str], src: str) -> dict:
    env = {**os.environ, "PYTHONPATH": src}
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise SystemExit(f"child failed (exit {out.returncode}):\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def gyeol_file(src: str) -> str:
    return run("import json, gyeol; print(json.dumps({'file': gyeol.__file__}))", [], src)["file"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[10_000, 100_000], help="collection sizes")
    parser.add_argument("--batch", type=int, default=10_000, help="documents per add")
    parser.add_argument("--dim", type=int, default=32, help="vector dimension (vectors are not what is measured)")
    parser.add_argument("--opens", type=int, default=3, help="fresh processes per measurement (best is kept)")
    parser.add_argument("--baseline", default=None, help="a gyeol src folder to measure too, on its own collection")
    parser.add_argument("--components", action="store_true",
                        help="measure only the saved id map and filter columns at each N (no collection is built)")
    parser.add_argument("--baseline-max-n", type=int, default=None, help="measure the baseline up to this N only")
    add_output_args(parser, smoke="--n 2000 --batch 500 --opens 1")
    args = apply_smoke(parser.parse_args(), n=[2000], batch=500, opens=1)
    variants = {"this": str(ROOT / "src")}  # this checkout's gyeol, whatever is installed
    if args.baseline:
        variants["baseline"] = str(Path(args.baseline).resolve())
    files = {name: gyeol_file(src) for name, src in variants.items()}
    if args.components:
        rows = [components(n, variants["this"], args.opens) for n in args.n]
        print(markdown_table(rows, [("n", "N"), ("id_map_load_ms", "id map load ms"),
                                    ("columns_load_and_first_filter_ms", "columns load + first filter ms"),
                                    ("second_filter_other_key_ms", "second filter, another key ms")]))
        write_report(report_path(args, "open_filter_components"),
                     {"config": {"n": args.n, "opens": args.opens}, "machine": machine(),
                      "load_average": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M"), "rows": rows})
        return
    rows = []
    for n in args.n:
        for name, src in variants.items():
            if name == "baseline" and args.baseline_max_n is not None and n > args.baseline_max_n:
                continue
            folder = Path(tempfile.mkdtemp(prefix="gyeol-open-"))
            try:
                build = run(BUILD, [str(folder / "kb"), str(n), str(args.batch), str(args.dim)], src)
                runs = [run(MEASURE, [str(folder / "kb"), str(n), str(args.dim)], src) for _ in range(args.opens)]
            finally:
                shutil.rmtree(folder, ignore_errors=True)
            best = {key: min(r[key] for r in runs) for key in runs[0] if key.endswith("_s")}
            rows.append({"name": name, "n": n, "build_s": round(build["build_s"], 2),
                         **{key[:-2] + "_ms": round(value * 1000, 1) for key, value in best.items()},
                         "count": runs[0]["count"]})
    columns = [("name", "gyeol"), ("n", "N"), ("open_ms", "open ms"), ("filter_import_ms", "imports ms"),
               ("first_filter_ms", "first filter ms"),
               ("second_filter_ms", "second filter ms"), ("first_ids_ms", "first id lookup ms"),
               ("filtered_search_ms", "filtered search ms"), ("build_s", "build s")]
    print(markdown_table(rows, columns))
    report = {"config": {"n": args.n, "batch": args.batch, "dim": args.dim, "opens": args.opens, "gyeol": files},
              "machine": machine(), "load_average": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M"),
              "rows": rows}
    write_report(report_path(args, "open_filter"), report)


if __name__ == "__main__":
    main()
