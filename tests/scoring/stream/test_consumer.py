"""The stream consumer in-process, on a real Redis, the demo repo and the trained model."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pyarrow.compute as pc
import redis

from scoring.log.schema import predictions_dir
from scoring.serving.request import parse_score_request
from scoring.serving.runtime import open_runtime
from scoring.settings import Settings
from scoring.stream.consumer import ConsumerCounts, ConsumerSettings, StreamConsumer
from scoring.stream.handlers import ScoreEvents
from scoring.stream.process import request_transport
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, read_log
from tests.utils.stream import add_events, client_of, entries

CONSUMER = "test-consumer"


def consume_until(
    settings: Settings,
    done: Callable[[], bool],
    parity: list[Any] | None = None,
    timeout_s: float = 120,
) -> tuple[ConsumerCounts, list[dict[str, Any]]]:
    """Run a consumer until ``done()``; then what ``/score`` answers for each ``parity`` body."""

    async def main() -> tuple[ConsumerCounts, list[dict[str, Any]]]:
        transport = request_transport(settings, CONSUMER)
        try:
            async with open_runtime(settings) as runtime:
                handler = ScoreEvents(runtime.service, settings.max_batch_rows)
                consumer = StreamConsumer(transport, handler, ConsumerSettings.of(settings))
                task = asyncio.create_task(consumer.run())
                deadline = time.monotonic() + timeout_s  # a bound, not a speed
                while not done():
                    assert time.monotonic() < deadline, "the consumer did not finish in time"
                    assert not task.done(), task
                    await asyncio.sleep(0.05)
                consumer.stop()
                await asyncio.wait_for(task, 30)
                answers = [
                    await runtime.service.score(parse_score_request(body, 10))
                    for body in parity or []
                ]
            return consumer.counts, answers
        finally:
            await transport.close()

    return asyncio.run(main())


def test_every_event_gets_one_result_and_one_log_row(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings
    client = client_of(s)
    bodies = [{"entities": [e]} for e in entities(demo_repo, 200, seed=3)]
    ids = add_events(client, s.stream_requests, bodies)

    counts, answers = consume_until(
        s, lambda: client.xlen(s.stream_results) >= 200, parity=bodies[:10]
    )

    assert counts.results == 200
    assert counts.dead == 0
    results = entries(client, s.stream_results)
    assert [r["event_id"] for r in results] == ids  # one each, in the stream's order
    for result in results:
        assert result["body"]["request_id"] == result["event_id"]
        assert result["body"]["model"] == "fraud"
    # What /score answers for the same body, but for its own request id.
    for result, answer in zip(results[:10], answers, strict=True):
        assert {**result["body"], "request_id": None} == {**answer, "request_id": None}
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0
    assert client.xlen(s.stream_dead) == 0
    logged = read_log(predictions_dir(s.data_dir))
    streamed = logged.filter(pc.equal(logged["route"], "stream"))
    assert sorted(streamed["request_id"].to_pylist()) == sorted(ids)
    # The consumer has left the group: it held nothing.
    assert client.xinfo_consumers(s.stream_requests, s.stream_group) == []


def test_a_broken_entry_is_dead_lettered_and_the_rest_scored(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings
    client = client_of(s)
    rows = entities(demo_repo, 21, seed=4)
    good = add_events(client, s.stream_requests, [{"entities": [e]} for e in rows[:10]])
    broken = {
        "bad json": b'{"entities": [',
        "unknown model": {"model": "nope", "entities": [rows[10]]},
        "missing key": {"entities": [{"merchant_id": 17, "amount": 5.0}]},
        "not an object": [1, 2],
    }
    broken_ids = dict(
        zip(broken, add_events(client, s.stream_requests, list(broken.values())), strict=True)
    )
    broken_ids["no body"] = client.xadd(s.stream_requests, {"payload": b"{}"}).decode()
    good += add_events(client, s.stream_requests, [{"entities": [e]} for e in rows[11:]])

    def settled() -> bool:
        return client.xlen(s.stream_results) >= 20 and client.xlen(s.stream_dead) >= 5

    counts, _ = consume_until(s, settled)

    assert counts.results == 20
    assert counts.dead == 5
    assert sorted(r["event_id"] for r in entries(client, s.stream_results)) == sorted(good)
    dead = {d["event_id"]: d["error"] for d in entries(client, s.stream_dead)}
    assert set(dead) == set(broken_ids.values())
    for error in dead.values():
        assert set(error) >= {"type", "title", "status", "detail"}
    assert dead[broken_ids["bad json"]]["status"] == 422
    assert "not valid JSON" in dead[broken_ids["bad json"]]["detail"]
    assert dead[broken_ids["unknown model"]]["status"] == 404
    assert "'nope'" in dead[broken_ids["unknown model"]]["detail"]
    assert dead[broken_ids["missing key"]]["status"] == 422
    assert "customer_id" in dead[broken_ids["missing key"]]["detail"]
    assert dead[broken_ids["not an object"]]["status"] == 422
    assert "'body'" in dead[broken_ids["no body"]]["detail"]
    # Nothing is left to be delivered again: dead letters are acknowledged too.
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0


def _held_by_a_dead_consumer(client: redis.Redis, s: Settings, body: Any) -> str:
    """An entry a consumer read and never acknowledged (it died), idle past the claim time."""
    client.xgroup_create(s.stream_requests, s.stream_group, id="0", mkstream=True)
    [event_id] = add_events(client, s.stream_requests, [body])
    client.xreadgroup(s.stream_group, "died", {s.stream_requests: ">"}, count=10)
    time.sleep(s.stream_claim_idle_s + 0.1)
    return event_id


def test_an_entry_a_dead_consumer_held_is_claimed_and_scored(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings.model_copy(update={"stream_claim_idle_s": 0.3})
    client = client_of(s)
    event_id = _held_by_a_dead_consumer(client, s, {"entities": entities(demo_repo, 1, 5)})

    counts, _ = consume_until(s, lambda: client.xlen(s.stream_results) >= 1)

    assert counts.claimed == 1
    [result] = entries(client, s.stream_results)
    assert result["event_id"] == event_id == result["body"]["request_id"]
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0


def test_an_entry_delivered_too_often_is_dead_lettered_unscored(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings.model_copy(update={"stream_claim_idle_s": 0.3, "stream_max_deliveries": 1})
    client = client_of(s)
    event_id = _held_by_a_dead_consumer(client, s, {"entities": entities(demo_repo, 1, 6)})

    counts, _ = consume_until(s, lambda: client.xlen(s.stream_dead) >= 1)

    assert counts.results == 0
    [dead] = entries(client, s.stream_dead)
    assert dead["event_id"] == event_id
    assert dead["error"]["title"] == "Delivered too often"
    assert "delivered 2 times" in dead["error"]["detail"]
    assert client.xlen(s.stream_results) == 0
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0


def test_a_group_deleted_under_the_consumer_is_created_again(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings
    client = client_of(s)
    rows = [{"entities": [e]} for e in entities(demo_repo, 20, seed=7)]
    add_events(client, s.stream_requests, rows[:10])
    later: list[str] = []

    def done() -> bool:
        if not later:
            if client.xlen(s.stream_results) >= 10:
                # The stream goes, and its group with it; a producer then makes it again.
                client.delete(s.stream_requests)
                later.extend(add_events(client, s.stream_requests, rows[10:]))
            return False
        return client.xlen(s.stream_results) >= 20

    consume_until(s, done)

    results = [r["event_id"] for r in entries(client, s.stream_results)]
    assert results[10:] == later
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0
