"""A real Prometheus evaluates the alert rules on a real ``scorer serve --workers 2``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2 as httpx

from drift.publish import model_reports_dir
from scoring.log.job_runs import RunRecord, append_record, runs_dir
from scoring.settings import Settings
from tests.scoring.observability.conftest import OBSERVABILITY
from tests.scoring.test_prometheus_scrape import Prometheus
from tests.utils.metrics import write_report
from tests.utils.server import ServerProcess


def active_alerts(prometheus: Prometheus) -> dict[tuple[str, str], str]:
    """Pending or firing alerts by name and the label they are about, with their state."""
    body = httpx.get(f"{prometheus.url}/api/v1/alerts", timeout=5).json()
    alerts = body["data"]["alerts"]
    return {(a["labels"]["alertname"], a["labels"].get("model", a["labels"].get("job"))): a["state"]
            for a in alerts}  # fmt: skip


def rules(prometheus: Prometheus) -> list[dict[str, Any]]:
    body = httpx.get(f"{prometheus.url}/api/v1/rules", timeout=5).json()
    return [rule for group in body["data"]["groups"] for rule in group["rules"]]


def test_drift_and_a_failed_job_raise_their_alerts_and_nothing_else(
    own_settings: Settings, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    reports = model_reports_dir(own_settings.data_dir, "fraud")
    write_report(reports, "fraud", now, {"transaction__amount": 0.6}, action="retrain")
    at = now.isoformat()
    failed = RunRecord("materialize", at, ended_at=at, outcome="failed")
    append_record(runs_dir(own_settings.data_dir), failed)
    server = ServerProcess(own_settings, workers=2).start(timeout_s=180)  # a busy machine
    prometheus = Prometheus(
        tmp_path / "prometheus", server.url.removeprefix("http://"), [OBSERVABILITY / "alerts.yml"]
    )
    try:
        prometheus.wait_ready()
        wanted = {("ScorerDriftDetected", "fraud"), ("ScorerJobFailing", "materialize")}
        active: dict[tuple[str, str], str] = {}
        evaluated: list[dict[str, Any]] = []
        # Bounded by evaluations (one a second), not by time: wait until both are pending.
        for _ in range(300):
            active = active_alerts(prometheus)
            evaluated = rules(prometheus)
            if wanted <= set(active) and all(r["health"] != "unknown" for r in evaluated):
                break
            time.sleep(0.5)
    finally:
        prometheus.stop()
        server.stop()
    # Both wait out their `for` first: pending, on the values two workers showed.
    assert active == dict.fromkeys(wanted, "pending"), active
    assert len(evaluated) == 10
    assert {r["health"] for r in evaluated} == {"ok"}, [r for r in evaluated if r["health"] != "ok"]
