"""`scorer models list|promote|rollback`, and `scorer serve` refusing a registry it cannot serve."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobs.train import TrainingResult
from scoring.model.registry import Aliases, ModelRegistry

SCORER = str(Path(sys.executable).with_name("scorer"))


def scorer(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the console script on ``data_dir`` (no Feast repo or Redis is needed here)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCORER_")}
    env |= {
        "SCORER_DATA_DIR": str(data_dir),
        "SCORER_FEATURE_REPO": str(data_dir / "no-repo"),
        "SCORER_ONLINE_STORE": "127.0.0.1:1",
    }
    return subprocess.run(
        [SCORER, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


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


@pytest.fixture
def registry_copy(data_dir: Path, trained: TrainingResult, tmp_path: Path) -> ModelRegistry:
    """A private copy of the session's registry (fraud v1 champion) with v2 and v3 beside."""
    shutil.copytree(data_dir / "models", tmp_path / "models")
    registry = ModelRegistry(tmp_path / "models")
    folder = registry.version_dir("fraud", 1)
    files = {name: (folder / name).read_bytes() for name in ("model.txt", "reference.json")}
    for _ in range(2):
        registry.register("fraud", files, registry.manifest("fraud", 1).model_dump())
    return registry


def test_promote_and_rollback_walk_the_champion_and_list_shows_it(
    registry_copy: ModelRegistry, tmp_path: Path
) -> None:
    assert assert_ok(scorer(tmp_path, "models", "promote", "--model", "fraud", "--version", "2"))
    out = assert_ok(
        scorer(tmp_path, "models", "promote", "--model", "fraud", "--version", "3",
               "--alias", "canary", "--weight", "0.2", "--why", "try v3")
    )  # fmt: skip
    assert out.strip() == "fraud: champion v2, canary v3 (0.2)"
    listed = assert_ok(scorer(tmp_path, "models", "list"))
    assert listed.strip() == "fraud: versions v1, v2, v3; champion v2, canary v3 (0.2)"
    assert "champion v1" in assert_ok(scorer(tmp_path, "models", "rollback", "--model", "fraud"))
    assert registry_copy.aliases("fraud") == Aliases(champion=1, canary=3, canary_weight=0.2)
    history = registry_copy.history("fraud")
    assert [(h["alias"], h["new"], h["who"]) for h in history][-3:] == [
        ("champion", 2, "cli"),
        ("canary", 3, "cli"),
        ("champion", 1, "cli"),
    ]
    assert history[-2]["why"] == "try v3"
    # v1 was the first champion: there is nothing before it.
    done = scorer(tmp_path, "models", "rollback", "--model", "fraud")
    assert_user_mistake(done, "no earlier champion")
    assert done.returncode == 1


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("promote", "--model", "nosuch", "--version", "1"), ("'nosuch'",)),
        (("promote", "--model", "..", "--version", "1"), ("model name",)),
        (("promote", "--model", "x" * 256, "--version", "1"), ("model name",)),
        (("promote", "--model", "fraud", "--version", "9"), ("no version 9",)),
        (("promote", "--model", "fraud", "--version", "2", "--alias", "boss"), ("unknown alias",)),
        (("promote", "--model", "fraud", "--version", "2", "--weight", "3"), ("between 0 and 1",)),
        (("rollback", "--model", "nosuch"), ("'nosuch'",)),
    ],
)
def test_a_mistake_is_one_line_and_changes_nothing(
    registry_copy: ModelRegistry, tmp_path: Path, args: tuple[str, ...], fragments: tuple[str]
) -> None:
    before = registry_copy.aliases("fraud")
    assert_user_mistake(scorer(tmp_path, "models", *args), *fragments)
    assert registry_copy.aliases("fraud") == before


@pytest.mark.parametrize(
    ("broken_file", "content", "complaint"),
    [
        ("manifest.json", '{"name": "fr', "manifest.json is invalid"),
        ("model.txt", "tree\nnot a model\n", "model.txt is corrupt"),
    ],
)
def test_promote_refuses_a_version_that_cannot_load(
    registry_copy: ModelRegistry, tmp_path: Path, broken_file: str, content: str, complaint: str
) -> None:
    (registry_copy.version_dir("fraud", 2) / broken_file).write_text(content)
    done = scorer(tmp_path, "models", "promote", "--model", "fraud", "--version", "2")
    assert_user_mistake(done, "fraud v2 cannot be loaded", complaint)
    assert registry_copy.aliases("fraud") == Aliases(champion=1)


def test_list_names_a_corrupt_alias_file_and_promote_repairs_it(
    registry_copy: ModelRegistry, tmp_path: Path
) -> None:
    path = registry_copy.aliases_path("fraud")
    path.write_text('{"champion": 1, "can')
    listed = assert_ok(scorer(tmp_path, "models", "list"))
    assert f"{path} is corrupt" in listed
    assert_ok(scorer(tmp_path, "models", "promote", "--model", "fraud", "--version", "2"))
    assert registry_copy.aliases("fraud") == Aliases(champion=2)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_with_a_broken_champion_says_which_file_and_the_fix(
    registry_copy: ModelRegistry, tmp_path: Path, workers: str
) -> None:
    registry_copy.set_alias("fraud", "champion", 2)
    model_file = registry_copy.version_dir("fraud", 2) / "model.txt"
    model_file.write_text("tree\nnot a model\n")
    done = scorer(tmp_path, "serve", "--port", "0", "--workers", workers)
    assert_user_mistake(done, str(model_file), "scorer models rollback --model fraud")
    # The fix it names works, and then the champion loads.
    assert_ok(scorer(tmp_path, "models", "rollback", "--model", "fraud"))
    assert registry_copy.aliases("fraud").champion == 1


def test_serve_with_a_corrupt_alias_file_names_it(
    registry_copy: ModelRegistry, tmp_path: Path
) -> None:
    path = registry_copy.aliases_path("fraud")
    path.write_text('{"champion": 1, "can')
    done = scorer(tmp_path, "serve", "--port", "0", "--workers", "1")
    assert_user_mistake(done, str(path), "promote")
