"""Real ``scorer stream`` processes: killed, stopped, and running while Redis restarts.

Delivery is at least once: an entry is acknowledged only after its result is written, so an
entry a killed consumer held may be scored again by the one that claims it. Then both results
carry the same ``event_id``; no entry goes without one.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import orjson
import pyarrow.compute as pc

from jobs.demo.redis_server import LocalRedisServer
from scoring.log.schema import predictions_dir
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities, read_log
from tests.utils.stream import (
    StreamProcess,
    add_events,
    client_of,
    entries,
    pending_ids,
    pending_of,
    wait_for,
)


def _bodies(demo_repo: DemoRepo, n: int, seed: int) -> list[dict[str, object]]:
    rows = entities(demo_repo, min(n, 2000), seed)
    return [{"entities": [rows[i % len(rows)]]} for i in range(n)]


def _stream_id(entry_id: str) -> tuple[int, int]:
    millis, _, seq = entry_id.partition("-")
    return int(millis), int(seq)


def test_a_consumer_killed_mid_batch_leaves_its_entries_to_another(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings.model_copy(update={"stream_batch_size": 20, "stream_claim_idle_s": 1.0})
    client = client_of(s)
    ids = add_events(client, s.stream_requests, _bodies(demo_repo, 6000, seed=8))
    first = StreamProcess(s, "first").start()
    try:
        wait_for(lambda: client.xlen(s.stream_results) > 0, 120, "its first results", poll_s=0.01)
        # Killed while it holds entries it has read and not acknowledged: mid-batch. Frozen
        # first, so that what it holds is known when the kill lands.
        for _ in range(1000):
            first.signal(signal.SIGSTOP)
            if pending_of(client, s.stream_requests, s.stream_group).get("first", 0) > 0:
                break
            first.signal(signal.SIGCONT)
            time.sleep(0.005)
        first.signal(signal.SIGKILL)
        first.wait()
    finally:
        first.kill()
    held = pending_ids(client, s.stream_requests, s.stream_group, "first")
    assert held, "the first consumer died holding nothing: the test killed it too late"
    assert client.xlen(s.stream_results) < len(ids)

    second = StreamProcess(s, "second").start()
    try:
        wait_for(
            lambda: {r["event_id"] for r in entries(client, s.stream_results)} >= set(ids),
            180,
            "every entry to have a result",
            poll_s=0.5,
        )
        second.signal(signal.SIGTERM)
        assert second.wait() == 0, second.log()
    finally:
        second.kill()

    scored = Counter(r["event_id"] for r in entries(client, s.stream_results))
    assert set(scored) == set(ids)
    # At least once: only what the killed consumer held may have been scored twice.
    assert {event_id for event_id, n in scored.items() if n > 1} <= held
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0


def test_sigterm_finishes_the_batch_in_hand_and_loses_nothing_acknowledged(
    stream_settings: Settings, demo_repo: DemoRepo
) -> None:
    s = stream_settings.model_copy(update={"stream_batch_size": 50})
    client = client_of(s)
    ids = add_events(client, s.stream_requests, _bodies(demo_repo, 5000, seed=9))
    consumer = StreamProcess(s, "term", extra_env={"SCORER_LOG_FORMAT": "json"}).start()
    try:
        wait_for(lambda: client.xlen(s.stream_results) > 0, 120, "a first result", poll_s=0.01)
        consumer.signal(signal.SIGTERM)
        assert consumer.wait() == 0, consumer.log()
    finally:
        consumer.kill()

    # Nothing left unacknowledged: the batch in hand was finished and acknowledged.
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0
    [group] = client.xinfo_groups(s.stream_requests)
    last = _stream_id(group["last-delivered-id"].decode())
    acknowledged = {i for i in ids if _stream_id(i) <= last}
    assert 0 < len(acknowledged) < len(ids), "stopped before the end of the stream"
    results = [r["event_id"] for r in entries(client, s.stream_results)]
    assert sorted(results) == sorted(acknowledged)
    logged = read_log(predictions_dir(s.data_dir))
    streamed = logged.filter(pc.equal(logged["route"], "stream"))
    assert set(streamed["request_id"].to_pylist()) == acknowledged
    # It left the group on its way out, and every line it wrote was one JSON object.
    assert client.xinfo_consumers(s.stream_requests, s.stream_group) == []
    lines = consumer.log().splitlines()
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message"} <= set(orjson.loads(line)), line


def test_the_consumer_rides_out_a_redis_restart(
    stream_settings: Settings, streams: LocalRedisServer, demo_repo: DemoRepo
) -> None:
    s = stream_settings
    bodies = _bodies(demo_repo, 100, seed=10)
    consumer = StreamProcess(s, "survivor").start()
    try:
        client = client_of(s)
        before = add_events(client, s.stream_requests, bodies[:50])
        wait_for(lambda: client.xlen(s.stream_results) >= 50, 120, "the first results")
        client.close()
        streams.stop()
        wait_for(lambda: "Redis does not answer" in consumer.log(), 60, "the consumer to notice")
        # The same port, empty: no stream, no group, no results (nothing is persisted).
        streams.start()
        client = client_of(s)
        after = add_events(client, s.stream_requests, bodies[50:])
        wait_for(lambda: client.xlen(s.stream_results) >= 50, 120, "results after the restart")
        assert consumer.alive(), consumer.log()
        consumer.signal(signal.SIGTERM)
        assert consumer.wait() == 0, consumer.log()
    finally:
        consumer.kill()

    assert [r["event_id"] for r in entries(client, s.stream_results)] == after
    assert client.xpending(s.stream_requests, s.stream_group)["pending"] == 0
    logged = read_log(predictions_dir(s.data_dir))
    streamed = logged.filter(pc.equal(logged["route"], "stream"))
    assert sorted(streamed["request_id"].to_pylist()) == sorted(before + after)
