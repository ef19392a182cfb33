"""`scorer simulate` against a real `scorer serve`: each scored transaction's activity pushed."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from features.store import open_feature_store
from jobs.demo.data import DemoDataConfig
from jobs.demo.simulate import send_phase, simulate
from jobs.train import TrainingResult
from scoring.settings import Settings
from tests.utils.repo import DemoRepo, private_demo_repo
from tests.utils.server import ServerProcess
from tests.utils.serving import ADMIN_KEY, with_admin_key

ACTIVITY = ("txn_count_1h", "txn_amount_1h", "txn_count_24h")
TINY = DemoDataConfig(customers=300, merchants=60, transactions=3000, days=7, seed=5)


@pytest.fixture(scope="module")
def sim_repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    """The simulation writes to the store: a repo and a Redis of this module's own."""
    with private_demo_repo(tmp_path_factory.mktemp("simulate"), TINY) as repo:
        yield repo


@pytest.fixture(scope="module")
def server(
    sim_repo: DemoRepo, tmp_path_factory: pytest.TempPathFactory, settings_for_module: Settings
) -> Iterator[ServerProcess]:
    """``scorer serve`` with an admin key over the module's repo."""
    update = {"feature_repo": sim_repo.path, "online_store": sim_repo.online_store}
    started = ServerProcess(with_admin_key(settings_for_module.model_copy(update=update)), 1)
    started.start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def settings_for_module(
    tmp_path_factory: pytest.TempPathFactory, data_dir: Path, trained: TrainingResult
) -> Settings:
    """The trained model's registry copied into a data dir of the module's own."""
    own = tmp_path_factory.mktemp("simulate-data")
    shutil.copytree(data_dir / "models", own / "models")
    return Settings(data_dir=own, reload_interval_s=0.1, online_timeout_s=2.0)


def online_activity(repo: DemoRepo, customers: list[int]) -> list[dict[str, Any]]:
    """What Feast reads for ``customers``' activity, one dict per customer."""
    store = open_feature_store(repo.path, repo.online_store)
    read = store.get_online_features(
        [f"customer_activity:{name}" for name in ACTIVITY],
        [{"customer_id": c} for c in customers],
    ).to_dict()
    return [{name: read[name][i] for name in ACTIVITY} for i in range(len(customers))]


def traffic(repo: DemoRepo, first: int, n: int) -> list[tuple[dict[str, object], int]]:
    """One transaction each for ``n`` distinct customers (concurrent pushes never meet)."""
    customers = sorted(repo.data.customer_activity["customer_id"].unique())[first : first + n]
    return [
        ({"customer_id": int(c), "merchant_id": 1, "amount": 10.0 + i}, 0)
        for i, c in enumerate(customers)
    ]


def test_each_scored_transaction_pushes_the_customers_updated_activity(
    server: ServerProcess, sim_repo: DemoRepo
) -> None:
    rows = traffic(sim_repo, 0, 12)
    customers = [int(str(entity["customer_id"])) for entity, _ in rows]
    before = online_activity(sim_repo, customers)
    result = asyncio.run(send_phase(server.url, rows, 4, 0.0, ADMIN_KEY))
    assert result.statuses == {200: 12}
    assert result.pushes == {200: 12}
    after = online_activity(sim_repo, customers)
    for (entity, _), old, new in zip(rows, before, after, strict=True):
        amount = float(str(entity["amount"]))
        assert new == {
            "txn_count_1h": (old["txn_count_1h"] or 0) + 1,
            "txn_amount_1h": pytest.approx((old["txn_amount_1h"] or 0) + amount),
            "txn_count_24h": (old["txn_count_24h"] or 0) + 1,
        }


def test_without_the_key_nothing_is_pushed(server: ServerProcess, sim_repo: DemoRepo) -> None:
    rows = traffic(sim_repo, 20, 5)
    customers = [int(str(entity["customer_id"])) for entity, _ in rows]
    before = online_activity(sim_repo, customers)
    result = asyncio.run(send_phase(server.url, rows, 4, 0.0, None))
    assert result.statuses == {200: 5}
    assert not result.pushes
    assert online_activity(sim_repo, customers) == before


@pytest.mark.parametrize(("key", "said"), [(None, "activity pushes off"), ("nope", "refused")])
def test_the_simulation_says_what_to_set_for_pushes(
    server: ServerProcess, sim_repo: DemoRepo, key: str | None, said: str
) -> None:
    lines: list[str] = []
    store = open_feature_store(sim_repo.path, sim_repo.online_store)
    first, second = simulate(
        server.url, store, requests=6, shift=1.0, concurrency=2, feedback_share=0.0,
        config=TINY, say=lines.append, admin_key=key,
    )  # fmt: skip
    assert first.statuses == second.statuses == {200: 6}
    text = "\n".join(lines)
    assert said in text
    assert "SCORER_ADMIN_KEY" in text
    if key is not None:
        assert first.pushes == second.pushes == {401: 6}
