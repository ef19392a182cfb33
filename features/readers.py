"""Choosing the online feature reader for a Feast repository's online store."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from feast import FeatureStore
from feast.infra.online_stores.redis import RedisOnlineStoreConfig

from features.circuit import CircuitBreaker
from features.errors import CircuitOpen, OnlineStoreUnavailable
from features.redis.reader import RedisOnlineFeatureReader
from features.sdk_reader import OnlineFeatureReader

log = logging.getLogger(__name__)


class FeatureReader(Protocol):
    """What the scoring service needs of an online feature reader."""

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        """Return ``{<view>__<feature>: values}`` with one value per row.

        ``timeout_s`` is what is left of the caller's time budget; the reader's own timeout
        caps it, and applies when it is None.
        """
        ...

    async def close(self) -> None:
        """Release the store's connections."""
        ...


class CircuitBreakingReader:
    """A reader whose reads go through a circuit breaker: refused at once while it is open."""

    def __init__(self, reader: FeatureReader, circuit: CircuitBreaker) -> None:
        self.reader = reader
        self.circuit = circuit

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        """The inner reader's answer, or :class:`CircuitOpen` while the store is known down."""
        circuit = self.circuit
        if not circuit.admit():
            raise CircuitOpen(circuit.describe())
        try:
            columns = await self.reader.read(feature_service, rows, timeout_s)
        except OnlineStoreUnavailable as exc:
            circuit.failed(str(exc))
            raise
        except BaseException:
            # Cancelled, or an error that is no verdict on the store (an unknown service).
            circuit.abandoned()
            raise
        circuit.succeeded()
        return columns

    async def close(self) -> None:
        """Close the inner reader."""
        await self.reader.close()


def make_online_reader(
    store: FeatureStore,
    timeout_s: float,
    enforce_ttl: bool = True,
    circuit: CircuitBreaker | None = None,
) -> FeatureReader:
    """The fast Redis reader for a Redis online store; Feast's SDK reader for any other store.

    With ``enforce_ttl``, values older than their feature view's ``ttl`` are read as missing.
    With a ``circuit``, reads go through it (:class:`CircuitBreakingReader`).
    """
    reader: RedisOnlineFeatureReader | OnlineFeatureReader
    if isinstance(store.config.online_store, RedisOnlineStoreConfig):
        reader = RedisOnlineFeatureReader(store, timeout_s, enforce_ttl)
    else:
        reader = OnlineFeatureReader(store, timeout_s, enforce_ttl)
    return reader if circuit is None else CircuitBreakingReader(reader, circuit)


def fast_redis_reader(reader: FeatureReader) -> RedisOnlineFeatureReader | None:
    """The fast Redis reader doing ``reader``'s reads (behind its circuit breaker, if any)."""
    if isinstance(reader, CircuitBreakingReader):
        reader = reader.reader
    return reader if isinstance(reader, RedisOnlineFeatureReader) else None


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
    redis_reader = fast_redis_reader(reader)
    if redis_reader is not None:
        return await redis_reader.loaded_marker.loaded()
    return None
