"""Small datasets bundled with gyeol: a mixed Korean/English sample corpus (passages) and a sample
folder of documents (Markdown and a PDF) for quickstarts, examples and tests."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError

__all__ = ["load_sample", "sample_folder"]

_SAMPLE_FILE = "sample.jsonl"


def load_sample() -> list[dict[str, Any]]:
    """Return the bundled sample corpus: about 100 short Korean and English passages.

    Each item is a fresh dict ``{"id": str, "text": str, "metadata": {"lang": "ko" | "en",
    "topic": str, "year": int, "tags": list[str]}}``; callers may mutate what they get.
    """
    source = resources.files(__package__).joinpath(_SAMPLE_FILE)
    with source.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def sample_folder() -> Path:
    """Return the path of the bundled folder of documents to ingest with ``col.add_documents``.

    Twelve GNOME desktop help pages (CC-BY-SA 3.0) in ten files: ``ko/`` six Korean and ``en/``
    three English Markdown pages, ``pdf/bluetooth.pdf`` three Korean pages in one PDF (read through
    pypdf, ``gyeol[pdf]``); and ``queries.json``: one query per page with the file (relative to the
    folder) and, for the PDF, the page that answers it. add_documents reads only the documents.
    """
    folder = resources.files(__package__).joinpath("gnome_help").joinpath("docs")
    path = Path(str(folder))
    if not path.is_dir():  # e.g. imported from a zip archive: the files are not on disk
        raise BackendUnavailableError(
            f"gyeol's sample folder is not a folder on disk here ({folder!s}); install gyeol unzipped"
        )
    return path
