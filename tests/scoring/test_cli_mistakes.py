"""The `scorer` console script facing a newcomer's mistakes: one line on stderr, never a trace."""

from __future__ import annotations

import shutil
from importlib.metadata import version
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import redis

from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.train import TrainingResult
from scoring.model.registry import ModelRegistry
from tests.utils.cli import assert_one_line_mistake, run_scorer
from tests.utils.repo import DemoRepo


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on."""
    return free_port()


@pytest.fixture
def registry_only(
    data_dir: Path, trained: TrainingResult, tmp_path: Path, closed_port: int
) -> dict[str, str]:
    """Settings of a data dir holding a copy of the session's registry (fraud v1), no log."""
    shutil.copytree(data_dir / "models", tmp_path / "data" / "models")
    return {
        "SCORER_DATA_DIR": str(tmp_path / "data"),
        "SCORER_FEATURE_REPO": str(tmp_path / "no-repo"),
        "SCORER_ONLINE_STORE": f"127.0.0.1:{closed_port}",
    }


@pytest.fixture
def repo_copy(demo_repo: DemoRepo, tmp_path: Path) -> Path:
    """A private copy of the session's applied demo repo (its data and Feast registry)."""
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo, ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def test_version_is_the_installed_package_version(tmp_path: Path) -> None:
    done = run_scorer({"SCORER_DATA_DIR": str(tmp_path)}, "--version")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == f"scorer {version('feast-scorer')}\n"


# scorer drift


def test_drift_of_a_model_with_no_log_yet_says_so(
    registry_only: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "reports"
    done = run_scorer(registry_only, "drift", "--model", "fraud", "--out", str(out))
    line = assert_one_line_mistake(done, "'fraud'", "no prediction log yet")
    assert str(Path(registry_only["SCORER_DATA_DIR"]) / "logs") in line
    assert not out.exists()


def test_drift_of_a_file_without_a_score_column_names_the_file(
    registry_only: dict[str, str], tmp_path: Path
) -> None:
    current = tmp_path / "not-a-prediction-log.parquet"
    pq.write_table(pa.table({"request_id": ["a", "b"], "amount": [1.0, 2.0]}), current)
    done = run_scorer(
        registry_only, "drift", "--model", "fraud", "--current", str(current),
        "--out", str(tmp_path / "reports"),
    )  # fmt: skip
    assert_one_line_mistake(done, str(current), "'score'")
    assert not (tmp_path / "reports").exists()


def test_drift_with_a_malformed_since_names_the_option(registry_only: dict[str, str]) -> None:
    done = run_scorer(registry_only, "drift", "--model", "fraud", "--since", "3x")
    assert_one_line_mistake(done, "--since", "'3x'", "like 90s, 15m, 24h or 7d")


# bad settings: each names its variable and stops before anything is written


@pytest.mark.parametrize(
    ("variable", "value", "command"),
    [
        ("SCORER_ONLINE_TIMEOUT_S", "abc", ["drift", "--model", "fraud"]),
        ("SCORER_PORT", "eighty", ["jobs", "run", "drift"]),
        ("SCORER_STALE_FEATURES", "sometimes", ["models", "list"]),
        ("SCORER_RETRAIN_COOLDOWN", "soon", ["drift", "--model", "fraud"]),
        ("SCORER_DRIFT_WINDOW", "3x", ["jobs", "run", "drift"]),
        ("SCORER_SCHEDULE_DRIFT", "every banana", ["jobs"]),
        ("SCORER_SCHEDULE_MATERIALIZE", "61 * * * *", ["jobs"]),
        ("SCORER_SCHEDULE_RETRAIN", "every 5", ["jobs", "run", "retrain"]),
    ],
)
def test_a_bad_setting_names_its_variable(
    registry_only: dict[str, str], variable: str, value: str, command: list[str]
) -> None:
    done = run_scorer(registry_only | {variable: value}, *command)
    assert_one_line_mistake(done, f"{variable}={value!r}")
    data = Path(registry_only["SCORER_DATA_DIR"])
    assert sorted(p.name for p in data.iterdir()) == ["models"]


# scorer jobs run


def test_jobs_run_an_unknown_job_names_it_and_the_jobs(registry_only: dict[str, str]) -> None:
    done = run_scorer(registry_only, "jobs", "run", "materialise")
    assert_one_line_mistake(done, "'materialise'", "materialize, drift, retrain")
    assert sorted(p.name for p in Path(registry_only["SCORER_DATA_DIR"]).iterdir()) == ["models"]


# the online store down


@pytest.mark.parametrize(
    "command", [["materialize"], ["materialize", "--full"], ["jobs", "run", "materialize"]]
)
def test_materialize_with_redis_down_names_the_address(
    repo_copy: Path, tmp_path: Path, closed_port: int, command: list[str]
) -> None:
    address = f"127.0.0.1:{closed_port}"
    settings = {
        "SCORER_FEATURE_REPO": str(repo_copy),
        "SCORER_ONLINE_STORE": address,
        "SCORER_DATA_DIR": str(tmp_path / "data"),
    }
    done = run_scorer(settings, *command)
    assert_one_line_mistake(done, address, "does not answer")


# scorer simulate


def test_simulate_with_no_service_stops_before_writing_shifted_features(
    repo_copy: Path, tmp_path: Path, closed_port: int
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    with LocalRedisServer(free_port(), tmp_path / "redis") as server:
        settings = {
            "SCORER_FEATURE_REPO": str(repo_copy),
            "SCORER_ONLINE_STORE": server.connection_string,
            "SCORER_DATA_DIR": str(tmp_path / "data"),
        }
        done = run_scorer(settings, "simulate", "--url", url, "--requests", "20")
        assert_one_line_mistake(done, url, "no service answers")
        host, _, port = server.connection_string.rpartition(":")
        assert redis.Redis(host=host, port=int(port)).dbsize() == 0
    assert not (tmp_path / "data").exists()


# scorer train --if-no-champion (what compose's set-up runs on every start)


def train_args(repo: Path) -> list[str]:
    labels = repo / "data" / "transactions.parquet"
    return [
        "train", "--model", "fraud", "--feature-service", "fraud_v1", "--labels", str(labels),
        "--label-column", "is_fraud", "--promote", "--if-no-champion",
    ]  # fmt: skip


def test_train_if_no_champion_leaves_a_served_model_alone(
    registry_only: dict[str, str], demo_repo: DemoRepo
) -> None:
    registry = ModelRegistry(Path(registry_only["SCORER_DATA_DIR"]) / "models")
    before = (registry.versions("fraud"), registry.aliases("fraud"), registry.history("fraud"))
    done = run_scorer(registry_only, *train_args(demo_repo.path))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "fraud already has a champion (v1): nothing trained\n"
    assert (registry.versions("fraud"), registry.aliases("fraud"), registry.history("fraud")) == (
        before
    )


def test_train_if_no_champion_trains_and_promotes_into_an_empty_registry(
    demo_repo: DemoRepo, tmp_path: Path
) -> None:
    settings = {
        "SCORER_FEATURE_REPO": str(demo_repo.path),
        "SCORER_ONLINE_STORE": demo_repo.online_store,
        "SCORER_DATA_DIR": str(tmp_path / "data"),
    }
    done = run_scorer(settings, *train_args(demo_repo.path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("fraud v1: auc=")
    assert done.stdout.rstrip().endswith("(champion)")
    registry = ModelRegistry(tmp_path / "data" / "models")
    assert (registry.versions("fraud"), registry.aliases("fraud").champion) == ([1], 1)
