"""Shared fixtures: a real redis-server, a real Feast repo, a real trained model."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from features.store import open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.train import TrainingResult, train_model
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.canaries import CanaryModels, train_canaries
from tests.utils.repo import DemoRepo, make_demo_repo


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisServer]:
    """A redis-server of the tests' own on a free port; fails (never skips) if none can start."""
    server = LocalRedisServer(free_port(), tmp_path_factory.mktemp("redis"))
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(f"the tests need a local redis-server: {exc}")
    yield server
    server.stop()


@pytest.fixture(scope="session")
def demo_repo(tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedisServer) -> DemoRepo:
    """The demo feature repo, applied and materialized into the tests' Redis."""
    return make_demo_repo(tmp_path_factory.mktemp("demo"), redis_server.connection_string)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The service's data dir (registry, logs) shared by the session's trained model."""
    return tmp_path_factory.mktemp("scorer-data")


@pytest.fixture(scope="session")
def trained(demo_repo: DemoRepo, data_dir: Path) -> TrainingResult:
    """``fraud`` v1 trained on the small demo data and promoted to champion."""
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    return train_model(
        store,
        ModelRegistry(data_dir / "models"),
        model_name="fraud",
        feature_service="fraud_v1",
        labels=demo_repo.data.transactions,
        label_column="is_fraud",
        promote=True,
        labels_source=str(demo_repo.path / "data" / "transactions.parquet"),
    )


@pytest.fixture(scope="session")
def canary_models(
    tmp_path_factory: pytest.TempPathFactory,
    demo_repo: DemoRepo,
    data_dir: Path,
    trained: TrainingResult,
) -> CanaryModels:
    """``fraud`` v1 plus two canaries trained for real: a retrain, and one on inverted labels."""
    return train_canaries(tmp_path_factory.mktemp("canaries"), data_dir / "models", demo_repo)


@pytest.fixture
def settings(demo_repo: DemoRepo, data_dir: Path, trained: TrainingResult) -> Settings:
    """Service settings pointing at the demo repo, the tests' Redis and the trained model."""
    return Settings(
        feature_repo=demo_repo.path,
        data_dir=data_dir,
        online_store=demo_repo.online_store,
        max_batch_rows=500,
        online_timeout_s=2.0,
    )


@pytest.fixture
def own_settings(settings: Settings, tmp_path: Path) -> Settings:
    """Like ``settings`` but with a private copy of the registry and its own logs."""
    shutil.copytree(settings.data_dir / "models", tmp_path / "models")
    return settings.model_copy(update={"data_dir": tmp_path, "reload_interval_s": 0.1})
