"""Rows the online store had nothing for, and stale features: counted, warned about, refused.

A row "has nothing from the store" when every feature its model reads from the online store is
missing (or stale): the features on-demand views compute from the request do not count, since
they are there whatever the store holds. One such row is an entity the store does not know
yet (a new customer at a new merchant); every row of every request like that is a store that
lost its data. So the rows are counted and warned about at a bounded rate, and refused only
when the settings ask for it and no row of the request has anything from the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

import numpy as np

from scoring.errors import FeaturesAllMissing
from scoring.model.encoding import BoolArray
from scoring.model.loaded import ScoringModel
from scoring.serving.service_metrics import ServiceMetrics

log = logging.getLogger(__name__)

WARN_INTERVAL_S = 60.0
"""At most one warning this often about rows without stored features."""


def stale_matrix(
    names: Sequence[str], stale: Mapping[str, Sequence[bool]], rows: int
) -> BoolArray | None:
    """Rows x ``names``: where a value was too old to serve; None when none was."""
    if not stale:
        return None
    matrix = np.zeros((rows, len(names)), dtype=bool)
    for j, name in enumerate(names):
        where = stale.get(name)
        if where is not None:
            matrix[:, j] = where
    return matrix if matrix.any() else None


def names_by_row(matrix: BoolArray, names: Sequence[str]) -> list[list[str]] | None:
    """Per row of ``matrix`` (rows x ``names``), the names where it is set; None if nowhere."""
    if not matrix.any():
        return None
    rows: list[list[bool]] = matrix.tolist()
    return [[name for name, is_set in zip(names, row, strict=True) if is_set] for row in rows]


class FeatureGaps:
    """Counts of rows without stored features and of stale features, per model; the policy."""

    def __init__(
        self,
        reject: bool = False,
        warn_interval_s: float = WARN_INTERVAL_S,
        metrics: ServiceMetrics | None = None,
    ) -> None:
        self.reject = reject
        self._metrics = metrics
        self.rows_without_stored: dict[str, int] = {}
        """Answered rows with no feature from the online store, by model."""
        self.stale: dict[tuple[str, str], int] = {}
        """Stale values scored as missing, by model and feature."""
        self._warn_interval_s = warn_interval_s
        self._warned_at = -float("inf")
        self._unwarned = 0
        self._stored: dict[tuple[str, int, frozenset[str]], BoolArray] = {}

    def stored_mask(self, model: ScoringModel, stored: frozenset[str]) -> BoolArray:
        """Per feature of ``model``, in its order: read from the online store."""
        key = (model.name, model.version, stored)
        mask = self._stored.get(key)
        if mask is None:
            names = model.schema.feature_names
            mask = self._stored[key] = np.array([n in stored for n in names], dtype=bool)
        return mask

    def count(
        self,
        model: ScoringModel,
        missing: BoolArray,
        stale: BoolArray | None,
        stored: BoolArray | None,
    ) -> None:
        """Count what the rows of one computation (a request, or a micro-batch of them) lacked.

        Counted once per computation rather than per request: under load a batch holds many
        small requests, and the counts and metric writes are then shared by all of them.
        """
        names = model.schema.feature_names
        if stale is not None:
            per_feature = stale.sum(axis=0).tolist()
            for name, count in zip(names, per_feature, strict=True):
                if count:
                    key = (model.name, name)
                    self.stale[key] = self.stale.get(key, 0) + count
            if self._metrics is not None:
                self._metrics.stale_features(model.name, names, per_feature)
        if not missing.any():
            return  # nearly every computation
        if self._metrics is not None:
            self._metrics.missing_features(model.name, names, missing.sum(axis=0).tolist())
        if stored is None or not stored.any():
            return  # a model needing nothing from the store, or a reader that cannot tell
        empty = int(np.count_nonzero(missing[:, stored].all(axis=1)))
        if not empty:
            return
        self.rows_without_stored[model.name] = self.rows_without_stored.get(model.name, 0) + empty
        if self._metrics is not None:
            self._metrics.rows_without_stored.labels(model.name).inc(empty)
        self._warn(model.name, empty)

    def refuse_if_nothing_stored(
        self, model: ScoringModel, missing: BoolArray, stored: BoolArray | None
    ) -> None:
        """If so set, refuse one request none of whose rows had anything from the store."""
        if not self.reject or stored is None or not missing.size or not stored.any():
            return
        if missing[:, stored].all():
            raise FeaturesAllMissing(
                f"the online store has none of model {model.name!r}'s stored features for "
                f"any row of this request; if it lost its data, reload it with "
                "`scorer materialize --full` or the materialize job"
            )

    def _warn(self, model: str, rows: int) -> None:
        self._unwarned += rows
        now = time.monotonic()
        if now - self._warned_at < self._warn_interval_s:
            return
        log.warning(
            "%d row(s) scored without any feature from the online store since the last "
            "warning (latest: model %s); new entities look like this, but so does an online "
            "store that lost its data: see /health/ready",
            self._unwarned, model,
        )  # fmt: skip
        self._warned_at, self._unwarned = now, 0
