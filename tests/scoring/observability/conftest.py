"""The real promtool, and the metric names the rules and the dashboard may query."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from jobs.scheduler import publish_schedules
from scoring.log.job_runs import RunRecord, append_record, runs_dir, schedule_file
from scoring.serving.job_metrics import JobMetricsCollector
from tests.utils.metrics import scrape, write_report

OBSERVABILITY = Path(__file__).parents[3] / "scoring" / "observability"

DESIGN_METRICS = {
    # DESIGN.md, Observability: the names outside clients (dashboards, alerts) rely on.
    "scorer_requests_total",
    "scorer_request_duration_seconds",
    "scorer_online_read_duration_seconds",
    "scorer_online_store_circuit_open",
    "scorer_features_missing_total",
    "scorer_features_stale_total",
    "scorer_drift_psi",
    "scorer_drift_detected",
    "scorer_drift_last_run_timestamp_seconds",
    "scorer_job_runs_total",
    "scorer_job_last_success_timestamp_seconds",
    "scorer_canary_rollbacks_total",
    # The served versions of each alias.
    "scorer_model_served_version",
    "scorer_model_canary_version",
    "scorer_model_canary_weight",
    "scorer_model_shadow_version",
}

_NAME = re.compile(r"\bscorer_[a-z0-9_]+\b")
_HISTOGRAM_SERIES = re.compile(r"_(bucket|sum|count)$")


def metric_names(expr: str) -> set[str]:
    """The scorer metrics a PromQL expression reads (a histogram's series by its name)."""
    names = set()
    for name in _NAME.findall(expr):
        base = _HISTOGRAM_SERIES.sub("", name)
        names.add(base if base.endswith("_seconds") else name)
    return names


@pytest.fixture(scope="session")
def promtool() -> str:
    """The real promtool; fails, never skips, when it is not installed."""
    path = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(path).is_file():
        pytest.fail("promtool is missing: run tests/system-packages.sh (Debian's prometheus)")
    return path


def run_promtool(promtool: str, *args: str, cwd: Path | None = None) -> str:
    """Run promtool; its output, or a failure that shows it."""
    done = subprocess.run([promtool, *args], cwd=cwd, capture_output=True, text=True, timeout=120)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.fixture(scope="session")
def known_metrics(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """DESIGN's names and every name the drift and job collector shows."""
    data_dir = tmp_path_factory.mktemp("job-metrics")
    now = datetime.now(UTC)
    write_report(data_dir / "reports", "fraud", now, {"amount": 0.3}, action="warn", auc=0.8)
    at = now.isoformat()
    append_record(runs_dir(data_dir), RunRecord("drift", at, ended_at=at, outcome="ok"))
    publish_schedules(schedule_file(data_dir), {"drift": "every 1h"}, now)
    collector = JobMetricsCollector(data_dir)
    collector.refresh()
    return DESIGN_METRICS | {name for name, _ in scrape(collector)}
