"""Data factories for tests of the service: request rows, extra model versions, the log; a
reader that notes its reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
from pydantic import SecretStr

from features.readers import FeatureReader
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


class CountingReader:
    """The real reader, noting every read it passes on."""

    def __init__(self, reader: FeatureReader) -> None:
        self.reader = reader
        self.reads: list[tuple[str, list[dict[str, Any]]]] = []

    @property
    def rows_read(self) -> list[int]:
        """How many rows each read was for."""
        return [len(rows) for _, rows in self.reads]

    async def read(
        self,
        feature_service: str,
        rows: Sequence[Mapping[str, Any]],
        timeout_s: float | None = None,
    ) -> Mapping[str, Sequence[Any]]:
        self.reads.append((feature_service, [dict(row) for row in rows]))
        return await self.reader.read(feature_service, rows, timeout_s)

    async def close(self) -> None:
        await self.reader.close()
