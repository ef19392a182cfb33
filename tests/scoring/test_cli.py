"""The `scorer` console script as a user runs it: materialize, data, drift, jobs run, mistakes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import redis
from fastapi.testclient import TestClient

from features.store import ONLINE_STORE_ENV, feast_apply, open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_incremental
from jobs.train import TrainingResult
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import ROOT, DemoRepo
from tests.utils.serving import entities, read_log

SCORER = str(Path(sys.executable).with_name("scorer"))
TABLES = ("customer_profile", "customer_activity", "merchant_risk", "transactions")
BATCH_VIEWS = {"customer_profile", "customer_activity", "merchant_risk"}
TINY_DATA = ("--customers", "300", "--merchants", "40", "--transactions", "3000", "--days", "5")


@dataclass(frozen=True)
class Place:
    """Where a `scorer` command works: a Feast repo, an online store and a data dir."""

    repo: Path
    online_store: str
    data_dir: Path

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run the console script with only these settings in its environment."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
        env |= {
            "SCORER_FEATURE_REPO": str(self.repo),
            "SCORER_ONLINE_STORE": self.online_store,
            "SCORER_DATA_DIR": str(self.data_dir),
        }
        return subprocess.run(
            [SCORER, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def redis(self) -> redis.Redis:
        host, _, port = self.online_store.rpartition(":")
        return redis.Redis(host=host, port=int(port))


def assert_ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def assert_user_mistake(done: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """A user's mistake: exit code 1 or 2, one line on stderr saying what, no traceback."""
    assert done.returncode in (1, 2), (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    for fragment in fragments:
        assert fragment in done.stderr, done.stderr
    assert done.stdout == ""


@pytest.fixture(scope="module", autouse=True)
def online_store_env_restored() -> Iterator[None]:
    """Opening a store points the process's environment at this module's Redis servers (they
    stop with it): the tests after this module see what they saw before."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(ONLINE_STORE_ENV, os.environ.get(ONLINE_STORE_ENV, ""))
        yield


@pytest.fixture(scope="module")
def module_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisServer]:
    """This module's own redis-server: its commands never touch the session's online store."""
    with LocalRedisServer(free_port(), tmp_path_factory.mktemp("cli-redis")) as server:
        yield server


@pytest.fixture(scope="module")
def applied_repo(
    tmp_path_factory: pytest.TempPathFactory, demo_repo: DemoRepo, module_redis: LocalRedisServer
) -> Path:
    """A copy of the demo repo with the session's data, applied, never materialized: copy it."""
    repo = tmp_path_factory.mktemp("cli-applied") / "feature_repo"
    shutil.copytree(
        ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__")
    )
    demo_repo.data.write(repo / "data")
    feast_apply(repo, module_redis.connection_string)
    return repo


@pytest.fixture
def fresh(applied_repo: Path, tmp_path: Path) -> Iterator[Place]:
    """A private copy of the applied repo (Feast's watermark unset) and an empty Redis."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(applied_repo, repo)
    with LocalRedisServer(free_port(), tmp_path / "redis") as server:
        yield Place(repo, server.connection_string, tmp_path / "data")


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory,
    applied_repo: Path,
    module_redis: LocalRedisServer,
    data_dir: Path,
    trained: TrainingResult,
    demo_repo: DemoRepo,
) -> Place:
    """A materialized repo, a copy of the trained registry, and a log of 400 scored rows."""
    root = tmp_path_factory.mktemp("cli-served")
    repo = root / "feature_repo"
    shutil.copytree(applied_repo, repo)
    materialize_incremental(open_feature_store(repo, module_redis.connection_string))
    shutil.copytree(data_dir / "models", root / "data" / "models")
    place = Place(repo, module_redis.connection_string, root / "data")
    settings = Settings(feature_repo=repo, data_dir=place.data_dir, online_store=place.online_store)
    with TestClient(create_app(settings)) as client:
        for seed in range(4):
            body = {"entities": entities(demo_repo, 100, seed)}
            assert client.post("/score", json=body).status_code == 200
    return place


@pytest.fixture
def own_served(served: Place, tmp_path: Path) -> Place:
    """``served`` with a private copy of its data dir (registry and log) to change."""
    shutil.copytree(served.data_dir, tmp_path / "data")
    return Place(served.repo, served.online_store, tmp_path / "data")


def online_profile(place: Place, demo_repo: DemoRepo, n: int = 30) -> tuple[list[Any], list[Any]]:
    """What Feast's online read gives for ``n`` customers and merchants, and what it should."""
    profiles = demo_repo.data.customer_profile.set_index("customer_id").iloc[:n]
    merchants = demo_repo.data.merchant_risk.set_index("merchant_id").iloc[:n]
    rows = [
        {"customer_id": int(c), "merchant_id": int(m)}
        for c, m in zip(profiles.index, merchants.index, strict=True)
    ]
    store = open_feature_store(place.repo, place.online_store)
    got = store.get_online_features(
        features=["customer_profile:account_age_days", "merchant_risk:chargeback_rate_90d"],
        entity_rows=rows,
    ).to_dict()
    expected = [
        profiles["account_age_days"].tolist(),
        merchants["chargeback_rate_90d"].tolist(),
    ]
    return [got["account_age_days"], got["chargeback_rate_90d"]], expected


# scorer materialize


def test_materialize_loads_redis_and_full_reloads_a_store_that_lost_its_data(
    fresh: Place, demo_repo: DemoRepo
) -> None:
    before, _ = online_profile(fresh, demo_repo)
    assert before == [[None] * 30, [None] * 30]

    # Feast's own progress comes first; the command's summary is the last line.
    summary = assert_ok(fresh.run("materialize")).splitlines()[-1]
    views, _, end = summary.removeprefix("materialized ").partition(" up to ")
    assert set(views.split(", ")) == BATCH_VIEWS
    assert datetime.fromisoformat(end).tzinfo is not None
    got, expected = online_profile(fresh, demo_repo)
    assert got == expected

    # Feast's watermark says everything is loaded; only --full puts it back.
    fresh.redis().flushall()
    assert online_profile(fresh, demo_repo)[0] == [[None] * 30, [None] * 30]
    assert_ok(fresh.run("materialize", "--full"))
    got, expected = online_profile(fresh, demo_repo)
    assert got == expected


def test_materialize_names_a_folder_that_is_not_a_feast_repo(tmp_path: Path) -> None:
    missing = tmp_path / "a-folder-with-a-long-name-so-the-message-passes-eighty-columns"
    place = Place(tmp_path, "127.0.0.1:1", tmp_path / "data")
    done = place.run("materialize", "--repo", str(missing))
    assert_user_mistake(done, str(missing), "no feature_store.yaml")


# scorer data


def read_tables(folder: Path) -> dict[str, pd.DataFrame]:
    return {name: pd.read_parquet(folder / f"{name}.parquet") for name in TABLES}


def generated(place: Place, folder: Path, *args: str) -> dict[str, pd.DataFrame]:
    out = assert_ok(place.run("data", "--out", str(folder), *TINY_DATA, *args))
    assert out.splitlines() == [f"{name}: {folder / name}.parquet" for name in TABLES]
    assert sorted(p.name for p in folder.iterdir()) == sorted(f"{n}.parquet" for n in TABLES)
    return read_tables(folder)


def timestamp_shift(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> set[Any]:
    """How far ``b``'s timestamps are from ``a``'s (the data ends at the current hour)."""
    return {
        delta
        for name in TABLES
        for delta in (b[name]["event_timestamp"] - a[name]["event_timestamp"]).unique()
    }


def without_time(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: frame.drop(columns="event_timestamp") for name, frame in tables.items()}


def test_data_with_the_same_seed_writes_the_same_rows(tmp_path: Path) -> None:
    place = Place(tmp_path / "repo", "127.0.0.1:1", tmp_path / "data")
    first = generated(place, tmp_path / "a", "--seed", "5")
    again = generated(place, tmp_path / "b", "--seed", "5")
    other = generated(place, tmp_path / "c", "--seed", "6")
    assert len(first["transactions"]) == 3000
    assert first["customer_profile"]["customer_id"].max() <= 300
    # Equal but for the clock: the data ends at the current hour, which may have turned.
    assert {pd.Timedelta(d) % pd.Timedelta(hours=1) for d in timestamp_shift(first, again)} == {
        pd.Timedelta(0)
    }
    for name in TABLES:
        pd.testing.assert_frame_equal(without_time(first)[name], without_time(again)[name])
    assert not first["transactions"]["amount"].equals(other["transactions"]["amount"])


def test_data_shift_moves_only_the_shifted_features(tmp_path: Path) -> None:
    place = Place(tmp_path / "repo", "127.0.0.1:1", tmp_path / "data")
    base = without_time(generated(place, tmp_path / "base", "--seed", "5"))
    moved = without_time(generated(place, tmp_path / "moved", "--seed", "5", "--shift", "1.0"))

    tx, tx_moved = base["transactions"], moved["transactions"]
    np.testing.assert_allclose(tx_moved["amount"], np.round(tx["amount"] * 2.0, 2))
    pd.testing.assert_frame_equal(tx.drop(columns="amount"), tx_moved.drop(columns="amount"))
    risk, risk_moved = base["merchant_risk"], moved["merchant_risk"]
    np.testing.assert_allclose(
        risk_moved["chargeback_rate_90d"], np.minimum(risk["chargeback_rate_90d"] * 2.0, 1.0)
    )
    pd.testing.assert_frame_equal(
        risk.drop(columns="chargeback_rate_90d"), risk_moved.drop(columns="chargeback_rate_90d")
    )
    counts, counts_moved = (
        base["customer_activity"]["txn_count_1h"],
        moved["customer_activity"]["txn_count_1h"],
    )
    assert (counts_moved >= counts).all()
    assert counts_moved.mean() > counts.mean() + 2  # Poisson(3) more on average
    pd.testing.assert_frame_equal(
        base["customer_activity"].drop(columns="txn_count_1h"),
        moved["customer_activity"].drop(columns="txn_count_1h"),
    )
    pd.testing.assert_frame_equal(base["customer_profile"], moved["customer_profile"])


def test_data_refuses_a_negative_shift_in_one_line(tmp_path: Path) -> None:
    place = Place(tmp_path / "repo", "127.0.0.1:1", tmp_path / "data")
    done = place.run("data", "--out", str(tmp_path / "out"), *TINY_DATA, "--shift", "-1")
    assert_user_mistake(done, "shift must be >= 0")
    assert not (tmp_path / "out").exists()


# scorer drift

DRIFT_KEYS = {"model", "version", "window", "features", "prediction", "performance"}
DRIFT_KEYS |= {"drift_detected", "action"}


def test_drift_writes_json_and_html_reports_and_prints_a_summary(
    served: Place, tmp_path: Path
) -> None:
    # Part of the model's log, as one file: the report must be about this file alone.
    log = read_log(served.data_dir / "logs" / "predictions" / "model=fraud")
    assert log.num_rows == 400
    current = tmp_path / "current.parquet"
    pq.write_table(log.slice(0, 150), current)
    reports = tmp_path / "reports"
    out = assert_ok(
        served.run("drift", "--model", "fraud", "--current", str(current), "--out", str(reports))
    )

    [json_path] = reports.glob("drift-fraud-*.json")
    [html_path] = reports.glob("drift-fraud-*.html")
    assert json_path.with_suffix(".html") == html_path
    report = json.loads(json_path.read_text())
    assert set(report) >= DRIFT_KEYS
    assert (report["model"], report["version"]) == ("fraud", 1)
    assert {"start", "end", "rows"} <= set(report["window"])
    assert report["window"]["rows"] == 150
    manifest = ModelRegistry(served.data_dir / "models").manifest("fraud", 1)
    features = manifest.feature_schema.feature_names
    assert sorted(f["name"] for f in report["features"]) == sorted(features)
    assert all({"name", "kind", "drifted"} <= set(f) for f in report["features"])
    assert report["performance"] is None  # no labels were fed back
    assert report["action"] in {"none", "warn", "retrain"}
    assert isinstance(report["drift_detected"], bool)
    assert html_path.read_text().lstrip().lower().startswith("<!doctype html")

    lines = out.splitlines()
    assert lines[0].startswith(f"drift check fraud v1: {report['action'].upper()} (150 rows")
    assert f"report: {json_path}" in out
    assert str(html_path) in out


def test_drift_into_the_models_reports_folder_updates_its_index(own_served: Place) -> None:
    assert_ok(own_served.run("drift", "--model", "fraud"))
    folder = own_served.data_dir / "reports" / "fraud"
    [json_path] = folder.glob("drift-fraud-*.json")
    index = (folder / "index.html").read_text()
    assert index.count('<tr class="run">') == 1
    assert f'href="{json_path.with_suffix(".html").name}"' in index


@pytest.mark.parametrize(
    "name",
    [
        "a-model-nobody-registered-with-a-name-long-enough-to-wrap",
        "[red]not-markup",  # printed as typed, not read as a style
    ],
)
def test_drift_of_an_unknown_model_is_one_line(served: Place, tmp_path: Path, name: str) -> None:
    done = served.run("drift", "--model", name, "--out", str(tmp_path))
    # A name that could never be a model's is refused by the registry as such.
    valid = not name.startswith("[")
    expected = "no model named {!r} is registered" if valid else "model name {!r} must be"
    assert_user_mistake(done, expected.format(name))
    assert list(tmp_path.iterdir()) == []


def test_drift_of_a_missing_log_file_is_one_line(served: Place, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-log.parquet"
    done = served.run(
        "drift", "--model", "fraud", "--current", str(missing), "--out", str(tmp_path)
    )
    assert_user_mistake(done, str(missing))


# scorer jobs run


def run_record(place: Place, job: str, *args: str) -> dict[str, Any]:
    """Run one job, check its printed record is the one appended to its runs file."""
    out = assert_ok(place.run("jobs", "run", job, *args))
    printed: dict[str, Any] = json.loads(out)
    runs = (place.data_dir / "jobs" / "runs" / f"{job}.jsonl").read_text().splitlines()
    # A run writes a line as it starts (found as crashed if it dies) and one as it ends.
    lines = [json.loads(line) for line in runs]
    assert [(line["run_id"], line["outcome"]) for line in lines[:-1]] == [
        (printed["run_id"], "running")
    ]
    assert lines[-1] == printed
    assert (printed["job"], printed["outcome"]) == (job, "ok")
    return printed


def test_jobs_run_materialize_records_the_run_and_loads_redis(
    fresh: Place, demo_repo: DemoRepo
) -> None:
    record = run_record(fresh, "materialize")
    assert set(record["produced"]["feature_views"]) == BATCH_VIEWS
    got, expected = online_profile(fresh, demo_repo)
    assert got == expected


def test_jobs_run_drift_records_the_run_and_writes_the_reports(own_served: Place) -> None:
    record = run_record(own_served, "drift")
    produced = record["produced"]["fraud"]
    assert produced["rows"] == 400
    assert produced["action"] in {"none", "warn"}  # a model trained minutes ago is not retrained
    report = json.loads(Path(produced["report_json"]).read_text())
    assert (report["model"], report["window"]["rows"]) == ("fraud", 400)
    assert Path(produced["report_html"]).is_file()
    assert Path(produced["report_json"]).parent == own_served.data_dir / "reports" / "fraud"


def test_jobs_run_retrain_changes_only_its_own_registry(own_served: Place, data_dir: Path) -> None:
    session_registry = ModelRegistry(data_dir / "models")
    session_before = (session_registry.versions("fraud"), session_registry.aliases("fraud"))

    record = run_record(own_served, "retrain", "--model", "fraud")
    retrained = record["produced"]["fraud"]
    registry = ModelRegistry(own_served.data_dir / "models")
    assert retrained["candidate_version"] == max(registry.versions("fraud"))
    assert retrained["champion_version"] == 1
    expected_champion = retrained["candidate_version"] if retrained["promoted"] else 1
    assert registry.aliases("fraud").champion == expected_champion
    if retrained["promoted"]:
        last = registry.history("fraud")[-1]
        assert (last["who"], last["new"]) == ("job", expected_champion)
        assert last["why"].startswith("retrain: candidate AUC")
    assert (session_registry.versions("fraud"), session_registry.aliases("fraud")) == session_before


def test_jobs_run_an_unknown_job_is_one_line(served: Place, tmp_path: Path) -> None:
    place = Place(served.repo, served.online_store, tmp_path / "data")
    done = place.run("jobs", "run", "nosuch")
    assert_user_mistake(done, "unknown job 'nosuch'", "materialize, drift, retrain")
    assert not (tmp_path / "data" / "jobs").exists()


def test_jobs_run_for_an_unknown_model_is_one_line(own_served: Place) -> None:
    done = own_served.run("jobs", "run", "drift", "--model", "nosuch")
    assert_user_mistake(done, "'nosuch'")


# scorer serve


def test_serve_names_a_feature_repo_that_is_not_one(served: Place, tmp_path: Path) -> None:
    place = Place(tmp_path / "not-a-repo", served.online_store, served.data_dir)
    done = place.run("serve", "--port", "0", "--workers", "2")
    assert_user_mistake(done, f"{tmp_path / 'not-a-repo'} has no feature_store.yaml")
