"""POST /feedback over HTTP: what is acknowledged is recorded as the model's classes, and
labels that are no class are refused."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from jobs.drift_check import drift_check
from jobs.labels import feedback_labels
from scoring.model.registry import ModelRegistry
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import (
    ADMIN,
    entities,
    read_log,
    register_copy_of_v1,
    with_admin_key,
)


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


@pytest.mark.parametrize(
    "bound",
    # A label row is estimated at 72 bytes (two texts, a time) until the writer has built
    # some; these ids make a built row larger still: three rows fill 216 bytes either way.
    [{"log_max_buffer_rows": 3}, {"log_max_buffer_bytes": 3 * 72}],
    ids=["rows", "bytes"],
)
def test_labels_a_full_log_cannot_take_are_refused_with_503_not_acknowledged(
    own_settings: Settings, bound: dict[str, int]
) -> None:
    settings = own_settings.model_copy(update={**bound, "log_flush_interval_s": 0.05})
    labels_root = settings.data_dir / "logs" / "labels"
    labels_root.parent.mkdir(parents=True)
    labels_root.write_text("a file where the labels folder should be: every write fails")
    ids = [f"r{i}-" + "x" * 100 for i in range(4)]
    with TestClient(create_app(settings)) as client:
        taken = client.post("/feedback", json=labels(*ids[:3]))
        assert taken.status_code == 202, taken.text
        assert taken.json() == {"accepted": 3}  # held in memory while the disk fails

        refused = client.post("/feedback", json=labels(ids[3]))
        body = assert_problem(refused, 503, "none was recorded")
        assert refused.headers["retry-after"] == str(settings.retry_after_s)
        assert "accepted" not in body

        labels_root.unlink()  # the disk comes back: the held labels are written
        service: ScoringService = client.app_state["service"]
        assert service.feedback_log is not None
        writer = service.feedback_log.writer
        wait_until(lambda: writer.counters().rows_written == 3)
        retried = client.post("/feedback", json=labels(ids[3]))
        assert retried.json() == {"accepted": 1}
    written = read_log(labels_root).column("request_id").to_pylist()
    assert sorted(written) == ids, "each label once: the refused one was not"


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


# Each natural spelling of the demo model's classes (is_fraud: 0, 1), and the class it names.
SPELLINGS: list[tuple[Any, int]] = [
    (True, 1), (False, 0), (1, 1), (0, 0), (1.0, 1), (0.0, 0),
    ("1", 1), ("0", 0), ("true", 1), ("False", 0), ("1.0", 1), ("0.0", 0),
]  # fmt: skip


def test_every_spelling_of_a_class_is_stored_as_the_class_and_counted_so_by_drift_and_retraining(
    own_settings: Settings, demo_repo: DemoRepo, tmp_path: Path
) -> None:
    rows = entities(demo_repo, len(SPELLINGS), seed=5)
    with TestClient(create_app(own_settings)) as client:
        request_ids = []
        for row in rows:
            answer = client.post("/score", json={"entities": [row]})
            assert answer.status_code == 200, answer.text
            request_ids.append(answer.json()["request_id"])
        half = len(SPELLINGS) // 2
        for request_id, (spelling, _) in zip(request_ids[:half], SPELLINGS[:half], strict=True):
            one = client.post("/feedback", json={"request_id": request_id, "label": spelling})
            assert one.status_code == 202, one.text
        rest = [
            {"request_id": request_id, "label": spelling, "model": "fraud"}
            for request_id, (spelling, _) in zip(request_ids[half:], SPELLINGS[half:], strict=True)
        ]
        assert client.post("/feedback", json=rest).json() == {"accepted": len(rest)}
    truth = {request_id: cls for request_id, (_, cls) in zip(request_ids, SPELLINGS, strict=True)}

    # Stored in one form: the class as the prediction log writes its label.
    stored = read_log(own_settings.data_dir / "logs" / "labels").to_pylist()
    assert {r["request_id"]: r["label"] for r in stored} == {k: str(v) for k, v in truth.items()}

    # Retraining reads every label, as the class the training labels hold (ints here).
    registry = ModelRegistry(own_settings.models_dir)
    manifest = registry.manifest("fraud", 1)
    frame = feedback_labels(
        own_settings.data_dir,
        "fraud",
        manifest.feature_schema,
        manifest.label_column,
        manifest.postprocess.labels,
    )
    expected = sorted(
        (row["customer_id"], row["amount"], truth[request_id])
        for row, request_id in zip(rows, request_ids, strict=True)
    )
    got = list(zip(frame["customer_id"], frame["amount"], frame["is_fraud"], strict=True))
    assert sorted(got) == expected
    assert frame["is_fraud"].dtype.kind == "i"

    # A drift run counts each label as its class: as many positives as were sent.
    result = drift_check(
        registry,
        own_settings.data_dir,
        "fraud",
        end=datetime.now(UTC) + timedelta(minutes=1),
        window=timedelta(hours=1),
        out_dir=tmp_path / "reports",
        cooldown=timedelta(hours=6),
    )
    performance = result.report.performance
    assert performance is not None
    assert performance.labelled_rows == len(SPELLINGS)
    assert performance.positives == sum(truth.values())
    assert performance.negatives == len(SPELLINGS) - sum(truth.values())


def test_class_names_of_a_model_with_named_classes_are_accepted(own_settings: Settings) -> None:
    settings = with_admin_key(own_settings)
    post = ModelRegistry(settings.models_dir).manifest("fraud", 1).postprocess
    version = register_copy_of_v1(
        settings, postprocess={**post.model_dump(), "labels": ["legit", "fraud"]}
    )
    with TestClient(create_app(settings)) as client:
        promoted = client.post("/models/fraud/promote", json={"version": version}, headers=ADMIN)
        assert promoted.status_code == 200, promoted.text
        sent = [("r0", "fraud"), ("r1", "Legit"), ("r2", True), ("r3", 0)]
        body = [{"request_id": r, "label": label} for r, label in sent]
        assert client.post("/feedback", json=body).json() == {"accepted": 4}
        assert_problem(
            client.post("/feedback", json={"request_id": "r4", "label": 1.5}),
            422,
            "feedback: label 1.5 is not a class of model 'fraud': send 'fraud' or 'legit'",
        )
    stored = read_log(settings.data_dir / "logs" / "labels").to_pylist()
    assert sorted((r["request_id"], r["label"]) for r in stored) == [
        ("r0", "fraud"), ("r1", "legit"), ("r2", "fraud"), ("r3", "legit")
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("label", "fragment"),
    [
        ("maybe", "feedback[1]: label 'maybe' is not a class of model 'fraud': send 1 or 0"),
        (2, "feedback[1]: label 2 is not a class of model 'fraud'"),
        (-1.0, "feedback[1]: label -1.0 is not a class of model 'fraud'"),
        ("x" * 65, "feedback[1]: label must be a class of the model, a string of at most 64"),
        ({"label": 1}, "feedback[1]: label must be a string, number or boolean"),
        ([[1, 0]], "feedback[1]: label must be a string, number or boolean"),
    ],
)
def test_a_label_that_is_no_class_is_422_naming_the_item(
    own_settings: Settings, label: Any, fragment: str
) -> None:
    with TestClient(create_app(own_settings)) as client:
        body = [OK, {"request_id": "r1", "label": label}]
        assert_problem(client.post("/feedback", json=body), 422, fragment)
    assert not (own_settings.data_dir / "logs" / "labels").exists()


def test_every_label_that_is_no_class_is_named_at_once(own_settings: Settings) -> None:
    body = [OK, {"request_id": "r1", "label": "maybe"}, OK, {"request_id": "r3", "label": 7}]
    with TestClient(create_app(own_settings)) as client:
        problem = assert_problem(client.post("/feedback", json=body), 422, "(and 1 more)")
    assert [(e["item"], e["field"]) for e in problem["errors"]] == [(1, "label"), (3, "label")]


def test_a_20_mb_label_is_422_and_not_recorded(own_settings: Settings) -> None:
    # A body limit that follows the batch limit lets 20 MB through: the label's bound answers.
    settings = own_settings.model_copy(update={"max_batch_rows": 25_000})
    huge = "x" * 20 * 1024 * 1024
    with TestClient(create_app(settings)) as client:
        response = client.post("/feedback", json={"request_id": "r0", "label": huge})
        assert_problem(response, 422, "at most 64 characters (got 20,971,520)")
    assert not (settings.data_dir / "logs" / "labels").exists()


def test_feedback_for_an_unknown_model_is_404(own_settings: Settings) -> None:
    with TestClient(create_app(own_settings)) as client:
        response = client.post("/feedback", json={**OK, "model": "nope"})
        assert_problem(response, 404, "'nope'")
