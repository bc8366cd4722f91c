"""Small datasets bundled with gyeol: a mixed Korean/English sample corpus for quickstarts and tests."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

__all__ = ["load_sample"]

_SAMPLE_FILE = "sample.jsonl"


def load_sample() -> list[dict[str, Any]]:
    """Return the bundled sample corpus: about 100 short Korean and English passages.

    Each item is a fresh dict ``{"id": str, "text": str, "metadata": {"lang": "ko" | "en",
    "topic": str, "year": int, "tags": list[str]}}``; callers may mutate what they get.
    """
    source = resources.files(__package__).joinpath(_SAMPLE_FILE)
    with source.open("r", encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]
