"""Materialization: copy the latest offline feature values into the online store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from feast import FeatureStore
from feast.infra.online_stores.redis import RedisOnlineStoreConfig
from redis.exceptions import RedisError

from features.errors import OnlineStoreUnavailable
from features.loaded_marker import LoadedMarker, read_marker, write_marker

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MaterializeResult:
    """What one materialization run covered."""

    end: datetime
    feature_views: list[str]
    full_reload: bool = False
    reason: str = ""
    """Why a full reload was done, when it was."""


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


def materialize_all(
    store: FeatureStore, end: datetime | None = None, reason: str = "asked for"
) -> MaterializeResult:
    """Load the latest value of every entity, whatever the watermark says.

    ``materialize_incremental`` trusts the registry's record of what was loaded; an online
    store that lost its data (a fresh Redis next to an old registry) stays incomplete under
    it. This reloads from the beginning of time, as ``feast materialize START END`` would,
    and leaves the loaded marker: the store now holds everything.
    """
    end = end or datetime.now(UTC)
    names = [v.name for v in store.list_batch_feature_views()]
    store.materialize(start_date=EPOCH, end_date=end, feature_views=names)
    result = MaterializeResult(end=end, feature_views=names, full_reload=True, reason=reason)
    mark_loaded(store, result)
    return result


def mark_loaded(store: FeatureStore, result: MaterializeResult) -> None:
    """Leave the loaded marker after a run that loaded ``result`` (Redis online stores only)."""
    if isinstance(store.config.online_store, RedisOnlineStoreConfig):
        loaded_at = datetime.now(UTC)
        marker = LoadedMarker(loaded_at, result.end, result.feature_views, result.full_reload)
        write_marker(store, marker)


NO_MARKER = "the online store has no loaded marker: it lost its data or was never loaded"


def materialize(
    store: FeatureStore, end: datetime | None = None, full: bool = False
) -> MaterializeResult:
    """Bring the online store up to ``end``: incrementally, or in full when it lost its data.

    On a Redis online store the loaded marker (``features.loaded_marker``) tells whether the
    store still holds what earlier runs loaded; without it, Feast's watermark would make an
    incremental run load nothing, so everything is reloaded instead. Every successful run
    leaves the marker. Other online stores have no marker: they load incrementally unless
    ``full`` is asked for.
    """
    try:
        if full:
            return materialize_all(store, end)
        online = store.config.online_store
        if isinstance(online, RedisOnlineStoreConfig) and read_marker(store) is None:
            return materialize_all(store, end, reason=NO_MARKER)
        result = materialize_incremental(store, end)
        mark_loaded(store, result)
        return result
    except RedisError as exc:
        raise OnlineStoreUnavailable(
            f"the online store at {_address(store)} does not answer: {exc}"
        ) from exc


def _address(store: FeatureStore) -> str:
    """Where the Redis online store is, for a message: its first node, never its password."""
    online = store.config.online_store
    if isinstance(online, RedisOnlineStoreConfig):
        return online.connection_string.split(",")[0]
    return type(online).__name__
