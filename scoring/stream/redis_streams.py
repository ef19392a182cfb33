"""The stream transport on Redis Streams: a consumer group, ``XREADGROUP``, ``XAUTOCLAIM``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from scoring.stream.transport import Event, Outcome, TransportRefused, TransportUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

BODY = b"body"
"""The field of an input entry that holds its JSON."""

SOCKET_SLACK_S = 5.0
"""A command may take this long past a read's own block before Redis is deemed gone."""


def redis_client(url: str, block_ms: int) -> aioredis.Redis:
    """An asyncio client whose reads outlive ``XREADGROUP BLOCK`` but not a Redis that hangs."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=block_ms / 1000 + SOCKET_SLACK_S,
        socket_connect_timeout=SOCKET_SLACK_S,
    )


class RedisStreamTransport:
    """One input stream and its consumer group, with where results and dead letters go."""

    def __init__(
        self,
        client: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        results: str | None,
        dead: str,
        maxlen: int,
    ) -> None:
        self._redis = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._results = results
        self._dead = dead
        self._maxlen = maxlen
        self._claim_from = "0-0"

    async def prepare(self) -> None:
        """Create the group (and the stream) unless it exists; new, it starts at the beginning."""
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s", self.group, self.stream)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):
                raise TransportRefused(
                    f"cannot create group {self.group} on {self.stream}: {exc}"
                ) from exc
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransportUnavailable(f"Redis does not answer: {exc}") from exc

    async def read(self, count: int, block_ms: int) -> list[Event]:
        """New entries for this consumer (``XREADGROUP ... >``)."""
        answer = await self._call(
            lambda: self._redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=count, block=block_ms
            )
        )
        if not answer:
            return []
        return [_event(entry_id, fields) for entry_id, fields in answer[0][1]]

    async def claim(self, min_idle_ms: int, count: int) -> list[Event]:
        """Entries idle that long, taken over (``XAUTOCLAIM``), with their delivery counts.

        Entries deleted from the stream meanwhile (trimmed) are acknowledged: they are gone.
        """
        answer = await self._call(
            lambda: self._redis.xautoclaim(
                self.stream, self.group, self.consumer, min_idle_ms, self._claim_from, count
            )
        )
        self._claim_from = _text(answer[0])
        claimed = [(entry_id, fields) for entry_id, fields in answer[1] if fields is not None]
        gone = [_text(e) for e, fields in answer[1] if fields is None]
        if len(answer) > 2:
            gone.extend(_text(e) for e in answer[2])
        if gone:
            await self.ack(gone)
        if not claimed:
            return []
        ids = [_text(entry_id) for entry_id, _ in claimed]
        pending = await self._call(
            lambda: self._redis.xpending_range(
                self.stream, self.group, ids[0], ids[-1], len(ids) * 2, self.consumer
            )
        )
        deliveries = {_text(p["message_id"]): int(p["times_delivered"]) for p in pending}
        return [
            _event(entry_id, fields, deliveries.get(_text(entry_id), 1))
            for entry_id, fields in claimed
        ]

    async def write_results(self, results: Sequence[Outcome]) -> None:
        """``XADD`` each result (``event_id``, ``body``) to the results stream, capped."""
        if self._results is not None:
            await self._append(self._results, b"body", results)

    async def dead_letter(self, dead: Sequence[Outcome]) -> None:
        """``XADD`` each dead letter (``event_id``, ``error``) to the dead-letter stream."""
        await self._append(self._dead, b"error", dead)

    async def ack(self, event_ids: Sequence[str]) -> None:
        """``XACK`` the entries."""
        if event_ids:
            await self._call(lambda: self._redis.xack(self.stream, self.group, *event_ids))

    async def leave(self) -> None:
        """Delete this consumer from the group when it holds no pending entry."""
        summary = await self._call(
            lambda: self._redis.xpending_range(self.stream, self.group, "-", "+", 1, self.consumer)
        )
        if not summary:
            await self._call(
                lambda: self._redis.xgroup_delconsumer(self.stream, self.group, self.consumer)
            )

    async def close(self) -> None:
        """Close the client's connections."""
        await self._redis.aclose()

    async def _append(self, stream: str, field: bytes, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return

        async def append() -> Any:
            # One round trip for the batch; a pipeline runs its commands in order.
            pipe = self._redis.pipeline(transaction=False)
            for outcome in outcomes:
                pipe.xadd(
                    stream,
                    {b"event_id": outcome.event_id, field: outcome.payload},
                    maxlen=self._maxlen,
                    approximate=True,
                )
            return await pipe.execute()

        await self._call(append)

    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run ``command``; recreate the group once if Redis lost it (a restart without its
        data, or someone deleted the stream); a Redis that does not answer raises
        :class:`TransportUnavailable`."""
        try:
            try:
                return await command()
            except ResponseError as exc:
                # NOGROUP: no such group; UNBLOCKED: the stream was deleted under a read.
                if not str(exc).startswith(("NOGROUP", "UNBLOCKED")):
                    raise TransportRefused(
                        f"Redis refused a command on {self.stream}: {exc}"
                    ) from exc
                log.warning("consumer group %s on %s is gone: creating it", self.group, self.stream)
                self._claim_from = "0-0"
                await self.prepare()
                return await command()
        except ResponseError as exc:  # again, right after the group was made
            raise TransportRefused(f"Redis refused a command on {self.stream}: {exc}") from exc
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise TransportUnavailable(f"Redis does not answer: {exc}") from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _event(entry_id: bytes | str, fields: dict[bytes, bytes], deliveries: int = 1) -> Event:
    return Event(_text(entry_id), fields.get(BODY), deliveries)
