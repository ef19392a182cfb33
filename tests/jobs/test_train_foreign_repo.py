"""Not hard-wired: a Feast repo unlike the demo goes through `scorer train` and serving."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from features.store import feast_apply, open_feature_store
from jobs.materialize import materialize_incremental
from scoring.settings import Settings
from scoring.web.app import create_app
from tests.utils.repo import make_foreign_repo

SCORER = str(Path(sys.executable).with_name("scorer"))


def run_scorer(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCORER_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [SCORER, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_train_and_serve_a_foreign_repo(tmp_path: Path) -> None:
    repo, labels = make_foreign_repo(tmp_path)
    feast_apply(repo, online_store="unused")
    materialize_incremental(open_feature_store(repo, "unused"))
    labels_file = tmp_path / "labels.csv"
    labels.to_csv(labels_file, index=False)
    data_dir = tmp_path / "scorer-data"

    done = run_scorer(
        "train", "--repo", str(repo), "--model", "rides", "--feature-service", "acceptance_v3",
        "--labels", str(labels_file), "--label-column", "accepted", "--promote",
        data_dir=data_dir,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rides v1: auc=" in done.stdout
    assert (data_dir / "models" / "rides" / "1" / "model.txt").is_file()

    settings = Settings(feature_repo=repo, data_dir=data_dir, online_store="unused")
    with TestClient(create_app(settings)) as client:
        entities = [
            {"driver_ref": "drv-0007"},
            {"driver_ref": "drv-0123"},
            {"driver_ref": "nobody"},
        ]
        response = client.post("/score", json={"entities": entities, "include_features": True})
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["model"], body["version"]) == ("rides", 1)

        store = open_feature_store(repo, "unused")
        expected = store.get_online_features(
            features=store.get_feature_service("acceptance_v3"),
            entity_rows=entities,
            full_feature_names=True,
        ).to_dict()
        for i, prediction in enumerate(body["predictions"]):
            assert set(prediction["features"]) == {
                "driver_stats__conv_rate", "driver_stats__trips_today", "driver_stats__vehicle"
            }  # fmt: skip
            for name, value in prediction["features"].items():
                assert value == pytest.approx(expected[name][i]), (i, name)
        assert body["predictions"][2]["missing"] == sorted(body["predictions"][2]["features"])

        response = client.post("/score", json={"entities": [{"driver": "drv-0007"}]})
        assert response.status_code == 422
        assert "missing join key 'driver_ref'" in response.json()["detail"]
        assert client.get("/health/ready").status_code == 200


NON_SCALAR = """
from feast.types import Array, Float32
embeddings = FeatureView(
    name="driver_embeddings",
    entities=[driver],
    ttl=timedelta(days=30),
    schema=[Field(name="embedding", dtype=Array(Float32))],
    source=stats_source,
)
with_embeddings = FeatureService(name="with_embeddings", features=[driver_stats, embeddings])
"""


def test_train_refuses_non_scalar_features(tmp_path: Path) -> None:
    repo, labels = make_foreign_repo(tmp_path)
    with (repo / "definitions.py").open("a") as file:
        file.write(NON_SCALAR)
    feast_apply(repo, online_store="unused")
    labels_file = tmp_path / "labels.parquet"
    labels.to_parquet(labels_file)

    done = run_scorer(
        "train", "--repo", str(repo), "--model", "emb", "--feature-service", "with_embeddings",
        "--labels", str(labels_file), "--label-column", "accepted",
        data_dir=tmp_path / "scorer-data",
    )  # fmt: skip
    assert done.returncode == 1
    assert "driver_embeddings__embedding" in done.stderr
    assert "scalar features only" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "scorer-data" / "models" / "emb").exists()


def test_train_names_missing_label_columns(tmp_path: Path) -> None:
    repo, labels = make_foreign_repo(tmp_path)
    feast_apply(repo, online_store="unused")
    labels_file = tmp_path / "labels.csv"
    labels.drop(columns=["driver_ref"]).to_csv(labels_file, index=False)
    done = run_scorer(
        "train", "--repo", str(repo), "--model", "rides", "--feature-service", "acceptance_v3",
        "--labels", str(labels_file), "--label-column", "accepted",
        data_dir=tmp_path / "scorer-data",
    )  # fmt: skip
    assert done.returncode == 1
    assert "labels lack column(s) ['driver_ref']" in done.stderr
