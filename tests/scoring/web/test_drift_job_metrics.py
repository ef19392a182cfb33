"""Drift and job outcomes on ``/metrics``: after each drift run, the latest report's values."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from jobs.runner import JobRunner
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.metrics import Samples, parse_samples, select
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities


def log_traffic_with_labels(settings: Settings, demo_repo: DemoRepo, rows: int) -> None:
    """Score ``rows`` demo rows through the API and label them all (closing flushes the log)."""
    with TestClient(create_app(settings)) as client:
        for seed in range(rows // 100):
            answer = client.post("/score", json={"entities": entities(demo_repo, 100, seed)})
            assert answer.status_code == 200, answer.text
            labels = [{"request_id": answer.json()["request_id"], "label": seed % 2}]
            assert client.post("/feedback", json=labels).status_code == 202


def drift_run(settings: Settings) -> dict[str, Any]:
    """Run the drift job as the scheduler would; the report it wrote."""
    record = JobRunner(settings).run("drift")
    assert record.outcome == "ok", record.detail
    report: dict[str, Any] = orjson.loads(
        Path(record.produced["fraud"]["report_json"]).read_bytes()
    )
    return report


def assert_shows(samples: Samples, report: dict[str, Any]) -> None:
    """The drift series of ``fraud`` are the report's values."""
    assert select(samples, "scorer_drift_psi", model="fraud") == {
        (("feature", f["name"]), ("model", "fraud")): pytest.approx(f["psi"])
        for f in report["features"]
    }
    assert select(samples, "scorer_drift_feature_drifted", model="fraud") == {
        (("feature", f["name"]), ("model", "fraud")): float(f["drifted"])
        for f in report["features"]
    }
    one = {(("model", "fraud"),)}
    assert select(samples, "scorer_drift_detected") == dict.fromkeys(
        one, float(report["drift_detected"])
    )
    assert select(samples, "scorer_drift_action", model="fraud") == {
        (("action", action), ("model", "fraud")): float(report["action"] == action)
        for action in ("none", "warn", "retrain")
    }
    assert select(samples, "scorer_drift_window_rows") == dict.fromkeys(
        one, report["window"]["rows"]
    )
    assert select(samples, "scorer_drift_score_psi") == dict.fromkeys(
        one, pytest.approx(report["prediction"]["psi"])
    )
    assert select(samples, "scorer_drift_auc") == dict.fromkeys(
        one, pytest.approx(report["performance"]["auc"])
    )
    assert select(samples, "scorer_drift_model_version") == dict.fromkeys(one, report["version"])
    assert select(samples, "scorer_drift_last_run_timestamp_seconds") == dict.fromkeys(
        one, pytest.approx(datetime.fromisoformat(report["generated_at"]).timestamp())
    )


def test_metrics_show_the_latest_drift_report_and_job_outcomes(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    log_traffic_with_labels(own_settings, demo_repo, 400)
    first = drift_run(own_settings)
    assert first["window"]["rows"] == 400
    assert first["performance"]["auc"] is not None  # labels exist
    failed = JobRunner(own_settings).run("retrain", models=["no-such-model"])
    assert failed.outcome == "failed"

    with TestClient(create_app(own_settings)) as client:
        samples = parse_samples(client.get("/metrics").text)
        assert_shows(samples, first)
        assert select(samples, "scorer_job_runs_total") == {
            (("job", "drift"), ("outcome", "ok")): 1.0,
            (("job", "drift"), ("outcome", "failed")): 0.0,
            (("job", "drift"), ("outcome", "skipped")): 0.0,
            (("job", "drift"), ("outcome", "crashed")): 0.0,
            (("job", "retrain"), ("outcome", "ok")): 0.0,
            (("job", "retrain"), ("outcome", "failed")): 1.0,
            (("job", "retrain"), ("outcome", "skipped")): 0.0,
            (("job", "retrain"), ("outcome", "crashed")): 0.0,
        }
        [drift_record] = JobRunner(own_settings).records_dir.joinpath("drift.jsonl").read_bytes(
        ).splitlines()[-1:]  # fmt: skip
        ended = datetime.fromisoformat(orjson.loads(drift_record)["ended_at"]).timestamp()
        assert select(samples, "scorer_job_last_success_timestamp_seconds") == {
            (("job", "drift"),): pytest.approx(ended)
        }
        assert select(samples, "scorer_job_last_run_outcome", outcome="failed") == {
            (("job", "drift"), ("outcome", "failed")): 0.0,
            (("job", "retrain"), ("outcome", "failed")): 1.0,
        }

        # The next drift run, while the service runs: the next scrape shows its report.
        second = drift_run(own_settings)
        assert second["generated_at"] != first["generated_at"]
        samples = parse_samples(client.get("/metrics").text)
        assert_shows(samples, second)
        assert select(samples, "scorer_job_runs_total", job="drift", outcome="ok") == {
            (("job", "drift"), ("outcome", "ok")): 2.0
        }
