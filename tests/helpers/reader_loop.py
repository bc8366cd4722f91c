"""Read a collection over and over, read-only, while another process writes to it.

    python reader_loop.py DB_PATH COLLECTION SECONDS

The writer stores doc j as id f"i{j}", text f"doc {j}", vector doc_vector(j) (metric l2,
so stored as given) and never deletes the anchors i0..i9. Each round checks what must
hold in every committed state: ids are unique, each document's text and vector belong
to its id, the anchors are there, and an anchor's own vector finds it first.
Prints one JSON line: rounds run, errors seen (type: message -> count), bad rounds.
"""

from __future__ import annotations

import json
import sys
import time

import numpy as np

DIM = 8
ANCHORS = 10


def doc_vector(j: int) -> np.ndarray:
    return np.random.default_rng(j).standard_normal(DIM).astype(np.float32)


def check_documents(col) -> tuple[list[str], str | None]:
    """(ids read, what is wrong with them or None): unique ids, each with its own text and vector."""
    docs = col.get(include_vectors=True)
    ids = [d.id for d in docs]
    if len(set(ids)) != len(ids):
        return ids, "duplicate ids"
    for d in docs:
        j = int(d.id[1:])
        if d.text != f"doc {j}" or not np.array_equal(d.vector, doc_vector(j)):
            return ids, f"{d.id} has another document's text or vector"
    return ids, None


def check_round(col) -> str | None:
    """What is wrong with the collection as read now, or None."""
    ids, problem = check_documents(col)
    if problem is not None:
        return problem
    if not {f"i{j}" for j in range(ANCHORS)} <= set(ids):
        return "an anchor is missing"
    anchor = int(time.monotonic_ns() % ANCHORS)
    hits = col.search(vector=doc_vector(anchor), k=3, mode="vector")
    if hits.ids[:1] != [f"i{anchor}"] or abs(hits.scores[0]) > 1e-4:
        return f"anchor i{anchor} not found first: {hits.ids} {hits.scores}"
    return None


def main(path: str, name: str, seconds: float) -> None:
    import gyeol

    errors: dict[str, int] = {}
    bad: dict[str, int] = {}
    rounds = 0
    deadline = time.monotonic() + seconds
    db = None
    while time.monotonic() < deadline:
        try:
            if db is None or rounds % 2 == 0:  # reopen now and then: opening races the writer too
                if db is not None:
                    db.close()
                db = gyeol.connect(path, read_only=True)
            problem = check_round(db.get_collection(name))
            if problem is not None:
                bad[problem] = bad.get(problem, 0) + 1
            rounds += 1
        except Exception as exc:  # count it; the test decides
            key = f"{type(exc).__name__}: {str(exc)[:200]}"
            errors[key] = errors.get(key, 0) + 1
            db = None
    print(json.dumps({"rounds": rounds, "errors": errors, "bad": bad}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
