"""The vocabulary of a BM25 index: term -> term id, without a dict of the saved terms.

A loaded index keeps its saved terms as the arrays it saved, memory-mapped: the UTF-8 bytes of the terms
in term-id order (`vocab_offsets`, `vocab_data`) and a hash table over them in two more arrays
(`vocab_bucket_ptr`, `vocab_bucket_term`: the term ids of bucket b are `bucket_term[bucket_ptr[b]:
bucket_ptr[b + 1]]`). A lookup hashes the batch of asked terms in numpy (term_hashes), reads the few
candidates of each term's bucket and compares their bytes, so a load costs nothing per term and a
query touches a handful of pages. Terms added after the load go to a dict and take the next ids.
An index built from scratch has no saved part: every term is in the dict.

The hash is a polynomial over the bytes (mod 2**64) finished with splitmix64's mixer; it is part of
the saved format (a save made with another hash would find nothing), so it must not change without
a new name for the bucket arrays.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pyarrow as pa

from .._arrays import concat_ranges, strings_to_arrays
from ..errors import CorruptionError

__all__ = ["Vocabulary", "HASH_DTYPES", "term_hashes", "hash_table"]

_I32, _I64 = np.dtype(np.int32), np.dtype(np.int64)
#: The derived arrays of the hash table (a save without them loads, and makes them from the terms).
HASH_DTYPES: dict[str, np.dtype] = {"vocab_bucket_ptr": _I64, "vocab_bucket_term": _I32}
_CACHE_MAX = 1 << 16  # saved terms looked up recently, by term (a query's terms repeat across queries)
_POLY = np.uint64(0x100000001B3)
_SEED = np.uint64(0x9E3779B97F4A7C15)
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)

# Check(name, starts, ends): verify elements [start, end) of a saved array before they are read
Check = Callable[[str, np.ndarray, np.ndarray], None]


def term_hashes(offsets: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The uint64 hash of each string (offsets, data) hold (the layout of strings_to_arrays), vectorised."""
    offsets = np.asarray(offsets, np.int64)
    lengths = np.diff(offsets)
    h = lengths.astype(np.uint64) * _SEED
    end = int(offsets[-1]) if len(offsets) else 0
    if end:
        starts = offsets[:-1]
        position = np.arange(end, dtype=np.int64) - np.repeat(starts - offsets[0], lengths)
        powers = np.cumprod(np.full(int(lengths.max()), _POLY, np.uint64))  # wraps mod 2**64, as meant
        terms = (np.asarray(data[offsets[0]:end], np.uint8).astype(np.uint64) + np.uint64(1)) * powers[position]
        nonempty = lengths > 0
        h[nonempty] += np.add.reduceat(terms, starts[nonempty] - offsets[0])
    h ^= h >> np.uint64(30)
    h *= _MIX1
    h ^= h >> np.uint64(27)
    h *= _MIX2
    h ^= h >> np.uint64(31)
    return h


def hash_table(offsets: np.ndarray, data: np.ndarray) -> dict[str, np.ndarray]:
    """The arrays of HASH_DTYPES over the terms (offsets, data): a power-of-two count of buckets, ~1 term each."""
    n_terms = len(offsets) - 1
    n_buckets = 1 << max(n_terms - 1, 0).bit_length()
    bucket = (term_hashes(offsets, data) & np.uint64(n_buckets - 1)).astype(np.int64)
    bucket_ptr = np.zeros(n_buckets + 1, np.int64)
    np.cumsum(np.bincount(bucket, minlength=n_buckets), out=bucket_ptr[1:])
    return {"vocab_bucket_ptr": bucket_ptr, "vocab_bucket_term": np.argsort(bucket, kind="stable").astype(np.int32)}


def _encode(terms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """strings_to_arrays' layout of a few terms (no pyarrow: its first conversion of a list imports pandas)."""
    encoded = [t.encode("utf-8", "surrogatepass") for t in terms]  # a lone surrogate: never a saved term
    offsets = np.zeros(len(encoded) + 1, np.int64)
    np.cumsum([len(b) for b in encoded], out=offsets[1:])
    return offsets, np.frombuffer(b"".join(encoded), np.uint8)


def _validate(offsets: np.ndarray, data: np.ndarray) -> None:
    """CorruptionError unless (offsets, data) are strings_to_arrays' layout of valid UTF-8 strings."""
    try:
        pa.LargeStringArray.from_buffers(len(offsets) - 1, pa.py_buffer(np.ascontiguousarray(offsets, np.int64)),
                                         pa.py_buffer(np.ascontiguousarray(data, np.uint8))).validate(full=True)
    except (pa.ArrowException, ValueError) as exc:
        raise CorruptionError(f"stored terms do not decode: {exc}") from None


class Vocabulary:
    """term -> id: the saved terms (arrays, looked up by hash) then those added since (a dict); see the module."""

    __slots__ = ("_offsets", "_data", "_bucket_ptr", "_bucket_term", "_n_saved", "_added", "_cache", "check")

    def __init__(self) -> None:
        self._offsets = np.zeros(1, np.int64)
        self._data = np.empty(0, np.uint8)
        self._bucket_ptr = np.array([0, 0], np.int64)
        self._bucket_term = np.empty(0, np.int32)
        self._n_saved = 0
        self._added: dict[str, int] = {}  # term -> id, ids from _n_saved on, in id order
        self._cache: dict[str, int] = {}  # saved term -> id (-1: not saved), filled by lookups
        self.check: Check | None = None  # the load's lazy checksums of the saved arrays

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], check: Check | None = None) -> "Vocabulary":
        """The vocabulary over saved arrays (adopted: maps stay maps): vocab_offsets and vocab_data, and the
        hash table when present (made now from the terms otherwise). CorruptionError when they do not fit.

        check: a load's lazy checksums (LazyChecks.check), which vouch for the bytes as they are read; without
        it the terms are validated now (offsets in order, UTF-8), as arrays from elsewhere may be anything."""
        offsets, data = arrays["vocab_offsets"], arrays["vocab_data"]
        n_terms = len(offsets) - 1
        if n_terms < 0 or offsets[0] != 0 or offsets[-1] != len(data):
            raise CorruptionError("inconsistent arrays: vocab_offsets")
        if check is None:
            _validate(offsets, data)
        if "vocab_bucket_ptr" in arrays and "vocab_bucket_term" in arrays:
            bucket_ptr, bucket_term = arrays["vocab_bucket_ptr"], arrays["vocab_bucket_term"]
            n_buckets = len(bucket_ptr) - 1
        else:  # a save of an older format: the table is made from the terms (numpy, no dict)
            if check is not None:
                check("vocab_offsets", np.zeros(1, np.int64), np.array([len(offsets)]))
                check("vocab_data", np.zeros(1, np.int64), np.array([len(data)]))
            table = hash_table(offsets, data)
            bucket_ptr, bucket_term = table["vocab_bucket_ptr"], table["vocab_bucket_term"]
            n_buckets = len(bucket_ptr) - 1
        if (n_buckets < 1 or n_buckets & (n_buckets - 1) or len(bucket_term) != n_terms
                or bucket_ptr[0] != 0 or bucket_ptr[-1] != n_terms or n_buckets < n_terms // 2):
            raise CorruptionError("inconsistent arrays: vocab_bucket_ptr")
        vocab = cls()
        vocab._offsets, vocab._data, vocab._bucket_ptr, vocab._bucket_term = offsets, data, bucket_ptr, bucket_term
        vocab._n_saved = n_terms
        vocab.check = check
        return vocab

    def __len__(self) -> int:
        return self._n_saved + len(self._added)

    def copy(self) -> "Vocabulary":
        """A vocabulary that grows apart from this one (the saved arrays are shared: they are never written)."""
        out = Vocabulary()
        out._offsets, out._data, out._bucket_ptr, out._bucket_term = (self._offsets, self._data, self._bucket_ptr,
                                                                      self._bucket_term)
        out._n_saved, out._added, out.check = self._n_saved, dict(self._added), self.check
        return out

    def ids(self, terms: list[str]) -> np.ndarray:
        """The id of each term (int64), -1 for a term not in the vocabulary."""
        added, cache = self._added, self._cache
        if not self._n_saved:
            get = added.get
            return np.fromiter((get(t, -1) for t in terms), np.int64, count=len(terms))
        out = np.fromiter((added.get(t, cache.get(t, -2)) for t in terms), np.int64, count=len(terms))
        unknown = np.flatnonzero(out == -2)
        if len(unknown):
            asked = list(dict.fromkeys(terms[i] for i in unknown.tolist()))
            found = self._saved_ids(asked)
            if len(cache) + len(asked) > _CACHE_MAX:
                cache.clear()
            cache.update(zip(asked, found.tolist()))
            out[unknown] = [cache[terms[i]] for i in unknown.tolist()]
        return out

    def add(self, terms: list[str]) -> np.ndarray:
        """The id of each term (int32), the terms not in the vocabulary added with the next ids, in order."""
        added, n_saved = self._added, self._n_saved
        if not n_saved:  # a build from scratch: one dict step per term, as a plain dict vocabulary costs
            return np.fromiter((added.setdefault(t, len(added)) for t in terms), np.int32, count=len(terms))
        ids = self.ids(terms)
        for i in np.flatnonzero(ids < 0).tolist():
            ids[i] = added.setdefault(terms[i], n_saved + len(added))  # setdefault: a term repeated in terms
        return ids.astype(np.int32)

    def to_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(offsets, data) of every term in id order (strings_to_arrays' layout); the saved ones must be checked."""
        offsets, data = strings_to_arrays(list(self._added))
        if not self._n_saved:
            return offsets, data
        base = int(self._offsets[-1])
        return (np.concatenate([np.asarray(self._offsets), offsets[1:] + base]),
                np.concatenate([np.asarray(self._data), data]))

    def _saved_ids(self, terms: list[str]) -> np.ndarray:
        """The id of each (distinct) term among the saved ones, -1 when absent: hash, bucket, compare bytes."""
        check = self.check
        asked_offsets, asked_data = _encode(terms)
        n_buckets = len(self._bucket_ptr) - 1
        bucket = (term_hashes(asked_offsets, asked_data) & np.uint64(n_buckets - 1)).astype(np.int64)
        if check is not None:
            check("vocab_bucket_ptr", bucket, bucket + 2)
        lo, hi = self._bucket_ptr[bucket], self._bucket_ptr[bucket + 1]
        if check is not None:
            check("vocab_bucket_term", lo, hi)
        cand_term = self._bucket_term[concat_ranges(lo, hi)].astype(np.int64)
        cand_asked = np.repeat(np.arange(len(terms)), hi - lo)
        if check is not None:
            check("vocab_offsets", cand_term, cand_term + 2)
        starts, ends = self._offsets[cand_term], self._offsets[cand_term + 1]
        asked_len = np.diff(asked_offsets)
        same_len = (ends - starts) == asked_len[cand_asked]
        cand_term, cand_asked = cand_term[same_len], cand_asked[same_len]
        starts, ends = starts[same_len], ends[same_len]
        if check is not None:
            check("vocab_data", starts, ends)
        saved_bytes = self._data[concat_ranges(starts, ends)]
        asked_bytes = asked_data[concat_ranges(asked_offsets[cand_asked], asked_offsets[cand_asked + 1])]
        of_byte = np.repeat(np.arange(len(cand_term)), ends - starts)
        mismatched = np.bincount(of_byte[saved_bytes != asked_bytes], minlength=len(cand_term))
        out = np.full(len(terms), -1, np.int64)
        hit = mismatched == 0
        out[cand_asked[hit]] = cand_term[hit]
        return out
