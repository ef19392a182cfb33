"""Prediction log, feedback, promotion and hot reload, through the HTTP API."""

from __future__ import annotations

import logging
import shutil
import time

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from scoring.durable import write_atomically
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import ADMIN, entities, read_log, register_copy_of_v1, with_admin_key


def test_every_scored_row_is_logged_with_its_features(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    answers = []
    with TestClient(create_app(own_settings)) as client:
        for seed in range(5):
            body = {"entities": entities(demo_repo, 20, seed), "include_features": True}
            response = client.post("/score", json=body)
            assert response.status_code == 200
            answers.append((body, response.json()))
    # Leaving the lifespan closed the log: everything answered is on disk.
    table = read_log(own_settings.data_dir / "logs" / "predictions")
    assert table.num_rows == 100
    rows = {(r["request_id"], r["customer_id"], r["amount"]): r for r in table.to_pylist()}
    for body, answer in answers:
        for entity, prediction in zip(body["entities"], answer["predictions"], strict=True):
            row = rows[(answer["request_id"], entity["customer_id"], entity["amount"])]
            assert row["model"] == "fraud"
            assert (row["version"], row["route"]) == (1, "champion")
            assert row["score"] == prediction["score"]
            assert row["label"] == str(prediction["label"])
            assert row["missing_count"] == len(prediction["missing"])
            assert row["latency_ms"] > 0
            for name, value in prediction["features"].items():
                assert row[name] == pytest.approx(value), name
    assert str(table.schema.field("logged_at").type) == "timestamp[us, tz=UTC]"
    assert table.schema.field("customer_profile__country").type == pa.string()


def test_feedback_is_stored_beside_the_log(own_settings: Settings, demo_repo: DemoRepo) -> None:
    with TestClient(create_app(own_settings)) as client:
        scored = client.post("/score", json={"entities": entities(demo_repo, 2, 0)}).json()
        one = client.post("/feedback", json={"request_id": scored["request_id"], "label": 1})
        assert one.status_code == 202
        assert one.json() == {"accepted": 1}
        many = [{"request_id": f"r{i}", "label": 0} for i in range(3)]
        assert client.post("/feedback", json=many).json() == {"accepted": 3}
        bad = client.post("/feedback", json={"request_id": "", "label": 1})
        assert bad.status_code == 422
        assert client.post("/feedback", json=[{"label": 1}]).status_code == 422
    labels = read_log(own_settings.data_dir / "logs" / "labels").to_pylist()
    assert sorted((r["request_id"], r["label"]) for r in labels) == sorted(
        [(scored["request_id"], "1"), ("r0", "0"), ("r1", "0"), ("r2", "0")]
    )


def test_promote_needs_the_admin_key(own_settings: Settings) -> None:
    with TestClient(create_app(own_settings)) as client:
        response = client.post("/models/fraud/promote", json={"version": 1})
        assert response.status_code == 403
        assert "SCORER_ADMIN_KEY" in response.json()["detail"]
    keyed = with_admin_key(own_settings)
    with TestClient(create_app(keyed)) as client:
        assert client.post("/models/fraud/promote", json={"version": 1}).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        response = client.post("/models/fraud/promote", json={"version": 1}, headers=wrong)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        response = client.post("/models/fraud/promote", json={"version": 9}, headers=ADMIN)
        assert response.status_code == 404
        response = client.post("/models/nope/promote", json={"version": 1}, headers=ADMIN)
        assert response.status_code == 404


def test_promotion_through_the_api_swaps_without_restart(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    body = {"entities": entities(demo_repo, 3, 1)}
    with TestClient(create_app(settings)) as client:
        assert client.post("/score", json=body).json()["version"] == 1
        response = client.post("/models/fraud/promote", json={"version": v2}, headers=ADMIN)
        assert response.status_code == 200, response.text
        assert response.json()["aliases"]["champion"] == v2
        assert client.post("/score", json=body).json()["version"] == v2
        assert client.get("/models/fraud").json()["served_version"] == v2
        metrics = client.get("/metrics").text
        assert 'scorer_model_served_version{model="fraud"} 2.0' in metrics


def test_promotion_by_another_process_is_picked_up(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    v2 = register_copy_of_v1(own_settings)
    body = {"entities": entities(demo_repo, 3, 2)}
    with TestClient(create_app(own_settings)) as client:
        assert client.post("/score", json=body).json()["version"] == 1
        ModelRegistry(own_settings.models_dir).set_alias("fraud", "champion", v2)
        deadline = time.monotonic() + 20
        versions = []
        while time.monotonic() < deadline:
            response = client.post("/score", json=body)
            assert response.status_code == 200
            versions.append(response.json()["version"])
            if versions[-1] == v2:
                break
            time.sleep(0.05)
        assert versions[-1] == v2
        assert set(versions) <= {1, v2}


def test_a_broken_new_version_keeps_the_old_one_serving(
    own_settings: Settings, demo_repo: DemoRepo, caplog: pytest.LogCaptureFixture
) -> None:
    v2 = register_copy_of_v1(own_settings)
    registry = ModelRegistry(own_settings.models_dir)
    (registry.version_dir("fraud", v2) / "model.txt").write_text("garbage")
    body = {"entities": entities(demo_repo, 2, 3)}
    caplog.set_level(logging.ERROR, logger="scoring.serving.reload")
    with TestClient(create_app(own_settings)) as client:
        # The registry refuses to promote it: the alias file is changed behind its back, as
        # by a registry copied from another host.
        write_atomically(registry.aliases_path("fraud"), b'{"champion": %d}' % v2)
        # The watcher's own word that it saw the promotion and refused it.
        deadline = time.monotonic() + 30
        while not (refusals := [m for m in caplog.messages if m.startswith("not reloading: ")]):
            assert time.monotonic() < deadline, "the watcher never looked at the promotion"
            time.sleep(0.02)
        assert f"fraud v{v2}" in refusals[0]
        response = client.post("/score", json=body)
        assert response.status_code == 200
        assert response.json()["version"] == 1
    shutil.rmtree(registry.version_dir("fraud", v2))
