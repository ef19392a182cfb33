"""The private Feast names the fast path needs are checked against the Feast series pinned."""

from __future__ import annotations

import ast
import tomllib
from importlib.metadata import version
from pathlib import Path

from features._feast_private import FEAST_SERIES
from tests.utils.repo import ROOT


def test_the_installed_feast_is_the_series_the_private_names_were_checked_against() -> None:
    assert version("feast").startswith(f"{FEAST_SERIES}.")


def test_the_project_pins_feast_to_that_series() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    [feast] = [d for d in project["dependencies"] if d.startswith("feast")]
    major, minor = (int(part) for part in FEAST_SERIES.split("."))
    assert f">={FEAST_SERIES}" in feast
    assert f"<{major}.{minor + 1}" in feast


def _imports_private_feast_names(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and (node.module or "").startswith("feast")
            and any(alias.name.startswith("_") for alias in node.names)
        ):
            return True
        if (  # ``from feast import utils`` then ``utils._private(...)``
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "utils"
            and node.attr.startswith("_")
        ):
            return True
    return False


def test_only_one_module_imports_private_feast_names() -> None:
    importers = sorted(
        str(path.relative_to(ROOT))
        for package in ("features", "scoring", "drift", "jobs", "bench")
        for path in (ROOT / package).rglob("*.py")
        if _imports_private_feast_names(path)
    )
    assert importers == ["features/_feast_private.py"]
