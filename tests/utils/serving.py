"""Data factories for tests of the service: request rows, extra model versions, the log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import SecretStr

from scoring.model.registry import ModelRegistry
from scoring.settings import Settings
from tests.utils.repo import DemoRepo

ADMIN_KEY = "s3cret"
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}
"""The admin header for settings made by ``with_admin_key``."""


def with_admin_key(settings: Settings) -> Settings:
    """``settings`` with admin calls allowed to the ``ADMIN`` header."""
    return settings.model_copy(update={"admin_key": SecretStr(ADMIN_KEY)})


def entities(demo_repo: DemoRepo, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` real (customer, merchant, amount) rows of the demo data."""
    tx = demo_repo.data.transactions.sample(n, random_state=seed)
    return [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in tx[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]


def read_log(root: Path) -> pa.Table:
    """Everything a Hive-partitioned log under ``root`` holds."""
    return ds.dataset(root, format="parquet", partitioning="hive").to_table()


def register_copy_of_v1(settings: Settings, **manifest_changes: Any) -> int:
    """A new version of ``fraud`` with v1's booster, its manifest changed as given."""
    registry = ModelRegistry(settings.models_dir)
    folder = registry.version_dir("fraud", 1)
    manifest = {**registry.manifest("fraud", 1).model_dump(), **manifest_changes}
    files = {name: (folder / name).read_bytes() for name in ("model.txt", "reference.json")}
    return registry.register("fraud", files, manifest).version
