"""``scorer stream`` facing a user's mistakes: one line on stderr, never a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from jobs.train import TrainingResult
from tests.utils.cli import assert_one_line_mistake, run_scorer
from tests.utils.repo import DemoRepo


@pytest.fixture
def stream_env(
    demo_repo: DemoRepo, data_dir: Path, trained: TrainingResult, tmp_path: Path
) -> dict[str, str]:
    """The demo repo and a copy of the session's registry."""
    shutil.copytree(data_dir / "models", tmp_path / "data" / "models")
    return {
        "SCORER_DATA_DIR": str(tmp_path / "data"),
        "SCORER_FEATURE_REPO": str(demo_repo.path),
        "SCORER_ONLINE_STORE": demo_repo.online_store,
    }


def test_help_names_the_streams(stream_env: dict[str, str]) -> None:
    done = run_scorer(stream_env, "stream", "--help")
    assert done.returncode == 0, done.stderr
    assert "SCORER_STREAM_REQUESTS" in done.stdout


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SCORER_DEFAULT_MODEL", "nope", "'nope'"),
        ("SCORER_STREAM_BATCH_SIZE", "0", "SCORER_STREAM_BATCH_SIZE='0'"),
        ("SCORER_STREAM_CLAIM_IDLE_S", "soon", "SCORER_STREAM_CLAIM_IDLE_S='soon'"),
    ],
)
def test_a_mistake_is_one_line(
    stream_env: dict[str, str], variable: str, value: str, named: str
) -> None:
    done = run_scorer(stream_env | {variable: value}, "stream", timeout_s=120)
    assert_one_line_mistake(done, named)


def test_a_repo_without_feature_store_yaml_is_one_line(
    stream_env: dict[str, str], tmp_path: Path
) -> None:
    done = run_scorer(stream_env | {"SCORER_FEATURE_REPO": str(tmp_path)}, "stream", timeout_s=120)
    assert_one_line_mistake(done, str(tmp_path))
