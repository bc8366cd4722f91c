"""The memory / hybrid / disk tiers side by side, through gyeol's public API, against raw FAISS.

Clustered synthetic unit vectors (d=384; N=100k by default, --n 1000000 for 1M),
fixed queries. For each tier (and device, where a GPU is present) it measures:
build time (col.add of all vectors, index build included), QPS batched
(search_many) and single (search), p50/p95 single-query latency, recall@10
against exact search, RSS and peak RSS, index RAM bytes per vector, bytes on
disk, and cold open (a new process: connect, open the collection, first
result). Each row is also timed on the raw FAISS index the tier wraps, read
from the file gyeol saved and searched with the same parameters (the hybrid
row's raw baseline is IndexRefineFlat over the same IVF-PQ codes, rescoring
the same number of candidates from vectors held in RAM).

    python benchmarks/compare_tiers.py                 # N=100k: about 10 minutes on 2 cores
    python benchmarks/compare_tiers.py --n 1000000     # 1M
    python benchmarks/compare_tiers.py --devices cpu,gpu
    python benchmarks/compare_tiers.py --smoke --out /tmp/tiers   # tiny sizes: does it run

Writes benchmarks/results/compare_tiers.json, compare_tiers.md and compare_tiers.png.
Search timings are taken in a fresh process per row, after the build process
exited; the page cache is warm (the files were just written).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import (
    add_output_args,
    apply_smoke,
    batch_seconds,
    fresh_process,
    labels_scores,
    pyplot,
    report_path,
    tier_data as make_data,
)

_GPU_RESOURCES: list = []


# -- data ------------------------------------------------------------------------------------


def ground_truth(x: np.ndarray, q: np.ndarray, k: int) -> np.ndarray:
    import faiss

    return faiss.knn(q, x, k, metric=faiss.METRIC_INNER_PRODUCT)[1]


# -- process memory ----------------------------------------------------------------------------


def rss() -> dict[str, int]:
    """Current RSS split into anonymous and file-backed pages, and the peak, in bytes (Linux)."""
    out = {"rss": 0, "anon": 0, "file": 0, "peak": 0}
    keys = {"VmRSS:": "rss", "RssAnon:": "anon", "RssFile:": "file", "VmHWM:": "peak"}
    with open("/proc/self/status") as status:
        for line in status:
            parts = line.split()
            if parts and parts[0] in keys:
                out[keys[parts[0]]] = int(parts[1]) * 1024
    return out


def index_dir(db_dir: Path, tier: str) -> Path:
    """The collection's derived-index folder for a tier (the database has one collection)."""
    return next(db_dir.glob(f"collections/*/index/{tier}"))


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- build (parent process) --------------------------------------------------------------------


ROWS = {
    "cpu": [("memory", None), ("hybrid", None), ("disk", None)],
    "gpu": [("memory", "Flat"), ("memory", None), ("hybrid", None), ("disk", None)],  # memory default: IVF
}


def build_row(workdir: Path, tier: str, device: str, index_name: str | None, x: np.ndarray,
              name: str | None = None) -> dict[str, Any]:
    import gyeol

    spec = {"Flat": gyeol.Flat(), "IVF": gyeol.IVF(), None: None,
            # the tier's default index with tuning off (the default settings, for the tuning cost)
            "untuned": {"memory": gyeol.HNSW(recall_target=None), "disk": gyeol.IVF(recall_target=None),
                        "hybrid": gyeol.IVFPQ(nbits=8 if device == "gpu" else 4, recall_target=None)}[tier]
            }[index_name]
    name = name or f"{tier}-{device}-{index_name or 'default'}".lower()
    db_dir = workdir / name
    ids = [str(i) for i in range(len(x))]
    with gyeol.connect(db_dir) as db:
        col = db.create_collection("bench", embedder=None, dim=x.shape[1], tier=tier, device=device,
                                   index=spec, tokenizer="whitespace")
        t0 = time.perf_counter()
        col.add(ids=ids, vectors=x)
        build_s = time.perf_counter() - t0
        info = col.index_info
    return {"row": name, "tier": tier, "device": device, "index": info.get("kind"), "db": str(db_dir),
            "build_s": build_s, "index_info": info}


# -- measure (child process) -------------------------------------------------------------------


def cold_open(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: import time, then connect + open the collection + first result (timed apart)."""
    t_import = time.perf_counter()
    import faiss  # noqa: F401  (gyeol imports these lazily; their import is timed apart)
    import pyarrow.compute  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import gyeol

    try:  # pyarrow imports pandas, when installed, on its first pa.array(numpy): a library cost
        import pandas  # noqa: F401
    except ImportError:
        pass

    import_s = time.perf_counter() - t_import
    query = np.load(args.queries)[0]
    before = rss()
    t0 = time.perf_counter()
    db = gyeol.connect(args.db, read_only=True)
    col = db.get_collection("bench", device=args.device)
    hits = col.search(vector=query, k=10, mode="vector")
    took = time.perf_counter() - t0
    assert len(hits) == 10
    out = {"cold_open_s": took, "import_s": import_s, "rss_cold_open_bytes": rss()["rss"] - before["rss"]}
    db.close()
    return out


def index_open(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: the vector index alone (load_index + first search), its time and RSS."""
    import faiss  # noqa: F401

    from gyeol.index import load_index
    from gyeol.index.base import read_meta

    query = np.load(args.queries)[:1]
    directory = index_dir(Path(args.db), args.tier)
    meta = read_meta(directory)
    before = rss()
    t0 = time.perf_counter()
    index = load_index(directory, generation=meta["generation"], tier=args.tier, metric=meta["metric"],
                       dim=meta["dim"], next_label=meta["ntotal"], device=args.device)
    opened = rss()
    labels, _ = labels_scores(index.search(query, 10))
    took = time.perf_counter() - t0
    assert (labels >= 0).all()
    return {"index_open_s": took, "index_rss_open_bytes": opened["rss"] - before["rss"],
            "index_rss_first_result_bytes": rss()["rss"] - before["rss"]}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """In a fresh process: RSS of opening the collection, recall, then gyeol / index-layer / raw timings.

    A 10-vector warm-up database of the same tier is opened and searched first, so that
    lazy imports and allocator start-up are not counted as the collection's RSS.
    """
    import faiss

    import gyeol
    from gyeol.index.base import read_meta

    queries = np.load(args.queries)
    truth = np.load(args.truth)
    k = truth.shape[1]
    with gyeol.connect(args.warmup, read_only=True) as warm:
        warm.get_collection("bench", device=args.device).search(vector=queries[0], k=3, mode="vector")
    before = rss()
    db = gyeol.connect(args.db, read_only=True)
    col = db.get_collection("bench", device=args.device)
    opened = rss()
    col.search(vector=queries[0], k=k, mode="vector")
    after_first = rss()

    results = col.search_many(vectors=queries, k=k, mode="vector")
    found = np.array([[int(i) for i in r.ids] for r in results])
    recall = float(np.mean([len(set(f) & set(t)) / k for f, t in zip(found, truth)]))
    index = collection_index(col)
    n = index.ntotal
    out = {
        "n": n,
        "recall_at_10": recall,
        "rss_open_bytes": opened["rss"] - before["rss"],
        "anon_open_bytes": opened["anon"] - before["anon"],
        "rss_first_result_bytes": after_first["rss"] - before["rss"],
        "index_ram_bytes_per_vector": index.ram_bytes() / max(n, 1),
    }
    raw = raw_faiss(index_dir(Path(args.db), args.tier), read_meta, args, faiss)
    contenders = {
        "gyeol": (lambda qs: col.search_many(vectors=qs, k=k, mode="vector"),
                  lambda qv: col.search(vector=qv, k=k, mode="vector")),
        "index": (lambda qs: index.search(qs, k), lambda qv: index.search(qv[None, :], k)),
        "raw": (lambda qs: raw.search(qs, k), lambda qv: raw.search(qv[None, :], k)),
    }
    timings = interleaved(contenders, queries, queries[: args.single], rounds=args.rounds,
                          min_seconds=args.min_seconds)
    out.update(timings["gyeol"])
    out.update({f"index_{key}": value for key, value in timings["index"].items()})
    out.update({f"raw_{key}": value for key, value in timings["raw"].items()})
    out["peak_rss_bytes"] = rss()["peak"]
    out["load_average"] = load_average()
    db.close()
    return out


def interleaved(contenders: dict[str, tuple[Any, Any]], batch: np.ndarray, singles: np.ndarray, *,
                rounds: int, min_seconds: float) -> dict[str, dict[str, float]]:
    """Batched QPS (alternating rounds, best kept) and single-query figures timed query by query.

    Single queries: each round runs every contender over all the queries in turn (the order of
    the contenders rotating per round), and each (contender, query) keeps its fastest of the
    rounds: a burst of background load on a shared machine costs one contender one query's
    round, not a whole figure. (Not query by query across contenders: gyeol and its index layer
    share one index, so whichever ran second would find that query's graph nodes or lists in
    the CPU cache, and the raw copy never would.) QPS single is 1 / the mean of those
    per-query times; p50 / p95 are over them too.
    """
    names = list(contenders)
    best_batch = {name: float("inf") for name in names}
    for _ in range(rounds):
        for name in names:
            best_batch[name] = min(best_batch[name], batch_seconds(contenders[name][0], batch, min_seconds / rounds))
    best = {name: np.full(len(singles), np.inf) for name in names}
    for name in names:  # warm-up
        contenders[name][1](singles[0])
    for r in range(max(rounds, 3)):
        for j in range(len(names)):
            name = names[(r + j) % len(names)]
            single, times = contenders[name][1], best[name]
            for i, query in enumerate(singles):
                t0 = time.perf_counter()
                single(query)
                took = time.perf_counter() - t0
                if took < times[i]:
                    times[i] = took
    return {name: {"qps_batched": len(batch) / best_batch[name], "qps_single": 1.0 / float(best[name].mean()),
                   "p50_ms": float(np.percentile(best[name], 50) * 1e3),
                   "p95_ms": float(np.percentile(best[name], 95) * 1e3)} for name in names}


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages (what else ran on the machine), as `uptime` shows them."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def collection_index(col):
    """The VectorIndex behind a collection, for the index layer's own overhead and RAM.

    No public accessor exists, and loading a second copy would add its RAM to the peak RSS
    reported, so this reads a private member: Collection._vindex, or, after the engine
    redesign (issue 8), Collection._engine.vectors.index.
    """
    engine = getattr(col, "_engine", None)
    return engine.vectors.index if engine is not None else col._vindex


def raw_faiss(directory: Path, read_meta, args, faiss):
    """The same FAISS index read from gyeol's files with the same parameters, no gyeol code."""
    meta = read_meta(directory)
    state = meta["index"]
    rescore = None
    if state["type"] == "rescored":
        rescore, vectors_file, state = state["rescore"], directory / state["vectors"], state["inner"]
        if state is None:  # too few vectors to train codes: an exact scan of the vector file
            full = np.fromfile(vectors_file, dtype=np.float32).reshape(-1, meta["dim"])
            index = faiss.IndexFlatL2(meta["dim"]) if meta["metric"] == "l2" else faiss.IndexFlatIP(meta["dim"])
            index.add(full)
            return index
    if state["type"] == "disk":
        state = state["base"]
        index = faiss.read_index(str(directory / state["file"]),
                                 faiss.IO_FLAG_MMAP_IFC if state["family"] == "scan" else faiss.IO_FLAG_MMAP)
    else:
        index = faiss.read_index(str(directory / state["file"]))
    if state.get("nprobe"):
        faiss.extract_index_ivf(index).nprobe = state["nprobe"]
    if state.get("ef_search"):
        faiss.downcast_index(index).hnsw.efSearch = state["ef_search"]
    if args.device == "gpu" and faiss.get_num_gpus() > 0:
        options = faiss.GpuClonerOptions()
        options.useFloat16 = state.get("kind") == "ivfpq"  # as gyeol does
        try:
            resources = faiss.StandardGpuResources()
            index = faiss.index_cpu_to_gpu(resources, 0, index, options)
            _GPU_RESOURCES.append(resources)  # must outlive the GPU index
            if state.get("nprobe"):
                faiss.GpuParameterSpace().set_index_parameter(index, "nprobe", min(state["nprobe"], 2048))
        except RuntimeError:
            pass  # kinds without a GPU form stay on the CPU, as in gyeol
    if rescore:
        full = np.fromfile(vectors_file, dtype=np.float32, count=index.ntotal * index.d).reshape(-1, index.d)
        refine = faiss.IndexRefineFlat(index, faiss.swig_ptr(full))  # copies the vectors into RAM
        refine.k_factor = float(rescore)
        return refine
    return index


# -- report ----------------------------------------------------------------------------------


def markdown(rows: list[dict[str, Any]], config: dict[str, Any]) -> str:
    mib = 1024 * 1024
    head = (
        f"N={config['n']:,}, d={config['dim']}, {config.get('data', 'easy')} data, {config['nq']} queries (single-query figures over "
        f"{config['single']}), k=10, {config['machine']}; gyeol {config['gyeol']}, faiss {config['faiss']}; "
        f"load average (1/5/15 min, from `uptime`) {load_text(config.get('load_start'))} at the start, "
        f"{load_text(config.get('load_end'))} at the end.\n\n"
        "| tier | device | index | build s | recall@10 | QPS batched | QPS single | p50 / p95 ms "
        "| vs raw FAISS: API | vs raw FAISS: index layer | RAM B/vector | index open s / RSS MiB "
        "| collection open s / RSS MiB | peak RSS MiB | disk MiB | tuned settings (tuning s) "
        "| RAM accounted: B/vector + fixed KiB |\n"
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|\n"
    )
    lines = []
    for r in rows:
        ram = r["index_info"].get("ram", {"bytes_per_vector": 0, "fixed_bytes": 0})
        lines.append(
            f"| {r['tier']} | {device_text(r)} | {r['index']} | {build_text(r)} | {r['recall_at_10']:.3f} "
            f"| {r['qps_batched']:,.0f} | {r['qps_single']:,.0f} | {r['p50_ms']:.2f} / {r['p95_ms']:.2f} "
            f"| {r['qps_batched'] / r['raw_qps_batched']:.2f} / {r['qps_single'] / r['raw_qps_single']:.2f} "
            f"| {r['index_qps_batched'] / r['raw_qps_batched']:.2f} / "
            f"{r['index_qps_single'] / r['raw_qps_single']:.2f} "
            f"| {r['index_ram_bytes_per_vector']:.0f} "
            f"| {r['index_open_s']:.3f} / {r['index_rss_open_bytes'] / mib:.1f} "
            f"| {r['cold_open_s']:.3f} / {r['rss_open_bytes'] / mib:.1f} "
            f"| {r['peak_rss_bytes'] / mib:.0f} | {r['disk_bytes'] / mib:.0f} | {tuned(r)} "
            f"| {ram['bytes_per_vector']:.0f} + {ram['fixed_bytes'] / 1024:.0f} |"
        )
    notes = """

- build s: `col.add` of all N vectors in one call (Parquet write + index build, training and tuning included);
  with `--tuning-cost`, the same tier's default index built again with `recall_target=None` (no tuning, no
  larger codes tried), and the ratio.
- QPS batched: `col.search_many(vectors=..., mode="vector")` over all queries in one call; QPS single and
  p50 / p95: `col.search(vector=...)`, one query per call.
- vs raw FAISS (batched / single): QPS ratio against the FAISS index gyeol saved, read back with the same
  flags and searched with the same parameters, no gyeol code (hybrid: `IndexRefineFlat` over the same IVF-PQ
  codes, rescoring the same number of candidates from vectors held in RAM). "API" times the public
  `Collection` calls; "index layer" times gyeol's `VectorIndex.search` alone (what `gyeol.index` adds).
  gyeol, index layer and raw are timed in one process: batched in alternating rounds (the best round of each
  counts), single queries one at a time, each contender over all queries per round in rotating order, each
  query's fastest of the rounds counting, so background load on a shared machine hits the three alike.
- RAM B/vector: the index's own RAM per vector (codes, ids, graph, centroids; memory-mapped files excluded).
- index open: a fresh process runs `load_index` and one search; RSS growth from before the load.
- collection open: a fresh process runs `gyeol.connect(path, read_only=True)`, `get_collection`, one search
  (time; library imports excluded: gyeol, FAISS, pyarrow and pandas, which pyarrow imports on its first
  `pa.array(numpy)` when installed); RSS: growth from connect to an opened collection,
  measured in a process that first opened a 10-vector warm-up database (library start-up not counted).
- Page cache warm (the files were just written); timings on a machine that may be shared.
"""
    return head + "\n".join(lines) + notes


def device_text(row: dict[str, Any]) -> str:
    """The device asked for, and the one the index really serves from when they differ ("gpu -> cpu")."""
    used = row["index_info"].get("device", row["device"])
    return row["device"] if used == row["device"] else f"{row['device']} -> {used}"


def build_text(row: dict[str, Any]) -> str:
    """Build seconds, and with --tuning-cost the untuned build and the ratio: "83.7 (64.1 untuned, 1.31x)"."""
    if row.get("build_s_untuned"):
        return f"{row['build_s']:.1f} ({row['build_s_untuned']:.1f} untuned, {row['build_s'] / row['build_s_untuned']:.2f}x)"
    return f"{row['build_s']:.1f}"


def load_text(load: list[float] | None) -> str:
    return " / ".join(f"{x:.2f}" for x in load) if load else "?"


def tuned(row: dict[str, Any]) -> str:
    """The settings tuning chose, e.g. "nprobe 56, rescore 8, PQ192x4fs (0.8 s)"; "-" when not tuned."""
    record = row["index_info"].get("tuning")
    if not record:
        return "-"
    parts = [f"{key} {value}" if key != "codes" else str(value) for key, value in record["settings"].items()]
    return f"{', '.join(parts)} ({record['seconds']:.1f} s)"


def plot(rows: list[dict[str, Any]], path: Path) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    for r in rows:
        size = 30 + r["index_ram_bytes_per_vector"] / 4
        dot = ax.scatter(r["qps_batched"], r["recall_at_10"], s=size, alpha=0.6)
        ax.scatter(r["raw_qps_batched"], r["recall_at_10"], marker="x", color=dot.get_facecolor()[0])
        ax.annotate(f"{r['tier']}/{r['device']} ({r['index']})\n{r['index_ram_bytes_per_vector']:.0f} B/vector",
                    (r["qps_batched"], r["recall_at_10"]), textcoords="offset points", xytext=(14, -16), fontsize=8)
    ax.set_xscale("log")
    ax.margins(x=0.3, y=0.3)
    ax.set_xlabel("queries per second, batched (log scale); x = the raw FAISS index at the same recall")
    ax.set_ylabel("recall@10")
    ax.set_title(f"gyeol tiers, N={rows[0]['n']:,}: recall vs QPS (marker area ~ index RAM per vector)",
                 fontsize=10)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


# -- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--nq", type=int, default=1000, help="queries (batched QPS, recall)")
    parser.add_argument("--single", type=int, default=300, help="queries timed one at a time")
    parser.add_argument("--min-seconds", type=float, default=2.0, help="least time per batched QPS figure")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (best kept)")
    parser.add_argument("--devices", default="cpu", help="comma list of cpu,gpu (gpu rows only with a GPU)")
    parser.add_argument("--tiers", default="memory,hybrid,disk")
    parser.add_argument("--data", choices=("easy", "hard"), default="easy",
                        help="easy: clustered, anisotropic noise; hard: isotropic noise as large as the clusters")
    parser.add_argument("--seed", type=int, default=2024, help="data seed (gyeol's tuning was designed on seed 7)")
    parser.add_argument("--tuning-cost", action="store_true",
                        help="build each default row again with tuning off (build time with / without tuning)")
    parser.add_argument("--workdir", default=None, help="where databases go (default: a temp dir, removed)")
    parser.add_argument("--tag", default="", help="suffix of the result files (default: N unless 100k)")
    parser.add_argument("--child", nargs=5, metavar=("MODE", "DB", "TIER", "DEVICE", "DATA"), help=argparse.SUPPRESS)
    add_output_args(parser, smoke="--n 2000 --dim 32 --nq 50 --single 20 --min-seconds 0.05 --rounds 1")
    args = apply_smoke(parser.parse_args(), n=2000, dim=32, nq=50, single=20, min_seconds=0.05, rounds=1)

    if args.child:  # a fresh process for one row: "open" (cold open) or "measure"
        mode, args.db, args.tier, args.device, data_dir = args.child
        args.queries, args.truth = Path(data_dir) / "queries.npy", Path(data_dir) / "truth.npy"
        args.warmup = Path(data_dir) / f"warmup-{args.tier}-{args.device}"
        print(json.dumps({"open": cold_open, "index": index_open, "measure": measure}[mode](args)))
        return

    import faiss

    import gyeol

    gpus = faiss.get_num_gpus() if hasattr(faiss, "get_num_gpus") else 0
    tiers = args.tiers.split(",")
    devices = [d for d in args.devices.split(",") if d == "cpu" or gpus > 0]
    tmp = tempfile.TemporaryDirectory(prefix="gyeol-tiers-") if args.workdir is None else None
    workdir = Path(args.workdir or tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    load_start = load_average()
    print(f"data: N={args.n:,} d={args.dim} {args.data}, {args.nq} queries", flush=True)
    x, queries = make_data(args.n, args.dim, args.nq, args.data, args.seed)
    truth = ground_truth(x, queries, 10)
    np.save(workdir / "queries.npy", queries)
    np.save(workdir / "truth.npy", truth)

    rows = []
    for device in devices:
        for tier, index_name in ROWS[device]:
            if tier not in tiers:
                continue
            built = build_row(workdir, tier, device, index_name, x)
            print(f"built {built['row']}: {built['index']} in {built['build_s']:.1f}s", flush=True)
            warmup = workdir / f"warmup-{tier}-{device}"
            if not warmup.exists():
                build_row(warmup.parent, tier, device, None, x[:10], name=warmup.name)
            row = dict(built)
            if args.tuning_cost and index_name is None:
                plain = build_row(workdir, tier, device, "untuned", x)
                row["build_s_untuned"] = plain["build_s"]
                shutil.rmtree(plain["db"])
                print(f"  without tuning: {plain['build_s']:.1f}s", flush=True)
            for mode in ("open", "index", "measure"):
                measured, _ = fresh_process(
                    [__file__, "--child", mode, built["db"], tier, device, str(workdir),
                     "--single", str(args.single), "--min-seconds", str(args.min_seconds),
                     "--rounds", str(args.rounds)],
                    what=f"measuring {built['row']} ({mode})",
                )
                row.update(measured)
            row["disk_bytes"] = dir_bytes(Path(built["db"]))
            row["index_disk_bytes"] = dir_bytes(index_dir(Path(built["db"]), tier))
            rows.append(row)
            print(f"  recall@10 {row['recall_at_10']:.3f}  QPS {row['qps_batched']:,.0f} batched "
                  f"{row['qps_single']:,.0f} single (index {row['index_qps_batched']:,.0f} / "
                  f"{row['index_qps_single']:,.0f}, raw {row['raw_qps_batched']:,.0f} / "
                  f"{row['raw_qps_single']:,.0f})  open {row['cold_open_s']:.3f}s (index "
                  f"{row['index_open_s']:.3f}s)  RSS open {row['rss_open_bytes'] / 2**20:.1f} MiB (index "
                  f"{row['index_rss_open_bytes'] / 2**20:.1f})", flush=True)

    config = {
        "n": args.n, "dim": args.dim, "nq": args.nq, "single": args.single, "data": args.data, "seed": args.seed,
        "machine": f"{os.cpu_count()} CPUs, {platform.machine()}, {platform.python_version()}",
        "gyeol": gyeol.__version__, "faiss": faiss.__version__,
        "total_s": time.perf_counter() - t_start,
        "load_start": load_start, "load_end": load_average(),
    }
    suffix = f"_{args.tag}" if args.tag else ("" if args.n == 100_000 else f"_{args.n}")
    suffix += "_hard" if args.data == "hard" else ""
    out = report_path(args, f"compare_tiers{suffix}")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"config": config, "rows": rows}, indent=2))
    table = markdown(rows, config)
    out.with_suffix(".md").write_text(table)
    plot(rows, out.with_suffix(".png"))
    print()
    print(table)
    print(f"total {config['total_s']:.0f}s; wrote {out.with_suffix('')}.{{json,md,png}}")
    if tmp is not None:
        tmp.cleanup()


if __name__ == "__main__":
    main()
