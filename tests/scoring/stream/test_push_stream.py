"""The push stream: ``/push`` bodies written through a real ``scorer stream``, seen by the next
scored event."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from jobs.demo.data import DemoDataConfig
from jobs.demo.redis_server import LocalRedisServer, free_port
from scoring.settings import Settings
from tests.utils.repo import DemoRepo, make_demo_repo
from tests.utils.stream import StreamProcess, add_events, client_of, entries, wait_for

# Pushes change what the store holds: a repo and a Redis of this module's own keep the
# session's shared ones as every other test expects them.
PUSH_DEMO = DemoDataConfig(customers=300, merchants=60, transactions=3000, days=7, seed=6)
SOURCE = "customer_activity_push"
PUSH_STREAM = "scorer:push"


@pytest.fixture(scope="module")
def push_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    """A demo repo of this module's own, in a redis-server of its own."""
    server = LocalRedisServer(free_port(), tmp_path_factory.mktemp("push-redis"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the tests need a local redis-server: {exc}")
    try:
        yield make_demo_repo(tmp_path_factory.mktemp("push"), server.connection_string, PUSH_DEMO)
    finally:
        server.stop()


def _activity(cid: int, count: int) -> dict[str, list[Any]]:
    now = datetime.now(UTC).isoformat()
    return {"customer_id": [cid], "event_timestamp": [now], "txn_count_1h": [count],
            "txn_amount_1h": [count * 10.5], "txn_count_24h": [count + 10]}  # fmt: skip


def test_a_pushed_row_reaches_the_next_scored_event(
    stream_settings: Settings, push_repo: DemoRepo, tmp_path: Path
) -> None:
    s = stream_settings.model_copy(
        update={"feature_repo": push_repo.path, "online_store": push_repo.online_store}
    )
    client = client_of(s)
    cid = int(sorted(push_repo.data.customer_activity["customer_id"].unique())[0])
    pushes = [
        {"push_source_name": SOURCE, "df": _activity(cid, 77)},
        {"push_source_name": "nope", "df": _activity(cid, 1)},
        {"push_source_name": SOURCE, "df": {**_activity(cid, 1), "txn_count_1h": ["many"]}},
        {"df": _activity(cid, 1)},
    ]
    consumer = StreamProcess(s, "pusher", extra_env={"SCORER_STREAM_PUSH": PUSH_STREAM}).start()
    try:
        ids = add_events(client, PUSH_STREAM, pushes)
        wait_for(lambda: client.xlen(s.stream_dead) >= 3, 120, "the bad pushes' dead letters")
        wait_for(
            lambda: client.xpending(PUSH_STREAM, s.stream_group)["pending"] == 0,
            60,
            "every push to be acknowledged",
        )
        entity = {"customer_id": cid, "merchant_id": 1, "amount": 10.0}
        [event_id] = add_events(
            client, s.stream_requests, [{"entities": [entity], "include_features": True}]
        )
        wait_for(lambda: client.xlen(s.stream_results) >= 1, 60, "the score")
        consumer.signal(signal.SIGTERM)
        assert consumer.wait() == 0, consumer.log()
    finally:
        consumer.kill()

    [result] = entries(client, s.stream_results)
    assert result["event_id"] == event_id
    features = result["body"]["predictions"][0]["features"]
    assert features["customer_activity__txn_count_1h"] == 77
    assert features["customer_activity__txn_count_24h"] == 87
    dead = {d["event_id"]: d["error"] for d in entries(client, s.stream_dead)}
    assert set(dead) == set(ids[1:])
    assert dead[ids[1]]["status"] == 422
    assert "'nope'" in dead[ids[1]]["detail"]
    assert "txn_count_1h" in dead[ids[2]]["detail"]
    assert "push_source_name" in dead[ids[3]]["detail"]
