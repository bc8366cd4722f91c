"""Write streams for the crash tests: run as a script, it writes until it is killed.

    python streams.py DB_PATH MODE START

MODE is add, upsert, delete or compact; after each call returns the script prints
the stream step number on its own line (flushed), so the parent knows which calls
were acknowledged. The batch contents are pure functions of their numbers, so the
parent can check what it finds on reopen without talking to the child.
"""

from __future__ import annotations

import itertools
import sys

import numpy as np

COLLECTION = "stream"
DIM = 16
BATCH = 50
METRIC = "l2"  # vectors are stored as given, so the parent can compare them exactly


def batch_ids(b: int) -> list[str]:
    return [f"b{b}-{i}" for i in range(BATCH)]


def batch(b: int) -> tuple[list[str], list[str], list[dict], np.ndarray]:
    """(ids, texts, metadata, vectors) of add batch b."""
    ids = batch_ids(b)
    texts = [f"batch {b} doc {i}" for i in range(BATCH)]
    metadata = [{"b": b, "i": i, "tags": ["x", str(i % 3)]} for i in range(BATCH)]
    vectors = np.random.default_rng(b).standard_normal((BATCH, DIM)).astype(np.float32)
    return ids, texts, metadata, vectors


def version(v: int) -> tuple[list[str], list[str], list[dict], np.ndarray]:
    """(ids, texts, metadata, vectors) that upsert step v - 1 writes over ids d0..d49."""
    ids = [f"d{i}" for i in range(BATCH)]
    texts = [f"version {v} doc {i}" for i in range(BATCH)]
    metadata = [{"v": v, "i": i} for i in range(BATCH)]
    vectors = np.random.default_rng(100_000 + v).standard_normal((BATCH, DIM)).astype(np.float32)
    return ids, texts, metadata, vectors


def main(path: str, mode: str, start: int) -> None:
    import gyeol

    db = gyeol.connect(path)
    col = db.get_collection(COLLECTION)
    print("ready", flush=True)
    for step in itertools.count(start):
        if mode == "add":
            ids, texts, metadata, vectors = batch(step)
            col.add(texts, ids=ids, metadata=metadata, vectors=vectors)
        elif mode == "upsert":
            ids, texts, metadata, vectors = version(step + 1)
            col.upsert(texts, ids=ids, metadata=metadata, vectors=vectors)
        elif mode == "delete":
            deleted = col.delete(batch_ids(step))
            if deleted != BATCH:
                raise SystemExit(f"delete of batch {step} removed {deleted}")
        elif mode == "compact":
            ids, texts, metadata, vectors = batch(step)
            col.add(texts, ids=ids, metadata=metadata, vectors=vectors)
            col.delete(ids[::2])
            col.compact()
        else:
            raise SystemExit(f"unknown mode {mode}")
        print(step, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
