"""Materialization: copy the latest offline feature values into the online store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feast import FeatureStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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


def materialize_all(store: FeatureStore, end: datetime | None = None) -> MaterializeResult:
    """Load the latest value of every entity, whatever the watermark says.

    ``materialize_incremental`` trusts the registry's record of what was loaded; an online
    store that lost its data (a fresh Redis next to an old registry) stays incomplete under
    it. This reloads from the beginning of time, as ``feast materialize START END`` would.
    """
    end = end or datetime.now(UTC)
    names = [v.name for v in store.list_batch_feature_views()]
    store.materialize(start_date=EPOCH, end_date=end, feature_views=names)
    return MaterializeResult(end=end, feature_views=names)
