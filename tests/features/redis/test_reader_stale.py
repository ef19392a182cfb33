"""A view's ttl enforced on the online read: values older than it are missing and named stale."""

from __future__ import annotations

import asyncio
import math
import random
from typing import Any

from feast import FeatureStore

from features.online_features import OnlineFeatures
from features.redis.reader import RedisOnlineFeatureReader
from features.sdk_reader import OnlineFeatureReader
from tests.features.conftest import TypedRepo

STALE_USER = 103
"""Pushed ten days ago into ``user_stats``, whose ttl is one day; everything else is fresh."""
USER_STATS = ["i32", "i64", "f32", "f64", "flag", "label", "seen"]
ON_DEMAND_OF_USER_STATS = ("timestamp_frame__frame",)
"""Writes every input it was handed into its output: equal to Feast's, it saw the old values."""


def _rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [
        {
            "user_id": rng.choice([STALE_USER, STALE_USER, 1, 2, 7, 100, 999, 20]),
            "item_id": rng.choice(["item-1", "item-2", "no-such-item"]),
            "shop_id": rng.choice([0, 3, 77]),
            "amount": 2.5,
        }
        for _ in range(count)
    ]


def _read(reader: Any, service: str, rows: list[dict[str, Any]]) -> OnlineFeatures:
    async def run() -> OnlineFeatures:
        try:
            result: OnlineFeatures = await reader.read(service, rows)
            return result
        finally:
            await reader.close()

    return asyncio.run(run())


def _feast(store: FeatureStore, service: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    response = store.get_online_features(
        features=store.get_feature_service(service), entity_rows=rows, full_feature_names=True
    )
    result: dict[str, Any] = response.to_dict()
    return result


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and math.isnan(ours):
        return math.isnan(theirs)
    return type(ours) is type(theirs) and ours == theirs


def _check_against_feast(ours: OnlineFeatures, theirs: dict[str, Any], rows: list[Any]) -> None:
    """Feast's values, except the stale user's ``user_stats``: None, and named stale."""
    old = [r["user_id"] == STALE_USER for r in rows]
    assert any(old)
    stale_names = {f"user_stats__{f}" for f in USER_STATS}
    for name, values in ours.items():
        expected = theirs[name]
        if name in stale_names:
            # Stale only where Feast has a value: a null stays missing, not stale.
            where = [o and v is not None for o, v in zip(old, expected, strict=True)]
            assert any(where), name
            assert list(ours.stale[name]) == where, name
            expected = [None if w else v for v, w in zip(expected, where, strict=True)]
        else:
            assert name not in ours.stale
        wrong = [
            i for i, (a, b) in enumerate(zip(values, expected, strict=True)) if not _same(a, b)
        ]
        assert not wrong, f"{name}: rows {wrong[:5]}"
    assert set(ours.stale) == stale_names


def test_the_fast_reader_turns_values_older_than_the_ttl_into_missing(
    typed_repo: TypedRepo,
) -> None:
    store = typed_repo.store()
    for rows in ([*_rows(1, seed=1), {**_rows(1, 2)[0], "user_id": STALE_USER}], _rows(200, 3)):
        ours = _read(RedisOnlineFeatureReader(store, 5.0, enforce_ttl=True), "everything", rows)
        theirs = _feast(store, "everything", rows)
        _check_against_feast(ours, theirs, rows)
        # On-demand views were handed the old values, as Feast hands them over (checked above).
        for name in ON_DEMAND_OF_USER_STATS:
            assert name in ours
            assert name not in ours.stale
        assert ours.stored >= {f"user_stats__{f}" for f in USER_STATS}
        assert not ours.stored & set(ON_DEMAND_OF_USER_STATS)


def test_the_sdk_reader_enforces_the_same_ttl(typed_repo: TypedRepo) -> None:
    store = typed_repo.store()
    rows = _rows(60, seed=4)
    ours = _read(OnlineFeatureReader(store, 5.0, enforce_ttl=True), "everything", rows)
    fast = _read(RedisOnlineFeatureReader(store, 5.0, enforce_ttl=True), "everything", rows)
    assert {k: list(v) for k, v in ours.stale.items()} == {
        k: list(v) for k, v in fast.stale.items()
    }
    assert ours.stored == fast.stored
    for name, values in fast.items():
        assert all(_same(a, b) for a, b in zip(ours[name], values, strict=True)), name


def test_off_nothing_is_stale_and_fresh_views_never_are(typed_repo: TypedRepo) -> None:
    store = typed_repo.store()
    rows = _rows(40, seed=5)
    served = _read(RedisOnlineFeatureReader(store, 5.0, enforce_ttl=False), "everything", rows)
    assert served.stale == {}
    assert all(
        v is not None
        for v, r in zip(served["user_stats__i32"], rows, strict=True)
        if r["user_id"] == 1
    )
    enforced = _read(RedisOnlineFeatureReader(store, 5.0, enforce_ttl=True), "everything", rows)
    assert not any(
        name.startswith(("user_extra", "item_info", "shop_info")) for name in enforced.stale
    )
