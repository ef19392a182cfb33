"""Alias changes: serialised across processes, checked to load, recorded, and safe by name."""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
from pathlib import Path
from typing import Any

import pytest

from scoring.errors import (
    AliasMoved,
    InvalidModelName,
    ModelNotFound,
    RegistryCorrupt,
    VersionNotLoadable,
)
from scoring.model.registry import Aliases, ModelRegistry
from tests.utils.tiny_model import tiny_files, tiny_manifest

TRIALS = 60
CHANGES = [("champion", 1, 0.0), ("canary", 2, 0.5), ("shadow", 3, 0.0)]
"""Each process moves one alias of every trial's model, all at once."""


def _change_one_alias(root: str, which: int, barrier: Any) -> None:
    """In a child process: for every trial, wait for the others, then move this one alias."""
    registry = ModelRegistry(Path(root))
    alias, version, weight = CHANGES[which]
    for trial in range(TRIALS):
        barrier.wait(timeout=60)
        registry.set_alias(f"m{trial}", alias, version, weight)


def test_processes_moving_different_aliases_at_once_keep_every_change(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for trial in range(TRIALS):
        for _ in range(3):
            registry.register(f"m{trial}", tiny_files(), tiny_manifest())
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(len(CHANGES))
    children = [
        context.Process(target=_change_one_alias, args=(str(tmp_path), k, barrier))
        for k in range(len(CHANGES))
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(300)
    assert [child.exitcode for child in children] == [0] * len(CHANGES)
    lost = [t for t in range(TRIALS) if registry.aliases(f"m{t}") != Aliases(1, 2, 0.5, 3)]
    assert lost == [], f"{len(lost)} of {TRIALS} trials lost a change"


def registry_of_three(root: Path) -> ModelRegistry:
    """Model ``m`` with three loadable versions and no alias yet."""
    registry = ModelRegistry(root)
    for k in range(3):
        registry.register("m", tiny_files(f"v{k + 1}"), tiny_manifest())
    return registry


@pytest.mark.parametrize(
    ("broken_file", "content", "complaint"),
    [
        ("manifest.json", '{"name": "m", "vers', r"manifest\.json is invalid"),
        ("manifest.json", "{}", r"manifest\.json is invalid: name: Field required"),
        ("model.txt", "tree\nnot a model\n", r"model\.txt is corrupt"),
        ("model.txt", None, r"model\.txt is missing"),
    ],
)
def test_an_alias_never_points_at_a_version_that_cannot_load(
    tmp_path: Path, broken_file: str, content: str | None, complaint: str
) -> None:
    registry = registry_of_three(tmp_path)
    registry.set_alias("m", "champion", 1)
    path = registry.version_dir("m", 2) / broken_file
    if content is None:
        path.unlink()
    else:
        path.write_text(content)
    for alias in ("champion", "canary", "shadow"):
        with pytest.raises(VersionNotLoadable, match=f"m v2 cannot be loaded: .*{complaint}") as e:
            registry.set_alias("m", alias, 2, 0.5)
        assert "\n" not in str(e.value)
    assert registry.aliases("m") == Aliases(champion=1)
    assert [h["new"] for h in registry.history("m")] == [1], "a refusal is not a change"


def test_every_change_is_recorded_with_who_and_why(tmp_path: Path) -> None:
    registry = registry_of_three(tmp_path)
    registry.set_alias("m", "champion", 1, who="cli", why="first")
    registry.set_alias("m", "canary", 2, 0.25, who="admin", why="try v2")
    registry.set_alias("m", "canary", None, who="guard", why="error rate")
    history = registry.history("m")
    assert [(h["alias"], h["old"], h["new"], h["weight"]) for h in history] == [
        ("champion", None, 1, None),
        ("canary", None, 2, 0.25),
        ("canary", 2, None, 0.0),
    ]
    assert [(h["who"], h["why"]) for h in history] == [
        ("cli", "first"),
        ("admin", "try v2"),
        ("guard", "error rate"),
    ]
    assert all(h["time"].endswith("+00:00") for h in history)
    assert registry.history("m", last=1) == history[-1:]
    lines = (tmp_path / "m" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == history


def test_an_expected_version_guards_the_change_and_details_are_recorded(tmp_path: Path) -> None:
    registry = registry_of_three(tmp_path)
    registry.set_alias("m", "champion", 1)
    registry.set_alias("m", "canary", 3, 0.5, who="admin", why="moved on")
    with pytest.raises(AliasMoved, match="canary of model 'm' is 3, not 2"):
        registry.set_alias("m", "canary", None, who="guard", expected=2)
    assert registry.aliases("m") == Aliases(champion=1, canary=3, canary_weight=0.5)
    figures = {"reason": "score_psi", "score_psi": 8.2}
    registry.set_alias("m", "canary", None, who="guard", why="psi", details=figures, expected=3)
    assert registry.aliases("m") == Aliases(champion=1)
    history = registry.history("m")
    assert len(history) == 3  # the refused change left no line
    assert history[-1]["details"] == figures
    assert "details" not in history[0]


def test_rollback_walks_back_the_champions(tmp_path: Path) -> None:
    registry = registry_of_three(tmp_path)
    with pytest.raises(ModelNotFound, match="no earlier champion"):
        registry.rollback("m")
    for version in (1, 2, 3):
        registry.set_alias("m", "champion", version)
    registry.set_alias("m", "shadow", 1)  # other aliases do not count
    assert registry.rollback("m").champion == 2
    assert registry.rollback("m").champion == 1, "a second rollback goes further back"
    with pytest.raises(ModelNotFound, match="no earlier champion"):
        registry.rollback("m")
    assert registry.aliases("m") == Aliases(champion=1, shadow=1)
    last = registry.history("m")[-1]
    assert (last["old"], last["new"], last["rollback"], last["who"]) == (2, 1, True, "cli")
    assert last["why"] == "rollback from v2"


def test_a_corrupt_history_line_is_skipped(tmp_path: Path) -> None:
    registry = registry_of_three(tmp_path)
    registry.set_alias("m", "champion", 1)
    with open(tmp_path / "m" / "history.jsonl", "a") as history:
        history.write('{"alias": "champ')  # a crash mid-line
    registry.set_alias("m", "champion", 2)
    assert [h["new"] for h in registry.history("m")] == [1]
    assert registry.aliases("m").champion == 2


@pytest.mark.parametrize("content", ['{"champion": 1, "can', "[]", '{"champion": "one"}'])
def test_a_corrupt_alias_file_is_named_and_a_change_rewrites_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str
) -> None:
    registry = registry_of_three(tmp_path)
    registry.set_alias("m", "champion", 1)
    registry.set_alias("m", "canary", 2, 0.5)
    path = tmp_path / "m" / "aliases.json"
    path.write_text(content)
    with pytest.raises(RegistryCorrupt, match=f"{path} is corrupt") as error:
        registry.aliases("m")
    assert "\n" not in str(error.value)
    with pytest.raises(RegistryCorrupt):
        registry.resolve("m")
    caplog.set_level(logging.WARNING, logger="scoring.model.registry")
    aliases = registry.set_alias("m", "shadow", 3)
    # What the history knew survives the corrupt file; only the new change is added.
    assert aliases == Aliases(champion=1, canary=2, canary_weight=0.5, shadow=3)
    assert registry.aliases("m") == aliases
    [warning] = [r for r in caplog.records if r.name == "scoring.model.registry"]
    assert str(path) in warning.getMessage()
    assert repr(content.encode()) in warning.getMessage(), "what was lost is logged"


BAD_NAMES = ["..", "../m", "a/../../b", "x" * 256, ".m"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_no_entry_point_takes_a_name_that_could_be_a_path(tmp_path: Path, name: str) -> None:
    root = tmp_path / "models"
    registry = registry_of_three(root)
    calls = [
        lambda: registry.versions(name),
        lambda: registry.version_dir(name, 1),
        lambda: registry.manifest(name, 1),
        lambda: registry.aliases(name),
        lambda: registry.resolve(name),
        lambda: registry.set_alias(name, "champion", 1),
        lambda: registry.register(name, tiny_files(), tiny_manifest()),
        lambda: registry.history(name),
        lambda: registry.rollback(name),
    ]
    for call in calls:
        with pytest.raises(InvalidModelName, match="model name"):
            call()
    assert sorted(os.listdir(tmp_path)) == ["models"], "nothing written outside the registry"
    assert sorted(os.listdir(root)) == ["m"]
