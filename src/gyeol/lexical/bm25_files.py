"""How a BM25Index lies on disk: its whole-index arrays (export_arrays / from_arrays), the atomic save
of them, the memory-mapped load with lazy checksums, and the deltas a writer saves after it (follow).

BM25Index's save, load, follow, export_arrays and from_arrays call these; they read and set the index's
private state, as its own methods would (this module is the index's persistence, split out for size).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._arrays import GrowableArray
from ..config import BM25
from ..errors import CorruptionError
from . import blockmax
from ._persist import LazyChecks, SavedArrays, header_count, open_saved, save_arrays
from .blockmax import BLOCK_DTYPES, BlockMaxima, build_blocks
from .counts import TermCounts, concat_counts
from .deltas import chained_deltas
from .vocab import HASH_DTYPES, Vocabulary, hash_table

if TYPE_CHECKING:
    from .bm25 import BM25Index

__all__ = ["ARRAY_DTYPES", "MAX_LABELS", "export_arrays", "follow", "follow_saved", "from_arrays", "load", "save"]

logger = logging.getLogger("gyeol.lexical.bm25")

MAX_LABELS = np.iinfo(np.int32).max
# What export_arrays gives and from_arrays takes: the whole index as 1-d arrays.
_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)
ARRAY_DTYPES: dict[str, np.dtype] = {
    "term_ptr": _I64, "post_doc": _I32, "post_tf": _I32, "doc_len": _I32, "live": np.dtype(np.bool_),
    "fwd_ptr": _I64, "fwd_term": _I32, "df": _I64, "vocab_offsets": _I64, "vocab_data": np.dtype(np.uint8),
    **HASH_DTYPES,  # derived (vocab.Vocabulary's hash table): a save without them still loads, and makes them
    **BLOCK_DTYPES,  # derived (blockmax.BlockMaxima): a save without them still loads, and builds them
}
_REQUIRED = {name: dtype for name, dtype in ARRAY_DTYPES.items()
             if name not in BLOCK_DTYPES and name not in HASH_DTYPES}
# read whole by from_arrays (the live counts) or by the first query (the length norms): checked at load
_READ_AT_LOAD = ("doc_len", "live")



def save(index: "BM25Index", directory: Path, generation: int, terms: dict[str, Any] | None = None) -> None:
    """Write the index to directory atomically (arrays as .npy plus a small JSON).

    terms: a JSON-able description of how the terms were made (tokenizer and its version),
    kept beside the arrays so a load with another description rebuilds instead.
    """
    arrays = export_arrays(index)
    header = {"generation": int(generation), "n_labels": index.n_labels,
              "vocabulary_size": index.vocabulary_size, "terms": terms, "block_bits": blockmax.WINDOW_BITS}
    save_arrays(Path(directory), arrays, header)

def load(
    cls: "type[BM25Index]", directory: Path, generation: int, params: BM25, max_labels: int, terms: dict[str, Any] | None = None,
    length_skips: tuple[str, ...] = (),
) -> "BM25Index | None":
    """Give back the saved index (memory-mapped) with the deltas appended to it that fit in max_labels
    (cut to max_labels when the save covers more: a newer commit than the caller's); None when
    missing, damaged, or of another generation or terms description.
    length_skips: the constructor's, for documents added later."""
    directory = Path(directory)
    try:
        saved = open_saved(directory)
        if saved is None:
            return None
        header = saved.header
        if header_count(header, "generation") != int(generation):
            logger.debug("BM25 index at %s is of generation %s, not %s", directory, header["generation"], generation)
            return None
        if header.get("terms") != terms:
            logger.info("BM25 index at %s was built with other terms (%s, now %s); rebuilding",
                        directory, header.get("terms"), terms)
            return None
        n_labels = header_count(header, "n_labels")
        with_blocks = (header.get("block_bits") == blockmax.WINDOW_BITS
                       and all(name in saved.files for name in BLOCK_DTYPES))
        checks = LazyChecks()  # the arrays are checked chunk by chunk as they are first used
        arrays = saved.load(_REQUIRED, checks)
        if all(name in saved.files for name in HASH_DTYPES):
            arrays.update(saved.load(HASH_DTYPES, checks))
        else:
            logger.debug("BM25 index at %s has no vocabulary hash table (an older save); it is made now",
                         directory)
        if with_blocks:
            arrays.update(saved.load(BLOCK_DTYPES, checks))
        index = from_arrays(cls, params, arrays, n_labels=n_labels,
                                vocabulary_size=header_count(header, "vocabulary_size"), length_skips=length_skips,
                                checks=checks)
    except CorruptionError as exc:
        logger.warning("BM25 index at %s is damaged (%s); it will be rebuilt", directory, exc)
        return None
    follow_saved(index, saved, generation, MAX_LABELS, terms)  # a damaged delta: the caller tokenizes from it
    if index.n_labels > max_labels:  # saved after a commit newer than the caller's snapshot
        logger.debug("BM25 index at %s covers %d labels; the first %d are kept", directory, index.n_labels,
                     max_labels)
        return index.subset(np.arange(max_labels))
    return index

def follow(index: "BM25Index", directory: Path, generation: int, max_labels: int,
           terms: dict[str, Any] | None = None) -> bool:
    """Add the saved deltas that continue this index (up to max_labels); False when the save in
    directory does not continue it (another generation or terms, or a newer save: load it instead)."""
    try:
        saved = open_saved(Path(directory))
    except CorruptionError as exc:
        logger.warning("BM25 deltas at %s are damaged (%s); the texts are tokenized instead", directory, exc)
        return True
    return follow_saved(index, saved, generation, max_labels, terms)

def follow_saved(index: "BM25Index", saved: SavedArrays | None, generation: int, max_labels: int,
                 terms: dict[str, Any] | None) -> bool:
    """follow() with the save already opened (a load reads the JSON once)."""
    if saved is None:
        return False
    parts: list[TermCounts] = []
    try:
        if (saved.header.get("generation") != int(generation)
                or saved.header.get("terms") != terms or header_count(saved.header, "n_labels") > index.n_labels):
            return False
        parts.extend(chained_deltas(saved, index.n_labels, max_labels))
    except CorruptionError as exc:
        logger.warning("BM25 deltas at %s are damaged (%s); the texts are tokenized instead", saved.directory, exc)
    if parts:  # those before a damaged one are sound: the caller tokenizes the rest
        # one tail chunk for all of them, left unmerged: a reader loading 64 deltas beside a million
        # documents would otherwise merge its postings at load, and a search reads one chunk per term
        index.add_counts(concat_counts(parts), merge=False)
    return True

def export_arrays(index: "BM25Index") -> dict[str, np.ndarray]:
    """Give back the whole index as the 1-d arrays of ARRAY_DTYPES (views: do not modify them), the block
    maxima included (made now when missing).

    The tail is folded into new postings arrays (the index itself is not changed, so searches may
    run meanwhile), so from_arrays gives back an index equal to this one.
    """
    index._check_all()  # what is saved gets fresh checksums: damaged bytes must not be laundered
    if index._tail or index._csr_has_dead:
        term_ptr, post_doc, post_tf = index._merged_postings()
        blocks = build_blocks(term_ptr, post_doc, post_tf, index._doc_len.view(), index.n_labels)
    else:
        term_ptr, post_doc, post_tf = index._term_ptr, index._post_doc, index._post_tf
        blocks = index._block_maxima()
    offsets, data = index._vocab.to_arrays()
    arrays = {
        "term_ptr": term_ptr,
        "post_doc": post_doc,
        "post_tf": post_tf,
        "doc_len": index._doc_len.view(),
        "live": index._live.view(),
        "fwd_ptr": index._fwd_ptr.view(),
        "fwd_term": index._fwd_term.view(),
        "df": index._df.view(),
        "vocab_offsets": offsets,
        "vocab_data": data,
        **hash_table(offsets, data),
        **blocks.to_arrays(),
    }
    return {name: np.asarray(arr, dtype=ARRAY_DTYPES[name]) for name, arr in arrays.items()}

def from_arrays(
    cls: "type[BM25Index]", params: BM25, arrays: dict[str, np.ndarray], *, n_labels: int, vocabulary_size: int,
    length_skips: tuple[str, ...] = (), checks: LazyChecks | None = None,
) -> "BM25Index":
    """An index over arrays export_arrays gave (adopted, not copied: memory maps stay maps, held as plain
    ndarray views, since slicing an np.memmap costs more per query than the slice itself). The hash table
    of the vocabulary is made when missing, the block maxima are built on demand.

    checks: the lazy checksums of the arrays (SavedArrays.load), checked as the index reads them.
    Raises CorruptionError when they do not fit together.
    """
    arrays = {name: np.asarray(arr) for name, arr in arrays.items()}
    if checks is not None:
        for name in _READ_AT_LOAD:
            checks.check(name, 0, 1 << 62)
    check = checks.check if checks is not None else None
    vocab = Vocabulary.from_arrays(arrays, check)
    n_postings = len(arrays["post_doc"])
    term_ptr, fwd_ptr = arrays["term_ptr"], arrays["fwd_ptr"]
    fits = {
        "vocabulary size": len(vocab) == vocabulary_size,
        "term_ptr": len(term_ptr) == vocabulary_size + 1 and term_ptr[0] == 0 and term_ptr[-1] == n_postings,
        "post_tf": len(arrays["post_tf"]) == n_postings,
        "labels": len(arrays["doc_len"]) == len(arrays["live"]) == n_labels,
        "fwd_ptr": len(fwd_ptr) == n_labels + 1 and fwd_ptr[0] == 0 and fwd_ptr[-1] == len(arrays["fwd_term"]),
        "df": len(arrays["df"]) == vocabulary_size,
    }
    failed = [name for name, ok in fits.items() if not ok]
    if failed:
        raise CorruptionError(f"inconsistent arrays: {', '.join(failed)}")
    index = cls(params, length_skips)
    index._vocab = vocab
    index._term_ptr = term_ptr
    index._post_doc = arrays["post_doc"]
    index._post_tf = arrays["post_tf"]
    index._doc_len = GrowableArray(np.int32, initial=arrays["doc_len"])
    index._live = GrowableArray(np.bool_, initial=arrays["live"])
    index._fwd_ptr = GrowableArray(np.int64, initial=fwd_ptr)
    index._fwd_term = GrowableArray(np.int32, initial=arrays["fwd_term"])
    index._df = GrowableArray(np.int64, initial=arrays["df"])
    live = index._live.view()
    index._n_live = int(np.count_nonzero(live))
    index._total_len_live = int(index._doc_len.view()[live].sum(dtype=np.int64))
    index._csr_has_dead = False  # export_arrays merged, which drops dead postings
    index._csr_labels = n_labels
    if all(name in arrays for name in BLOCK_DTYPES):
        index._blocks = BlockMaxima.from_arrays(arrays, blockmax.WINDOW_BITS, n_labels, term_ptr, check)
    index._checks = checks if checks is not None and checks.pending else None
    return index
