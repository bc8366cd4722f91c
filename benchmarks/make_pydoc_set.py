"""Build benchmarks/data/pydoc_en/: a retrieval set from real English text, Python's own docstrings.

Each public function or class of a fixed list of standard-library modules whose docstring has
a one-paragraph summary and a longer body gives one pair: the summary is the query, the body
(without the summary) is the one relevant passage. Nobody chose the words of either side for
this benchmark, so neither keyword nor dense search is favoured by construction: the body
often repeats the summary's terms (BM25's signal) and always describes the same thing in
other words (the embedder's signal).

Rules: summary 15-200 characters and not a signature line; body at least 80 characters, cut to
1,500; whitespace collapsed; a docstring seen before (re-exports) and any repeated summary or
body are skipped, so every query has exactly one relevant passage. Ids are
`module.qualname` of the first place the docstring was met.

The committed files were written with the Python named in benchmarks/data/README.md; other
versions give a slightly different set. Usage:
    python benchmarks/make_pydoc_set.py [--out benchmarks/data/pydoc_en]
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import re
import warnings
from pathlib import Path

MODULES = (
    "os", "os.path", "shutil", "json", "re", "string", "textwrap", "collections", "itertools", "functools",
    "operator", "pathlib", "glob", "fnmatch", "tempfile", "io", "csv", "sqlite3", "zipfile", "tarfile", "gzip",
    "hashlib", "hmac", "secrets", "random", "statistics", "math", "cmath", "decimal", "fractions", "datetime",
    "time", "calendar", "heapq", "bisect", "array", "copy", "pprint", "enum", "typing", "dataclasses", "abc",
    "contextlib", "threading", "multiprocessing", "subprocess", "socket", "ssl", "select", "asyncio", "logging",
    "warnings", "traceback", "inspect", "ast", "dis", "unittest", "doctest", "argparse", "getpass",
    "urllib.parse", "urllib.request", "http.client", "email.message", "base64", "binascii", "struct", "codecs",
    "unicodedata", "locale", "gettext", "shlex", "platform", "sys", "gc", "weakref", "types", "importlib", "zlib",
    "lzma", "bz2", "configparser", "queue", "sched", "signal", "mmap", "uuid", "ipaddress", "html",
    "xml.etree.ElementTree", "difflib", "filecmp", "stat", "pickle", "shelve", "dbm", "numbers", "graphlib",
    "wave", "colorsys", "mimetypes", "webbrowser", "ftplib", "poplib", "imaplib",
)
_SIGNATURE = re.compile(r"^[\w.]+\(.*\)")


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def pairs() -> list[tuple[str, str, str]]:
    """Give back (id, summary, body) for every usable docstring, in module-list then name order."""
    seen_docs: set[int] = set()
    seen_summaries: set[str] = set()
    seen_bodies: set[str] = set()
    out = []
    for module_name in MODULES:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                module = importlib.import_module(module_name)
        except ImportError:
            continue
        for name, obj in inspect.getmembers(module):
            if name.startswith("_") or not (inspect.isroutine(obj) or inspect.isclass(obj)):
                continue
            doc = inspect.getdoc(obj)
            if not doc or id(doc) in seen_docs:
                continue
            seen_docs.add(id(doc))
            summary, _, rest = doc.partition("\n\n")
            summary, body = _clean(summary), _clean(rest)[:1500]
            if not 15 <= len(summary) <= 200 or len(body) < 80 or _SIGNATURE.match(summary):
                continue
            if summary in seen_summaries or body in seen_bodies:
                continue
            seen_summaries.add(summary)
            seen_bodies.add(body)
            out.append((f"{module_name}.{name}", summary, body))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / "pydoc_en")
    args = parser.parse_args()
    found = pairs()
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "corpus.jsonl").open("w", encoding="utf-8") as corpus, \
            (args.out / "queries.jsonl").open("w", encoding="utf-8") as queries:
        for number, (doc_id, summary, body) in enumerate(found, 1):
            corpus.write(json.dumps({"id": doc_id, "text": body}, ensure_ascii=False) + "\n")
            queries.write(json.dumps({"id": f"q{number:04d}", "query": summary, "relevant": [doc_id]},
                                     ensure_ascii=False) + "\n")
    print(f"wrote {len(found)} pairs to {args.out}")


if __name__ == "__main__":
    main()
