"""``scorer simulate --via stream``'s traffic: through a real ``scorer stream`` and back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from jobs.demo.data import DemoDataConfig
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.demo.stream_traffic import StreamRoute, send_phase_via_stream
from scoring.settings import Settings
from tests.utils.repo import DemoRepo, make_demo_repo
from tests.utils.server import ServerProcess
from tests.utils.serving import ADMIN_KEY, entities, with_admin_key
from tests.utils.stream import StreamProcess, stream_redis, with_stream_redis

# The simulation pushes activity back: a repo and a Redis of this module's own keep the
# session's shared ones as every other test expects them.
TRAFFIC_DEMO = DemoDataConfig(customers=300, merchants=60, transactions=3000, days=7, seed=7)


@pytest.fixture(scope="module")
def traffic_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    """A demo repo of this module's own, in a redis-server of its own."""
    server = LocalRedisServer(free_port(), tmp_path_factory.mktemp("traffic-redis"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the tests need a local redis-server: {exc}")
    try:
        yield make_demo_repo(tmp_path_factory.mktemp("traffic"), server.connection_string,
                             TRAFFIC_DEMO)  # fmt: skip
    finally:
        server.stop()


@pytest.fixture
def streams(tmp_path: Path) -> Iterator[LocalRedisServer]:
    """A redis-server for the streams, private to the test."""
    server = stream_redis(tmp_path / "stream-redis")
    yield server
    server.stop()


def test_transactions_go_through_the_stream_their_labels_to_feedback_activity_to_push(
    own_settings: Settings, streams: LocalRedisServer, traffic_repo: DemoRepo
) -> None:
    repo = {"feature_repo": traffic_repo.path, "online_store": traffic_repo.online_store}
    s = with_admin_key(with_stream_redis(own_settings, streams, **repo))
    traffic: list[tuple[dict[str, object], int]] = [
        (dict(e), i % 2) for i, e in enumerate(entities(traffic_repo, 30, seed=14))
    ]
    traffic.append(({"merchant_id": 17, "amount": 5.0}, 0))  # no customer: dead-lettered
    route = StreamRoute(s.service_redis_url(), s.stream_requests, s.stream_results, s.stream_dead)
    server = ServerProcess(s, workers=1).start()
    consumer = StreamProcess(s, "simulated").start()
    try:
        result = send_phase_via_stream(
            route, server.url, traffic, feedback_share=0.5, admin_key=ADMIN_KEY
        )
    finally:
        consumer.kill()
        server.stop()

    assert dict(result.statuses) == {200: 30, 422: 1}
    assert dict(result.versions) == {1: 30}
    assert result.labelled == 15  # every other transaction, each accepted by /feedback
    assert dict(result.pushes) == {200: 30}  # each scored customer's activity, pushed back
