"""The stream bench's measurements, small, against real ``scorer stream`` processes."""

from __future__ import annotations

from contextlib import ExitStack

import orjson
import redis

from bench.stream_load import ConsumerProcess, StreamNames, consumer, drain_backlog, fixed_rate
from jobs.demo.redis_server import LocalRedisServer
from scoring.settings import Settings
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities


def test_a_backlog_is_drained_and_a_fixed_rate_timed(
    own_settings: Settings, demo_repo: DemoRepo, redis_server: LocalRedisServer
) -> None:
    s = own_settings
    client = redis.Redis(host=redis_server.host, port=redis_server.port, socket_timeout=30)
    bodies = [orjson.dumps({"entities": [e]}) for e in entities(demo_repo, 50, seed=12)]

    def started(names: StreamNames, name: str) -> ConsumerProcess:
        process = consumer(s, repo=s.feature_repo, data_dir=s.data_dir,
                           online_store=s.online_store, names=names, name=name,
                           log_path=s.data_dir / f"{name}.log")  # fmt: skip
        stack.callback(process.stop)
        return process.start()

    with ExitStack() as stack:
        drain = StreamNames("test-bench:drain")
        drained = drain_backlog(client, drain, [started(drain, "drainer")], bodies, 300)
        rate = StreamNames("test-bench:rate")
        started(rate, "timed")
        timed = fixed_rate(client, rate, bodies, 200.0, 1.0)

    assert drained["results"] == 300
    assert drained["dead"] == 0
    assert drained["events_per_s"] > 0
    assert drained["exit_codes"] == [0]
    assert timed["events"] == 200
    assert timed["dead"] == 0
    assert timed["latency"]["count"] == 200
    assert timed["latency"]["p50_ms"] >= 0
    for names in (drain, rate):
        client.delete(names.requests, names.results, names.dead)
