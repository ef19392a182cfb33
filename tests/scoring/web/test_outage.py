"""Online store outages against a real `scorer serve`: bounded 503s, fast once known down, healed.

Each test runs a redis-server of its own (the demo's features copied in), stalls it the way
production Redis stalls (``CLIENT PAUSE``, ``DEBUG SLEEP``, killed and started again on the
same port) while client threads keep scoring, and checks what the clients saw.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
import redis.cluster

from jobs.demo.redis_server import LocalRedisServer, free_port, redis_answers
from scoring.settings import Settings
from tests.utils.outage import ScoringClients, metric_value
from tests.utils.redis_cluster import RedisCluster
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess
from tests.utils.serving import entities

BUDGET_S = 1.0
"""The request budget the server runs with: large enough that "waited it out" and "refused at
once" are told apart by a wide margin on a busy machine."""
HANG_MARGIN_S = 1.0
"""No answer may take longer than the budget plus this: a hang detector, not a speed claim."""
OUTAGE_S = 5.0
RECOVERY_BOUND_S = 10.0


class RedisProcess:
    """A redis-server on a fixed port that a test can pause, put to sleep, kill and start again."""

    def __init__(self, port: int, workdir: Path) -> None:
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> RedisProcess:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("the outage tests need redis-server on PATH (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--enable-debug-command", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 15
        while not redis_answers("127.0.0.1", self.port, 0.2):
            if time.monotonic() > deadline or self.process.poll() is not None:
                pytest.fail(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)
        return self

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=30)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        self.kill()


def copy_keys(source: LocalRedisServer, target: RedisProcess | redis.cluster.RedisCluster) -> int:
    """Every key of ``source`` into ``target`` (DUMP/RESTORE): the demo's online features."""
    src = redis.Redis(port=source.port)
    dst = target.client() if isinstance(target, RedisProcess) else target
    keys = list(src.scan_iter(count=1000))
    dumps = src.pipeline(transaction=False)
    for key in keys:
        dumps.dump(key)
    restores = dst.pipeline(transaction=False)
    for key, value in zip(keys, dumps.execute(), strict=True):
        restores.restore(key, 0, value, replace=True)
    restores.execute()
    return len(keys)


@pytest.fixture
def own_redis(redis_server: LocalRedisServer, tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server of the test's own, holding the demo's online features."""
    server = RedisProcess(free_port(), tmp_path / "redis").start()
    try:
        assert copy_keys(redis_server, server) > 0
        yield server
    finally:
        server.stop()


@pytest.fixture
def serving(own_settings: Settings, own_redis: RedisProcess) -> Iterator[ServerProcess]:
    """`scorer serve` (one worker: one process, one breaker) reading from ``own_redis``."""
    settings = own_settings.model_copy(update={"online_store": f"127.0.0.1:{own_redis.port}"})
    env = {
        "SCORER_ONLINE_TIMEOUT_S": str(BUDGET_S),
        "SCORER_CIRCUIT_FAILURES": "3",
        "SCORER_CIRCUIT_COOLDOWN_S": "1.0",
    }
    server = ServerProcess(settings, workers=1, extra_env=env).start()
    try:
        yield server
    finally:
        server.stop()


def circuit_gauge(clients: ScoringClients) -> float:
    return metric_value(clients.get("/metrics").text, "scorer_online_store_circuit_open")


def check_outage(
    server: ServerProcess,
    demo_repo: DemoRepo,
    fault: Callable[[], float],
    on_return: Callable[[], None] = lambda: None,
) -> None:
    """Score through an outage that ``fault`` starts (it returns when the store comes back)."""
    assert server.process is not None
    clients = ScoringClients(server.url, entities(demo_repo, 40, seed=8), threads=3)
    with clients:
        assert clients.wait_for(lambda a: a.status == 200, 10.0), "no 200 before the outage"
        started = time.monotonic()
        back_at = started + fault()
        # While it is down: readiness says why, the gauge says open.
        while time.monotonic() < back_at - 0.5:
            ready = clients.get("/health/ready")
            if ready.status_code == 503 and "circuit is open" in ready.json()["detail"]:
                assert ready.headers["Retry-After"]
                assert circuit_gauge(clients) == 1
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"the circuit never opened; answers: {clients.summary()}")
        while time.monotonic() < back_at:
            time.sleep(0.05)
        on_return()
        back = time.monotonic()
        healed = clients.wait_for(lambda a: a.status == 200 and a.sent > back, RECOVERY_BOUND_S)
        assert healed, f"no 200 within {RECOVERY_BOUND_S} s of the store's return"
        recovery_s = healed.sent + healed.elapsed - back
        assert clients.get("/health/ready").status_code == 200
        assert circuit_gauge(clients) == 0
    answers = [a for a in clients.answers if started < a.sent < back]
    print(f"recovery {recovery_s:.2f} s after the store came back; {clients.summary()}")
    failed = [a for a in answers if a.status != 200]
    assert failed, "the outage was not seen"
    for answer in failed:
        assert answer.status == 503, answer
        assert answer.content_type == "application/problem+json", answer
        assert answer.retry_after, answer
    bound = BUDGET_S + HANG_MARGIN_S
    slow = [(round(a.sent - started, 2), a) for a in answers if a.elapsed >= bound]
    assert not slow, f"answers took over {bound} s: {slow}"
    refused = [a for a in failed if "circuit is open" in a.detail]
    assert len(refused) >= 5, f"too few answers from an open circuit: {clients.summary()}"
    # Once it is open, requests are refused at once, not after waiting out the budget (those
    # that queued before it opened were refused when their turn came, within their budget).
    opened = min(a.sent + a.elapsed for a in refused)
    after = [a.elapsed for a in refused if a.sent > opened]
    assert len(after) >= 5, after
    assert max(after) < BUDGET_S / 2, after
    # One worker, served by the process started: still the same one, never restarted.
    assert server.process.poll() is None, "the server exited"


def test_a_paused_redis(
    serving: ServerProcess, own_redis: RedisProcess, demo_repo: DemoRepo
) -> None:
    def pause() -> float:
        own_redis.client().execute_command("CLIENT", "PAUSE", int(OUTAGE_S * 1000), "ALL")
        return OUTAGE_S

    check_outage(serving, demo_repo, pause)


def test_a_redis_asleep(
    serving: ServerProcess, own_redis: RedisProcess, demo_repo: DemoRepo
) -> None:
    sleeper: list[subprocess.Popen[bytes]] = []

    def sleep() -> float:
        cli = shutil.which("redis-cli")
        if cli is None:
            pytest.fail("the outage tests need redis-cli on PATH (apt-get install redis-tools)")
        sleeper.append(
            subprocess.Popen(
                [cli, "-p", str(own_redis.port), "DEBUG", "SLEEP", str(OUTAGE_S)],
                stdout=subprocess.DEVNULL,
            )
        )
        return OUTAGE_S

    try:
        check_outage(serving, demo_repo, sleep, on_return=lambda: sleeper[0].wait(30))
    finally:
        for process in sleeper:
            process.kill()
            process.wait()


def test_a_redis_killed_and_started_again_on_the_same_port(
    serving: ServerProcess,
    own_redis: RedisProcess,
    demo_repo: DemoRepo,
    redis_server: LocalRedisServer,
) -> None:
    def kill() -> float:
        own_redis.kill()
        return OUTAGE_S

    def start_and_refill() -> None:
        # It kept nothing on disk: refilled as materialization would, or readiness says so.
        own_redis.start()
        copy_keys(redis_server, own_redis)

    check_outage(serving, demo_repo, kill, on_return=start_and_refill)


def test_a_cluster_master_killed_fails_over(
    own_settings: Settings, demo_repo: DemoRepo, redis_server: LocalRedisServer, tmp_path: Path
) -> None:
    """A master of a three-master cluster dies; its replica takes over its slots."""
    cluster = RedisCluster(tmp_path / "cluster", replicas=1, node_timeout_ms=1000).start()
    try:
        repo = shutil.copytree(demo_repo.path, tmp_path / "repo")
        yaml = repo / "feature_store.yaml"
        yaml.write_text(yaml.read_text().replace("  type: redis\n", CLUSTER_STORE))
        target = redis.cluster.RedisCluster(host="127.0.0.1", port=cluster.ports[0])
        assert copy_keys(redis_server, target) > 0
        target.close()
        settings = own_settings.model_copy(
            update={"feature_repo": repo, "online_store": cluster.connection_string}
        )
        env = {"SCORER_ONLINE_TIMEOUT_S": str(BUDGET_S), "SCORER_CIRCUIT_FAILURES": "3"}
        server = ServerProcess(settings, workers=1, extra_env=env).start()
        try:
            check_failover(server, cluster, demo_repo)
        finally:
            server.stop()
    finally:
        cluster.stop()


CLUSTER_STORE = "  type: redis\n  redis_type: redis_cluster\n"


def check_failover(server: ServerProcess, cluster: RedisCluster, demo_repo: DemoRepo) -> None:
    assert server.process is not None
    clients = ScoringClients(server.url, entities(demo_repo, 40, seed=9), threads=3)
    with clients:
        assert clients.wait_for(lambda a: a.status == 200, 10.0), "no 200 before the failover"
        victim = cluster.master_ports()[0]
        killed = time.monotonic()
        cluster.kill(victim)
        deadline = killed + 30
        while len([p for p in cluster.master_ports() if p != victim]) < cluster.masters:
            assert time.monotonic() < deadline, "no replica took over the dead master's slots"
            time.sleep(0.1)
        promoted = time.monotonic()
        # Every entity scores again: 20 answers in a row of 200, sent after the promotion.
        settled = None
        while settled is None and time.monotonic() < promoted + RECOVERY_BOUND_S:
            later = sorted((a for a in clients.answers if a.sent > promoted), key=lambda a: a.sent)
            for i in range(len(later) - 19):
                if all(a.status == 200 for a in later[i : i + 20]):
                    settled = later[i]
                    break
            time.sleep(0.1)
        assert settled is not None, f"not healed after the failover: {clients.summary()}"
        assert clients.get("/health/ready").status_code == 200
    print(
        f"replica promoted {promoted - killed:.2f} s after the kill; steady 200s from "
        f"{settled.sent - promoted:.2f} s after it; {clients.summary()}"
    )
    answers = [a for a in clients.answers if a.sent > killed]
    for answer in answers:
        assert answer.status in (200, 503), answer
        if answer.status == 503:
            assert answer.content_type == "application/problem+json", answer
            assert answer.retry_after, answer
    slow = [a for a in answers if a.elapsed >= BUDGET_S + HANG_MARGIN_S]
    assert not slow, slow
    refused = [a.elapsed for a in answers if "circuit is open" in a.detail]
    assert all(elapsed < BUDGET_S / 2 for elapsed in refused[1:]), refused
    assert server.process.poll() is None, "the server exited"
