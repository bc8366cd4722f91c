"""`gyeol search` (ranked hits or a prompt context) and `gyeol evaluate` (metrics over a queries file)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ._cli_common import (
    EMBEDDER_HINT, EXIT_OK, CliError, alpha_value, lacks_embedder, open_collection, open_database,
    parse_json_option, positive_int, print_json, warn,
)

MODES = ("hybrid", "vector", "keyword")
FUSIONS = ("rrf", "relative_score")
SNIPPET_CHARS = 160


def _add_collection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", required=True, metavar="DIR", help="the database directory (opened read-only)")
    parser.add_argument("--collection", metavar="NAME",
                        help="the collection (default: the database's only collection)")
    parser.add_argument("--embedder", metavar="MODULE:NAME",
                        help="pass again the custom embedder the collection was created with "
                             "(built-in and sentence-transformers ones are restored by themselves)")


# --------------------------------------------------------------------------- search


def _search_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {"k": args.k}
    if args.where is not None:
        where = parse_json_option("--where", args.where)
        if not isinstance(where, dict):
            raise CliError(f"--where must be a JSON object such as '{{\"lang\": \"ko\"}}', got {args.where!r}")
        options["where"] = where
    for name in ("mode", "alpha", "fusion"):  # unset: the collection's own default
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    return options


def _hit_lines(rank: int, hit: Any, snippet_chars: int) -> list[str]:
    lines = [f"{rank:>3}. {hit.score:.4f}  {hit.id}"]
    if snippet_chars > 0 and hit.text:
        snippet = hit.snippet(window=snippet_chars, pre="", post="") if hit.query else hit.text[:snippet_chars]
        lines.append("     " + " ".join(snippet.split()))
    return lines


def _search(args: argparse.Namespace) -> int:
    from .errors import InvalidInputError

    if args.max_tokens is not None and not args.context:
        raise CliError("--max-tokens goes with --context")
    options = _search_options(args)
    with open_database(args.db, read_only=True) as db:
        col = open_collection(db, args.collection, args.db, args.embedder)
        try:
            results = col.search(args.query, **options)
        except InvalidInputError as exc:
            if lacks_embedder(col):
                raise CliError(str(exc) + EMBEDDER_HINT) from None
            raise
        if args.context:
            context = results.context(max_tokens=args.max_tokens or 2000)
            if args.json:
                print_json({"text": context.text, "sources": context.sources, "tokens": context.tokens})
            else:
                print(context.text)
            return EXIT_OK
        if args.json:
            hits = [{"rank": i + 1, **hit} for i, hit in enumerate(results.to_list())]
            print_json({"collection": col.name, "query": args.query, **options, "hits": hits})
            return EXIT_OK
        if not len(results):
            print("no hits")
        for rank, hit in enumerate(results, start=1):
            print("\n".join(_hit_lines(rank, hit, args.snippet)))
    return EXIT_OK


def add_search(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "search", help="search a collection: ranked hits, or a prompt context with --context",
        description="Search a collection (read-only; any number may run beside a writer). Prints the "
                    "ranked hits (rank, score, id, a snippet), or with --context the numbered, cited "
                    "context for a prompt. Exit status 0: searched (hits or none); 1: gyeol failed; "
                    "2: usage error.")
    parser.add_argument("query", help="the query text")
    _add_collection_options(parser)
    parser.add_argument("--mode", choices=MODES, help="default: the collection's (hybrid, or vector "
                                                      "without a tokenizer)")
    parser.add_argument("--k", type=positive_int, default=10, metavar="N", help="how many hits (default 10)")
    parser.add_argument("--where", metavar="JSON", help="a metadata filter, e.g. '{\"lang\": \"ko\"}'")
    parser.add_argument("--alpha", type=alpha_value, metavar="A",
                        help="hybrid weight of the vector side in [0, 1], or auto (the default)")
    parser.add_argument("--fusion", choices=FUSIONS, help="how hybrid fuses the two sides")
    parser.add_argument("--snippet", type=int, default=SNIPPET_CHARS, metavar="CHARS",
                        help=f"snippet length in characters, 0 for none (default {SNIPPET_CHARS})")
    parser.add_argument("--context", action="store_true",
                        help="print results.context(): the passages numbered for citation")
    parser.add_argument("--max-tokens", type=positive_int, metavar="N",
                        help="with --context: its token budget (default 2000)")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(run=_search)


# --------------------------------------------------------------------------- evaluate


def read_queries(path: str) -> tuple[dict[str, str], dict[str, Any]]:
    """(queries, qrels) from a JSON-lines file of {"id", "query", "relevant"} (id defaults to the line number)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CliError(f"--queries {path}: cannot read it ({exc})") from None
    queries: dict[str, str] = {}
    qrels: dict[str, Any] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise CliError(f"{path} line {number}: not JSON ({exc})") from None
        if not isinstance(row, dict) or not isinstance(row.get("query"), str) or "relevant" not in row:
            raise CliError(f'{path} line {number}: expected an object with "query" (a str) and "relevant"')
        qid = str(row.get("id", number))
        if qid in queries:
            raise CliError(f"{path} line {number}: query id {qid!r} appears twice")
        queries[qid], qrels[qid] = row["query"], row["relevant"]
    if not queries:
        raise CliError(f"{path} holds no queries")
    return queries, qrels


def _evaluate(args: argparse.Namespace) -> int:
    queries, qrels = read_queries(args.queries)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()] if args.modes else None
    with open_database(args.db, read_only=True) as db:
        col = open_collection(db, args.collection, args.db, args.embedder)
        if modes is None and lacks_embedder(col):
            warn("evaluate", f"collection {col.name!r} has a custom embedder; vector and hybrid modes are "
                             "left out unless it is passed again with --embedder MODULE:NAME")
        report = col.evaluate(queries, qrels, k=args.k, modes=modes)
    if args.json:
        print_json({"collection": col.name, "k": report.k, "queries": len(report.query_ids),
                    "metrics": report.metrics, "rows": report.to_list()})
    else:
        print(f"{col.name}: {len(report.query_ids)} queries, k={report.k}")
        print(report.to_markdown())
    return EXIT_OK


def add_evaluate(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="MRR@10, recall@k and nDCG@10 per search mode over a queries file",
        description="Run col.evaluate over a JSON-lines file with one {\"id\", \"query\", \"relevant\": [ids]} "
                    "per line (relevant may also map ids to grades) and print one row per mode.")
    _add_collection_options(parser)
    parser.add_argument("--queries", required=True, metavar="FILE.jsonl", help="the queries and their relevant ids")
    parser.add_argument("--k", type=positive_int, default=10, metavar="N", help="recall@k cut-off (default 10)")
    parser.add_argument("--modes", metavar="LIST",
                        help="comma-separated modes, e.g. hybrid,vector,keyword (default: all the "
                             "collection can serve)")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(run=_evaluate)
