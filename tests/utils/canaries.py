"""Canary versions of ``fraud`` trained for real: a healthy retrain and one on inverted labels."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from features.store import open_feature_store
from jobs.train import train_model
from scoring.model.registry import ModelRegistry
from tests.utils.repo import DemoRepo


@dataclass(frozen=True)
class CanaryModels:
    """A registry holding ``fraud`` v1 (champion), a retrain and an inverted-label model."""

    models_dir: Path
    retrain: int
    """The same data, another seed: as good as the champion, scores a little different."""
    inverted: int
    """Trained on the labels flipped: its scores mirror the champion's."""

    def copy_to(self, data_dir: Path) -> None:
        """Give ``data_dir`` a registry of its own holding these versions."""
        shutil.copytree(self.models_dir, data_dir / "models")

    def add_version(self, models_dir: Path, version: int) -> None:
        """Copy one of these versions of ``fraud`` into the registry at ``models_dir``."""
        folder = Path("fraud") / str(version)
        shutil.copytree(self.models_dir / folder, models_dir / folder)


def train_canaries(target: Path, source_models: Path, demo_repo: DemoRepo) -> CanaryModels:
    """Copy ``source_models`` (with ``fraud`` v1) to ``target`` and train two more versions."""
    models = target / "models"
    shutil.copytree(source_models, models)
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    registry = ModelRegistry(models)
    labels = demo_repo.data.transactions
    flipped = labels.assign(is_fraud=1 - labels["is_fraud"])  # 0/1 in the demo data
    versions: list[int] = []
    for frame, params in ((labels, {"seed": 29}), (flipped, {})):
        trained = train_model(
            store, registry, model_name="fraud", feature_service="fraud_v1",
            labels=frame, label_column="is_fraud", params=params,
        )  # fmt: skip
        versions.append(trained.manifest.version)
    return CanaryModels(models, *versions)


def demo_rows(demo_repo: DemoRepo, n: int) -> list[dict[str, Any]]:
    """``n`` real rows of the demo data, no two of the same (customer, merchant)."""
    tx = demo_repo.data.transactions.drop_duplicates(["customer_id", "merchant_id"])
    tx = tx.sample(frac=1.0, random_state=3).head(n)
    assert len(tx) == n
    return [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in tx[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]
