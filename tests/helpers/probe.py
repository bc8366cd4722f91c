"""A second process that opens a database on command, for lock and reader tests.

Reads one command per stdin line and answers one JSON line on stdout:
    open_writer | open_reader        connect (read-write / read-only) to DB_PATH
    add NAME START N                 add docs p{START}..p{START+N-1} (vectors from their number)
    state NAME                       count, sorted ids, and the top vector hit for each doc's stored vector
    close                            close the database
Errors come back as {"error": "<class name>", "message": "..."}.
"""

from __future__ import annotations

import json
import sys

import numpy as np

DIM = 8


def doc_vectors(numbers: list[int]) -> np.ndarray:
    return np.stack([np.random.default_rng(n).standard_normal(DIM) for n in numbers]).astype(np.float32)


def main(path: str) -> None:
    import gyeol

    db = None
    for line in sys.stdin:
        cmd, *args = line.split()
        try:
            if cmd == "open_writer":
                db = gyeol.connect(path)
                reply = {"ok": True}
            elif cmd == "open_reader":
                db = gyeol.connect(path, read_only=True)
                reply = {"ok": True}
            elif cmd == "add":
                col = db.get_collection(args[0])
                start, n = int(args[1]), int(args[2])
                numbers = list(range(start, start + n))
                col.add([f"doc {j}" for j in numbers], ids=[f"p{j}" for j in numbers], vectors=doc_vectors(numbers))
                reply = {"ok": True, "count": col.count()}
            elif cmd == "state":
                col = db.get_collection(args[0])
                docs = sorted(col.get(include_vectors=True), key=lambda d: d.id)
                ids = [d.id for d in docs]
                top = []
                if docs:
                    vectors = np.stack([d.vector for d in docs])
                    top = [r.ids[0] for r in col.search_many(vectors=vectors, k=1, mode="vector")]
                reply = {"ok": True, "count": col.count(), "ids": ids, "top": top}
            elif cmd == "close":
                db.close()
                reply = {"ok": True}
            else:
                reply = {"error": "UnknownCommand", "message": cmd}
        except Exception as exc:  # report, keep serving
            reply = {"error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
