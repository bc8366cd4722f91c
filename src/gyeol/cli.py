"""The `gyeol` command line: ingest, search, info, evaluate, verify (argparse subcommands).

Each subcommand is a function taking the parsed arguments and giving back the exit status;
add one with an `add_<name>` function registered in SUBCOMMANDS (the commands live in
_cli_ingest and _cli_search). Exit status: 0 when all is well; 1 when the command ran and found
a problem (damage, skipped files) or gyeol failed (a held lock, corruption, a missing backend);
2 for a usage error (bad options, a missing database or collection, input gyeol refuses as
InvalidInputError). Errors print one line on stderr, never a traceback. gyeol itself is
imported inside each command, so `gyeol --help` stays instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Callable, Sequence

from ._cli_common import EXIT_OK, EXIT_PROBLEM, EXIT_USAGE, CliError
from ._cli_ingest import add_info, add_ingest
from ._cli_search import add_evaluate, add_search

EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C


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


SUBCOMMANDS: list[Callable[[argparse._SubParsersAction], None]] = [
    add_ingest, add_search, add_info, add_evaluate, _add_verify,
]


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
    return _run(args)


def _run(args: argparse.Namespace) -> int:
    """args.run(args), with errors as one stderr line and an exit status instead of a traceback."""
    from .errors import CollectionNotFoundError, FilterError, GyeolError, InvalidInputError

    command = args.run.__name__.lstrip("_")
    try:
        return int(args.run(args))
    except CliError as exc:
        message, status = str(exc), exc.status
    except (InvalidInputError, FilterError, CollectionNotFoundError) as exc:
        message, status = (exc.args[0] if exc.args else str(exc)), EXIT_USAGE
    except GyeolError as exc:
        message, status = f"{type(exc).__name__}: {exc}", EXIT_PROBLEM
    except BrokenPipeError:  # `gyeol search ... | head`: the reader left; say nothing more
        _silence_stdout()
        return EXIT_PROBLEM
    except OSError as exc:  # a folder that cannot be read or written
        message, status = str(exc), EXIT_PROBLEM
    except KeyboardInterrupt:
        message, status = "interrupted", EXIT_INTERRUPTED
    print(f"gyeol {command}: {message}", file=sys.stderr)
    return status


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real file descriptor behind stdout (captured in tests)
        pass


if __name__ == "__main__":
    sys.exit(main())
