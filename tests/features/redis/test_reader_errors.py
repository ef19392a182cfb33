"""The fast Redis read fails fast and in our own terms when Redis is down or hangs."""

from __future__ import annotations

import asyncio
import shutil
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio

from features.errors import OnlineStoreUnavailable
from features.loaded_marker import LoadedMarkerCheck
from features.readers import store_answers
from features.redis.reader import RedisOnlineFeatureReader
from features.store import open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port

ROW = {"user_id": 1, "shop_id": 1}


def _repo_pointing_at(typed_repo: Any, target: Path, connection_string: str) -> Path:
    repo = target / "elsewhere"
    shutil.copytree(typed_repo.path, repo)
    yaml = repo / "feature_store.yaml"
    yaml.write_text(yaml.read_text().replace(typed_repo.connection_string, connection_string))
    return repo


def _failed_read(repo: Path, connection_string: str, timeout_s: float) -> OnlineStoreUnavailable:
    """The error a read raises, after checking the readiness probe says "not ready" too."""
    store = open_feature_store(repo, connection_string)

    async def run() -> OnlineStoreUnavailable:
        reader = RedisOnlineFeatureReader(store, timeout_s)
        try:
            with pytest.raises(OnlineStoreUnavailable) as caught:
                await reader.read("plain", [ROW])
            ready = await store_answers(reader, "plain", ROW)
        finally:
            await reader.close()
        assert ready is False
        return caught.value

    async def bounded() -> OnlineStoreUnavailable:
        # Far longer than both reads could take: only here so that a read that never ends
        # fails the test instead of hanging it.
        return await asyncio.wait_for(run(), timeout=120)

    return asyncio.run(bounded())


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"127.0.0.1:{listener.getsockname()[1]}"


def test_redis_down(typed_repo: Any, tmp_path: Path) -> None:
    address = f"127.0.0.1:{free_port()}"
    repo = _repo_pointing_at(typed_repo, tmp_path, address)
    # A refused connection is reported as such, well within a timeout of seconds: it is not
    # retried with backoff until the timeout gives up.
    error = _failed_read(repo, address, timeout_s=5.0)
    assert str(error).startswith("online store unreachable: "), error
    assert isinstance(error.__cause__, redis.ConnectionError), repr(error.__cause__)


def test_hung_server(typed_repo: Any, tmp_path: Path, silent_server: str) -> None:
    repo = _repo_pointing_at(typed_repo, tmp_path, silent_server)
    # Both reads (the read and the readiness probe) end at the timeout; nothing waits forever.
    error = _failed_read(repo, silent_server, timeout_s=0.5)
    assert str(error) == "online store did not answer within 0.5 s"
    assert isinstance(error.__cause__, TimeoutError)


def test_a_redis_restarted_in_place_is_read_again_at_once(demo_repo: Any, tmp_path: Path) -> None:
    """The pooled connection dies with the old server; the next read reconnects, no error."""
    from jobs.demo.redis_server import LocalRedisServer

    port = free_port()
    row = {"customer_id": 1, "merchant_id": 1, "amount": 1.0}
    store = open_feature_store(demo_repo.path, f"127.0.0.1:{port}")

    async def read(reader: RedisOnlineFeatureReader) -> dict[str, Any]:
        return dict(await reader.read("fraud_v1", [row]))

    async def run() -> None:
        reader = RedisOnlineFeatureReader(store, 2.0)
        try:
            with LocalRedisServer(port, tmp_path / "first"):
                await read(reader)
            with LocalRedisServer(port, tmp_path / "second"):
                result = await read(reader)  # must not raise on the stale connection
            assert result["customer_profile__country"] == [None]
        finally:
            await reader.close()

    asyncio.run(run())


async def _others_done() -> None:
    """Wait for the event loop's other tasks (reads given up on) and their transports to close."""
    others = asyncio.all_tasks() - {asyncio.current_task()}
    await asyncio.wait_for(asyncio.gather(*others, return_exceptions=True), 10)
    await asyncio.sleep(0.01)


PAUSE_MS = 800
"""How long Redis is paused for each read: a read that waits for Redis takes about this long
(and so does the UNPAUSE, which the pause holds too)."""


def test_a_paused_redis_holds_no_read_past_its_timeout(typed_repo: Any, tmp_path: Path) -> None:
    """Fresh connections to a Redis under ``CLIENT PAUSE``, each read with about a millisecond
    left of its budget (as a micro-batch's last member may have).

    On Python 3.11 a cancellation that arrives while redis-py writes the new connection's
    handshake can be lost inside the client, and a read bounded by ``asyncio.timeout`` then
    waits until Redis answers. A sweep of timeouts hits that moment several times over.
    """
    server = LocalRedisServer(free_port(), tmp_path / "paused").start()
    try:
        repo = _repo_pointing_at(typed_repo, tmp_path, server.connection_string)
        store = open_feature_store(repo, server.connection_string)
        admin = redis.Redis(host=server.host, port=server.port)

        async def sweep() -> list[tuple[float, float]]:
            late = []
            for step in range(24):
                timeout_s = 0.0004 + step * 0.0001
                reader = RedisOnlineFeatureReader(store, 1.0)
                reader._plan("plain")  # planned from the registry beforehand: only Redis is timed
                admin.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
                started = time.monotonic()
                try:
                    with pytest.raises(OnlineStoreUnavailable, match="did not answer within"):
                        await reader.read("plain", [ROW], timeout_s)
                    elapsed = time.monotonic() - started
                finally:
                    admin.execute_command("CLIENT", "UNPAUSE")
                    # The read given up on ends on its own, closing its connection; then ours.
                    await _others_done()
                    await reader.close()
                if elapsed > PAUSE_MS / 1000 / 2:  # a hang detector, not a speed claim
                    late.append((timeout_s, round(elapsed, 3)))
            return late

        late = asyncio.run(sweep())
        assert not late, f"reads that waited for Redis well past their timeout: {late}"
    finally:
        server.stop()


def test_the_loaded_marker_check_ends_at_its_own_limit(silent_server: str) -> None:
    """A readiness probe's marker check against a Redis that never answers ends at the check's
    limit, not at the client's socket timeout (here far longer) and its retry."""
    host, port = silent_server.split(":")

    async def check() -> OnlineStoreUnavailable:
        client = redis.asyncio.Redis(host=host, port=int(port), socket_timeout=60)
        marker = LoadedMarkerCheck(client, "typed", timeout_s=0.2)
        try:
            with pytest.raises(OnlineStoreUnavailable) as caught:
                # Only a hang detector: the client alone would wait a minute or more.
                await asyncio.wait_for(marker.loaded(), timeout=20)
        finally:
            await _others_done()
            await client.aclose()
        assert marker.last is None
        return caught.value

    error = asyncio.run(check())
    assert str(error) == "online store did not answer within 0.2 s"
