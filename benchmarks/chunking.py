"""Chunkers compared on a real Korean set: gyeol's SentenceChunker, LangChain's recursive splitter, chonkie.

    python benchmarks/chunking.py [--data benchmarks/data/gnome_help_ko] [--size 300] [--overlap 50]
                                  [--split report] [--out DIR] [--smoke]

Each page of the set (a GNOME help page) is chunked by each chunker and ingested with
`col.add_documents` (a `gyeol.Document` per page, so every chunk's `doc_id` is its page); the
queries' relevant ids are pages. Retrieval is keyword mode (Kiwi BM25; embedding ~1,500 chunks
with the default embedder takes minutes on 2 cores, so the collections get a constant
placeholder embedder that keyword mode never calls). Reported per chunker:

- `evaluate mrr@10`: `col.evaluate` with every chunk of the relevant page judged relevant, i.e.
  the rank of the page's first chunk among chunks;
- `page mrr@10` / `page recall@10`: the ranked chunks folded to their pages (first occurrence
  kept), scored against the relevant pages (benchmarks/retrieval_sets.rank_metrics);
- `chunks/s` (and MB/s, and chunks per CPU second, which a loaded machine disturbs less): the
  chunker alone over all pages, best of 3 after one warm-up page; gyeol's through chunk_many (all
  pages in one call, as add_documents batches them), the others one page a call.

Sizes are characters (each chunker's character length function). The "page" row stores each page
whole (no chunking), the reference the chunkers are measured against. Prints a table and writes
benchmarks/results/chunking.json.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness import add_output_args, apply_smoke, machine, markdown_table, report_path, write_report
from retrieval_sets import load_retrieval_set, rank_metrics

import gyeol
from gyeol.chunking import SentenceChunker

ROOT = Path(__file__).resolve().parents[1]


def _placeholder_embedder(texts: list[str]) -> np.ndarray:
    return np.ones((len(texts), 4), np.float32)  # keyword mode never searches these vectors


def chunkers(size: int, overlap: int) -> dict[str, tuple[Callable[[str], list[str]] | Any, dict[str, Any]]]:
    """name -> (chunker for add_documents, description); chunkers whose package is missing are left out."""
    found: dict[str, tuple[Any, dict[str, Any]]] = {
        "gyeol SentenceChunker": (SentenceChunker(size=size, overlap=overlap),
                                  {"package": "gyeol", "settings": f"size={size}, overlap={overlap}, chars"}),
    }
    try:
        from langchain_text_splitters import RecursiveCharacterTextSplitter
        import langchain_text_splitters

        splitter = RecursiveCharacterTextSplitter(chunk_size=size, chunk_overlap=overlap)
        found["langchain RecursiveCharacterTextSplitter"] = (
            splitter.split_text, {"package": f"langchain-text-splitters {_version('langchain-text-splitters')}",
                                  "settings": f"chunk_size={size}, chunk_overlap={overlap}"})
        del langchain_text_splitters
    except ImportError:
        print("langchain-text-splitters not installed: skipped", file=sys.stderr)
    try:
        import chonkie

        recursive = chonkie.RecursiveChunker(tokenizer="character", chunk_size=size)
        sentence = chonkie.SentenceChunker(tokenizer="character", chunk_size=size, chunk_overlap=overlap)
        found["chonkie RecursiveChunker"] = (
            lambda text: [c.text for c in recursive.chunk(text)],
            {"package": f"chonkie {chonkie.__version__}", "settings": f"chunk_size={size} (no overlap option)"})
        found["chonkie SentenceChunker"] = (
            lambda text: [c.text for c in sentence.chunk(text)],
            {"package": f"chonkie {chonkie.__version__}", "settings": f"chunk_size={size}, chunk_overlap={overlap}"})
    except ImportError:
        print("chonkie not installed: skipped", file=sys.stderr)
    return found


def _version(dist: str) -> str:
    from importlib.metadata import version

    return version(dist)


def _pieces(chunker: Any, text: str) -> list[str]:
    return [c.text for c in chunker.chunk(text)] if hasattr(chunker, "chunk") else list(chunker(text))


def chunk_speed(chunker: Any, texts: list[str], repeats: int) -> tuple[float, int, float]:
    """(best seconds to chunk every text, chunk count, best CPU seconds), after one warm-up call
    (Kiwi loads then). A chunker with chunk_many (gyeol's) gets all texts in one call, as
    add_documents gives them (64 at a time there); the others one text a call."""
    _pieces(chunker, texts[0])
    many = getattr(chunker, "chunk_many", None)
    best, best_cpu, count = float("inf"), float("inf"), 0
    for _ in range(repeats):
        started, cpu = time.perf_counter(), time.process_time()
        if callable(many):
            count = sum(len(chunks) for chunks in many(texts))
        else:
            count = sum(len(_pieces(chunker, text)) for text in texts)
        best = min(best, time.perf_counter() - started)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best, count, best_cpu


def measure(name: str, chunker: Any, data: Any, repeats: int) -> dict[str, Any]:
    db = gyeol.connect()
    col = db.create_collection("c", embedder=_placeholder_embedder)
    docs = [gyeol.Document(doc_id, text) for doc_id, text in zip(data.doc_ids, data.doc_texts)]
    started = time.perf_counter()
    report = col.add_documents(docs, chunker=chunker, progress=False)
    ingest_s = time.perf_counter() - started
    stored = col.get()
    by_page: dict[str, list[str]] = {}
    for doc in stored:
        by_page.setdefault(doc.metadata.get("doc_id", doc.id), []).append(doc.id)
    queries = dict(zip(data.query_ids, data.query_texts))
    qrels = {qid: [c for page in pages for c in by_page[page]] for qid, pages in zip(data.query_ids, data.relevant)}
    evaluation = col.evaluate(queries, qrels, k=10, modes=["keyword"])
    row_eval = evaluation.to_list()[0]
    results = col.search_many(data.query_texts, k=50, mode="keyword")
    ranked_pages = []
    for res in results:
        pages: list[str] = []
        for hit in res:
            page = hit.metadata.get("doc_id", hit.id)
            if page not in pages:
                pages.append(page)
        ranked_pages.append(pages)
    page_metrics = rank_metrics(ranked_pages, data.relevant, 10)
    seconds, count, cpu_seconds = chunk_speed(chunker, data.doc_texts, repeats)
    chars = sum(len(t.encode("utf-8")) for t in data.doc_texts)
    lengths = [len(d.text) for d in stored]
    return {
        "name": name, "chunks": len(stored), "mean_chars": float(np.mean(lengths)),
        "evaluate_mrr@10": float(row_eval["mrr@10"]),
        "page_mrr@10": float(np.mean(page_metrics["rr"])), "page_recall@10": float(np.mean(page_metrics["recall"])),
        "chunks_per_s": count / seconds, "mb_per_s": chars / seconds / 1e6, "chunk_s": seconds,
        "chunks_per_cpu_s": count / cpu_seconds, "chunk_cpu_s": cpu_seconds,
        "ingest_s": ingest_s, "warnings": len(report.warnings),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / "benchmarks" / "data" / "gnome_help_ko")
    parser.add_argument("--split", default="report", help="query split: report (default), tune or all")
    parser.add_argument("--size", type=int, default=300, help="chunk size in characters (default 300)")
    parser.add_argument("--overlap", type=int, default=50, help="chunk overlap in characters (default 50)")
    parser.add_argument("--repeats", type=int, default=3, help="timing repeats, best kept (default 3)")
    parser.add_argument("--queries", type=int, default=None, help="first N queries only")
    add_output_args(parser, "20 queries over their pages plus 30 others, 1 timing repeat")
    args = apply_smoke(parser.parse_args(), queries=20, repeats=1)
    data = load_retrieval_set(args.data, split=args.split)
    if args.smoke:
        data = data.shrunk(20, 30)
    elif args.queries:
        data = data.shrunk(args.queries, len(data.doc_ids))
    contenders: dict[str, tuple[Any, dict[str, Any]]] = {
        "page (no chunking)": (lambda text: [text], {"package": "-", "settings": "one chunk per page"})}
    contenders.update(chunkers(args.size, args.overlap))
    rows = []
    for name, (chunker, about) in contenders.items():
        row = measure(name, chunker, data, args.repeats)
        row.update(about)
        rows.append(row)
        print(f"{name}: {row['chunks']} chunks, page MRR@10 {row['page_mrr@10']:.3f}", file=sys.stderr)
    columns = [("name", "chunker"), ("chunks", "chunks"), ("mean_chars", "mean chars"),
               ("evaluate_mrr@10", "col.evaluate MRR@10"), ("page_mrr@10", "page MRR@10"),
               ("page_recall@10", "page recall@10"), ("chunks_per_s", "chunks/s"), ("chunks_per_cpu_s", "chunks/CPU-s"), ("mb_per_s", "MB/s")]
    table = markdown_table(rows, columns)
    print(f"{data.name}, {args.split} split: {len(data.doc_ids)} pages, {len(data.query_ids)} queries, "
          f"keyword mode, size {args.size} / overlap {args.overlap} chars")
    print(table)
    report = {"set": data.describe(), "mode": "keyword", "size": args.size, "overlap": args.overlap,
              "rows": rows, "table": table, "machine": machine()}
    path = report_path(args, "chunking")
    write_report(path, report)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
