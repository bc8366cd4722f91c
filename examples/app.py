"""A minimal RAG service loop: one writer ingests, many threads answer from a read-only handle.

    python examples/app.py [--db DIR] [--threads 4] [--seconds 10]

Copy this shape into an application:

1. `ingest()` runs once (a deploy step or a background job): it adds the Markdown folder with
   `add_documents` (unchanged files are skipped on later runs) and saves the BM25 index, so readers
   load it from disk instead of tokenizing the collection on their first search.
2. The service opens the folder read-only (any number of processes may, while one writer holds
   the lock) and shares one `Collection` handle between its worker threads; searches are
   thread-safe. A read-only handle sees the writer's next commit on its next call.
3. `answer()` searches, builds a cited context within a token budget and calls the LLM; here
   `generate()` is a stand-in that returns the best source's citation — put your model's call there.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import tempfile
import threading
import time
from pathlib import Path

import gyeol

DATA = gyeol.sample_folder()  # GNOME help pages: ko/ and en/ Markdown, pdf/, queries.json
COLLECTION = "help"


def ingest(db_path: Path, sources: list[Path]) -> gyeol.IngestReport:
    """Add (or refresh) the documents, then write the derived indexes readers will load."""
    with gyeol.connect(db_path) as db:
        col = db.create_collection(COLLECTION, exist_ok=True)
        report = col.add_documents(sources, progress=False)
        col.save_indexes(keyword=True)
        return report


def generate(prompt: str, context: "gyeol.Context") -> str:
    """Stand-in for the LLM call: replace with your model (the prompt holds numbered sources)."""
    return f"(answer citing [1] {context.sources[0]['citation']})" if context.sources else "(no sources found)"


def answer(col: gyeol.Collection, question: str) -> dict:
    """Search, build a cited context and generate; give back the answer with its sources."""
    res = col.search(question, k=8, rerank=gyeol.MMRReranker(0.3), rerank_depth=30)
    ctx = res.context(max_tokens=1500)
    prompt = f"Answer from the sources and cite them as [n].\n\n{ctx}\n\nQuestion: {question}"
    return {"question": question, "answer": generate(prompt, ctx),
            "sources": [(s["n"], s["citation"]) for s in ctx.sources]}


def serve(db_path: Path, questions: "queue.Queue[str | None]", threads: int) -> list[tuple[dict, float]]:
    """Answer questions from the queue on `threads` workers sharing one read-only handle, until None."""
    db = gyeol.connect(db_path, read_only=True)
    col = db.get_collection(COLLECTION)
    done: list[tuple[dict, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        while (question := questions.get()) is not None:
            started = time.perf_counter()
            result = answer(col, question)
            with lock:
                done.append((result, time.perf_counter() - started))

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    db.close()
    return done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=None, help="database folder (default: a new temporary one)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to keep sending questions")
    args = parser.parse_args()
    db_path = args.db or Path(tempfile.mkdtemp(prefix="gyeol-app-"))
    print(ingest(db_path, [DATA / "ko", DATA / "en"]))
    asked = [item["query"] for item in json.loads((DATA / "queries.json").read_text(encoding="utf-8"))]
    questions: "queue.Queue[str | None]" = queue.Queue()
    result: list[list[tuple[dict, float]]] = []
    server = threading.Thread(target=lambda: result.append(serve(db_path, questions, args.threads)))
    server.start()
    deadline, sent = time.monotonic() + args.seconds, 0
    while time.monotonic() < deadline or sent == 0:
        questions.put(asked[sent % len(asked)])
        sent += 1
        while questions.qsize() > 2 * args.threads and time.monotonic() < deadline:
            time.sleep(0.01)  # back-pressure: do not queue more than the workers can take
    for _ in range(args.threads):
        questions.put(None)
    server.join()
    done = result[0]
    first = done[0][0]
    print(f"{first['question']}\n  -> {first['answer']}  sources: {first['sources']}")
    latencies = sorted(seconds for _, seconds in done)
    print(f"answered {len(done)} questions on {args.threads} threads; "
          f"median {statistics.median(latencies) * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")


if __name__ == "__main__":
    main()
