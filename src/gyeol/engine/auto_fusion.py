"""The collection side of auto fusion: when to calibrate, over which documents, and keeping the result.

gyeol.calibration holds the rule (pure functions); this module runs `calibrate` over the
collection's own documents the first time an auto hybrid search needs its parameters, and again
once the number of live documents has doubled or halved since. The parameters live with the
process (a read-only handle calibrates on its own), never on disk: they are cheap to measure
(about 100 short query embeddings and 200 searches) and derived from data that can change.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..calibration import AUTO_DEFAULTS, MIN_SAMPLES, AutoFusion, calibrate, calibration_sample
from ..storage.rows import read_rows
from ..storage.store import SegmentStore

RankLabels = Callable[[list[str]], list[list[int]]]

# Recalibrate once the live count has moved by this factor either way since the last calibration.
RECALIBRATE_FACTOR = 2.0


class AutoFusionState:
    """The auto-fusion parameters of one collection handle, measured on first need."""

    def __init__(self) -> None:
        self._params: AutoFusion | None = None
        self._measured_at = 0  # live documents when the parameters were measured

    @property
    def params(self) -> AutoFusion | None:
        """The parameters last measured (None before the first auto hybrid search)."""
        return self._params

    def reset(self) -> None:
        """Forget the parameters (another embedder or tokenizer): the next auto search measures again."""
        self._params = None
        self._measured_at = 0

    def get(self, store: SegmentStore, search_vector: RankLabels, search_keyword: RankLabels) -> AutoFusion:
        """The parameters for the store as it is now, calibrating when none fit its size."""
        n = store.n_live
        if self._params is not None and self._measured_at / RECALIBRATE_FACTOR <= n <= self._measured_at * RECALIBRATE_FACTOR:
            return self._params
        if n < MIN_SAMPLES:  # too few documents to measure anything: the defaults, measured again later
            return AUTO_DEFAULTS
        live = np.flatnonzero(store.live) if store.has_deletes else np.arange(store.n_labels)
        labels = live[calibration_sample(len(live))]
        texts, _ = read_rows(store.texts, store.metadata_json, labels)
        kept = [(int(label), text) for label, text in zip(labels, texts) if isinstance(text, str) and text.strip()]
        self._params = calibrate(search_vector, search_keyword, [label for label, _ in kept],
                                 [text for _, text in kept])
        self._measured_at = n
        return self._params
