"""The bench's own world: a Redis, a copy of the Feast repo with demo data, and a trained model."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.config import BenchConfig
from features.store import feast_apply, open_feature_store
from jobs.demo.data import DemoDataConfig, generate
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_all
from jobs.train import TrainingResult, train_model
from scoring.model.manifest import MANIFEST_FILE
from scoring.model.registry import ModelRegistry

MODEL = "fraud"
FEATURE_SERVICE = "fraud_v1"
LABEL = "is_fraud"
CANARY_MODEL = "fraud_canary"
"""``fraud`` again, with a canary: its v1 answers, v2 takes :data:`CANARY_WEIGHT` of entities."""
CANARY_WEIGHT = 0.1

Say = Callable[[str], None]


@dataclass(frozen=True)
class Workspace:
    """A materialized repo, the Redis holding its online features, ``fraud`` v1 promoted, and
    :data:`CANARY_MODEL` serving the same model with a canary."""

    root: Path
    redis: LocalRedisServer
    repo: Path
    data_dir: Path
    transactions: pd.DataFrame
    training: TrainingResult

    @property
    def online_store(self) -> str:
        """Feast connection string of the workspace's Redis."""
        return self.redis.connection_string


def copy_repo(source: Path, target: Path) -> Path:
    """Copy a Feast repo's definitions (not its data or registry) to ``target``."""
    if not (source / "feature_store.yaml").is_file():
        raise FileNotFoundError(f"{source} has no feature_store.yaml: is it a Feast repository?")
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("data", "__pycache__"))
    return target


def start_redis(root: Path, stack: ExitStack) -> LocalRedisServer:
    """A ``redis-server`` of the bench's own on a free port, stopped when ``stack`` closes."""
    server = LocalRedisServer(free_port(), root / "redis")
    stack.callback(server.stop)
    return server.start()


def prepare_repo(
    source: Path, target: Path, online_store: str, data: DemoDataConfig, say: Say
) -> tuple[Path, pd.DataFrame]:
    """Copy the repo, generate demo data into it and ``feast apply``; return it and its labels."""
    repo = copy_repo(source, target)
    say(
        f"generating demo data: {data.customers:,} customers, {data.merchants:,} merchants, "
        f"{data.transactions:,} transactions"
    )
    generated = generate(data)
    generated.write(repo / "data")
    say(f"feast apply ({target.name})")
    feast_apply(repo, online_store)
    return repo, generated.transactions


def prepare_workspace(root: Path, source_repo: Path, config: BenchConfig, say: Say,
                      stack: ExitStack) -> Workspace:  # fmt: skip
    """Redis, repo copy with demo data, ``feast apply``, full materialize, train ``fraud`` v1,
    and register its canary twin (:func:`add_canary_twin`)."""
    redis = start_redis(root, stack)
    say(f"redis-server on {redis.connection_string}")
    data = DemoDataConfig(
        customers=config.customers, merchants=config.merchants, transactions=config.transactions
    )
    repo, transactions = prepare_repo(
        source_repo, root / "feature_repo", redis.connection_string, data, say
    )
    store = open_feature_store(repo, redis.connection_string)
    say("materializing everything into Redis")
    with contextlib.redirect_stdout(io.StringIO()):  # Feast prints its own progress
        materialize_all(store)
    data_dir = root / "data"
    registry = ModelRegistry(data_dir / "models")
    training = train_model(
        store,
        registry,
        model_name=MODEL,
        feature_service=FEATURE_SERVICE,
        labels=transactions,
        label_column=LABEL,
        promote=True,
        labels_source=str(repo / "data" / "transactions.parquet"),
        progress=say,
    )
    say(f"{CANARY_MODEL}: {MODEL} v{training.manifest.version} twice, the second a canary "
        f"at {CANARY_WEIGHT:g}")  # fmt: skip
    add_canary_twin(registry, MODEL, training.manifest.version, CANARY_MODEL, CANARY_WEIGHT)
    return Workspace(root, redis, repo, data_dir, transactions, training)


def add_canary_twin(
    registry: ModelRegistry, source: str, version: int, twin: str, weight: float
) -> None:
    """Register ``source`` ``version`` as ``twin`` v1 (champion) and v2 (canary at ``weight``).

    The same servers then answer one model with a canary and one without, side by side, so
    their throughput differs only by what a canary costs: the split by entity hash, the
    batches of two versions and the canary's guard. v2 is v1's files: the guard has no
    reason to withdraw it, which would end the split in the middle of a run.
    """
    folder = registry.version_dir(source, version)
    files = {p.name: p.read_bytes() for p in folder.iterdir()
             if p.is_file() and p.name != MANIFEST_FILE}  # fmt: skip
    manifest = registry.manifest(source, version).model_dump(mode="json")
    champion = registry.register(twin, files, manifest).version
    canary = registry.register(twin, files, manifest).version
    why = "bench: the cost of a canary"
    registry.set_alias(twin, "champion", champion, who="cli", why=why)
    registry.set_alias(twin, "canary", canary, weight, who="cli", why=why)


def entity_sample(transactions: pd.DataFrame, n: int, seed: int = 3) -> list[dict[str, Any]]:
    """``n`` real (customer, merchant, amount) rows of the demo transactions, in random order."""
    rng = np.random.default_rng(seed)
    picked = transactions.iloc[rng.choice(len(transactions), n, replace=n > len(transactions))]
    return [
        {"customer_id": int(c), "merchant_id": int(m), "amount": float(a)}
        for c, m, a in picked[["customer_id", "merchant_id", "amount"]].itertuples(index=False)
    ]
