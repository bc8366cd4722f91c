"""`gyeol ingest` (files and folders into a collection) and `gyeol info` (what a database holds)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._cli_common import (
    EXIT_OK, EXIT_PROBLEM, CliError, collection_name, load_embedder, open_collection, open_database,
    positive_int, print_json,
)

TOKENIZERS = ("kiwi", "whitespace", "bigram")
DEFAULT_CHUNK_OVERLAP = 100  # SentenceChunker's default, for a --chunk-size that leaves room for it


# --------------------------------------------------------------------------- ingest


def _chunker(args: argparse.Namespace) -> Any:
    """None (add_documents' default chunker) unless --chunk-size or --overlap was given."""
    if args.chunk_size is None and args.overlap is None:
        return None
    from .chunking import SentenceChunker

    size = args.chunk_size if args.chunk_size is not None else 800
    overlap = args.overlap if args.overlap is not None else min(DEFAULT_CHUNK_OVERLAP, size // 8)
    return SentenceChunker(size=size, overlap=overlap)


def _ingest_collection(db: Any, args: argparse.Namespace) -> tuple[Any, bool]:
    """(collection, created): the named one, created only with --create."""
    if args.collection is None and args.create:
        raise CliError("--create needs --collection NAME")
    if args.collection is not None and args.collection not in db.list_collections():
        if not args.create:
            have = ", ".join(db.list_collections()) or "none"
            raise CliError(f"no collection named {args.collection!r} in {args.db} (have: {have}); "
                           "pass --create to create it")
        embedder = load_embedder(args.embedder or "default")
        col = db.create_collection(args.collection, embedder=embedder, tokenizer=args.tokenizer or "kiwi")
        return col, True
    name = collection_name(db, args.collection, args.db)
    col = db.get_collection(name, embedder=load_embedder(args.embedder))
    stored = (col.config.get("tokenizer") or {}).get("kind")
    if args.tokenizer is not None and args.tokenizer != stored:
        raise CliError(f"collection {name!r} uses the {stored!r} tokenizer; --tokenizer applies only when "
                       "--create makes a new collection")
    return col, False


def _ingest(args: argparse.Namespace) -> int:
    sources = [Path(p) for p in args.paths]
    missing = [str(p) for p in sources if not p.exists()]
    if missing:  # add_documents would take a missing name for a text to store
        raise CliError(f"no such file or folder: {', '.join(missing)}")
    chunker = _chunker(args)
    with open_database(args.db, read_only=False, create=args.create,
                       hint=" (pass --create to make one)") as db:
        col, created = _ingest_collection(db, args)
        report = col.add_documents(sources, chunker=chunker)
        total = col.count()
    if args.json:
        print_json({
            "db": args.db, "collection": col.name, "created": created, "added": report.added,
            "updated": report.updated, "unchanged": report.unchanged, "chunks": report.chunks,
            "count": total, "warnings": [{"source": s, "reason": r} for s, r in report.warnings],
        })
    else:
        if created:
            print(f"created collection {col.name!r} in {args.db}")
        print(f"{len(report.added)} added, {len(report.updated)} updated, {len(report.unchanged)} unchanged, "
              f"{len(report.warnings)} skipped; {report.chunks} chunks written ({total} in {col.name!r})")
        for source, reason in report.warnings:
            print(f"  skipped {source}: {reason}")
    return EXIT_OK if report.ok else EXIT_PROBLEM


def add_ingest(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "ingest", help="add files and folders (.md .txt .html .pdf) to a collection",
        description="Chunk and add files and folders (recursively: .txt .md .html .pdf) to a collection, "
                    "as col.add_documents does: an unchanged file is skipped, a changed one has its chunks "
                    "replaced, all in one commit. Exit status 0: every file was read; 1: some files were "
                    "skipped (listed; the rest was added) or gyeol failed; 2: usage error.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders to add")
    parser.add_argument("--db", required=True, metavar="DIR", help="the database directory")
    parser.add_argument("--collection", metavar="NAME",
                        help="the collection (default: the database's only collection)")
    parser.add_argument("--create", action="store_true",
                        help="create the database and the collection when missing (without it, a missing "
                             "one is an error, so a mistyped name creates nothing)")
    parser.add_argument("--embedder", metavar="NAME",
                        help="with --create: the embedder (default: gyeol's default model); a built-in name, "
                             "a sentence-transformers model, or MODULE:NAME to import one. For an existing "
                             "collection: pass again a MODULE:NAME embedder it was created with")
    parser.add_argument("--tokenizer", choices=TOKENIZERS, help="with --create: the keyword tokenizer (default kiwi)")
    parser.add_argument("--chunk-size", type=positive_int, metavar="N", help="chunk size in characters (default 800)")
    parser.add_argument("--overlap", type=int, metavar="N",
                        help="characters of whole sentences repeated between chunks "
                             "(default 100, or chunk-size/8 when that is smaller)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=_ingest)


# --------------------------------------------------------------------------- info


def _describe(col: Any) -> dict[str, Any]:
    config = col.config
    return {
        "name": col.name, "count": col.count(), "dim": col.dim, "metric": col.metric, "tier": col.tier,
        "device": col.device, "embedder": config.get("embedder"), "tokenizer": config.get("tokenizer"),
        "index": col.index_info,
    }


def _identity(desc: dict[str, Any] | None) -> str:
    if not desc:
        return "none (vectors given by the caller)"
    return f"{desc.get('name')} ({desc.get('kind')})"


def _info_lines(entry: dict[str, Any]) -> list[str]:
    tokenizer = entry["tokenizer"] or {}
    index = dict(entry["index"])
    lines = [
        f"{entry['name']}: {entry['count']} documents, dim {entry['dim']}, {entry['metric']}, "
        f"tier {entry['tier']} ({entry['device']})",
        f"  embedder:  {_identity(entry['embedder'])}",
        f"  tokenizer: {tokenizer.get('kind', 'none')}",
    ]
    tuning, ram = index.pop("tuning", None), index.pop("ram", None)
    lines.append("  index:     " + ", ".join(f"{key}={value}" for key, value in index.items() if value is not None))
    if isinstance(ram, dict) and isinstance(ram.get("bytes"), int):
        lines.append(f"  ram:       {_size(ram['bytes'])}")
    if tuning:
        lines.append("  tuning:    " + ", ".join(f"{key}={value}" for key, value in tuning.items()))
    return lines


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            break
        size /= 1024
    return f"{size:.1f} {unit}"


def _info(args: argparse.Namespace) -> int:
    with open_database(args.path, read_only=True) as db:
        names = [collection_name(db, args.collection, args.path)] if args.collection else db.list_collections()
        entries = [_describe(open_collection(db, name, args.path, None)) for name in names]
    if args.json:
        print_json({"path": args.path, "collections": entries})
        return EXIT_OK
    print(f"{args.path}: {len(entries)} collection{'' if len(entries) == 1 else 's'}")
    for entry in entries:
        print("\n".join(_info_lines(entry)))
    return EXIT_OK


def add_info(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "info", help="list a database's collections: counts, dim, embedder, tokenizer, index",
        description="Show each collection of a database (read-only): document count, dim, metric, tier, "
                    "embedder identity, tokenizer and the vector index (kind, RAM, tuning).")
    parser.add_argument("path", metavar="DIR", help="the database directory")
    parser.add_argument("--collection", metavar="NAME", help="only this collection")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(run=_info)
