"""The "online store is loaded" marker: a key that materialization leaves in the online Redis.

An online store that lost its data (``FLUSHALL``, a Redis restarted without persistence) still
answers every read, only with nothing in it: each entity looks like a new one. Feast cannot
tell, and its registry's watermark still says everything was loaded. So every successful
materialization writes one small key next to the features, named after the Feast project, and
anything that wants to know whether the store still holds what was loaded asks for that key:
if the data went, the key went with it. A check costs one ``EXISTS``, cached for a second,
since readiness probes come often.

Only for a Redis online store: other stores (read through Feast's SDK) have no such key.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import orjson
from feast import FeatureStore
from redis import asyncio as redis_asyncio
from redis.exceptions import RedisError

from features._feast_private import redis_online_client
from features.deadline import within
from features.errors import OnlineStoreUnavailable

MARKER_PREFIX = "scorer:online-store-loaded:"

CHECK_MAX_AGE_S = 1.0
"""How long one answer of :class:`LoadedMarkerCheck` is reused."""


def marker_key(project: str) -> str:
    """The key holding the marker of one Feast project's online features."""
    return f"{MARKER_PREFIX}{project}"


@dataclass(frozen=True)
class LoadedMarker:
    """What the last materialization loaded, and when."""

    loaded_at: datetime
    end: datetime
    """Feature rows up to this event time were loaded."""
    feature_views: list[str]
    full_reload: bool

    def to_json(self) -> bytes:
        """The marker as stored."""
        return orjson.dumps(asdict(self))

    @classmethod
    def from_json(cls, raw: bytes) -> LoadedMarker:
        """Inverse of :meth:`to_json`."""
        data: dict[str, Any] = orjson.loads(raw)
        return cls(
            loaded_at=datetime.fromisoformat(data["loaded_at"]),
            end=datetime.fromisoformat(data["end"]),
            feature_views=list(data["feature_views"]),
            full_reload=bool(data["full_reload"]),
        )


def read_marker(store: FeatureStore) -> LoadedMarker | None:
    """The marker of ``store``'s project in its Redis online store, or None if there is none."""
    raw = redis_online_client(store).get(marker_key(store.project))
    return None if raw is None else LoadedMarker.from_json(raw)


def write_marker(store: FeatureStore, marker: LoadedMarker) -> None:
    """Record that ``store``'s online features were loaded (after a materialization)."""
    redis_online_client(store).set(marker_key(store.project), marker.to_json())


class LoadedMarkerCheck:
    """Whether the marker is in the online Redis, asked at most once a second.

    A check waits no longer than ``timeout_s`` (the online read's timeout): readiness
    probes have deadlines of their own, and redis-py's retries would outlast them.
    """

    def __init__(
        self,
        client: redis_asyncio.Redis | redis_asyncio.RedisCluster,
        project: str,
        timeout_s: float,
        max_age_s: float = CHECK_MAX_AGE_S,
    ) -> None:
        self._client = client
        self._key = marker_key(project)
        self._timeout_s = timeout_s
        self._max_age_s = max_age_s
        self._checked_at = -float("inf")
        self.last: bool | None = None
        """The latest answer; None until the first check, or after one that failed."""

    async def loaded(self) -> bool:
        """True while the marker is there; raises OnlineStoreUnavailable if Redis fails."""
        now = time.monotonic()
        if self.last is not None and now - self._checked_at < self._max_age_s:
            return self.last
        try:
            found = bool(await within(self._client.exists(self._key), self._timeout_s))
        except TimeoutError as exc:
            self.last = None
            raise OnlineStoreUnavailable(
                f"online store did not answer within {self._timeout_s:.2g} s"
            ) from exc
        except (RedisError, OSError) as exc:
            self.last = None
            raise OnlineStoreUnavailable(f"online store unreachable: {exc}") from exc
        self.last, self._checked_at = found, now
        return found
