"""One pipelined round trip of HMGETs to the Redis a Feast repo is configured with.

The client is built from Feast's own connection string parser, for the three ``redis_type``
values Feast knows. On a single server (or a Sentinel-managed master) the commands are packed
into one buffer and the replies read straight off the connection's hiredis reader: redis-py's
pipeline costs about ten microseconds of Python per command, which dominates a read of a
thousand entities. On a cluster, redis-py's cluster pipeline splits the commands by slot and
follows MOVED/ASK redirections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feast.infra.online_stores.redis import RedisOnlineStore, RedisOnlineStoreConfig, RedisType
from redis import asyncio as redis_asyncio
from redis.asyncio.cluster import ClusterNode
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

try:  # what redis-py's hiredis parser has its reader return for "no whole reply yet"
    from redis._parsers.hiredis import NOT_ENOUGH_DATA as _NOT_ENOUGH_DATA
except ImportError:  # pragma: no cover - another redis-py: the per-reply read stands in
    _NOT_ENOUGH_DATA = None

RedisClient = redis_asyncio.Redis | redis_asyncio.RedisCluster
Reply = list[bytes | None]


def connect(config: RedisOnlineStoreConfig, timeout_s: float) -> RedisClient:
    """An async client for Feast's Redis online store, with socket timeouts of ``timeout_s``."""
    nodes, params = RedisOnlineStore._parse_connection_string(config.connection_string)
    # A timeout in the connection string wins: it is the operator's explicit choice.
    params.setdefault("socket_timeout", timeout_s)
    params.setdefault("socket_connect_timeout", timeout_s)
    if config.redis_type != RedisType.redis_sentinel:
        # One immediate retry: enough to replace a pooled connection that a Redis restart
        # closed, while a store that refuses connections answers 503 at once instead of
        # after redis-py's default backoff has used up the whole request timeout.
        params.setdefault("retry", Retry(NoBackoff(), 1))
    if config.redis_type == RedisType.redis_cluster:
        startup = [ClusterNode(node["host"], int(node["port"])) for node in nodes]
        return redis_asyncio.RedisCluster(startup_nodes=startup, **params)
    if config.redis_type == RedisType.redis_sentinel:
        sentinels = [(node["host"], int(node["port"])) for node in nodes]
        sentinel = redis_asyncio.Sentinel(sentinels, **params)  # type: ignore[no-untyped-call]
        master: redis_asyncio.Redis = sentinel.master_for(config.sentinel_master)
        return master
    return redis_asyncio.Redis(host=nodes[0]["host"], port=int(nodes[0]["port"]), **params)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


class HashReadCommand:
    """The HMGET of a fixed list of fields, packed once, for any number of keys."""

    def __init__(self, fields: Sequence[bytes]) -> None:
        self.fields = list(fields)
        self._head = b"*%d\r\n$5\r\nHMGET\r\n" % (len(self.fields) + 2)
        self._tail = b"".join(_bulk(f) for f in self.fields)

    def pack(self, keys: Sequence[bytes]) -> bytes:
        """RESP bytes of one HMGET per key."""
        head, tail = self._head, self._tail
        return b"".join([head + b"$%d\r\n%s\r\n" % (len(k), k) + tail for k in keys])


async def _read_replies(connection: Any, count: int) -> list[Any]:
    """``count`` replies off ``connection``; the caller bounds the whole read in time.

    With redis-py's hiredis parser, replies are taken straight from its hiredis reader,
    reading the socket only when the reader runs dry: redis-py's own read costs about a
    microsecond of Python per reply, a third of a thousand-entity read's client time.
    Without it, the parser's per-reply read (no timeout context per reply), or the public one.
    """
    parser = getattr(connection, "_parser", None)
    hiredis_reader = getattr(parser, "_reader", None)
    refill = getattr(parser, "read_from_socket", None)
    if (
        _NOT_ENOUGH_DATA is not None
        and refill is not None
        and hiredis_reader is not None
        and hasattr(hiredis_reader, "gets")
    ):
        gets = hiredis_reader.gets
        replies: list[Any] = []
        append = replies.append
        while len(replies) < count:
            reply = gets()
            if reply is _NOT_ENOUGH_DATA:  # the parser's reader returns it for a partial reply
                await refill()
            elif isinstance(reply, RedisConnectionError):
                raise reply
            else:
                append(reply)
        return replies
    read = parser.read_response if parser is not None else connection.read_response
    return [await read() for _ in range(count)]


async def _read_single(client: redis_asyncio.Redis, payload: bytes, count: int) -> list[Reply]:
    pool = client.connection_pool
    connection = await pool.get_connection()  # type: ignore[no-untyped-call]
    try:
        await connection.send_packed_command(payload)
        replies = await _read_replies(connection, count)
    except BaseException:
        # Replies may still be in flight: this connection must not serve anyone else.
        await connection.disconnect(nowait=True)
        raise
    finally:
        await pool.release(connection)
    for reply in replies:
        if isinstance(reply, ResponseError):
            raise reply
    return replies


async def _read_cluster(
    client: redis_asyncio.RedisCluster, batches: Sequence[tuple[HashReadCommand, Sequence[bytes]]]
) -> list[Reply]:
    pipe = client.pipeline(transaction=False)
    for command, keys in batches:
        for key in keys:
            pipe.hmget(key, command.fields)  # type: ignore[arg-type]  # bytes keys are fine
    replies: list[Reply] = await pipe.execute()
    return replies


async def read_hashes(
    client: RedisClient, batches: Sequence[tuple[HashReadCommand, Sequence[bytes]]]
) -> list[Reply]:
    """HMGET every key of every batch in one round trip; replies in the same order."""
    count = sum(len(keys) for _, keys in batches)
    if count == 0:
        return []
    if isinstance(client, redis_asyncio.RedisCluster):
        return await _read_cluster(client, batches)
    payload = b"".join(command.pack(keys) for command, keys in batches)
    try:
        return await _read_single(client, payload, count)
    except TimeoutError:
        # Out of time (the caller's deadline, surfacing as the builtin TimeoutError, which is
        # an OSError): a second try would run past the deadline, with no timeout left at all.
        raise
    except (RedisConnectionError, OSError):
        # A pooled connection that a Redis restart closed fails on its first use (it has been
        # dropped from the pool by now). HMGET is read-only, so one more try is safe; a store
        # that is really down fails again at once.
        return await _read_single(client, payload, count)
