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

from features.errors import OnlineStoreUnavailable
from features.readers import store_answers
from features.redis_online import RedisOnlineFeatureReader
from features.store import open_feature_store
from scoring.demo.redis_server import free_port

ROW = {"user_id": 1, "shop_id": 1}


def _repo_pointing_at(typed_repo: Any, target: Path, connection_string: str) -> Path:
    repo = target / "elsewhere"
    shutil.copytree(typed_repo.path, repo)
    yaml = repo / "feature_store.yaml"
    yaml.write_text(yaml.read_text().replace(typed_repo.connection_string, connection_string))
    return repo


def _read_elapsed(repo: Path, connection_string: str, timeout_s: float) -> tuple[float, Any]:
    store = open_feature_store(repo, connection_string)

    async def run() -> tuple[float, Any]:
        reader = RedisOnlineFeatureReader(store, timeout_s)
        start = time.monotonic()
        try:
            with pytest.raises(OnlineStoreUnavailable) as caught:
                await reader.read("plain", [ROW])
            ready = await store_answers(reader, "plain", ROW)
        finally:
            await reader.close()
        assert ready is False
        return time.monotonic() - start, caught.value

    return asyncio.run(run())


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
    elapsed, error = _read_elapsed(repo, address, timeout_s=0.5)
    assert "unreachable" in str(error) or "did not answer" in str(error)
    assert elapsed < 5.0


def test_hung_server(typed_repo: Any, tmp_path: Path, silent_server: str) -> None:
    repo = _repo_pointing_at(typed_repo, tmp_path, silent_server)
    elapsed, _ = _read_elapsed(repo, silent_server, timeout_s=0.5)
    # Two reads (read and ping), each bounded by the timeout; nothing waits forever.
    assert elapsed < 5.0


def test_a_redis_restarted_in_place_is_read_again_at_once(demo_repo: Any, tmp_path: Path) -> None:
    """The pooled connection dies with the old server; the next read reconnects, no error."""
    from scoring.demo.redis_server import LocalRedisServer

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
