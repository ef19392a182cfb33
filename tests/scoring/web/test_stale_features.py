"""Feature values older than their view's ttl: scored as missing, named, logged and counted."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from features.store import open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_all
from scoring.log.schema import predictions_dir
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import read_log

ACTIVITY = {
    "customer_activity__txn_count_1h",
    "customer_activity__txn_amount_1h",
    "customer_activity__txn_count_24h",
}
"""The demo's ``customer_activity`` view, whose ttl is two days."""
TTL = timedelta(days=2)


@pytest.fixture
def loaded(demo_repo: DemoRepo, own_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A store loaded in full: every customer's latest activity, however old (many are)."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo)
    with LocalRedisServer(free_port(), tmp_path / "redis") as server:
        materialize_all(open_feature_store(repo, server.connection_string))
        yield own_settings.model_copy(
            update={"feature_repo": repo, "online_store": server.connection_string}
        )


def customers(demo_repo: DemoRepo, stale: bool, n: int = 6) -> list[int]:
    """Customers whose latest activity is well past the ttl, or well within it."""
    latest = demo_repo.data.customer_activity.groupby("customer_id")["event_timestamp"].max()
    cutoff = datetime.now(UTC) - TTL
    margin = timedelta(hours=2)
    chosen = latest[latest < cutoff - margin] if stale else latest[latest > cutoff + margin]
    assert len(chosen) >= n, "the demo data has too few customers of this kind"
    return [int(c) for c in chosen.index[:n]]


def rows(demo_repo: DemoRepo) -> tuple[list[dict[str, Any]], list[bool]]:
    old, fresh = customers(demo_repo, stale=True), customers(demo_repo, stale=False)
    merchant = int(demo_repo.data.merchant_risk["merchant_id"].iloc[0])
    entities = [{"customer_id": c, "merchant_id": merchant, "amount": 10.0} for c in old + fresh]
    return entities, [True] * len(old) + [False] * len(fresh)


def test_values_older_than_the_ttl_are_missing_stale_logged_and_counted(
    loaded: Settings, demo_repo: DemoRepo
) -> None:
    entities, old = rows(demo_repo)
    with TestClient(create_app(loaded)) as client:
        body = {"entities": entities, "include_features": True}
        predictions = client.post("/score", json=body).json()["predictions"]
        metrics = client.get("/metrics").text
    for prediction, is_old in zip(predictions, old, strict=True):
        if is_old:
            assert set(prediction["stale"]) == ACTIVITY
            assert set(prediction["missing"]) >= ACTIVITY
            assert all(prediction["features"][name] is None for name in ACTIVITY)
        else:
            assert prediction["stale"] == []
            assert not ACTIVITY & set(prediction["missing"])
    sample = 'scorer_features_stale_total{feature="customer_activity__txn_count_1h",model="fraud"}'
    assert f"{sample} {float(sum(old))}" in metrics

    logged = read_log(predictions_dir(loaded.data_dir)).to_pylist()
    by_customer = {row["customer_id"]: row for row in logged}
    for entity, prediction in zip(entities, predictions, strict=True):
        row = by_customer[entity["customer_id"]]
        assert row["stale_count"] == len(prediction["stale"])
        assert row["missing_count"] == len(prediction["missing"])


def test_metrics_count_missing_and_stale_values_per_feature(
    loaded: Settings, demo_repo: DemoRepo
) -> None:
    entities, old = rows(demo_repo)
    with TestClient(create_app(loaded)) as client:
        predictions = []
        for _ in range(2):
            predictions += client.post("/score", json={"entities": entities}).json()["predictions"]
        families = text_string_to_metric_families(client.get("/metrics").text)
    # Exactly the features some answer listed: one never missing has no series at all.
    counted: dict[str, dict[str, float]] = {"missing": {}, "stale": {}}
    for family in families:
        for sample in family.samples:
            kind = sample.name.removeprefix("scorer_features_").removesuffix("_total")
            if kind in counted and sample.name.endswith("_total"):
                assert sample.labels["model"] == "fraud"
                counted[kind][sample.labels["feature"]] = sample.value
    for kind, by_feature in counted.items():
        expected = Counter(name for p in predictions for name in p[kind])
        assert by_feature == {name: float(n) for name, n in expected.items()}, kind
    assert set(counted["stale"]) == ACTIVITY
    assert counted["stale"]["customer_activity__txn_count_1h"] == 2 * sum(old)


def test_serve_turns_enforcement_off(loaded: Settings, demo_repo: DemoRepo) -> None:
    entities, old = rows(demo_repo)
    with TestClient(create_app(loaded.model_copy(update={"stale_features": "serve"}))) as client:
        body = {"entities": entities, "include_features": True}
        predictions = client.post("/score", json=body).json()["predictions"]
    assert all(p["stale"] == [] for p in predictions)
    for prediction, is_old in zip(predictions, old, strict=True):
        assert not ACTIVITY & set(prediction["missing"]), is_old
