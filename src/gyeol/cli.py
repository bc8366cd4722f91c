"""The `gyeol` command line: one subcommand per public call (`gyeol verify PATH` so far).

Each subcommand is a function taking the parsed arguments and giving back the exit status;
add one with a `_add_<name>` function registered in SUBCOMMANDS. Exit status: 0 when all is
well, 1 when the command ran and found a problem, 2 for a usage error. gyeol itself is
imported inside each command, so `gyeol --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Callable, Sequence

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2


def _verify(args: argparse.Namespace) -> int:
    from .errors import InvalidInputError
    from .integrity import verify

    try:
        report = verify(args.path)
    except InvalidInputError as exc:
        print(f"gyeol verify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False, indent=1))
    else:
        print(repr(report))
    return EXIT_OK if report.ok else EXIT_PROBLEM


def _add_verify(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("verify", help="check every file of a database directory (read-only)",
                                 description="Check every file of a gyeol database against the checksums "
                                             "recorded for it. Changes nothing. Exit status 0: no damage; "
                                             "1: damaged or missing files; 2: usage error.")
    parser.add_argument("path", help="the database directory (what gyeol.connect was given)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(run=_verify)


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [_add_verify]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gyeol", description="gyeol: embedded hybrid retrieval for RAG")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with argv (sys.argv[1:] when None); give back the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on a usage error and 0 after --help
        return int(exc.code or 0)
    if not hasattr(args, "run"):
        parser.print_usage(sys.stderr)
        return EXIT_USAGE
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
