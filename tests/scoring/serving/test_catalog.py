"""The model catalog on a real registry: summaries, and the rules for moving aliases."""

from __future__ import annotations

import pytest

from scoring.errors import InvalidRequest, ModelNotFound
from scoring.model.registry import ModelRegistry
from scoring.serving.catalog import ModelCatalog
from scoring.serving.served import load_served
from scoring.serving.service import ScoringService
from scoring.settings import Settings
from tests.utils.serving import register_copy_of_v1


def catalog_of(settings: Settings) -> ModelCatalog:
    registry = ModelRegistry(settings.models_dir)
    # The catalog never reads features: a service without a reader is enough for it.
    service = ScoringService(registry, None, load_served(registry, None))  # type: ignore[arg-type]
    return ModelCatalog(service)


def test_a_summary_names_versions_aliases_and_what_is_served(own_settings: Settings) -> None:
    v2 = register_copy_of_v1(own_settings)
    catalog = catalog_of(own_settings)
    [summary] = catalog.summaries()
    assert summary["name"] == "fraud"
    assert [v["version"] for v in summary["versions"]] == [1, v2]
    assert summary["aliases"]["champion"] == 1
    assert summary["served_version"] == 1
    assert summary["default"] is True
    assert summary["feature_service"] == "fraud_v1"
    described = catalog.describe("fraud")
    assert described["postprocess"]["threshold"] == pytest.approx(
        ModelRegistry(own_settings.models_dir).manifest("fraud", 1).postprocess.threshold
    )
    assert "customer_id" in {k["name"] for k in described["inputs"]["join_keys"]}


def test_promote_moves_an_alias_in_the_registry(own_settings: Settings) -> None:
    v2 = register_copy_of_v1(own_settings)
    catalog = catalog_of(own_settings)
    aliases = catalog.promote("fraud", "canary", v2, 0.3)
    assert (aliases.canary, aliases.canary_weight) == (v2, 0.3)
    assert ModelRegistry(own_settings.models_dir).aliases("fraud") == aliases
    assert catalog.promote("fraud", "canary", None).canary is None


@pytest.mark.parametrize(
    ("name", "alias", "version", "weight", "error", "message"),
    [
        ("nosuch", "champion", 1, 0.0, ModelNotFound, "no model named 'nosuch'"),
        ("fraud", "champion", None, 0.0, InvalidRequest, "cannot be cleared"),
        ("fraud", "champion", 99, 0.0, ModelNotFound, "no version 99"),
        ("fraud", "canary", 1, 1.5, InvalidRequest, "between 0 and 1"),
        ("fraud", "sidekick", 1, 0.0, InvalidRequest, "unknown alias"),
    ],
)
def test_promote_refuses_what_cannot_be(
    own_settings: Settings,
    name: str,
    alias: str,
    version: int | None,
    weight: float,
    error: type[Exception],
    message: str,
) -> None:
    catalog = catalog_of(own_settings)
    before = ModelRegistry(own_settings.models_dir).aliases("fraud")
    with pytest.raises(error, match=message):
        catalog.promote(name, alias, version, weight)
    assert ModelRegistry(own_settings.models_dir).aliases("fraud") == before
