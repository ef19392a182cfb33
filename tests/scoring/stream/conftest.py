"""Fixtures of the stream tests: the streams on a Redis of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.demo.redis_server import LocalRedisServer
from scoring.settings import Settings
from tests.utils.stream import stream_redis, with_stream_redis


@pytest.fixture
def streams(tmp_path: Path) -> Iterator[LocalRedisServer]:
    """A redis-server for the streams, private to the test (the online store stays apart)."""
    server = stream_redis(tmp_path / "stream-redis")
    yield server
    server.stop()


@pytest.fixture
def stream_settings(own_settings: Settings, streams: LocalRedisServer) -> Settings:
    """Private registry and logs, streams on the test's own Redis."""
    return with_stream_redis(own_settings, streams, log_flush_interval_s=0.2)
