"""Choosing the online feature reader for a Feast repository's online store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from feast import FeatureStore
from feast.infra.online_stores.redis import RedisOnlineStoreConfig

from features.errors import OnlineStoreUnavailable
from features.redis.reader import RedisOnlineFeatureReader
from features.sdk_reader import OnlineFeatureReader

log = logging.getLogger(__name__)


class FeatureReader(Protocol):
    """What the scoring service needs of an online feature reader."""

    async def read(
        self, feature_service: str, rows: Sequence[Mapping[str, Any]]
    ) -> Mapping[str, Sequence[Any]]:
        """Return ``{<view>__<feature>: values}`` with one value per row."""
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...


def make_online_reader(
    store: FeatureStore, timeout_s: float, enforce_ttl: bool = True
) -> RedisOnlineFeatureReader | OnlineFeatureReader:
    """The fast Redis reader for a Redis online store; Feast's SDK reader for any other store.

    With ``enforce_ttl``, values older than their feature view's ``ttl`` are read as missing.
    """
    if isinstance(store.config.online_store, RedisOnlineStoreConfig):
        return RedisOnlineFeatureReader(store, timeout_s, enforce_ttl)
    return OnlineFeatureReader(store, timeout_s, enforce_ttl)


async def store_answers(
    reader: FeatureReader, feature_service: str, probe_row: Mapping[str, Any]
) -> bool:
    """True when a read of one made-up entity succeeds: the online store is reachable."""
    try:
        await reader.read(feature_service, [probe_row])
    except OnlineStoreUnavailable as exc:
        log.warning("readiness probe failed: %s", exc)
        return False
    return True


async def store_loaded(reader: FeatureReader) -> bool | None:
    """Whether the online store still holds what materialization loaded (its loaded marker).

    None where that cannot be told: online stores other than Redis have no marker.
    """
    if isinstance(reader, RedisOnlineFeatureReader):
        return await reader.loaded_marker.loaded()
    return None
