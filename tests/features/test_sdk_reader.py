"""Feast's SDK reader, for any online store: a read slower than the timeout fails in our terms."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
import redis

from features.errors import OnlineStoreUnavailable
from features.sdk_reader import OnlineFeatureReader
from features.store import feast_apply, open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_incremental
from tests.utils.repo import DemoRepo, make_foreign_repo


def bounded(test: Coroutine[Any, Any, None]) -> None:
    # Far longer than the test needs: only here so that a read that never ends fails the
    # test instead of hanging it.
    asyncio.run(asyncio.wait_for(test, timeout=120))


def test_a_locked_sqlite_store_times_out_and_answers_once_unlocked(tmp_path: Path) -> None:
    repo, _ = make_foreign_repo(tmp_path)
    feast_apply(repo, online_store="unused")
    store = open_feature_store(repo, "unused")
    materialize_incremental(store)
    row = {"driver_ref": "drv-0007"}
    # SQLite has no async read in Feast: this is the worker-thread path, which the timeout
    # has to bound from the outside.
    locker = sqlite3.connect(repo / "data" / "online.db", isolation_level=None)

    async def test() -> None:
        reader = OnlineFeatureReader(store, timeout_s=0.5)
        try:
            before = await reader.read("acceptance_v3", [row])
            assert before["driver_stats__conv_rate"][0] is not None
            # An exclusive transaction keeps every reader out: sqlite3 waits 5 s for it.
            locker.execute("BEGIN EXCLUSIVE")
            try:
                with pytest.raises(OnlineStoreUnavailable) as caught:
                    await reader.read("acceptance_v3", [row])
            finally:
                locker.execute("ROLLBACK")
            assert str(caught.value) == "online store did not answer within 0.5 s"
            assert isinstance(caught.value.__cause__, TimeoutError)
            after = await reader.read("acceptance_v3", [row])
            assert after == before
        finally:
            await reader.close()

    try:
        bounded(test())
    finally:
        locker.close()


def test_a_paused_redis_read_through_the_sdk_times_out(demo_repo: DemoRepo, tmp_path: Path) -> None:
    with LocalRedisServer(free_port(), tmp_path / "redis") as server:
        # Feast's Redis store reads natively async: the other path of the SDK reader.
        store = open_feature_store(demo_repo.path, server.connection_string)
        row = {"customer_id": 1, "merchant_id": 1, "amount": 1.0}
        admin = redis.Redis(host=server.host, port=server.port)

        async def test() -> None:
            reader = OnlineFeatureReader(store, timeout_s=0.5)
            try:
                before = await reader.read("fraud_v1", [row])
                assert before["customer_profile__country"] == [None]  # an empty store answers
                # Every client's commands wait until the pause ends, in a minute: the server
                # is stopped long before.
                admin.execute_command("CLIENT", "PAUSE", 60_000, "ALL")
                with pytest.raises(OnlineStoreUnavailable) as caught:
                    await reader.read("fraud_v1", [row])
                assert str(caught.value) == "online store did not answer within 0.5 s"
                assert isinstance(caught.value.__cause__, TimeoutError)
            finally:
                await reader.close()

        try:
            bounded(test())
        finally:
            admin.close()
