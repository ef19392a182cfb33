"""A real Prometheus scraping a real ``scorer serve --workers 2`` counts every request once."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest

from jobs.demo.redis_server import free_port
from scoring.settings import Settings
from tests.scoring.test_serve_process import sample_entities
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess

CONFIG = """\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files: {rules}
scrape_configs:
  - job_name: scorer
    honor_labels: true  # as compose's: the job metrics' own `job` label is kept
    static_configs:
      - targets: ["{target}"]
"""


class Prometheus:
    """A ``prometheus`` server of the test's own, scraping one target every second.

    With ``rules``, it evaluates those rule files every second too.
    """

    def __init__(self, folder: Path, target: str, rules: list[Path] | None = None) -> None:
        binary = shutil.which("prometheus") or "/usr/bin/prometheus"
        if not Path(binary).is_file():
            pytest.fail("this test needs Prometheus: install Debian's `prometheus` package")
        folder.mkdir(parents=True, exist_ok=True)
        config = folder / "prometheus.yml"
        config.write_text(CONFIG.format(target=target, rules=[str(r) for r in rules or []]))
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log = folder / "prometheus.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                 f"--web.listen-address={self.url.removeprefix('http://')}"],
                stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def wait_ready(self, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"prometheus exited: {self.log.read_text()}"
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"prometheus did not become ready: {self.log.read_text()}")

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector ``expression`` evaluates to now."""
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expression}, timeout=5)
        body = response.json()
        assert body["status"] == "success", body
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def scalar(self, expression: str) -> float | None:
        """The single value ``expression`` evaluates to now, None when it has none."""
        result = self.query(expression)
        assert len(result) <= 1, result
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def server(own_settings: Settings) -> Iterator[ServerProcess]:
    server = ServerProcess(own_settings, workers=2).start()
    try:
        yield server
    finally:
        server.stop()


def test_prometheus_counts_each_request_of_two_workers_once(
    server: ServerProcess, demo_repo: DemoRepo, tmp_path: Path
) -> None:
    prometheus = Prometheus(tmp_path / "prometheus", server.url.removeprefix("http://"))
    try:
        prometheus.wait_ready()
        sent = 0
        for entity in sample_entities(demo_repo, 40):
            response = httpx.post(
                f"{server.url}/score", json={"entities": [entity]}, headers={"Connection": "close"}
            )
            assert response.status_code == 200, response.text
            sent += 1
        for _ in range(5):
            response = httpx.post(
                f"{server.url}/score",
                json={"model": "unknown", "entities": [{}]},
                headers={"Connection": "close"},
            )
            assert response.status_code == 404
            sent += 1
        # Bounded by scrapes, not by time: wait until Prometheus has all of them, then see
        # them stay while it scrapes whichever worker answers a few times more.
        seen = None
        for _ in range(300):
            seen = prometheus.scalar("sum(scorer_requests_total)")
            if seen == sent:
                break
            time.sleep(0.2)
        assert seen == sent, prometheus.log.read_text()[-2000:]
        first = prometheus.scalar('timestamp(up{job="scorer"})')
        assert first is not None
        latest = first
        for _ in range(300):
            assert prometheus.scalar("sum(scorer_requests_total)") == sent
            latest = prometheus.scalar('timestamp(up{job="scorer"})') or latest
            if latest >= first + 4:
                break
            time.sleep(0.2)
        assert latest >= first + 4, "Prometheus stopped scraping"
        assert prometheus.scalar('up{job="scorer"}') == 1
        by_status = {
            r["metric"]["status"]: float(r["value"][1])
            for r in prometheus.query("sum by (status) (scorer_requests_total)")
        }
        assert by_status == {"200": 40.0, "404": 5.0}
        assert prometheus.query('scorer_requests_total{model="unknown"}') == []
    finally:
        prometheus.stop()
