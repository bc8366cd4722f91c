"""TermCounts: the distinct terms of a batch of documents with their frequencies, as numpy arrays.

What BM25Index.add makes of a batch's token lists before it touches the index, and what a
writer saves per commit (index/bm25/) so that a reader extends its index from the saved
counts instead of tokenizing the batch again. Terms are local to the batch: `terms` lists
them once each; `pair_term` indexes into it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from .._arrays import strings_from_arrays, strings_to_arrays
from ..errors import CorruptionError, InvalidInputError

__all__ = ["TermCounts", "count_terms", "concat_counts", "COUNT_DTYPES"]

_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)
#: The arrays of a saved TermCounts (to_arrays / from_arrays).
COUNT_DTYPES: dict[str, np.dtype] = {
    "doc_len": _I32, "doc_ptr": _I64, "pair_term": _I32, "pair_tf": _I32,
    "terms_offsets": _I64, "terms_data": np.dtype(np.uint8),
}


@dataclass(frozen=True)
class TermCounts:
    """n documents' terms: doc_ptr[i]:doc_ptr[i+1] slices document i's distinct (pair_term, pair_tf)."""

    terms: list[str]
    doc_len: np.ndarray  # int32 (n,): tokens per document, repeats counted
    doc_ptr: np.ndarray  # int64 (n + 1,)
    pair_term: np.ndarray  # int32: index into terms
    pair_tf: np.ndarray  # int32: the term's count in its document

    @property
    def n_docs(self) -> int:
        return len(self.doc_len)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The counts as the 1-d arrays of COUNT_DTYPES."""
        offsets, data = strings_to_arrays(self.terms)
        return {"doc_len": self.doc_len, "doc_ptr": self.doc_ptr, "pair_term": self.pair_term,
                "pair_tf": self.pair_tf, "terms_offsets": offsets, "terms_data": data}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> "TermCounts":
        """The counts to_arrays gave; CorruptionError when the arrays do not fit together."""
        terms = strings_from_arrays(arrays["terms_offsets"], arrays["terms_data"])
        doc_len, doc_ptr = arrays["doc_len"], arrays["doc_ptr"]
        pair_term, pair_tf = arrays["pair_term"], arrays["pair_tf"]
        n_pairs = len(pair_term)
        checks = {
            "doc_ptr": len(doc_ptr) == len(doc_len) + 1 and doc_ptr[0] == 0 and doc_ptr[-1] == n_pairs
            and bool(np.all(np.diff(doc_ptr) >= 0)),
            "pair_tf": len(pair_tf) == n_pairs and bool(np.all(pair_tf > 0)),
            "pair_term": n_pairs == 0 or (int(pair_term.min()) >= 0 and int(pair_term.max()) < len(terms)),
            "terms": len(set(terms)) == len(terms),
            "doc_len": bool(np.all(doc_len >= 0)),
        }
        failed = [name for name, ok in checks.items() if not ok]
        if failed:
            raise CorruptionError(f"inconsistent term counts: {', '.join(failed)}")
        return cls(terms, doc_len, doc_ptr, pair_term, pair_tf)


def count_terms(token_lists: list[list[str]], length_skips: tuple[str, ...] = ()) -> TermCounts:
    """The TermCounts of each document's tokens; InvalidInputError when a token is not a str.

    length_skips: prefixes of terms that count in the term frequencies but not in doc_len
    (BM25Index.length_skips)."""
    if isinstance(token_lists, str) or not isinstance(token_lists, (list, tuple)):
        raise InvalidInputError(f"token_lists must be a list of lists of str, got {type(token_lists).__name__}")
    n = len(token_lists)
    lengths = np.fromiter(map(_len_of_tokens, token_lists), dtype=np.int64, count=n)
    flat: list[Any] = [tok for tokens in token_lists for tok in tokens]
    if not flat:
        return TermCounts([], lengths.astype(np.int32), np.zeros(n + 1, np.int64),
                          np.empty(0, np.int32), np.empty(0, np.int32))
    try:
        encoded = pa.array(flat, pa.large_string()).dictionary_encode()
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise InvalidInputError(f"every token must be a str: {exc}") from None
    if encoded.null_count:
        raise InvalidInputError("tokens must be str, found None")
    terms = encoded.dictionary.to_pylist()
    term_ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_terms = len(terms)
    doc_local = np.repeat(np.arange(n, dtype=np.int64), lengths)
    if length_skips:  # one Python step per distinct term of the batch, not per token
        skipped = np.fromiter((term.startswith(length_skips) for term in terms), dtype=np.bool_, count=n_terms)
        lengths = lengths - np.bincount(doc_local[skipped[term_ids]], minlength=n)
    pair_keys, tfs = np.unique(doc_local * n_terms + term_ids, return_counts=True)  # doc-major
    doc_ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(pair_keys // n_terms, minlength=n), out=doc_ptr[1:])
    return TermCounts(terms, lengths.astype(np.int32), doc_ptr,
                      (pair_keys % n_terms).astype(np.int32), tfs.astype(np.int32))


def _len_of_tokens(tokens: Any) -> int:
    if isinstance(tokens, str) or not isinstance(tokens, (list, tuple)):
        raise InvalidInputError(f"each document's tokens must be a list of str, got {type(tokens).__name__}")
    return len(tokens)


def concat_counts(parts: list[TermCounts]) -> TermCounts:
    """One TermCounts of the documents of parts, in order (each part's terms mapped into one list)."""
    if len(parts) == 1:
        return parts[0]
    index: dict[str, int] = {}
    pair_terms = []
    for part in parts:  # one Python step per distinct term of each part, not per token
        local = np.fromiter((index.setdefault(term, len(index)) for term in part.terms), dtype=np.int32,
                            count=len(part.terms))
        pair_terms.append(local[part.pair_term])
    starts = np.cumsum([0] + [int(part.doc_ptr[-1]) for part in parts[:-1]])
    doc_ptr = np.concatenate([np.zeros(1, np.int64)] + [part.doc_ptr[1:] + start for part, start in zip(parts, starts)])
    return TermCounts(list(index), np.concatenate([part.doc_len for part in parts]), doc_ptr.astype(np.int64),
                      np.concatenate(pair_terms).astype(np.int32),
                      np.concatenate([part.pair_tf for part in parts]).astype(np.int32))
