"""Factories for Feast repositories in a temp dir: the demo one and a minimal foreign one."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from features.store import feast_apply, open_feature_store
from jobs.demo.data import DemoData, DemoDataConfig, generate
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import mark_loaded, materialize_incremental

ROOT = Path(__file__).resolve().parents[2]

# Small enough to apply, materialize and train in seconds; big enough to learn something.
SMALL_DEMO = DemoDataConfig(customers=3000, merchants=300, transactions=30_000, days=21, seed=11)


@dataclass(frozen=True)
class DemoRepo:
    """A materialized copy of the demo repository and the data in it."""

    path: Path
    online_store: str
    data: DemoData


def make_demo_repo(
    target: Path, online_store: str, config: DemoDataConfig = SMALL_DEMO
) -> DemoRepo:
    """Copy ``feature_repo/``, generate data into it, ``feast apply`` and materialize."""
    repo = target / "feature_repo"
    shutil.copytree(
        ROOT / "feature_repo", repo, ignore=shutil.ignore_patterns("data", "__pycache__")
    )
    data = generate(config)
    data.write(repo / "data")
    feast_apply(repo, online_store)
    store = open_feature_store(repo, online_store)
    # The first load into a fresh store is a complete one: it leaves the loaded marker.
    mark_loaded(store, materialize_incremental(store))
    return DemoRepo(path=repo, online_store=online_store, data=data)


TINY_DEMO = DemoDataConfig(customers=300, merchants=60, transactions=3000, days=7, seed=5)
"""A repo for tests that change what the store holds: set up in a few seconds."""


@contextmanager
def private_demo_repo(target: Path, config: DemoDataConfig = TINY_DEMO) -> Iterator[DemoRepo]:
    """A demo repo in a redis-server of its own, so that writes leave the shared one alone."""
    server = LocalRedisServer(free_port(), target / "redis")
    server.start()  # raises, naming the reason, when no redis-server can start
    try:
        yield make_demo_repo(target, server.connection_string, config)
    finally:
        server.stop()


FOREIGN_FEATURE_STORE_YAML = """\
project: rides
provider: local
registry: data/registry.db
online_store:
  type: sqlite
  path: data/online.db
offline_store:
  type: file
entity_key_serialization_version: 3
"""

FOREIGN_DEFINITIONS = """\
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.types import Float32, Int32, String

driver = Entity(name="driver", join_keys=["driver_ref"], value_type=ValueType.STRING)

stats_source = FileSource(path="data/driver_stats.parquet", timestamp_field="ts")

driver_stats = FeatureView(
    name="driver_stats",
    entities=[driver],
    ttl=timedelta(days=30),
    schema=[
        Field(name="conv_rate", dtype=Float32),
        Field(name="trips_today", dtype=Int32),
        Field(name="vehicle", dtype=String),
    ],
    source=stats_source,
)

acceptance_v3 = FeatureService(name="acceptance_v3", features=[driver_stats])
"""


def make_foreign_repo(target: Path, drivers: int = 400, seed: int = 3) -> tuple[Path, pd.DataFrame]:
    """A minimal Feast repo unlike the demo (string key, SQLite online store) and its labels."""
    rng = np.random.default_rng(seed)
    repo = target / "rides_repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(FOREIGN_FEATURE_STORE_YAML)
    (repo / "definitions.py").write_text(FOREIGN_DEFINITIONS)
    now = datetime.now(UTC).replace(microsecond=0)
    refs = [f"drv-{i:04d}" for i in range(drivers)]
    stats = pd.DataFrame(
        {
            "driver_ref": refs,
            "ts": now - timedelta(days=5),
            "conv_rate": rng.uniform(0, 1, drivers).astype(np.float32),
            "trips_today": rng.integers(0, 40, drivers).astype(np.int32),
            "vehicle": rng.choice(["sedan", "van", "bike"], drivers),
        }
    )
    stats.to_parquet(repo / "data" / "driver_stats.parquet")
    n = drivers * 5
    idx = rng.integers(0, drivers, n)
    logit = 4 * (stats["conv_rate"].to_numpy()[idx] - 0.5) + (
        stats["vehicle"].to_numpy()[idx] == "van"
    )
    labels = pd.DataFrame(
        {
            "driver_ref": np.asarray(refs)[idx],
            "event_timestamp": now
            - timedelta(days=4)
            + pd.to_timedelta(np.sort(rng.uniform(0, 3 * 86400, n)), unit="s"),
            "accepted": (rng.uniform(0, 1, n) < 1 / (1 + np.exp(-logit))).astype(int),
        }
    )
    return repo, labels
