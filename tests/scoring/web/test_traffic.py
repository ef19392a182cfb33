"""Canary and shadow versions through the HTTP API: who answers, and what the log holds."""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from typing import Any

import httpx2 as httpx
from fastapi.testclient import TestClient

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.server import ServerProcess
from tests.utils.serving import ADMIN, entities, read_log, register_copy_of_v1, with_admin_key

CANARY_SHARE = 0.25


def distinct_entities(demo_repo: DemoRepo, n: int) -> list[dict[str, Any]]:
    """``n`` real rows of the demo data, no two of the same (customer, merchant)."""
    tx = demo_repo.data.transactions.drop_duplicates(["customer_id", "merchant_id"]).head(n)
    assert len(tx) == n
    return [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in tx[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]


def entity(row: dict[str, Any]) -> tuple[int, int]:
    return row["customer_id"], row["merchant_id"]


def within_binomial_bounds(picked: int, n: int, weight: float) -> bool:
    """Within 4 standard deviations of a share ``weight`` of ``n``: a fair split strays further
    with probability under 1e-4, and the split being a fixed hash, never from run to run."""
    return abs(picked / n - weight) <= 4 * math.sqrt(weight * (1 - weight) / n)


def versions_by_entity(
    client: TestClient, rows: list[dict[str, Any]], per_request: int
) -> tuple[dict[tuple[int, int], int], list[dict[str, Any]]]:
    """Each entity's answering version, sending ``per_request`` rows a request; the answers."""
    versions: dict[tuple[int, int], int] = {}
    answers = []
    for start in range(0, len(rows), per_request):
        part = rows[start : start + per_request]
        response = client.post("/score", json={"entities": part})
        assert response.status_code == 200, response.text
        answer = response.json()
        answers.append(answer)
        for row, prediction in zip(part, answer["predictions"], strict=True):
            versions[entity(row)] = prediction["version"]
    return versions, answers


def test_a_canary_answers_a_share_of_entities_each_keeping_its_version(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    v2 = register_copy_of_v1(own_settings)
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "canary", v2, CANARY_SHARE)
    rows = distinct_entities(demo_repo, 1000)
    with TestClient(create_app(own_settings)) as client:
        first, answers = versions_by_entity(client, rows, per_request=1)
        served = client.get("/models/fraud").json()["served"]
        metrics = client.get("/metrics").text
    # A second pass, in another service instance, with the rows in requests of 50.
    with TestClient(create_app(own_settings)) as client:
        second, batched = versions_by_entity(client, rows, per_request=50)
    assert first == second
    assert set(first.values()) == {1, v2}
    assert within_binomial_bounds(list(first.values()).count(v2), len(rows), CANARY_SHARE)
    # A single entity's answer is of that entity's version, as it always was.
    assert all(a["version"] == a["predictions"][0]["version"] for a in answers)
    assert served == {"champion": 1, "canary": v2, "canary_weight": 0.25, "shadow": None}
    assert f'scorer_model_canary_version{{model="fraud"}} {float(v2)}' in metrics
    assert 'scorer_model_canary_weight{model="fraud"} 0.25' in metrics
    logged = {
        (r["request_id"], r["customer_id"], r["merchant_id"]): (r["version"], r["route"])
        for r in read_log_rows(own_settings)
    }
    assert len(logged) == 2 * len(rows)
    sent = [
        *((a["request_id"], entity(row)) for a, row in zip(answers, rows, strict=True)),
        *((batched[i // 50]["request_id"], entity(row)) for i, row in enumerate(rows)),
    ]
    for request_id, key in sent:
        version = first[key]
        assert logged[(request_id, *key)] == (version, "canary" if version == v2 else "champion")


def test_a_served_process_splits_entities_as_every_other_does(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    v2 = register_copy_of_v1(own_settings)
    ModelRegistry(own_settings.models_dir).set_alias("fraud", "canary", v2, CANARY_SHARE)
    rows = distinct_entities(demo_repo, 1000)
    with TestClient(create_app(own_settings)) as client:
        here, _ = versions_by_entity(client, rows, per_request=100)
    server = ServerProcess(own_settings, workers=2).start()
    try:
        there: dict[tuple[int, int], int] = {}
        with httpx.Client(base_url=server.url, timeout=30) as http:
            for row in rows:  # one entity a request, over both workers
                response = http.post("/score", json={"entities": [row]})
                assert response.status_code == 200, response.text
                there[entity(row)] = response.json()["version"]
    finally:
        server.stop()
    assert there == here
    assert set(there.values()) == {1, v2}


def test_raising_the_weight_only_moves_entities_to_the_canary(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    settings = with_admin_key(own_settings)
    v2 = register_copy_of_v1(settings)
    rows = distinct_entities(demo_repo, 1000)
    canaries: list[set[tuple[int, int]]] = []
    with TestClient(create_app(settings)) as client:
        for weight in (0.1, 0.3, 0.6):
            change = {"alias": "canary", "version": v2, "weight": weight}
            response = client.post("/models/fraud/promote", json=change, headers=ADMIN)
            assert response.status_code == 200, response.text
            versions, _ = versions_by_entity(client, rows, per_request=100)
            canary = {key for key, version in versions.items() if version == v2}
            assert within_binomial_bounds(len(canary), len(rows), weight), (weight, len(canary))
            canaries.append(canary)
    for smaller, larger in itertools.pairwise(canaries):
        assert smaller < larger  # moved toward the canary, none back


def test_a_request_mixing_versions_answers_and_logs_each_row_with_its_own(
    own_settings: Settings, demo_repo: DemoRepo
) -> None:
    registry = ModelRegistry(own_settings.models_dir)
    v2, v3 = register_copy_of_v1(own_settings), register_copy_of_v1(own_settings)
    registry.set_alias("fraud", "canary", v2, 0.5)
    registry.set_alias("fraud", "shadow", v3)
    rows = distinct_entities(demo_repo, 200)
    with TestClient(create_app(own_settings)) as client:
        alone = [
            client.post("/score", json={"entities": [row], "include_features": True}).json()
            for row in rows
        ]
        mixed = client.post("/score", json={"entities": rows, "include_features": True}).json()
        canary_rows = [row for row, a in zip(rows, alone, strict=True) if a["version"] == v2]
        all_canary = client.post("/score", json={"entities": canary_rows[:5]}).json()
    predictions = mixed["predictions"]
    assert {p["version"] for p in predictions} == {1, v2}
    assert mixed["version"] == 1  # rows of both: the champion's
    assert all_canary["version"] == v2  # rows of one version: that version
    assert {p["version"] for p in all_canary["predictions"]} == {v2}
    # Each row in its place: the version, score and features it gets alone.
    for prediction, single in zip(predictions, alone, strict=True):
        (expected,) = single["predictions"]
        assert prediction == expected
    logged = [r for r in read_log_rows(own_settings) if r["request_id"] == mixed["request_id"]]
    by_route = Counter(r["route"] for r in logged)
    canary_count = sum(p["version"] == v2 for p in predictions)
    assert by_route == {
        "champion": len(rows) - canary_count, "canary": canary_count, "shadow": len(rows),
    }  # fmt: skip
    answered = {entity(row): p for row, p in zip(rows, predictions, strict=True)}
    for r in logged:
        prediction = answered[(r["customer_id"], r["merchant_id"])]
        if r["route"] == "shadow":
            assert r["version"] == v3
            continue
        assert r["version"] == prediction["version"]
        assert r["route"] == ("canary" if prediction["version"] == v2 else "champion")
        assert r["score"] == prediction["score"]


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
