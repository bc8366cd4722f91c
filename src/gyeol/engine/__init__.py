"""The engine behind a Collection: the indexes derived from its committed rows, kept in step with them.

    DerivedIndexes  one collection's store, vector index, BM25 index and metadata columns:
                    stage and apply writes, delete, compact, save, follow a writer's commits
    VectorSide      the vector index: load or build, catch up, rebuild, checkpoint, save, retarget
    KeywordSide     the tokenizer and the BM25 index, kept in step with every write and saved with
                    each commit (a delta of term counts); readers load and follow it
    embedding       the two embedding seams (documents, queries), batched and shape-checked

The Collection in front validates every call, holds the lock and delegates here.
"""

from .derived import DerivedIndexes, StagedWrite, WriteBatch
from .embedding import documents_function, embed_batched, part_size, queries_function

__all__ = ["DerivedIndexes", "StagedWrite", "WriteBatch", "documents_function", "queries_function", "embed_batched",
           "part_size"]
