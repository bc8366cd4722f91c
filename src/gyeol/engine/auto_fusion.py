"""The collection side of auto fusion: when to calibrate, over which documents, and keeping the result.

gyeol.calibration holds the rule (pure functions); this module runs `calibrate` over the
collection's own documents when the parameters are needed and none fit the collection's size:
a writer asks at close and save_indexes (DerivedIndexes.save), any handle on the first auto
hybrid search that finds none; they are measured again once the number of live documents has
doubled or halved since. A writer saves them with the other derived indexes
(index/fusion/auto.json), so a fresh process, a read-only one too, loads them instead of
embedding the pseudo-queries again on its first hybrid search; a read-only one never writes them. Like every
derived file they are checked on load and measured again when missing or damaged.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Callable

import numpy as np

from .._checksum import seal_json, unseal
from .._fileset import fsync_dir, write_bytes_atomic
from ..calibration import AUTO_DEFAULTS, MIN_SAMPLES, AutoFusion, calibrate, calibration_sample
from ..errors import InvalidInputError
from ..storage.rows import read_rows
from ..storage.store import SegmentStore
from .vector_side import index_dir

log = logging.getLogger(__name__)

RankLabels = Callable[[list[str]], list[list[int]]]

# Recalibrate once the live count has moved by this factor either way since the last calibration.
RECALIBRATE_FACTOR = 2.0
# Passages whose first sentence is searched: 64 gave the same decision as 100 on every set measured
# (docs/hybrid.md), at two thirds of the query embedding on a fresh collection's first hybrid search.
CALIBRATION_SAMPLES = 64
PARAMS_FILE = "auto.json"
PARAMS_FORMAT = 1


class AutoFusionState:
    """The auto-fusion parameters of one collection handle, measured on first need."""

    def __init__(self) -> None:
        self._params: AutoFusion | None = None
        self._measured_at = 0  # live documents when the parameters were measured
        self._saved = True  # nothing measured that a save should write
        self._loaded = False  # the saved file was looked for
        # searches racing to the first auto hybrid search calibrate once; the others wait for it
        self._lock = threading.RLock()

    @property
    def params(self) -> AutoFusion | None:
        """The parameters last measured (None before the first auto hybrid search)."""
        return self._params

    def reset(self) -> None:
        """Forget the parameters (another embedder or tokenizer): the next auto search measures again."""
        with self._lock:
            self._params = None
            self._measured_at = 0

    def get(self, store: SegmentStore, search_vector: RankLabels, search_keyword: RankLabels) -> AutoFusion:
        """The parameters for the store as it is now, calibrating when none fit its size (once, whatever
        the threads asking)."""
        with self._lock:
            return self._get(store, search_vector, search_keyword)

    def _get(self, store: SegmentStore, search_vector: RankLabels, search_keyword: RankLabels) -> AutoFusion:
        n = store.n_live
        if self._params is None and not self._loaded:
            self._load(store)
        if self._params is not None and self._measured_at / RECALIBRATE_FACTOR <= n <= self._measured_at * RECALIBRATE_FACTOR:
            return self._params
        if n < MIN_SAMPLES:  # too few documents to measure anything: the defaults, measured again later
            return AUTO_DEFAULTS
        live = np.flatnonzero(store.live) if store.has_deletes else np.arange(store.n_labels)
        labels = live[calibration_sample(len(live), CALIBRATION_SAMPLES)]
        texts, _ = read_rows(store.texts, store.metadata_json, labels)
        kept = [(int(label), text) for label, text in zip(labels, texts) if isinstance(text, str) and text.strip()]
        try:
            self._params = calibrate(search_vector, search_keyword, [label for label, _ in kept],
                                     [text for _, text in kept])
        except InvalidInputError:  # no embedder (vectors passed by the caller): nothing to measure with
            self._params = AUTO_DEFAULTS
        self._measured_at = n
        self._saved = False
        return self._params

    def save(self, store: SegmentStore) -> None:
        """Write the measured parameters beside the derived indexes (a writer's on-disk store only)."""
        with self._lock:
            self._save(store)

    def _save(self, store: SegmentStore) -> None:
        directory = _params_dir(store)
        if self._saved or self._params is None or directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        record = {"format": PARAMS_FORMAT, "collection": store.manifest.config.get("name"),
                  "measured_at": self._measured_at, "params": self._params.to_json()}
        write_bytes_atomic(directory / PARAMS_FILE, seal_json(record))  # sealed: a flipped digit is caught
        self._saved = True

    def _load(self, store: SegmentStore) -> None:
        self._loaded = True
        directory = _params_dir(store)
        if directory is None or not (directory / PARAMS_FILE).is_file():
            return
        path = directory / PARAMS_FILE
        try:
            record = json.loads(path.read_bytes())
            if isinstance(record, dict):
                record, sealed_ok = unseal(record)
                if sealed_ok is False:
                    raise InvalidInputError("its crc32 does not match its content")
            if not isinstance(record, dict) or record.get("format") != PARAMS_FORMAT:
                raise InvalidInputError("not an auto-fusion parameters file of format 1")
            owner = record.get("collection", store.manifest.config.get("name"))
            if owner != store.manifest.config.get("name"):  # another collection's file, copied or swapped in
                raise InvalidInputError(f"it was measured for collection {owner!r}")
            measured_at = record.get("measured_at")
            if isinstance(measured_at, bool) or not isinstance(measured_at, int) or measured_at < 0:
                raise InvalidInputError(f"measured_at must be a non-negative int, got {measured_at!r}")
            self._params, self._measured_at = AutoFusion.from_json(record.get("params")), measured_at
        except (OSError, ValueError) as exc:  # InvalidInputError and JSON errors are ValueErrors
            log.warning("ignoring %s (%s); auto fusion is measured again", path, exc)


def discard_saved(store: SegmentStore) -> None:
    """Delete the saved parameters of store (its vectors are about to change: col.reembed)."""
    directory = _params_dir(store)
    if directory is not None:
        (directory / PARAMS_FILE).unlink(missing_ok=True)
        fsync_dir(directory)


def _params_dir(store: SegmentStore) -> Path | None:
    return index_dir(store, "fusion")
