"""``/metrics`` of a real ``scorer serve --workers 2``: one view of every worker, exact counts."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections import Counter
from pathlib import Path

import httpx2 as httpx

from scoring.settings import Settings
from tests.scoring.test_serve_process import sample_entities
from tests.utils.metrics import Samples, parse_samples, select
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess

UNKNOWN_MODEL = "no-such-model-7f3a"
GARBAGE_PATH = "/score-garbage-9c1e"


def scrape(url: str) -> tuple[str, Samples]:
    """One scrape on a fresh connection: its text, and its samples by name and labels."""
    text = httpx.get(f"{url}/metrics", headers={"Connection": "close"}, timeout=10).text
    return text, parse_samples(text)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples named ``name`` whose labels include ``labels``."""
    return sum(select(samples, name, **labels).values())


def log_writers(data_dir: Path) -> set[int]:
    """The processes that wrote prediction log files (their pid is in the file name)."""
    prefix = f"part-{socket.gethostname()}-"
    files = (data_dir / "logs" / "predictions").rglob(f"{prefix}*.parquet")
    return {int(f.name.removeprefix(prefix).split("-")[0]) for f in files}


def wait_for_both_writers(data_dir: Path) -> set[int]:
    """The two workers, once both have answered and logged (so each counted some requests)."""
    deadline = time.monotonic() + 30
    while len(log_writers(data_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    writers = log_writers(data_dir)
    assert len(writers) == 2, "one worker answered everything"
    return writers


def send(url: str, entities: list[dict[str, object]]) -> Counter[int]:
    """Requests of known outcomes, each on its own connection so that both workers get some."""
    statuses: Counter[int] = Counter()
    bodies: list[dict[str, object]] = [{"entities": [e]} for e in entities[:60]]
    bodies += [{"model": UNKNOWN_MODEL, "entities": [e]} for e in entities[:7]]  # 404
    bodies += [{"entities": [{"merchant_id": 1, "amount": 2.0}]}] * 5  # 422: no customer_id
    for body in bodies:
        response = httpx.post(f"{url}/score", json=body, headers={"Connection": "close"})
        statuses[response.status_code] += 1
    for _ in range(3):  # not valid JSON: 422 (for the default model, as it names none)
        response = httpx.post(
            f"{url}/score",
            content=b"{not json",
            headers={"Content-Type": "application/json", "Connection": "close"},
        )
        statuses[response.status_code] += 1
    assert httpx.post(f"{url}{GARBAGE_PATH}", json={}).status_code == 404
    return statuses


def test_every_scrape_counts_every_worker_exactly(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    env = {"SCORER_LOG_FLUSH_INTERVAL_S": "0.1"}
    server = ServerProcess(own_settings, workers=2, extra_env=env).start()
    try:
        statuses = send(server.url, sample_entities(demo_repo, 100))
        assert statuses == {200: 60, 404: 7, 422: 8}
        wait_for_both_writers(own_settings.data_dir)
        for _ in range(8):  # each on a new connection: either worker may answer
            text, samples = scrape(server.url)
            assert total(samples, "scorer_requests_total") == 75
            by_status = {
                code: total(samples, "scorer_requests_total", status=str(code))
                for code in (200, 404, 422)
            }
            assert by_status == {200: 60, 404: 7, 422: 8}
            served = total(
                samples, "scorer_requests_total", model="fraud", version="1", route="/score"
            )
            assert served == 60
            # A model nobody serves is no label; a request naming none is for the default one.
            assert total(samples, "scorer_requests_total", model="", version="") == 7
            assert total(samples, "scorer_requests_total", model="fraud", status="422") == 8
            assert UNKNOWN_MODEL not in text
            assert GARBAGE_PATH not in text
            duration = "scorer_request_duration_seconds"
            assert total(samples, f"{duration}_count", model="fraud") == 68
            assert total(samples, f"{duration}_bucket", model="fraud", le="+Inf") == 68
            assert total(samples, f"{duration}_count", model="") == 7
            # One read per answered request: the warm-up and readiness reads are not requests.
            assert total(samples, "scorer_online_read_duration_seconds_count") == 60
            assert total(samples, "scorer_online_store_circuit_open") == 0
            assert 'scorer_model_served_version{model="fraud"} 1.0' in text
            assert not any(name.startswith("feast_") for name, _ in samples)
    finally:
        server.stop()


def test_a_killed_worker_keeps_its_counts_and_leaves_the_live_gauges(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    env = {"SCORER_LOG_FLUSH_INTERVAL_S": "0.1"}
    server = ServerProcess(own_settings, workers=2, extra_env=env).start()
    assert server.process is not None
    folders = list((own_settings.data_dir / ".metrics").iterdir())
    assert [f.name.rpartition("-")[2] for f in folders] == [str(server.process.pid)]
    try:
        statuses = send(server.url, sample_entities(demo_repo, 100))
        assert statuses[200] == 60
        victim = min(wait_for_both_writers(own_settings.data_dir))
        assert victim in server.worker_pids()
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while victim in server.worker_pids() or len(server.worker_pids()) < 2:
            assert time.monotonic() < deadline, "uvicorn did not replace the killed worker"
            time.sleep(0.1)
        live_files = f"gauge_live*_scorer{victim}.db"
        assert list(folders[0].glob(live_files)), "the worker wrote no live gauge"
        server._wait_ready(180)
        for _ in range(4):
            _, samples = scrape(server.url)
            assert total(samples, "scorer_requests_total") == 75
        assert not list(folders[0].glob(live_files)), "the dead worker's gauges are still live"
        server.process.send_signal(signal.SIGTERM)
        assert server.wait() == 0
    finally:
        server.stop()
    assert not folders[0].exists(), "the run's metrics folder outlived it"
