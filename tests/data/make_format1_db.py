"""Write tests/data/format1_db: a small database in on-disk format 1, and what searching it gave.

Run once with the gyeol whose format is being frozen (PYTHONPATH=<its src> python this_file.py);
test_formats.py then opens the copy with today's code. Every tier and both derived indexes
(vector, BM25) are saved, with a delete, so every file kind a database holds is there.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np

import gyeol

OUT = Path(__file__).resolve().parent / "format1_db"
DIM = 8
N = 120
QUERY = np.linspace(-1.0, 1.0, DIM, dtype=np.float32)
KEYWORDS = "alpha w3"


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((N, DIM)).astype(np.float32)
    words = [f"w{i}" for i in range(40)] + ["alpha", "beta"]
    texts = [" ".join(rng.choice(words, size=6)) for _ in range(N)]
    ids = [f"d{i}" for i in range(N)]
    metadata = [{"n": i, "tag": f"t{i % 3}"} for i in range(N)]
    expected: dict[str, dict[str, list[str]]] = {}
    with gyeol.connect(OUT) as db:
        for tier in ("memory", "hybrid", "disk"):
            col = db.create_collection(tier, embedder=None, dim=DIM, tier=tier, index=gyeol.Flat(),
                                       tokenizer="whitespace")
            col.add(texts[:80], ids=ids[:80], metadata=metadata[:80], vectors=vectors[:80])
            col.add(texts[80:], ids=ids[80:], metadata=metadata[80:], vectors=vectors[80:])
            col.delete(ids[::10])
            col.save_indexes(keyword=True)
            expected[tier] = {
                "vector": col.search(vector=QUERY, k=10, mode="vector").ids,
                "keyword": col.search(KEYWORDS, k=10, mode="keyword").ids,
                "where": col.search(vector=QUERY, k=10, mode="vector", where={"tag": "t1"}).ids,
            }
    (OUT.parent / "format1_expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {OUT} with gyeol from {Path(gyeol.__file__).parent}", file=sys.stderr)


if __name__ == "__main__":
    main()
