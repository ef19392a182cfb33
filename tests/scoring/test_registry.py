"""The on-disk model registry: versions appear whole, aliases are replaced atomically."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from scoring.errors import ModelNotFound
from scoring.registry import Aliases, ModelRegistry, check_model_name


def manifest() -> dict[str, Any]:
    schema = {"feature_service": "fs", "join_keys": [], "request_fields": [], "features": []}
    window = {"start": "a", "end": "b", "holdout_start": "b"}
    window |= {"rows": 1, "train_rows": 1, "holdout_rows": 0}
    return {
        "created_at": "2026-01-01T00:00:00+00:00",
        "feast_schema": schema,
        "categorical_levels": {},
        "label_column": "y",
        "metrics": {"auc": 0.9},
        "training_window": window,
        "postprocess": {"threshold": 0.5, "labels": [0, 1]},
    }


def test_versions_count_up_and_hold_their_files(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    first = registry.register("m", {"model.txt": b"one"}, manifest())
    second = registry.register("m", {"model.txt": b"two"}, manifest())
    assert (first.version, second.version) == (1, 2)
    assert registry.versions("m") == [1, 2]
    assert registry.models() == ["m"]
    assert (registry.version_dir("m", 2) / "model.txt").read_bytes() == b"two"
    assert registry.manifest("m", 1).metrics == {"auc": 0.9}
    # Nothing half-made is left behind.
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["1", "2"]


def test_aliases(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    for _ in range(3):
        registry.register("m", {}, manifest())
    assert registry.aliases("m") == Aliases()
    with pytest.raises(ModelNotFound, match="no champion"):
        registry.resolve("m")
    registry.set_alias("m", "champion", 2)
    registry.set_alias("m", "canary", 3, weight=0.1)
    assert registry.resolve("m") == 2
    assert registry.resolve("m", "canary") == 3
    assert registry.resolve("m", "1") == 1
    assert json.loads((tmp_path / "m" / "aliases.json").read_text())["canary_weight"] == 0.1
    registry.set_alias("m", "canary", None)
    assert registry.aliases("m") == Aliases(champion=2)
    with pytest.raises(ModelNotFound):
        registry.set_alias("m", "champion", 9)
    with pytest.raises(ValueError, match="between 0 and 1"):
        registry.set_alias("m", "canary", 3, weight=2.0)
    with pytest.raises(ModelNotFound, match="no model named 'x'"):
        registry.resolve("x")


@pytest.mark.parametrize("name", ["", "../etc", "a/b", ".hidden", "x" * 65])
def test_bad_model_names(name: str) -> None:
    with pytest.raises(ValueError, match="model name"):
        check_model_name(name)
