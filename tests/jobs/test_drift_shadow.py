"""The drift job compares the shadow with the champion when a model has one, and links it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from jobs.runner import JobRunner
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities
from tests.utils.shadow import train_shadow


def log_traffic(settings: Settings, demo_repo: DemoRepo, requests: int) -> None:
    """Score ``requests`` requests of 50 rows and label each (closing flushes the log)."""
    with TestClient(create_app(settings)) as client:
        for seed in range(requests):
            answer = client.post("/score", json={"entities": entities(demo_repo, 50, seed)})
            assert answer.status_code == 200, answer.text
            labels = [{"request_id": answer.json()["request_id"], "label": seed % 2}]
            assert client.post("/feedback", json=labels).status_code == 202


def drift_run(settings: Settings) -> dict[str, Any]:
    record = JobRunner(settings).run("drift")
    assert record.outcome == "ok", record.detail
    produced: dict[str, Any] = record.produced["fraud"]
    return produced


def test_a_drift_run_writes_and_links_the_shadow_comparison(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    shadow = train_shadow(own_settings, demo_repo)
    log_traffic(own_settings, demo_repo, 4)
    produced = drift_run(own_settings)
    compare_json, compare_html = Path(produced["compare_json"]), Path(produced["compare_html"])
    drift_json = Path(produced["report_json"])
    assert compare_json.parent == drift_json.parent  # beside the drift report
    comparison = orjson.loads(compare_json.read_bytes())
    assert (comparison["champion"]["version"], comparison["shadow"]["version"]) == (1, shadow)
    assert comparison["rows"]["paired"] == 200
    assert comparison["performance"]["labelled_rows"] == 200
    assert comparison["run"]["job"] == "drift"
    drift = orjson.loads(drift_json.read_bytes())
    assert drift["window"] == {**drift["window"], "start": comparison["window"]["start"]}
    ref = drift["shadow_comparison"]
    assert (drift_json.parent / ref["report_json"]).resolve() == compare_json.resolve()
    assert (drift_json.parent / ref["report_html"]).resolve() == compare_html.resolve()
    assert ref["paired_rows"] == 200
    assert ref["pearson"] == comparison["scores"]["pearson"]
    assert ref["report_html"] in drift_json.with_suffix(".html").read_text()


def test_a_drift_run_without_a_shadow_writes_no_comparison(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    log_traffic(own_settings, demo_repo, 2)
    produced = drift_run(own_settings)
    assert "compare_json" not in produced
    drift_json = Path(produced["report_json"])
    assert orjson.loads(drift_json.read_bytes())["shadow_comparison"] is None
    assert not list(drift_json.parent.glob("compare-*"))


def test_a_shadow_that_scored_nothing_yet_is_a_note_not_a_failure(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    log_traffic(own_settings, demo_repo, 2)
    train_shadow(own_settings, demo_repo)  # set after the traffic: no shadow rows
    produced = drift_run(own_settings)
    drift = orjson.loads(Path(produced["report_json"]).read_bytes())
    assert drift["shadow_comparison"] is None
    assert any("shadow not compared: no shadow rows" in note for note in drift["notes"])
