"""Every worker of a `scorer serve` shows the jobs' values as they are, none adds them up."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx2 as httpx

from scoring.log.job_runs import RunRecord, append_record, runs_dir
from scoring.settings import Settings
from tests.utils.metrics import parse_samples, select, write_report
from tests.utils.server import ServerProcess

SCRAPES = 12


def test_two_workers_show_the_same_drift_and_job_values(own_settings: Settings) -> None:
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    write_report(own_settings.data_dir / "reports", "fraud", at, {"txn__amount": 0.3},
                 action="warn", auc=0.8)  # fmt: skip
    for run_id in ("a", "b", "c"):
        append_record(
            runs_dir(own_settings.data_dir),
            RunRecord(job="drift", started_at=at.isoformat(), ended_at=at.isoformat(),
                      outcome="ok", run_id=run_id),
        )  # fmt: skip
    server = ServerProcess(own_settings, workers=2).start(timeout_s=180)  # a busy machine
    try:
        # A connection of its own for each scrape, so that either worker may answer it.
        limits = httpx.Limits(max_keepalive_connections=0)
        with httpx.Client(base_url=server.url, timeout=10, limits=limits) as client:
            scrapes = [parse_samples(client.get("/metrics").text) for _ in range(SCRAPES)]
    finally:
        server.stop()
    for samples in scrapes:
        assert select(samples, "scorer_drift_psi") == {
            (("feature", "txn__amount"), ("model", "fraud")): 0.3
        }
        assert select(samples, "scorer_drift_detected") == {(("model", "fraud"),): 1.0}
        assert select(samples, "scorer_drift_auc") == {(("model", "fraud"),): 0.8}
        assert select(samples, "scorer_drift_last_run_timestamp_seconds") == {
            (("model", "fraud"),): at.timestamp()
        }
        assert select(samples, "scorer_job_runs_total", outcome="ok") == {
            (("job", "drift"), ("outcome", "ok")): 3.0
        }
        assert select(samples, "scorer_job_last_success_timestamp_seconds") == {
            (("job", "drift"),): at.timestamp()
        }
