"""A real second version of ``fraud`` to shadow the champion: trained anew, scoring differently."""

from __future__ import annotations

from features.store import open_feature_store
from jobs.train import train_model
from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo


def train_shadow(settings: Settings, demo_repo: DemoRepo) -> int:
    """Train ``fraud`` again on half the labels with other parameters; set it as the shadow."""
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    registry = ModelRegistry(settings.models_dir)
    result = train_model(
        store,
        registry,
        model_name="fraud",
        feature_service="fraud_v1",
        labels=demo_repo.data.transactions.sample(frac=0.5, random_state=7),
        label_column="is_fraud",
        params={"num_leaves": 4, "learning_rate": 0.3},
        num_boost_round=20,
    )
    version = result.manifest.version
    registry.set_alias("fraud", "shadow", version)
    return version
