"""Online feature reads through Feast's SDK, bounded in time and mapped to our errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from feast import FeatureStore
from feast.infra.online_stores.online_store import OnlineStore
from redis.exceptions import RedisError

from features.errors import OnlineStoreUnavailable

log = logging.getLogger(__name__)

# Connection failures surface as redis-py errors from the Redis store and as OSError from
# most other stores' clients; both mean "the store is not there", not "your request is bad".
_UNAVAILABLE = (RedisError, OSError, ConnectionError, TimeoutError)


class OnlineFeatureReader:
    """Reads one feature service's latest values for a batch of entity rows."""

    def __init__(self, store: FeatureStore, timeout_s: float) -> None:
        self._store = store
        self._timeout_s = timeout_s
        online_store = store._get_provider().online_store
        self._online_store = online_store
        # Stores that implement Feast's async read get it; the others run in a worker thread.
        self._native_async = (
            type(online_store).online_read_async is not OnlineStore.online_read_async
        )
        self._services: dict[str, Any] = {}

    def _service(self, name: str) -> Any:
        service = self._services.get(name)
        if service is None:
            service = self._store.get_feature_service(name, allow_cache=True)
            self._services[name] = service
        return service

    async def read(
        self, feature_service: str, rows: Sequence[Mapping[str, Any]]
    ) -> dict[str, list[Any]]:
        """Return ``{column: values}`` with one value per row, features named ``<view>__<name>``.

        Values Feast has not got for an entity come back as ``None``.
        """
        service = self._service(feature_service)
        entity_rows = [dict(r) for r in rows]
        try:
            if self._native_async:
                call = self._store.get_online_features_async(
                    features=service, entity_rows=entity_rows, full_feature_names=True
                )
            else:
                call = asyncio.to_thread(
                    self._store.get_online_features,
                    features=service,
                    entity_rows=entity_rows,
                    full_feature_names=True,
                )
            response = await asyncio.wait_for(call, self._timeout_s)
        except TimeoutError as exc:
            raise OnlineStoreUnavailable(
                f"online store did not answer within {self._timeout_s:g} s"
            ) from exc
        except _UNAVAILABLE as exc:
            raise OnlineStoreUnavailable(f"online store unreachable: {exc}") from exc
        result: dict[str, list[Any]] = response.to_dict()
        return result

    async def close(self) -> None:
        """Release the store's connections; Feast's own close() leaves the async Redis pool open."""
        await self._store.close()
        client = getattr(self._online_store, "_client_async", None)
        if client is not None:
            await client.aclose()
            setattr(self._online_store, "_client_async", None)  # noqa: B010
