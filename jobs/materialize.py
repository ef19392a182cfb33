"""Materialization: copy the latest offline feature values into the online store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feast import FeatureStore


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization run covered."""

    end: datetime
    feature_views: list[str]


def materialize_incremental(
    store: FeatureStore, end: datetime | None = None, views: Sequence[str] | None = None
) -> MaterializeResult:
    """Load every batch feature view's rows since its last run (or its TTL) up to ``end``.

    The same as ``feast materialize-incremental END``; Feast keeps the watermark per view.
    """
    end = end or datetime.now(UTC)
    names = list(views) if views else [v.name for v in store.list_batch_feature_views()]
    store.materialize_incremental(end_date=end, feature_views=names)
    return MaterializeResult(end=end, feature_views=names)
