"""What the `gyeol` subcommands share: exit statuses, opening a database and a collection, JSON out.

Nothing here imports more of gyeol than the call needs, so `gyeol --help` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_PROBLEM, EXIT_USAGE = 0, 1, 2

_IMPORT_SPEC = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class CliError(Exception):
    """A command line that cannot be carried out as given: the message for stderr and the exit status."""

    def __init__(self, message: str, status: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.status = status


def open_database(path: str, *, read_only: bool, create: bool = False, hint: str = "") -> Any:
    """gyeol.connect(path); a path that holds no database is a usage error (hint appended) unless create is set."""
    from .database import connect
    from .storage.manifest import CATALOG_NAME

    folder = Path(path)
    if not create:
        if not folder.is_dir():
            raise CliError(f"no gyeol database at {path}: no such folder{hint}")
        if not (folder / CATALOG_NAME).is_file():
            raise CliError(f"no gyeol database at {path}: it has no {CATALOG_NAME}{hint}")
    return connect(folder, read_only=read_only)


def collection_name(db: Any, name: str | None, where: str) -> str:
    """The collection asked for, or the database's only one when none was named."""
    names = db.list_collections()
    if name is None:
        if len(names) == 1:
            return names[0]
        if not names:
            raise CliError(f"{where} holds no collection")
        raise CliError(f"{where} holds {len(names)} collections ({', '.join(names)}); pass --collection NAME")
    if name not in names:
        raise CliError(f"no collection named {name!r} in {where}; have: {', '.join(names) or 'none'}")
    return name


def load_embedder(spec: str | None) -> Any:
    """The value for embedder=: a name as given, or the object that MODULE:NAME imports (a class, instantiated)."""
    if spec is None or not _IMPORT_SPEC.match(spec):
        return spec
    module_name, _, attr = spec.partition(":")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise CliError(f"--embedder {spec}: cannot import it ({exc})") from None
    if isinstance(found, type):
        try:
            found = found()
        except Exception as exc:  # noqa: BLE001 - a user class whose constructor needs arguments
            raise CliError(f"--embedder {spec}: {found.__name__}() failed ({exc})") from None
    return found


def open_collection(db: Any, name: str | None, where: str, embedder: str | None) -> Any:
    """db.get_collection for the chosen collection, with --embedder passed again when given."""
    chosen = collection_name(db, name, where)
    return db.get_collection(chosen, embedder=load_embedder(embedder))


def lacks_embedder(col: Any) -> bool:
    """True when the collection was made with a custom embedder that this handle was not given again."""
    return not col.has_embedder and bool(col.config.get("embedder"))


EMBEDDER_HINT = " (on the command line: --embedder MODULE:NAME)"


def parse_json_option(option: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{option} is not valid JSON ({exc}): {text!r}") from None


def alpha_value(text: str) -> float | str:
    """argparse type for --alpha: a number, or "auto"."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in [0, 1] or 'auto', got {text!r}") from None


def positive_int(text: str) -> int:
    """argparse type for counts and sizes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def jsonable(value: Any) -> Any:
    """value with NaN and infinities as None, tuples as lists, numpy scalars as Python values."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", None) == 0:
        return jsonable(value.item())
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def print_json(value: Any) -> None:
    print(json.dumps(jsonable(value), ensure_ascii=False, indent=1))


def warn(command: str, message: str) -> None:
    print(f"gyeol {command}: {message}", file=sys.stderr)
