"""The files of a vector index directory: the meta that names them and the patterns they match.

Every index file gets a fresh name when written (gyeol._fileset.fresh_name), and the meta
(written last, atomically) names the files of the current index; files it does not name are
swept after each save. So a crash at any moment leaves a meta that points at complete files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .._fileset import FileSet, checked_name, confined
from ..errors import CorruptionError

META_NAME = "vector.json"
FAISS_NAME = r"index-[0-9a-f]{12}\.faiss"
ROWS_NAME = r"(?:vectors|delta)-[0-9a-f]{12}\.f32"
# sealed: a flipped digit in nprobe or rescore would change results silently
VECTOR_FILES = FileSet(META_NAME, format=1, names=f"{FAISS_NAME}|{ROWS_NAME}", sealed=True)


def read_meta(directory: Path) -> dict[str, Any] | None:
    """The saved index's meta in directory; None when there is none or it is unreadable."""
    try:
        return VECTOR_FILES.read(directory)
    except CorruptionError:
        return None


def rows_file(directory: Path, name: object) -> Path:
    """The path of a vectors/delta file the meta names; CorruptionError when the name is not one gyeol writes."""
    where = directory / META_NAME
    return confined(directory / checked_name(name, ROWS_NAME, where), directory, where)
