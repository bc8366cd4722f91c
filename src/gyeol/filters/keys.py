"""What MetadataColumns stores per metadata key, and how it is saved as flat arrays and mapped back.

Per key: the labels that have it, one (labels, values) pair per value kind for the top-level
values and for list elements, the key's strings (interned: each string a dense int32 code) and
its distinct lists (interned the same way). `to_arrays` flattens one key into named 1-D numpy
arrays (strings as Arrow's offsets and UTF-8 bytes, lists as a JSON blob) for
storage/saved_arrays.py; `KeyColumn.from_arrays` adopts such arrays without copying them (a
memory map stays one until the first append), and builds the string and list dictionaries only
when an append or a list comparison needs them.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Callable

import numpy as np
import pyarrow as pa

from .._arrays import GrowableArray
from ..errors import CorruptionError

# Kinds of stored value; a list field's elements use the same four scalar kinds.
_NUM, _STR, _BOOL, _NULL, _LIST = "num", "str", "bool", "null", "list"
_VALUE_DTYPES: dict[str, type | None] = {
    _NUM: np.float64,
    _STR: np.int32,
    _BOOL: np.bool_,
    _NULL: None,
    _LIST: np.int32,
}
ELEMENT_KINDS = (_NUM, _STR, _BOOL, _NULL)


class SavedArray(GrowableArray):
    """A GrowableArray whose rows come from load() (a saved, checked array) on first use."""

    __slots__ = ("_load",)

    def __init__(self, dtype: Any, load: Callable[[], np.ndarray]) -> None:
        super().__init__(dtype)
        self._load: Callable[[], np.ndarray] | None = load

    def _ready(self) -> None:
        load = self._load
        if load is not None:
            data = load()
            self._data, self._size, self._view = data, len(data), None
            self._load = None

    def __len__(self) -> int:
        self._ready()
        return super().__len__()

    def view(self) -> np.ndarray:
        self._ready()
        return super().view()

    def _reserve(self, size: int) -> None:
        self._ready()
        super()._reserve(size)

    def extend(self, values: Any) -> None:
        self._ready()
        super().extend(values)

    def resize(self, size: int, fill: Any) -> None:
        self._ready()
        super().resize(size, fill)


class Pairs:
    """(label, value) pairs of one value type, in label order; values absent for nulls."""

    __slots__ = ("labels", "values")

    def __init__(self, value_dtype: type | None, labels: np.ndarray | None = None,
                 values: np.ndarray | None = None) -> None:
        self.labels = GrowableArray(np.int64, initial=labels)
        self.values = GrowableArray(value_dtype, initial=values) if value_dtype is not None else None

    def value_view(self) -> np.ndarray:
        """The stored values, one per label; only the null kind has none, and callers skip it."""
        assert self.values is not None, "the null kind stores no values"
        return self.values.view()


class Strings:
    """Interned strings of one key: str -> dense int32 code, plus an Arrow array of them by code."""

    __slots__ = ("_codes", "_pending", "_array", "_lock", "_load")

    def __init__(self, load: Callable[[], pa.Array] | None = None) -> None:
        """load: gives the saved strings on first use (None: a new key, no strings yet)."""
        self._codes: dict[str, int] | None = None if load is not None else {}
        self._pending: list[str] = []
        self._array = pa.nulls(0, pa.string())  # (pa.array would import pandas, through pyarrow's shim)
        self._lock = threading.Lock()  # filtered searches in many threads fold the pending strings once
        self._load = load

    def _ready(self) -> None:
        load = self._load
        if load is not None:
            self._array = load()
            self._load = None

    def __len__(self) -> int:
        self._ready()
        return len(self._array) + len(self._pending)

    @property
    def codes(self) -> dict[str, int]:
        """str -> code, built from the saved strings on first use (appends need it, queries do not)."""
        if self._codes is None:
            self._ready()
            with self._lock:
                if self._codes is None:
                    strings = self._array.to_pylist()
                    self._codes = dict(zip(strings, range(len(strings))))
        return self._codes

    def code_of(self, value: str) -> int | None:
        """The code of value, None when the key never held it."""
        if self._codes is not None:
            return self._codes.get(value)
        self._ready()
        return _find(self._array, value.encode())

    def intern(self, value: str) -> int:
        codes = self.codes
        code = codes.get(value)
        if code is None:
            code = codes[value] = len(codes)
            self._pending.append(value)
        return code

    def intern_many(self, values: list[str]) -> np.ndarray:
        codes = self.codes
        for value in dict.fromkeys(values):
            if value not in codes:
                codes[value] = len(codes)
                self._pending.append(value)
        return np.fromiter(map(codes.__getitem__, values), dtype=np.int32, count=len(values))

    def array(self) -> pa.Array:
        self._ready()
        if self._pending:
            with self._lock:
                if self._pending:
                    self._array = pa.concat_arrays([self._array, pa.array(self._pending, pa.string())])
                    self._pending = []
        return self._array


def _length(load: Callable[[], np.ndarray]) -> Callable[[], int]:
    return lambda: len(load())


def _find(strings: pa.Array, wanted: bytes) -> int | None:
    """The first position of wanted (UTF-8) in a string array, by numpy over its buffers."""
    buffers = strings.buffers()
    offsets = np.frombuffer(buffers[1], np.int32)[strings.offset : strings.offset + len(strings) + 1]
    data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
    same_length = np.flatnonzero(np.diff(offsets) == len(wanted))
    if not len(same_length) or not len(wanted):
        return int(same_length[0]) if len(same_length) else None
    starts = offsets[same_length].astype(np.int64)
    found = (data[starts[:, None] + np.arange(len(wanted))] == np.frombuffer(wanted, np.uint8)).all(axis=1)
    hits = np.flatnonzero(found)
    return int(same_length[hits[0]]) if len(hits) else None


def shared_labels(n: int) -> Callable[[], np.ndarray]:
    """A maker of 0..n-1 (read-only) that makes it once, for the dense keys of one load to share (each made
    anew cost 12 ms of page faults at 1M: the first filtered query of a fresh process made four); it lives
    as long as the columns that hold it."""
    made: list[np.ndarray] = []

    def labels() -> np.ndarray:
        if not made:  # two threads racing make two equal arrays: harmless
            every = np.arange(n, dtype=np.int64)
            every.setflags(write=False)
            made.append(every)
        return made[0]

    return labels


class KeyColumn:
    """Everything stored under one metadata key, across all labels."""

    __slots__ = ("present", "top", "elem", "strings", "_lists", "_lists_json")
    present: GrowableArray

    def __init__(self) -> None:
        self.present = GrowableArray(np.int64)
        self.top = {kind: Pairs(dtype) for kind, dtype in _VALUE_DTYPES.items()}
        self.elem = {kind: Pairs(_VALUE_DTYPES[kind]) for kind in ELEMENT_KINDS}
        self.strings = Strings()
        self._lists: dict[tuple[Any, ...], int] | None = {}
        self._lists_json: Callable[[], np.ndarray] | None = None  # the saved lists' JSON, read on first use

    @property
    def lists(self) -> dict[tuple[Any, ...], int]:
        """Interned lists -> code (numbers as floats, a bool b as the tuple (b,)); decoded on first use."""
        if self._lists is None:
            assert self._lists_json is not None
            raw = self._lists_json()
            try:
                keys = json.loads(bytes(raw)) if len(raw) else []
            except ValueError as exc:
                raise CorruptionError(f"the saved lists of a metadata key are not JSON ({exc})") from None
            self._lists = {tuple(tuple(x) if isinstance(x, list) else x for x in key): i for i, key in enumerate(keys)}
        return self._lists

    def to_arrays(self, n: int) -> dict[str, np.ndarray]:
        """The key's state as named 1-D arrays (what from_saved takes back); labels covering all n
        labels (a dense key) are saved as the marker "<name>.dense" instead."""
        out: dict[str, np.ndarray] = {}

        def labels(name: str, arr: np.ndarray) -> None:
            # exactly 0..n-1 (an element's labels repeat when a list holds a value twice: not dense)
            if len(arr) == n and n and arr[0] == 0 and arr[-1] == n - 1 and bool((np.diff(arr) == 1).all()):
                out[f"{name}.dense"] = np.zeros(1, np.int64)
            else:
                out[name] = arr

        labels("present", self.present.view())
        for part, by_kind in (("top", self.top), ("elem", self.elem)):
            for kind, pairs in by_kind.items():
                labels(f"{part}.{kind}.labels", pairs.labels.view())
                if pairs.values is not None:
                    out[f"{part}.{kind}.values"] = pairs.values.view()
        strings = self.strings.array()
        buffers = strings.buffers()
        offsets = np.frombuffer(buffers[1], np.int32)[strings.offset : strings.offset + len(strings) + 1]
        data = np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.empty(0, np.uint8)
        start = int(offsets[0]) if len(offsets) else 0
        out["strings.offsets"] = (offsets - start).astype(np.int32) if len(offsets) else np.zeros(1, np.int32)
        out["strings.data"] = data[start : int(offsets[-1])] if len(offsets) else data[:0]
        if self._lists is None and self._lists_json is not None:  # never decoded: saved as it was read
            out["lists.json"] = self._lists_json()
        else:
            out["lists.json"] = np.frombuffer(json.dumps([list(k) for k in self.lists]).encode(), np.uint8)
        return out

    @classmethod
    def from_saved(cls, get: Callable[[str], np.ndarray | None], n: int, where: str,
                   every_label: Callable[[], np.ndarray] | None = None) -> "KeyColumn":
        """A key column over saved arrays: get(name) gives each (checked; None when absent) on first use.

        A damaged or inconsistent array raises CorruptionError when a query or an append first needs it.
        every_label: gives 0..n-1 for a dense key (shared_labels; one of its own when None)."""
        every_label = every_label or shared_labels(n)

        def need(name: str) -> np.ndarray:
            arr = get(name)
            if arr is None:
                raise CorruptionError(f"{where}: array {name!r} is missing")
            return arr

        def labels_of(name: str) -> Callable[[], np.ndarray]:
            def load() -> np.ndarray:
                if get(f"{name}.dense") is not None:
                    return every_label()
                arr = need(name)
                if arr.dtype != np.int64 or (len(arr) and (arr[0] < 0 or arr[-1] >= n)):
                    raise CorruptionError(f"{where}: {name} holds labels outside 0..{n - 1}")
                return arr
            return load

        def values_of(name: str, dtype: Any, count: Callable[[], int]) -> Callable[[], np.ndarray]:
            def load() -> np.ndarray:
                arr = need(name)
                if arr.dtype != np.dtype(dtype) or len(arr) != count():
                    raise CorruptionError(f"{where}: {name} does not match its labels")
                return arr
            return load

        def strings() -> pa.Array:
            offsets, data = need("strings.offsets"), need("strings.data")
            if offsets.dtype != np.int32 or len(offsets) < 1 or offsets[0] != 0 or offsets[-1] != len(data) \
                    or (np.diff(offsets) < 0).any():
                raise CorruptionError(f"{where}: string offsets do not fit the string bytes")
            try:
                return pa.Array.from_buffers(pa.string(), len(offsets) - 1,
                                             [None, pa.py_buffer(offsets), pa.py_buffer(data)])
            except (pa.ArrowInvalid, ValueError) as exc:
                raise CorruptionError(f"{where}: {exc}") from None

        column = cls()
        column.present = SavedArray(np.int64, labels_of("present"))
        for part, kinds, by_kind in (("top", _VALUE_DTYPES, column.top), ("elem", ELEMENT_KINDS, column.elem)):
            for kind in kinds:
                dtype = _VALUE_DTYPES[kind]
                pairs = by_kind[kind]
                pairs.labels = SavedArray(np.int64, labels_of(f"{part}.{kind}.labels"))
                if dtype is not None:
                    saved_labels = labels_of(f"{part}.{kind}.labels")  # as saved: appends come later
                    pairs.values = SavedArray(dtype, values_of(f"{part}.{kind}.values", dtype, _length(saved_labels)))
        column.strings = Strings(strings)
        column._lists = None
        column._lists_json = lambda: need("lists.json")
        return column
