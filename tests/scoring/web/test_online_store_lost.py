"""An online store that lost its data under a running service: seen, refused if so set, refilled."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from features.loaded_marker import CHECK_MAX_AGE_S, marker_key, read_marker
from features.store import open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_all
from jobs.runner import JobRunner
from scoring.cli import app as cli_app
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import DemoRepo
from tests.utils.serving import entities

STORED = 12
"""Features of ``fraud_v1`` read from the online store; the other two are computed on demand."""
ON_DEMAND_FROM_REQUEST = "transaction_features__amount_log"
"""Computed from the request alone: there whatever the store holds."""


def nothing_stored(prediction: dict[str, Any]) -> bool:
    """Every stored feature missing; the request-only on-demand feature still there."""
    missing = prediction["missing"]
    return len(missing) >= STORED and ON_DEMAND_FROM_REQUEST not in missing


@pytest.fixture
def own_store(demo_repo: DemoRepo, own_settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Settings on a copy of the demo repo, fully loaded into a redis-server of the test's own."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo)  # with its registry: Feast's watermark says "done"
    with LocalRedisServer(free_port(), tmp_path / "redis") as server:
        materialize_all(open_feature_store(repo, server.connection_string))
        yield own_settings.model_copy(
            update={"feature_repo": repo, "online_store": server.connection_string}
        )


def flush(settings: Settings) -> None:
    """What an operator's ``FLUSHALL`` (or a Redis restarted empty) does to the store."""
    host, port = settings.online_store_address()
    with redis.Redis(host=host, port=port) as client:
        client.flushall()
    time.sleep(CHECK_MAX_AGE_S + 0.2)  # past the readiness check's cache


def metric(client: TestClient, name: str) -> float | None:
    """The value of one sample on ``/metrics``, or None if it is not there."""
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return None


def score(client: TestClient, rows: list[dict[str, Any]]) -> Any:
    return client.post("/score", json={"entities": rows})


def test_readiness_and_metrics_see_the_loss_and_the_job_refills(
    own_store: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 20, seed=3)
    with TestClient(create_app(own_store)) as client:
        assert client.get("/health/ready").status_code == 200
        assert metric(client, "scorer_online_store_loaded") == 1.0
        before = score(client, rows).json()["predictions"]
        assert sum(len(p["missing"]) for p in before) < 3 * len(rows)

        flush(own_store)
        ready = client.get("/health/ready")
        assert ready.status_code == 503
        assert ready.headers["Retry-After"]
        assert ready.headers["Content-Type"] == "application/problem+json"
        assert "scorer materialize --full" in ready.json()["detail"]
        assert metric(client, "scorer_online_store_loaded") == 0.0

        # The default policy still scores, and counts every row with nothing from the store.
        lost = score(client, rows)
        assert lost.status_code == 200
        assert all(nothing_stored(p) for p in lost.json()["predictions"])
        counted = metric(client, 'scorer_rows_without_stored_features_total{model="fraud"}')
        assert counted == len(rows)

        record = JobRunner(own_store).run("materialize")
        assert record.outcome == "ok", record.detail
        assert record.produced["full_reload"] is True
        assert "no loaded marker" in record.produced["reason"]
        time.sleep(CHECK_MAX_AGE_S + 0.2)
        assert client.get("/health/ready").status_code == 200
        assert metric(client, "scorer_online_store_loaded") == 1.0
        assert score(client, rows).json()["predictions"] == before

        # Once loaded, the next scheduled run is incremental again.
        again = JobRunner(own_store).run("materialize")
        assert again.outcome == "ok"
        assert again.produced["full_reload"] is False


def test_reject_policy_answers_503_for_rows_with_nothing_from_the_store(
    own_store: Settings, demo_repo: DemoRepo
) -> None:
    rows = entities(demo_repo, 3, seed=4)
    unknown = {"customer_id": 10**9, "merchant_id": 10**9, "amount": 5.0}
    with TestClient(create_app(own_store.model_copy(update={"all_missing": "reject"}))) as client:
        assert score(client, rows).status_code == 200
        # A new entity among known ones is scored: the store clearly has data.
        mixed = score(client, [*rows, unknown])
        assert mixed.status_code == 200
        assert nothing_stored(mixed.json()["predictions"][-1])

        flush(own_store)
        refused = score(client, rows)
        assert refused.status_code == 503
        assert refused.headers["Retry-After"]
        problem = refused.json()
        assert problem["title"] == "Online features missing"
        assert "scorer materialize --full" in problem["detail"]
        counted = metric(client, 'scorer_rows_without_stored_features_total{model="fraud"}')
        assert counted == 1 + len(rows)


def test_jobs_run_materialize_on_the_command_line_reloads_in_full(
    own_store: Settings, demo_repo: DemoRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = entities(demo_repo, 10, seed=5)
    with TestClient(create_app(own_store)) as client:
        before = score(client, rows).json()["predictions"]
        flush(own_store)
        assert client.get("/health/ready").status_code == 503

        for name, value in {
            "SCORER_FEATURE_REPO": own_store.feature_repo,
            "SCORER_DATA_DIR": own_store.data_dir,
            "SCORER_ONLINE_STORE": own_store.online_store,
        }.items():
            monkeypatch.setenv(name, str(value))
        done = CliRunner().invoke(cli_app, ["jobs", "run", "materialize"])
        assert done.exit_code == 0, done.output
        record = orjson.loads(done.stdout[done.stdout.index("{") :])
        assert record["outcome"] == "ok"
        assert record["produced"]["full_reload"] is True

        time.sleep(CHECK_MAX_AGE_S + 0.2)
        assert client.get("/health/ready").status_code == 200
        assert score(client, rows).json()["predictions"] == before
    marker = read_marker(open_feature_store(own_store.feature_repo, own_store.online_store))
    assert marker is not None
    assert marker.full_reload
    assert marker_key("fraud") == "scorer:online-store-loaded:fraud"
