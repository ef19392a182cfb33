"""POST /feedback over HTTP: what is acknowledged is recorded, and bad labels are refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from scoring.serving.service import ScoringService
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.serving import read_log


def assert_problem(response: Any, status: int, *in_detail: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert {"type", "title", "status", "detail"} <= set(body)
    assert body["status"] == status
    for fragment in in_detail:
        assert fragment in body["detail"], body
    return body


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


def labels(*request_ids: str) -> list[dict[str, Any]]:
    return [{"request_id": request_id, "label": 1} for request_id in request_ids]


def test_labels_a_full_log_cannot_take_are_refused_with_503_not_acknowledged(
    own_settings: Settings,
) -> None:
    settings = own_settings.model_copy(
        update={"log_max_buffer_rows": 3, "log_flush_interval_s": 0.05}
    )
    labels_root = settings.data_dir / "logs" / "labels"
    labels_root.parent.mkdir(parents=True)
    labels_root.write_text("a file where the labels folder should be: every write fails")
    with TestClient(create_app(settings)) as client:
        taken = client.post("/feedback", json=labels("r0", "r1", "r2"))
        assert taken.status_code == 202, taken.text
        assert taken.json() == {"accepted": 3}  # held in memory while the disk fails

        refused = client.post("/feedback", json=labels("r3"))
        body = assert_problem(refused, 503, "none was recorded")
        assert refused.headers["retry-after"] == str(settings.retry_after_s)
        assert "accepted" not in body

        labels_root.unlink()  # the disk comes back: the held labels are written
        service: ScoringService = client.app_state["service"]
        assert service.feedback_log is not None
        writer = service.feedback_log.writer
        wait_until(lambda: writer.counters().rows_written == 3)
        retried = client.post("/feedback", json=labels("r3"))
        assert retried.json() == {"accepted": 1}
    written = read_log(labels_root).column("request_id").to_pylist()
    assert sorted(written) == ["r0", "r1", "r2", "r3"], "each label once: the refused one was not"


def test_labels_up_to_the_batch_limit_are_accepted_one_more_is_413(
    own_settings: Settings,
) -> None:
    limit = own_settings.max_batch_rows
    with TestClient(create_app(own_settings)) as client:
        full = client.post("/feedback", json=labels(*(f"r{i}" for i in range(limit))))
        assert full.status_code == 202, full.text
        assert full.json() == {"accepted": limit}
        over = client.post("/feedback", json=labels(*(f"s{i}" for i in range(limit + 1))))
        assert_problem(over, 413, f"{limit + 1} labels is over the limit of {limit}")
    assert read_log(own_settings.data_dir / "logs" / "labels").num_rows == limit


OK = {"request_id": "r0", "label": 1}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ([], "the feedback list is empty"),
        ([OK, 5], "feedback[1] must be an object with exactly request_id and label"),
        ([OK, {**OK, "score": 0.9}], "feedback[1] must be an object with exactly request_id"),
        ([OK, {"request_id": "r1"}], "feedback[1] must be an object with exactly request_id"),
        ([OK, {"label": 1}], "feedback[1] must be an object with exactly request_id and label"),
        ([OK, {**OK, "request_id": ""}], "feedback[1]: request_id must be a string of 1 to 128"),
        ([OK, {**OK, "request_id": "r" * 129}], "feedback[1]: request_id must be a string of 1"),
        ([OK, {**OK, "label": [1]}], "feedback[1]: label must be a string, number or boolean"),
        ([OK, {**OK, "label": {"y": 1}}], "feedback[1]: label must be a string, number or"),
        ([OK, {**OK, "label": None}], "feedback[1]: label must be a string, number or boolean"),
        ({**OK, "request_id": ""}, "feedback: request_id must be a string of 1 to 128"),
    ],
)
def test_bad_feedback_is_422_naming_the_item_and_nothing_is_recorded(
    own_settings: Settings, body: Any, fragment: str
) -> None:
    with TestClient(create_app(own_settings)) as client:
        assert_problem(client.post("/feedback", json=body), 422, fragment)
    assert not (own_settings.data_dir / "logs" / "labels").exists()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "1e999"])
def test_a_non_finite_label_is_422(own_settings: Settings, literal: str) -> None:
    """JSON has no such numbers: the body is refused as JSON before any label is looked at."""
    raw = f'[{{"request_id": "r0", "label": 1}}, {{"request_id": "r1", "label": {literal}}}]'
    with TestClient(create_app(own_settings)) as client:
        response = client.post(
            "/feedback", content=raw, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "not valid JSON")
    assert not (own_settings.data_dir / "logs" / "labels").exists()


def test_feedback_with_the_log_disabled_is_501_not_an_unknown_model(
    own_settings: Settings,
) -> None:
    """Not 404 (an unknown model), not 503 (retrying cannot help): this server does not record."""
    settings = own_settings.model_copy(update={"log_enabled": False})
    row = {"customer_id": 1, "merchant_id": 2, "amount": 10.0}
    with TestClient(create_app(settings)) as client:
        assert client.post("/score", json={"entities": [row]}).status_code == 200
        response = client.post("/feedback", json=labels("r0"))
        body = assert_problem(response, 501, "prediction log is disabled")
        assert body["title"] == "Log disabled"
        assert "retry-after" not in response.headers
    assert not (settings.data_dir / "logs").exists()
