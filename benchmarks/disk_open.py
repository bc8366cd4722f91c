"""Open cost of the disk tier's memory-mapped IVF-Flat index: whole-file crc32 vs per-list sums.

Builds one IVF-Flat disk index (N vectors, d dims, nlist = 4*sqrt(N)) with gyeol.index.disk.build_disk,
then times, each in a fresh process, load_disk + one search of 10 neighbours, alternating two states of
the same file: "whole" (the meta without its per-list sums, as written before them: the open checks
the whole file's crc32) and "lazy" (the open checks the head, the search the lists it
probes). The file stays in the page cache (warm cache, fresh process). Best and median of --rounds.

    python benchmarks/disk_open.py --n 100000 --dim 384 --rounds 7 --out benchmarks/results
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def build(folder: Path, n: int, dim: int) -> dict[str, Any]:
    import faiss

    from gyeol.index.disk import build_disk

    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, dim)).astype(np.float32)
    nlist = max(1, int(4 * math.sqrt(n)))
    ivf = faiss.IndexIVFFlat(faiss.IndexFlatL2(dim), dim, nlist)
    ivf.train(x[: min(n, 64 * nlist)])
    ivf.nprobe = max(1, nlist // 32)
    disk = build_disk(ivf, x, folder, metric="l2", nprobe=ivf.nprobe, rebuild_at=None)
    state = disk.save(folder)
    np.save(folder / "query.npy", x[:1])
    return state


def child(folder: Path, state_file: Path) -> None:
    """One timed open + first search, printed as JSON."""
    import faiss  # noqa: F401  (import cost kept out of the timing)

    from gyeol.index.disk import load_disk

    state = json.loads(state_file.read_text())
    query = np.load(folder / "query.npy")
    t0 = time.perf_counter()
    index = load_disk(folder, state, metric="l2", dim=query.shape[1], read_only=True)
    opened = time.perf_counter()
    labels = index.search(query, 10).labels
    done = time.perf_counter()
    assert labels[0, 0] == 0
    print(json.dumps({"open_s": opened - t0, "open_first_result_s": done - t0}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    parser.add_argument("--smoke", action="store_true", help="a tiny run for CI (N=2000, d=16, 2 rounds)")
    parser.add_argument("--child", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    if args.smoke:
        args.n, args.dim, args.rounds = 2000, 16, 2
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        state = build(folder, args.n, args.dim)
        whole = {**state, "base": {k: v for k, v in state["base"].items() if k != "lists"}}
        files = {"whole": folder / "whole.json", "lazy": folder / "lazy.json"}
        files["whole"].write_text(json.dumps(whole))
        files["lazy"].write_text(json.dumps(state))
        times: dict[str, list[dict[str, float]]] = {"whole": [], "lazy": []}
        for _ in range(args.rounds):  # interleaved A/B
            for name, path in files.items():
                out = subprocess.run([sys.executable, __file__, "--child", str(folder), str(path)],
                                     check=True, capture_output=True, text=True).stdout
                times[name].append(json.loads(out.strip().splitlines()[-1]))
        size = (folder / state["base"]["file"]).stat().st_size
    rows = {}
    for name, runs in times.items():
        rows[name] = {key: {"best": min(r[key] for r in runs), "median": float(np.median([r[key] for r in runs]))}
                      for key in ("open_s", "open_first_result_s")}
    report = {"config": {"n": args.n, "dim": args.dim, "rounds": args.rounds, "file_bytes": size}, "rows": rows}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"disk_open{'_smoke' if args.smoke else ''}.json").write_text(json.dumps(report, indent=2))
    for name, row in rows.items():
        print(f"{name:5s} open {row['open_s']['median']:.4f} s (best {row['open_s']['best']:.4f}), "
              f"open+first result {row['open_first_result_s']['median']:.4f} s")


if __name__ == "__main__":
    main()
