"""Canary and shadow versions through the HTTP API: who answers, and what the log holds."""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from fastapi.testclient import TestClient

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import ADMIN, entities, read_log, register_copy_of_v1, with_admin_key


def test_a_canary_answers_its_share_and_is_logged_on_its_route(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    v2 = register_copy_of_v1(own_settings)
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "canary", v2, 0.25)
    bodies = [{"entities": entities(demo_repo, 1, seed)} for seed in range(40)]
    with TestClient(create_app(own_settings)) as client:
        answers = [client.post("/score", json=body).json() for body in bodies]
        served = client.get("/models/fraud").json()["served"]
        metrics = client.get("/metrics").text
    assert Counter(a["version"] for a in answers) == {1: 30, v2: 10}
    assert [a["version"] for a in answers[:4]] == [1, 1, 1, v2]  # spread, not bunched
    assert served == {"champion": 1, "canary": v2, "canary_weight": 0.25, "shadow": None}
    assert f'scorer_model_canary_version{{model="fraud"}} {float(v2)}' in metrics
    assert 'scorer_model_canary_weight{model="fraud"} 0.25' in metrics
    logged = {r["request_id"]: (r["version"], r["route"]) for r in read_log_rows(own_settings)}
    for answer in answers:
        route = "canary" if answer["version"] == v2 else "champion"
        assert logged[answer["request_id"]] == (answer["version"], route)


def read_log_rows(settings: Settings) -> list[dict[str, Any]]:
    return read_log(settings.data_dir / "logs" / "predictions").to_pylist()


def test_a_shadow_scores_every_row_unseen(own_settings: Settings, demo_repo: DemoRepo) -> None:
    v2 = register_copy_of_v1(own_settings)
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "shadow", v2)
    bodies = [{"entities": entities(demo_repo, n, seed)} for seed, n in enumerate([1, 3, 1, 7])]
    with TestClient(create_app(own_settings)) as client:
        answers = [client.post("/score", json=body).json() for body in bodies]
    # Leaving the lifespan waited for the shadows and closed the log.
    assert {a["version"] for a in answers} == {1}
    rows = read_log_rows(own_settings)
    assert Counter((r["version"], r["route"]) for r in rows) == {
        (1, "champion"): 12,
        (v2, "shadow"): 12,
    }
    by_route: dict[str, dict[tuple[str, int], float]] = {"champion": {}, "shadow": {}}
    for r in rows:
        by_route[r["route"]][(r["request_id"], r["customer_id"])] = r["score"]
    # The same rows of the same requests, scored by the same booster: the same scores.
    assert by_route["shadow"] == by_route["champion"]
    assert {request_id for request_id, _ in by_route["shadow"]} == {
        a["request_id"] for a in answers
    }


def test_a_failing_shadow_leaves_the_answers_alone(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    # A shadow that needs a request field these clients do not send: it can score nothing.
    v1 = ModelRegistry(own_settings.models_dir).manifest("fraud", 1)
    schema = v1.feast_schema
    request_fields = [*schema["request_fields"], {"name": "channel", "type": "string"}]
    v2 = register_copy_of_v1(
        own_settings, feast_schema={**schema, "request_fields": request_fields}
    )
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "shadow", v2)
    with TestClient(create_app(own_settings)) as client:
        for seed in range(3):
            response = client.post("/score", json={"entities": entities(demo_repo, 2, seed)})
            assert response.status_code == 200
            assert response.json()["version"] == 1
        # Shadows run after the answer: give the last one a moment (bounded) to fail.
        for _ in range(100):
            metrics = client.get("/metrics").text
            if "scorer_shadow_failures_total 3.0" in metrics:
                break
            time.sleep(0.05)
    assert "scorer_shadow_failures_total 3.0" in metrics
    assert {r["route"] for r in read_log_rows(own_settings)} == {"champion"}


def test_canary_and_shadow_follow_the_promote_api_without_restart(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    body = {"entities": entities(demo_repo, 1, 0)}

    def promote(change: dict[str, Any]) -> dict[str, Any]:
        response = client.post("/models/fraud/promote", json=change, headers=ADMIN)
        assert response.status_code == 200, response.text
        served: dict[str, Any] = client.get("/models/fraud").json()["served"]
        return served

    with TestClient(create_app(settings)) as client:
        assert promote({"alias": "canary", "version": v2, "weight": 1.0})["canary"] == v2
        assert {client.post("/score", json=body).json()["version"] for _ in range(3)} == {v2}
        # Without a share a canary is not served, and the champion answers everything.
        assert promote({"alias": "canary", "version": v2, "weight": 0.0})["canary"] is None
        assert {client.post("/score", json=body).json()["version"] for _ in range(3)} == {1}
        assert promote({"alias": "shadow", "version": v2})["shadow"] == v2
        assert promote({"alias": "shadow", "version": None})["shadow"] is None
        response = client.post(
            "/models/fraud/promote",
            json={"alias": "canary", "version": v2, "weight": 2},
            headers=ADMIN,
        )
        assert response.status_code == 422
