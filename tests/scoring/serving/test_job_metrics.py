"""Drift reports, run records and schedules as the metrics a scrape shows."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jobs.scheduler import publish_schedules
from scoring.log.job_runs import RunRecord, append_record, runs_dir, schedule_file
from scoring.serving.job_metrics import JobMetricsCollector
from tests.utils.metrics import scrape, select, write_report

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def test_the_latest_report_of_each_model_is_shown(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    write_report(reports, "fraud", T0, {"txn__amount": 0.9}, action="retrain", auc=0.7)
    write_report(reports, "fraud", T0 + timedelta(hours=1), {"txn__amount": 0.31, "age": 0.01},
                 action="warn", auc=0.81)  # fmt: skip
    # A model whose reports have a folder of their own, and a report that is not one.
    write_report(reports / "churn", "churn", T0, {"tenure": 0.02})
    (reports / "churn" / "drift-churn-20990101T000000Z.json").write_bytes(b"{not json")
    (reports / "index.html").write_bytes(b"<html>")

    collector = JobMetricsCollector(tmp_path)
    collector.refresh()
    samples = scrape(collector)

    assert select(samples, "scorer_drift_psi") == {
        (("feature", "txn__amount"), ("model", "fraud")): 0.31,
        (("feature", "age"), ("model", "fraud")): 0.01,
    }
    assert select(samples, "scorer_drift_feature_drifted", model="fraud") == {
        (("feature", "txn__amount"), ("model", "fraud")): 1.0,
        (("feature", "age"), ("model", "fraud")): 0.0,
    }
    assert select(samples, "scorer_drift_action", model="fraud") == {
        (("action", "none"), ("model", "fraud")): 0.0,
        (("action", "warn"), ("model", "fraud")): 1.0,
        (("action", "retrain"), ("model", "fraud")): 0.0,
    }
    assert select(samples, "scorer_drift_detected") == {(("model", "fraud"),): 1.0}
    assert select(samples, "scorer_drift_window_rows") == {(("model", "fraud"),): 1234.0}
    assert select(samples, "scorer_drift_score_psi") == {(("model", "fraud"),): 0.05}
    assert select(samples, "scorer_drift_auc") == {(("model", "fraud"),): 0.81}  # churn: none
    assert select(samples, "scorer_drift_model_version") == {(("model", "fraud"),): 3.0}
    assert select(samples, "scorer_drift_last_run_timestamp_seconds") == {
        (("model", "fraud"),): (T0 + timedelta(hours=1)).timestamp()
    }
    # churn's newest file is unreadable: churn shows nothing rather than an older report.
    assert select(samples, "scorer_drift_psi", model="churn") == {}

    write_report(reports / "churn", "churn", T0 + timedelta(days=365 * 80), {"tenure": 0.4})
    collector.refresh()
    assert select(scrape(collector), "scorer_drift_psi", model="churn") == {
        (("feature", "tenure"), ("model", "churn")): 0.4
    }


def record(job: str, outcome: str, ended: datetime | None, run_id: str) -> RunRecord:
    ended_at = None if ended is None else ended.isoformat()
    return RunRecord(job=job, started_at=T0.isoformat(), ended_at=ended_at, outcome=outcome,
                     run_id=run_id)  # fmt: skip


def test_job_runs_are_counted_once_each_with_the_last_success_and_outcome(tmp_path: Path) -> None:
    runs = runs_dir(tmp_path)
    for line in [
        record("drift", "running", None, "a"),
        record("drift", "ok", T0, "a"),  # a run's later line replaces its "running" line
        record("drift", "skipped", T0, "b"),  # another scheduler ran it
        record("drift", "running", None, "c"),
        record("drift", "failed", T0 + timedelta(hours=1), "c"),
        record("drift", "running", None, "d"),  # still running
        record("materialize", "failed", None, "e"),
        record("materialize", "crashed", None, "e"),  # whatever a run's last line says counts
    ]:
        append_record(runs, line)
    collector = JobMetricsCollector(tmp_path)
    collector.refresh()
    samples = scrape(collector)
    assert select(samples, "scorer_job_runs_total", job="drift") == {
        (("job", "drift"), ("outcome", "ok")): 1.0,
        (("job", "drift"), ("outcome", "failed")): 1.0,
        (("job", "drift"), ("outcome", "skipped")): 1.0,
        (("job", "drift"), ("outcome", "crashed")): 0.0,
    }
    assert select(samples, "scorer_job_runs_total", job="materialize") == {
        (("job", "materialize"), ("outcome", "ok")): 0.0,
        (("job", "materialize"), ("outcome", "failed")): 0.0,
        (("job", "materialize"), ("outcome", "skipped")): 0.0,
        (("job", "materialize"), ("outcome", "crashed")): 1.0,
    }
    assert select(samples, "scorer_job_last_success_timestamp_seconds") == {
        (("job", "drift"),): T0.timestamp()
    }
    assert select(samples, "scorer_job_last_run_outcome", job="drift") == {
        (("job", "drift"), ("outcome", "ok")): 0.0,
        (("job", "drift"), ("outcome", "failed")): 1.0,
        (("job", "drift"), ("outcome", "crashed")): 0.0,
    }

    append_record(runs, record("drift", "ok", T0 + timedelta(hours=2), "d"))
    collector.refresh()
    samples = scrape(collector)
    assert select(samples, "scorer_job_runs_total", job="drift", outcome="ok") == {
        (("job", "drift"), ("outcome", "ok")): 2.0
    }
    assert select(samples, "scorer_job_last_success_timestamp_seconds", job="drift") == {
        (("job", "drift"),): (T0 + timedelta(hours=2)).timestamp()
    }
    assert select(samples, "scorer_job_last_run_outcome", job="drift", outcome="ok") == {
        (("job", "drift"), ("outcome", "ok")): 1.0
    }


def test_each_scheduled_job_shows_its_interval_and_since_when(tmp_path: Path) -> None:
    publish_schedules(
        schedule_file(tmp_path),
        {"materialize": "every 1h", "drift": "every 10m", "retrain": ""},
        T0,
    )
    collector = JobMetricsCollector(tmp_path)
    collector.refresh()
    samples = scrape(collector)
    assert select(samples, "scorer_job_schedule_interval_seconds") == {
        (("job", "materialize"),): 3600.0,
        (("job", "drift"),): 600.0,
    }
    assert select(samples, "scorer_job_scheduled_since_timestamp_seconds") == {
        (("job", "materialize"),): T0.timestamp(),
        (("job", "drift"),): T0.timestamp(),
    }


def test_an_empty_data_dir_shows_no_drift_or_job_series(tmp_path: Path) -> None:
    collector = JobMetricsCollector(tmp_path / "absent")
    collector.refresh()
    assert [
        key for key in scrape(collector) if key[0].startswith(("scorer_drift", "scorer_job"))
    ] == []


def test_a_scrape_reads_no_file_that_did_not_change(tmp_path: Path) -> None:
    folder = tmp_path / "reports" / "fraud"
    write_report(folder, "fraud", T0, {"txn__amount": 0.5})
    [path] = folder.glob("*.json")
    long_ago = time.time_ns() - 3600 * 1_000_000_000
    for settled in (path, folder, folder.parent):
        os.utime(settled, ns=(long_ago, long_ago))
    collector = JobMetricsCollector(tmp_path)
    collector.refresh()
    psi = {(("feature", "txn__amount"), ("model", "fraud")): 0.5}
    assert select(scrape(collector), "scorer_drift_psi") == psi
    # Same inode, size and time: as far as a stat can tell, nothing changed, and nothing is read.
    path.write_bytes(path.read_bytes().replace(b"0.5", b"0.7"))
    os.utime(path, ns=(long_ago, long_ago))
    collector.refresh()
    assert select(scrape(collector), "scorer_drift_psi") == psi
    os.utime(path, ns=(long_ago + 1, long_ago + 1))
    collector.refresh()
    assert select(scrape(collector), "scorer_drift_psi") == {
        (("feature", "txn__amount"), ("model", "fraud")): 0.7
    }
