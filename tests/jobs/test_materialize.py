"""Materialization into the online store, including a fresh Redis next to an old registry."""

from __future__ import annotations

import shutil
from pathlib import Path

from features.store import open_feature_store
from jobs.demo.redis_server import LocalRedisServer, free_port
from jobs.materialize import materialize_all, materialize_incremental
from tests.utils.repo import DemoRepo

FEATURE = "customer_profile__avg_amount_30d"


def profile_values(repo: Path, online_store: str, customers: list[int]) -> list[object]:
    store = open_feature_store(repo, online_store)
    rows = [{"customer_id": c, "merchant_id": 1, "amount": 1.0} for c in customers]
    service = store.get_feature_service("fraud_v1")
    values: list[object] = store.get_online_features(
        features=service, entity_rows=rows, full_feature_names=True
    ).to_dict()[FEATURE]
    return values


def test_full_materialize_refills_a_fresh_online_store(demo_repo: DemoRepo, tmp_path: Path) -> None:
    repo = tmp_path / "feature_repo"
    shutil.copytree(demo_repo.path, repo)  # with its registry: the watermark says "done"
    profiles = demo_repo.data.customer_profile
    customers = profiles.loc[profiles["avg_amount_30d"].notna(), "customer_id"].head(20).tolist()
    expected = profiles.set_index("customer_id").loc[customers, "avg_amount_30d"].tolist()

    with LocalRedisServer(free_port(), tmp_path / "redis") as fresh:
        store = open_feature_store(repo, fresh.connection_string)
        incremental = materialize_incremental(store)
        assert set(incremental.feature_views) == {
            "customer_profile", "customer_activity", "merchant_risk"
        }  # fmt: skip
        # Incremental trusts the watermark: the old profile rows are not loaded again.
        assert profile_values(repo, fresh.connection_string, customers) == [None] * 20

        materialize_all(open_feature_store(repo, fresh.connection_string))
        assert profile_values(repo, fresh.connection_string, customers) == expected
