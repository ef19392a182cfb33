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
from scoring.stream.handlers import PushEvents, ScoreEvents
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


def push_transport(settings: Settings, stream: str, consumer: str) -> RedisStreamTransport:
    """The push stream ``stream`` and its group; pushes have dead letters but no results."""
    return RedisStreamTransport(
        redis_client(settings.service_redis_url(), settings.stream_block_ms),
        stream,
        settings.stream_group,
        consumer,
        results=None,
        dead=settings.stream_dead,
        maxlen=settings.stream_maxlen,
    )


async def consume(settings: Settings) -> list[ConsumerCounts]:
    """Score the request stream (and write the push stream's rows, when one is set) until
    SIGTERM or SIGINT; then settle the batches in hand, flush the log, and return what each
    consumer did."""
    name = consumer_name(settings)
    transports = [request_transport(settings, name)]
    if settings.stream_push:
        transports.append(push_transport(settings, settings.stream_push, name))
    try:
        async with open_runtime(settings) as runtime:
            config = ConsumerSettings.of(settings)
            consumers = [
                StreamConsumer(
                    transports[0], ScoreEvents(runtime.service, settings.max_batch_rows), config
                )
            ]
            if len(transports) > 1:
                consumers.append(StreamConsumer(transports[1], PushEvents(runtime.pusher), config))
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, _stop_all, consumers)
            log.info(
                "scoring %s as %s of group %s; results to %s, dead letters to %s%s",
                settings.stream_requests, name, settings.stream_group,
                settings.stream_results, settings.stream_dead,
                f"; pushing {settings.stream_push}" if settings.stream_push else "",
            )  # fmt: skip
            with steady_gc():
                await _run_all(consumers)
            log.info("stopping: %s", ", ".join(str(c.counts) for c in consumers))
        # The runtime has closed here: every row scored is in the log.
        return [c.counts for c in consumers]
    finally:
        for transport in transports:
            await transport.close()


def _stop_all(consumers: list[StreamConsumer]) -> None:
    for consumer in consumers:
        consumer.stop()


async def _run_all(consumers: list[StreamConsumer]) -> None:
    """Run the consumers together; when one fails, the others stop too (after their batch)."""
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        await asyncio.gather(*tasks)
    finally:
        _stop_all(consumers)
        await asyncio.wait(tasks)


def run(main: Coroutine[Any, Any, Any]) -> Any:
    """Run ``main`` on uvloop when it is installed (uvicorn[standard] brings it)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - a plain install of the package
        return asyncio.run(main)
    return uvloop.run(main)
