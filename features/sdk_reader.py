"""Online feature reads through Feast's SDK, bounded in time and mapped to our errors.

Feast does not filter its online read on a view's ``ttl``; with ``enforce_ttl`` this reader
does: it takes each value's event time from Feast's response and turns values older than their
view's ``ttl`` into ``None`` (reporting them as stale). On-demand views have already run on
what Feast returned, as they would without us.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from feast import FeatureStore
from feast.infra.online_stores.online_store import OnlineStore
from redis.exceptions import RedisError

from features.deadline import within
from features.errors import OnlineStoreUnavailable
from features.online_features import OnlineFeatures

log = logging.getLogger(__name__)

# Connection failures surface as redis-py errors from the Redis store and as OSError from
# most other stores' clients; both mean "the store is not there", not "your request is bad".
_UNAVAILABLE = (RedisError, OSError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class _Service:
    """A feature service, its stored features and the ``ttl`` (seconds) of those that have one."""

    service: Any
    stored: frozenset[str]
    ttl_s: dict[str, float]


class OnlineFeatureReader:
    """Reads one feature service's latest values for a batch of entity rows."""

    def __init__(self, store: FeatureStore, timeout_s: float, enforce_ttl: bool = True) -> None:
        self._store = store
        self._timeout_s = timeout_s
        self._enforce_ttl = enforce_ttl
        online_store = store._get_provider().online_store
        self._online_store = online_store
        # Stores that implement Feast's async read get it; the others run in a worker thread.
        self._native_async = (
            type(online_store).online_read_async is not OnlineStore.online_read_async
        )
        self._services: dict[str, _Service] = {}

    def _service(self, name: str) -> _Service:
        known = self._services.get(name)
        if known is None:
            service = self._store.get_feature_service(name, allow_cache=True)
            odfvs = {v.name for v in self._store.list_on_demand_feature_views(allow_cache=True)}
            stored: set[str] = set()
            ttl_s: dict[str, float] = {}
            for projection in service.feature_view_projections:
                if projection.name in odfvs:
                    continue
                view = self._store.get_feature_view(projection.name, allow_registry_cache=True)
                ttl = view.ttl.total_seconds() if view.ttl else 0.0
                for feature in projection.features:
                    full_name = f"{projection.name_to_use()}__{feature.name}"  # type: ignore[no-untyped-call]
                    stored.add(full_name)
                    if ttl > 0:
                        ttl_s[full_name] = ttl
            known = self._services[name] = _Service(service, frozenset(stored), ttl_s)
        return known

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> OnlineFeatures:
        """Return ``{column: values}`` with one value per row, features named ``<view>__<name>``.

        Values Feast has not got for an entity come back as ``None``, and so do values older
        than their view's ``ttl`` when it is enforced. ``timeout_s`` is what is left of the
        request's budget, capped by the reader's own.
        """
        if timeout_s is None or timeout_s > self._timeout_s:
            timeout_s = self._timeout_s
        known = self._service(feature_service)
        service = known.service
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
            response = await within(call, timeout_s)
        except TimeoutError as exc:
            raise OnlineStoreUnavailable(
                f"online store did not answer within {timeout_s:.2g} s"
            ) from exc
        except _UNAVAILABLE as exc:
            raise OnlineStoreUnavailable(f"online store unreachable: {exc}") from exc
        result: dict[str, list[Any]] = response.to_dict()
        stale = self._stale(response, result, known.ttl_s) if self._enforce_ttl else {}
        return OnlineFeatures(result, known.stored, stale)

    @staticmethod
    def _stale(
        response: Any, columns: dict[str, list[Any]], ttl_s: Mapping[str, float]
    ) -> dict[str, list[bool]]:
        """Turn values older than their view's ``ttl`` into None; where, per feature."""
        now = time.time()
        stale: dict[str, list[bool]] = {}
        names = response.proto.metadata.feature_names.val
        for name, vector in zip(names, response.proto.results, strict=True):
            ttl = ttl_s.get(name)
            if ttl is None:
                continue
            cutoff, values = now - ttl, columns[name]
            old = [
                value is not None and stamp.seconds + stamp.nanos * 1e-9 < cutoff
                for value, stamp in zip(values, vector.event_timestamps, strict=True)
            ]
            if any(old):
                columns[name] = [None if o else v for v, o in zip(values, old, strict=True)]
                stale[name] = old
        return stale

    async def close(self) -> None:
        """Release the store's connections; Feast's own close() leaves the async Redis pool open."""
        await self._store.close()
        client = getattr(self._online_store, "_client_async", None)
        if client is not None:
            await client.aclose()
            setattr(self._online_store, "_client_async", None)  # noqa: B010
