"""``scorer stream``'s process: the scoring runtime, a Redis Streams consumer, and signals."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from collections.abc import Coroutine
from typing import Any

from scoring.serving.runtime import open_runtime, steady_gc
from scoring.settings import Settings
from scoring.stream.consumer import ConsumerCounts, ConsumerSettings, StreamConsumer
from scoring.stream.redis_streams import RedisStreamTransport, redis_client

log = logging.getLogger(__name__)


def consumer_name(settings: Settings) -> str:
    """``SCORER_STREAM_CONSUMER``, or ``<host>-<pid>``: unique among live processes."""
    return settings.stream_consumer or f"{socket.gethostname()}-{os.getpid()}"


def request_transport(settings: Settings, consumer: str) -> RedisStreamTransport:
    """The request stream of ``settings``, its group, its results and dead letters."""
    return RedisStreamTransport(
        redis_client(settings.service_redis_url(), settings.stream_block_ms),
        settings.stream_requests,
        settings.stream_group,
        consumer,
        results=settings.stream_results,
        dead=settings.stream_dead,
        maxlen=settings.stream_maxlen,
    )


async def consume(settings: Settings) -> ConsumerCounts:
    """Score the request stream until SIGTERM or SIGINT; then settle the batch in hand,
    flush the log and return what was done."""
    name = consumer_name(settings)
    transport = request_transport(settings, name)
    try:
        async with open_runtime(settings) as runtime:
            consumer = StreamConsumer(runtime.service, transport, ConsumerSettings.of(settings))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, consumer.stop)
            log.info(
                "scoring %s as %s of group %s; results to %s, dead letters to %s",
                settings.stream_requests, name, settings.stream_group,
                settings.stream_results, settings.stream_dead,
            )  # fmt: skip
            with steady_gc():
                await consumer.run()
            log.info("stopping: %s", consumer.counts)
        # The runtime has closed here: every row scored is in the log.
        return consumer.counts
    finally:
        await transport.close()


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on uvloop when it is installed (uvicorn[standard] brings it)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a plain install of the package
        return asyncio.run(main)
    return uvloop.run(main)
