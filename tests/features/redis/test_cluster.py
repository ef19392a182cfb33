"""The fast read against a real three-node Redis Cluster, written by Feast's cluster client."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from features.online_features import OnlineFeatures
from features.redis.reader import RedisOnlineFeatureReader
from tests.features.conftest import make_typed_repo
from tests.utils.redis_cluster import RedisCluster

Parity = Callable[[Mapping[str, Sequence[Any]], Mapping[str, Sequence[Any]], Sequence[str]], None]


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Three cluster-enabled redis-servers joined into one cluster; the connection string."""
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start().connection_string
    finally:
        cluster.stop()


def test_cluster_parity(redis_cluster: str, tmp_path: Path, same_features: Parity) -> None:
    repo = make_typed_repo(tmp_path, redis_cluster, redis_type="redis_cluster")
    store = repo.store()
    rows = [
        {"user_id": u, "item_id": f"item-{u % 17}", "shop_id": u % 14, "amount": 2.0}
        for u in range(-7, 110)
    ]
    theirs = store.get_online_features(
        features=store.get_feature_service("everything"), entity_rows=rows, full_feature_names=True
    ).to_dict()

    async def read(enforce_ttl: bool) -> OnlineFeatures:
        reader = RedisOnlineFeatureReader(store, timeout_s=5.0, enforce_ttl=enforce_ttl)
        try:
            return await reader.read("everything", rows)
        finally:
            await reader.close()

    ours = asyncio.run(read(enforce_ttl=False))
    same_features(ours, theirs, ["user_id", "item_id", "shop_id"])
    assert any(v is not None for v in ours["user_stats__i64"])
    # The event times come with the values across the cluster too: user 103 is ten days old.
    enforced = asyncio.run(read(enforce_ttl=True))
    old = [r["user_id"] == 103 for r in rows]
    assert list(enforced.stale["user_stats__i64"]) == old
    assert [v is None for v in enforced["user_stats__i64"]] == [
        o or v is None for o, v in zip(old, ours["user_stats__i64"], strict=True)
    ]
