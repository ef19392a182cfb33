"""POST /score over HTTP, through the app's lifespan, against real Redis, Feast and LightGBM."""

from __future__ import annotations

import gc
import json
import math
from collections.abc import Iterator

import lightgbm as lgb
import numpy as np
import pytest
from fastapi.testclient import TestClient

from features.store import open_feature_store
from scoring.serving.runtime import GC_YOUNG_THRESHOLD
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _entities(demo_repo: DemoRepo, n: int, seed: int = 0) -> list[dict[str, object]]:
    tx = demo_repo.data.transactions.sample(n, random_state=seed)
    return [
        {
            "customer_id": int(r.customer_id),
            "merchant_id": int(r.merchant_id),
            "amount": float(r.amount),
        }
        for r in tx.itertuples()
    ]


def test_score_one_entity(client: TestClient, demo_repo: DemoRepo) -> None:
    response = client.post("/score", json={"entities": _entities(demo_repo, 1)})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "fraud"
    assert body["version"] == 1
    assert len(body["request_id"]) == 32
    [prediction] = body["predictions"]
    assert 0.0 <= prediction["score"] <= 1.0
    assert prediction["label"] in (0, 1)
    assert isinstance(prediction["missing"], list)
    assert "features" not in prediction


def test_batch_scores_are_the_boosters_on_feasts_own_features(
    client: TestClient, demo_repo: DemoRepo, settings: Settings
) -> None:
    """The service's scores equal LightGBM's on a matrix built here from Feast's own answer."""
    entities = _entities(demo_repo, 200, seed=1)
    entities.append({"customer_id": 999_999_999, "merchant_id": 999_999, "amount": 12.0})
    response = client.post("/score", json={"model": "fraud", "entities": entities})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == len(entities)

    folder = settings.models_dir / "fraud" / "1"
    manifest = json.loads((folder / "manifest.json").read_text())
    booster = lgb.Booster(model_file=str(folder / "model.txt"))
    names = booster.feature_name()
    assert names == [f["name"] for f in manifest["feast_schema"]["features"]]
    # Feast's SDK reads the features and runs the on-demand view on the request's amount.
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    features = store.get_online_features(
        features=store.get_feature_service(manifest["feast_schema"]["feature_service"]),
        entity_rows=entities,
        full_feature_names=True,
    ).to_dict()
    levels = manifest["categorical_levels"]
    categorical = ["country", "card_type", "merchant_category"]
    assert sorted(name.split("__")[1] for name in levels) == sorted(categorical)
    matrix = np.full((len(entities), len(names)), np.nan)
    for j, name in enumerate(names):
        for i, value in enumerate(features[name]):
            if value is None:
                continue  # missing: NaN, as LightGBM was trained to take it
            if name in levels:  # a category's code is its position among the levels
                if value in levels[name]:
                    matrix[i, j] = levels[name].index(value)
            else:  # numbers, and booleans as 0 and 1
                matrix[i, j] = float(value)
    expected = booster.predict(matrix)
    got = np.array([p["score"] for p in predictions])
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    assert np.isnan(matrix[-1, names.index("customer_profile__avg_amount_30d")])
    threshold = manifest["postprocess"]["threshold"]
    negative, positive = manifest["postprocess"]["labels"]
    assert [p["label"] for p in predictions] == [
        positive if score >= threshold else negative for score in expected
    ]


def test_features_equal_feast_get_online_features(client: TestClient, demo_repo: DemoRepo) -> None:
    """Parity: what the service scored is what Feast's own SDK returns for the same rows."""
    entities = _entities(demo_repo, 300, seed=2)
    entities.append({"customer_id": 999_999_999, "merchant_id": 999_999, "amount": 12.0})
    response = client.post("/score", json={"entities": entities, "include_features": True})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]

    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    expected = store.get_online_features(
        features=store.get_feature_service("fraud_v1"),
        entity_rows=entities,
        full_feature_names=True,
    ).to_dict()
    names = list(predictions[0]["features"])
    assert len(names) == 14
    for i, prediction in enumerate(predictions):
        for name in names:
            want, got = expected[name][i], prediction["features"][name]
            if name in prediction["stale"]:
                # Older than its view's ttl: scored as missing, where Feast serves it anyway. The
                # demo's values age during the run, so some reach the ttl before this test.
                assert want is not None, (i, name)
                assert got is None, (i, name, got)
                assert name in prediction["missing"]
            elif want is None or (isinstance(want, float) and math.isnan(want)):
                assert got is None, (i, name, got)
                assert name in prediction["missing"]
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-6), (i, name)
            else:
                assert got == want, (i, name)
    unknown = predictions[-1]
    assert "customer_profile__avg_amount_30d" in unknown["missing"]
    assert "merchant_risk__merchant_category" in unknown["missing"]


def test_health_and_models(client: TestClient) -> None:
    assert client.get("/health/live").json() == {"status": "live"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200, ready.text
    assert ready.json()["models"] == {"fraud": 1}

    models = client.get("/models").json()["models"]
    assert [m["name"] for m in models] == ["fraud"]
    assert models[0]["aliases"]["champion"] == 1
    assert models[0]["feature_service"] == "fraud_v1"
    assert models[0]["versions"][0]["metrics"]["auc"] > 0.8

    fraud = client.get("/models/fraud").json()
    assert fraud["served_version"] == 1
    assert [k["name"] for k in fraud["inputs"]["join_keys"]] == ["customer_id", "merchant_id"]
    assert [f["name"] for f in fraud["inputs"]["request_fields"]] == ["amount"]
    assert 0 < fraud["postprocess"]["threshold"] < 1


def test_score_is_in_the_openapi_schema(own_settings: Settings) -> None:
    with TestClient(create_app(own_settings)) as client:
        schema = client.get("/openapi.json").json()
        assert client.get("/score").status_code == 405
    operation = schema["paths"]["/score"]["post"]
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["entities"]
    assert "/models/{name}/promote" in schema["paths"]


def test_young_collections_are_rarer_while_serving_and_restored_after(settings: Settings) -> None:
    before = gc.get_threshold()
    with TestClient(create_app(settings)) as client:
        assert client.get("/health/ready").status_code == 200
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *before[1:])
    assert gc.get_threshold() == before
