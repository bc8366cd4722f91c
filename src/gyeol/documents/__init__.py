"""Documents in: files, folders, texts and gyeol.Document read, chunked and planned for one write.

    report = col.add_documents(["./docs", "notes.md", "a text", gyeol.Document("id", "text")])

loaders   .txt / .md / .html (html.parser) / .pdf (pypdf, optional extra gyeol[pdf]) into text
ingest    prepare (read + chunk, per-source warnings) and plan (added / updated / unchanged)
"""

from .ingest import CHUNK_KEYS, IngestPlan, IngestReport, Prepared, chunk_id, plan, prepare
from .loaders import SUFFIXES, LoadedText, LoadError, load_file

__all__ = ["IngestReport", "IngestPlan", "Prepared", "prepare", "plan", "chunk_id", "CHUNK_KEYS",
           "SUFFIXES", "LoadedText", "LoadError", "load_file"]
