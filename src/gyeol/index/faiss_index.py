"""A CPU FAISS index (in RAM or memory-mapped) behind the VectorIndex interface, with an optional GPU copy.

Filtered searches go through FAISS IDSelectorBitmap. Graph and inverted-file
indexes can return fewer than k hits under a selective filter (the walk runs
out of allowed neighbours, or the probed lists hold too few allowed ids), so
rows that come back short are searched again with a wider beam (efSearch or
nprobe x4 per round; a graph goes straight to the next step) and, as a last
resort, exhaustively over the allowed labels (exact for Flat, HNSW and
IVF-Flat): a search returns min(k, allowed) hits on every row.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..ranked import Ranked
from .._checksum import FileSum, check_file, file_sum
from .._fileset import checked_name, confined, fresh_name, register_open_file, write_atomic
from ..errors import CorruptionError
from .files import FAISS_NAME, META_NAME
from .base import (
    EXACT_SUBSET_MAX,
    VectorIndex,
    add_in_batches,
    as_queries,
    bitmap_selector,
    distances_to_scores,
    empty_result,
    found_per_row,
    normalise_mask,
)

log = logging.getLogger(__name__)

# IVF widening rounds before the exhaustive fallback: nprobe x4, x16, x64.
WIDEN_ROUNDS = 3
# A filter allowing a share s of the labels widens the beam by 1/s (the k nearest allowed labels lie
# about as far as the k/s nearest labels): nprobe up to every list, HNSW efSearch up to this (past it,
# the allowed labels are scanned exactly from the graph's flat storage).
FILTER_EF_MAX = 2048


def unwrap(index):
    """The innermost FAISS index under IndexPreTransform / IndexRefine wrappers (downcast)."""
    import faiss

    index = faiss.downcast_index(index)
    while True:
        if isinstance(index, faiss.IndexPreTransform):
            index = faiss.downcast_index(index.index)
        elif isinstance(index, faiss.IndexRefine):
            index = faiss.downcast_index(index.base_index)
        else:
            return index


def family_of(index) -> str:
    """How a FAISS index is searched: "ivf", "hnsw", or "scan" (every code is visited)."""
    import faiss

    inner = unwrap(index)
    if faiss.try_extract_index_ivf(inner) is not None:
        return "ivf"
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    return "scan"


def kind_of(index) -> str:
    """The gyeol name of a FAISS index: flat, hnsw, ivf, ivfpq, or factory for anything else."""
    import faiss

    index = faiss.downcast_index(index)
    if type(index) in (faiss.IndexFlat, faiss.IndexFlatIP, faiss.IndexFlatL2):
        return "flat"
    if type(index) is faiss.IndexHNSWFlat:
        return "hnsw"
    if type(index) is faiss.IndexIVFFlat:
        return "ivf"
    if type(index) in (faiss.IndexIVFPQ, faiss.IndexIVFPQFastScan):
        return "ivfpq"
    return "factory"


def _params(index, *, k: int, selector, nprobe: int | None, ef_search: int | None, widen: int, scale: float = 1.0):
    """SearchParameters matching the index's wrapper structure, beam widened by scale * 4**widen."""
    import faiss

    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexPreTransform):
        params = faiss.SearchParametersPreTransform()
        inner = _params(index.index, k=k, selector=selector, nprobe=nprobe, ef_search=ef_search, widen=widen,
                        scale=scale)
        params.index_params = inner
        params._keep = inner  # SWIG does not own the inner params
        return params
    if isinstance(index, faiss.IndexRefine):
        params = faiss.IndexRefineSearchParameters()
        inner = _params(index.base_index, k=k, selector=selector, nprobe=nprobe, ef_search=ef_search, widen=widen,
                        scale=scale)
        params.base_index_params = inner
        params.k_factor = index.k_factor
        params._keep = inner
        return params
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        params = faiss.SearchParametersIVF()
        base = nprobe or ivf.nprobe
        params.nprobe = int(min(ivf.nlist, math.ceil(base * scale) * 4**widen))
    elif isinstance(index, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()
        beam = max(ef_search or index.hnsw.efSearch, k)
        params.efSearch = int(max(beam, min(math.ceil(beam * scale), FILTER_EF_MAX)) * 4**widen)
    else:
        params = faiss.SearchParameters()
    if selector is not None:
        params.sel = selector
    return params


class FaissIndex(VectorIndex):
    """Any CPU FAISS index whose internal ids are the labels (no IDMap), plus an optional GPU copy.

    mmapped: the index was read with FAISS memory mapping and is read-only
    (FAISS aborts the process on an add to it, so add() refuses first).
    viewed (set by load_faiss): a read-only handle's HNSW or Flat index whose vectors and graph are
    views into the mapped file (FAISS's IO_FLAG_MMAP_IFC: no copy at open, pages shared between
    processes); the first add() copies it into RAM, since FAISS aborts on an add to a view.
    rebuild_at: ask for a rebuild once ntotal reaches it (a Flat fallback, or
    parameters chosen for a smaller collection).
    """

    def __init__(
        self,
        index,
        *,
        metric: str,
        nprobe: int | None = None,
        ef_search: int | None = None,
        rebuild_at: int | None = None,
        mmapped: bool = False,
        file_name: str | None = None,
    ) -> None:
        import faiss

        self._owner = index  # the proxy that owns the C++ index; the downcast view below does not
        self.index = faiss.downcast_index(index)
        self.metric = metric
        self.dim = int(index.d)
        self.kind = kind_of(index)
        self.family = family_of(index)
        ivf = faiss.try_extract_index_ivf(unwrap(index)) if self.family == "ivf" else None
        self.nlist = int(ivf.nlist) if ivf is not None else None
        self.nprobe = nprobe if self.family == "ivf" else None
        self.ef_search = ef_search if self.family == "hnsw" else None
        self.rebuild_at = rebuild_at
        self.mmapped = mmapped
        self.viewed = False
        self.file_name = file_name
        self.file_bytes: int | None = None  # size when written: a different size on load means damage
        self.file_crc: int | None = None  # crc32 of the file when written (None: saved by a gyeol before checksums)
        self.list_sums: Any = None  # a list_sums.ListSums: each mapped list is checked on its first touch
        self.list_state: dict[str, Any] | None = None  # the head and per-list sums as recorded in the state
        # the search parameters a plain search() uses: the ones set on the index itself
        self._plain_nprobe = int(ivf.nprobe) if ivf is not None else None
        self._plain_ef = int(self.index.hnsw.efSearch) if isinstance(self.index, faiss.IndexHNSW) else None
        self.gpu = None  # set by place_on_gpu
        self.device = "cpu"
        self.trained_on: str | None = None  # "gpu" | "cpu" where the build trained it; None: no training

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, vectors: np.ndarray) -> None:
        if self.mmapped:
            raise RuntimeError("a memory-mapped FAISS index is read-only; add to its delta instead")
        if len(vectors):
            vectors = np.ascontiguousarray(vectors, dtype=np.float32)
            if self.viewed:
                self._own()
            add_in_batches(self.index, vectors)  # a long add: a batch a call, counted on a bar
            if self.gpu is not None:
                self.gpu.add(vectors)

    def _own(self) -> None:
        """Copy a viewed index into RAM (a serialised round trip: FAISS copies of a view stay views)."""
        import faiss

        owned = faiss.deserialize_index(faiss.serialize_index(self.index))
        self._owner, self.index = owned, faiss.downcast_index(owned)
        self.viewed = False

    # -- search -----------------------------------------------------------------------------

    def search(self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None) -> Ranked:
        queries = as_queries(queries, self.dim)
        if allowed is None and self.gpu is None and self._plain_ok(k):  # the common case, kept lean
            n = self.ntotal
            if n:
                distances, labels = self.index.search(queries, k)
                last = min(k, n) - 1
                short = labels[0, last] < 0 if len(labels) == 1 else (labels[:, last] < 0).any()
                if not short:
                    if k <= n and self.metric != "l2":  # every slot filled: distances are the scores
                        return Ranked(labels, distances)
                    return Ranked(labels, distances_to_scores(distances, labels, self.metric, in_place=True))
        nq, n = len(queries), self.ntotal
        mask = normalise_mask(allowed, n)
        n_allowed = n if mask is None else int(mask.sum())
        want = min(k, n_allowed)
        if want <= 0:
            return empty_result(nq, k)
        if mask is not None and n_allowed <= EXACT_SUBSET_MAX and self.family != "scan":
            return self._exhaustive(queries, k, mask)
        selector = bitmap_selector(mask) if mask is not None else None
        scale = n / n_allowed  # a filter widens the beam by 1 / its selectivity
        if mask is not None and self.family == "hnsw" and self.gpu is None and (
            max(self.ef_search or self._plain_ef or k, k) * scale > FILTER_EF_MAX
        ):
            return self._exhaustive(queries, k, mask)  # a walk that wide costs more than scanning: exact
        if self.gpu is not None:
            from .device import gpu_search

            result = gpu_search(self.gpu, queries, k, mask, self.metric)
            if result is not None:
                # rows the GPU left short (its over-fetch for a filter ran dry) are redone on the CPU
                rows = np.flatnonzero(found_per_row(result.labels) < want)
                if len(rows):
                    redo = self._complete(queries[rows], k, mask, selector, want,
                                          self._search_cpu(queries[rows], k, selector, widen=0, scale=scale),
                                          scale=scale)
                    result.labels[rows], result.scores[rows] = redo.labels, redo.scores
                return result
        result = self._search_cpu(queries, k, selector, widen=0, scale=scale)
        return self._complete(queries, k, mask, selector, want, result, scale=scale)

    def candidates(self, queries: np.ndarray, width: int) -> np.ndarray:
        """Labels of the `width` nearest of each query, unfiltered (-1 past the end), for rescoring.

        The lean path of a rescored search: one FAISS call, scores dropped, no mask; rows that
        come back short go through search() (wider probing), as every filtered search does.
        """
        if self.gpu is None and self._plain_ok(width):
            labels = self.index.search(queries, width)[1]
            last = min(width, self.ntotal) - 1
            if last < 0 or labels[:, last].min() >= 0:
                return labels
        return self.search(queries, width).labels

    def _search_cpu(self, queries: np.ndarray, k: int, selector, *, widen: int, scale: float = 1.0) -> Ranked:
        if selector is None and widen == 0 and self._plain_ok(k):
            # nprobe / efSearch are set on the index itself: skip building SearchParameters
            distances, labels = self.index.search(queries, k)
        else:
            params = _params(self.index, k=k, selector=selector, nprobe=self.nprobe, ef_search=self.ef_search,
                             widen=widen, scale=scale)
            distances, labels = self.index.search(queries, k, params=params)
        return Ranked(labels, distances_to_scores(distances, labels, self.metric))

    def probe(self, queries: np.ndarray, k: int, *, nprobe: int | None = None, ef_search: int | None = None) -> np.ndarray:
        """Labels of an unfiltered CPU search with these search settings (None = the current ones), for tuning."""
        params = _params(self.index, k=k, selector=None, nprobe=nprobe or self.nprobe,
                         ef_search=ef_search or self.ef_search, widen=0)
        return self.index.search(as_queries(queries, self.dim), k, params=params)[1]

    def set_search(self, *, nprobe: int | None = None, ef_search: int | None = None) -> None:
        """Use these search settings from now on (the FAISS index's own fields too, so they are saved)."""
        import faiss

        if nprobe is not None and self.family == "ivf":
            nprobe = int(min(nprobe, self.nlist or nprobe))
            faiss.extract_index_ivf(self.index).nprobe = nprobe
            self.nprobe = self._plain_nprobe = nprobe
            if self.gpu is not None:  # a fresh GPU copy takes the new nprobe
                self.place_on_gpu()
        if ef_search is not None and self.family == "hnsw" and isinstance(self.index, faiss.IndexHNSW):
            self.index.hnsw.efSearch = int(ef_search)
            self.ef_search = self._plain_ef = int(ef_search)

    def _plain_ok(self, k: int) -> bool:
        """True when a plain search() uses the same nprobe / efSearch as the SearchParameters would."""
        if self.family == "scan":
            return True
        if self.family == "ivf":
            return self._plain_nprobe == (self.nprobe or self._plain_nprobe)
        if self.family == "hnsw":
            return self._plain_ef is not None and self._plain_ef == max(self.ef_search or self._plain_ef, k)
        return False

    def _complete(
        self, queries: np.ndarray, k: int, mask: np.ndarray | None, selector, want: int,
        result: Ranked, *, scale: float = 1.0,
    ) -> Ranked:
        """Search the rows that came back with fewer than `want` hits again, wider, then exhaustively."""
        short = found_per_row(result.labels) < want
        if not short.any() or self.family == "scan":
            return result
        scores, labels = result.scores.copy(), result.labels.copy()
        # A graph walk that came back short is not finding the allowed nodes: a wider beam costs
        # more than scanning them, so HNSW goes straight to the exhaustive pass; IVF probes wider.
        rounds = 0 if self.family == "hnsw" else WIDEN_ROUNDS
        for widen in range(1, rounds + 1):
            rows = np.flatnonzero(short)
            if not len(rows):
                break
            if self.family == "ivf" and self.nlist is not None and math.ceil((self.nprobe or 1) * scale) * 4 ** (widen - 1) >= self.nlist:
                break  # the last round already probed every list
            sub = self._search_cpu(queries[rows], k, selector, widen=widen, scale=scale)
            scores[rows], labels[rows] = sub.scores, sub.labels
            short[rows] = found_per_row(sub.labels) < want
        rows = np.flatnonzero(short)
        if len(rows):
            log.debug("%d of %d rows still short of %d hits: exhaustive search", len(rows), len(queries), want)
            sub_mask = mask if mask is not None else np.ones(self.ntotal, dtype=bool)
            sub = self._exhaustive(queries[rows], k, sub_mask)
            scores[rows], labels[rows] = sub.scores, sub.labels
        return Ranked(labels, scores)

    def _exhaustive(self, queries: np.ndarray, k: int, mask: np.ndarray) -> Ranked:
        """Every allowed label considered: exact for Flat, HNSW (its flat storage) and IVF-Flat (all lists)."""
        import faiss

        selector = bitmap_selector(mask)
        if self.family == "hnsw" and isinstance(self.index, faiss.IndexHNSW):
            storage = faiss.downcast_index(self.index.storage)
            params = faiss.SearchParameters()
            params.sel = selector
            distances, labels = storage.search(queries, k, params=params)
            return Ranked(labels, distances_to_scores(distances, labels, self.metric))
        if self.family == "ivf":
            params = _params(self.index, k=k, selector=selector, nprobe=self.nlist, ef_search=None, widen=0)
            distances, labels = self.index.search(queries, k, params=params)
            return Ranked(labels, distances_to_scores(distances, labels, self.metric))
        # scan family, or HNSW under a wrapper: a very wide beam
        return self._search_cpu(queries, k, selector, widen=WIDEN_ROUNDS + 2)

    # -- vectors, persistence, accounting ---------------------------------------------------

    def reconstruct(self, labels: np.ndarray) -> np.ndarray | None:
        labels = np.asarray(labels, dtype=np.int64)
        if self.kind in ("flat", "hnsw"):
            storage = self.index if self.kind == "flat" else self.index.storage
            return flat_vectors(storage)[labels].copy()
        try:
            return np.vstack([self.index.reconstruct(int(i)) for i in labels]) if len(labels) else np.empty(
                (0, self.dim), np.float32
            )
        except RuntimeError:  # index type without reconstruction
            return None

    def wants_rebuild(self) -> bool:
        return self.rebuild_at is not None and self.ntotal >= self.rebuild_at

    def save(self, directory: Path) -> dict[str, Any]:
        import faiss

        if not (self.mmapped and self.file_name and (directory / self.file_name).exists()):
            if self.mmapped:
                raise RuntimeError(f"the memory-mapped index file {self.file_name} is gone from {directory}")
            name = fresh_name("index", ".faiss")
            write_atomic(directory / name, lambda tmp: faiss.write_index(self.index, str(tmp)))
            self.file_name = name
            written = file_sum(directory / name)
            self.file_bytes, self.file_crc = written.bytes, written.crc32
        return self.state()

    def state(self) -> dict[str, Any]:
        return {
            "type": "faiss",
            "file": self.file_name,
            "bytes": self.file_bytes,
            "crc32": self.file_crc,
            **({"lists": self.list_state} if self.list_state is not None else {}),
            "kind": self.kind,
            "family": self.family,
            "ntotal": self.ntotal,
            "nprobe": self.nprobe,
            "ef_search": self.ef_search,
            "rebuild_at": self.rebuild_at,
            "trained_on": self.trained_on,
        }

    def files(self) -> list[str]:
        return [self.file_name] if self.file_name else []

    def ram_bytes(self) -> int:
        return faiss_ram_bytes(self.index, mmapped=self.mmapped or self.viewed)

    def ram_parts(self) -> dict[str, int]:
        # a view's vectors are the file's pages (page cache, shared): counted as zero, like a map's
        vec, fixed = faiss_ram_parts(self.index, mmapped=self.mmapped or self.viewed)
        return {"per_vector_bytes": vec, "fixed_bytes": fixed}

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out.update(
            family=self.family,
            nlist=self.nlist,
            nprobe=self.nprobe,
            ef_search=self.ef_search,
            rebuild_at=self.rebuild_at,
            mmapped=self.mmapped,
            viewed=self.viewed,
            trained_on=self.trained_on,
        )
        return out

    def place_on_gpu(self) -> None:
        """Copy the index to the GPU (the CPU copy stays for saving and filtered fallbacks)."""
        from .device import to_gpu

        self.gpu = to_gpu(self.index, kind=self.kind, nprobe=self.nprobe)
        self.device = "gpu" if self.gpu is not None else "cpu"


def load_faiss(directory: Path, state: dict[str, Any], *, metric: str, mmap: bool, view: bool = False) -> FaissIndex:
    """Read a FaissIndex saved by FaissIndex.save, memory-mapped when mmap (IVF lists, Flat codes); view:
    an HNSW or Flat index of a read-only handle is read as views into the mapped file (FaissIndex.viewed)."""
    import faiss

    where = directory / META_NAME
    path = confined(directory / checked_name(state["file"], FAISS_NAME, where), directory, where)
    size = path.stat().st_size
    if state.get("bytes") is not None and size != state["bytes"]:
        # a memory-mapped read of a short file would fault at search time: refuse it here
        raise OSError(f"{path.name} has {size} bytes, {state['bytes']} were written")
    crc = state.get("crc32")
    sums = None
    if mmap and state.get("lists") is not None:  # head checked now, each list on its first touch
        from .list_sums import ListSums

        sums = ListSums(path, state["lists"], size, where)
    elif crc is not None:  # faiss.read_index is not safe on damaged bytes: check them first
        check_file(path, FileSum(int(crc), size), what="vector index file", where=where)
    flags = 0
    view = view and not mmap and state.get("family") in VIEWED_FAMILIES
    if mmap:  # flat codes (Flat, SQ) map zero-copy; IVF lists map as read-only on-disk lists
        flags = faiss.IO_FLAG_MMAP_IFC if state.get("family") == "scan" else faiss.IO_FLAG_MMAP
    elif view:  # vectors and graph links as views into the mapped file: nothing copied at open
        flags = faiss.IO_FLAG_MMAP_IFC
    index = faiss.read_index(str(path), flags)
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None and state.get("nprobe"):  # tuned after the file was written (the disk tier)
        ivf.nprobe = int(state["nprobe"])
    if state.get("ef_search") and isinstance(faiss.downcast_index(index), faiss.IndexHNSW):
        faiss.downcast_index(index).hnsw.efSearch = int(state["ef_search"])
    loaded = FaissIndex(
        index,
        metric=metric,
        nprobe=state.get("nprobe"),
        ef_search=state.get("ef_search"),
        rebuild_at=state.get("rebuild_at"),
        mmapped=mmap,
        file_name=state["file"],
    )
    loaded.file_bytes = size
    loaded.viewed = view
    if state.get("trained_on") in ("cpu", "gpu"):
        loaded.trained_on = state["trained_on"]
    loaded.file_crc = None if crc is None else int(crc)
    if sums is not None:
        if ivf is None or type(index) is not faiss.IndexIVFFlat:
            raise CorruptionError(f"{where} records list checksums for {path.name}, which is no IVF-Flat index")
        sums.bind(ivf)
        loaded.list_sums, loaded.list_state = sums, state["lists"]
    if mmap or view:
        register_open_file(loaded, path)
    return loaded


def flat_vectors(index) -> np.ndarray:
    """A zero-copy (n, d) float32 view of an IndexFlat's vectors."""
    import faiss

    flat = faiss.downcast_index(index)
    n, d = int(flat.ntotal), int(flat.d)
    if n == 0:
        return np.empty((0, d), np.float32)
    return faiss.rev_swig_ptr(flat.get_xb(), n * d).reshape(n, d)


# the families a read-only handle reads as views (load_faiss): their vectors and graph are FAISS
# MaybeOwnedVectors, which IO_FLAG_MMAP_IFC maps; an IVF index's lists would need OnDisk lists (mmap)
VIEWED_FAMILIES = ("hnsw", "scan")


def faiss_ram_bytes(index, *, mmapped: bool = False) -> int:
    """Bytes of RAM a CPU FAISS index holds; memory-mapped codes and lists count as zero."""
    return sum(faiss_ram_parts(index, mmapped=mmapped))


def faiss_ram_parts(index, *, mmapped: bool = False) -> tuple[int, int]:
    """(bytes that grow with the vectors: codes, ids, graph links; the rest: centroids, codebooks, tables)."""
    import faiss

    index = faiss.downcast_index(index)
    n, d = int(index.ntotal), int(index.d)
    if isinstance(index, faiss.IndexPreTransform):
        vec, fixed = faiss_ram_parts(index.index, mmapped=mmapped)
        return vec, fixed + 4 * d * d
    if isinstance(index, faiss.IndexRefine):
        base, refine = faiss_ram_parts(index.base_index, mmapped=mmapped), faiss_ram_parts(index.refine_index)
        return base[0] + refine[0], base[1] + refine[1]
    if isinstance(index, faiss.IndexHNSW):
        graph = int(index.hnsw.neighbors.size()) * 4 + n * (4 + 8)
        vec, fixed = faiss_ram_parts(index.storage, mmapped=mmapped)
        return graph + vec, fixed
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        fixed = faiss_ram_bytes(ivf.quantizer)
        vec = 0
        if not mmapped:
            vec = _invlists_bytes(ivf)
        else:  # OnDiskInvertedLists keeps a small per-list table in RAM
            fixed += int(ivf.nlist) * 24
        table = getattr(ivf, "precomputed_table", None)
        if table is not None:
            fixed += int(table.size()) * 4
        pq = getattr(ivf, "pq", None)
        if pq is not None:
            fixed += int(pq.M) * int(pq.ksub) * int(pq.dsub) * 4
        return vec, fixed
    if mmapped:
        return 0, 0
    code_size = getattr(index, "code_size", None)
    return (n * int(code_size) if code_size is not None else n * d * 4), 0


def _invlists_bytes(ivf) -> int:
    import faiss

    invlists = faiss.downcast_InvertedLists(ivf.invlists)
    ids = int(ivf.ntotal) * 8
    if isinstance(invlists, faiss.BlockInvertedLists):
        per_block, block = int(invlists.n_per_block), int(invlists.block_size)
        sizes = np.array([invlists.list_size(i) for i in range(invlists.nlist)], dtype=np.int64)
        return ids + int(np.sum(-(-sizes // per_block)) * block)
    return ids + int(ivf.ntotal) * int(invlists.code_size)
