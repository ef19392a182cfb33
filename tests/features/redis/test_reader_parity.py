"""The fast Redis read returns exactly what Feast's own online read returns.

Feast serves values however old: so does our reader with ``enforce_ttl`` off, as here
(``test_reader_stale.py`` has it on).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from feast import FeatureStore

from features.readers import make_online_reader
from features.redis.reader import RedisOnlineFeatureReader
from features.sdk_reader import OnlineFeatureReader
from features.store import open_feature_store
from tests.features.conftest import assert_same_features
from tests.utils.repo import DemoRepo

Parity = Callable[[Mapping[str, Sequence[Any]], Mapping[str, Sequence[Any]], Sequence[str]], None]


def _typed_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    items = [f"item-{i}" for i in range(15)] + ["ünï-çødé", "", "no-such-item"]
    return [
        {
            "user_id": rng.choice([*range(-5, 40), 100, 101, 102, 103, 999, -(10**12)]),
            "item_id": rng.choice(items),
            "shop_id": rng.choice([*range(12), 77, -1]),
            "amount": rng.choice([0.0, 1.5, 250.0, 3.25]),
        }
        for _ in range(count)
    ]


def _read(store: FeatureStore, service: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        reader = RedisOnlineFeatureReader(store, timeout_s=5.0, enforce_ttl=False)
        try:
            return dict(await reader.read(service, rows))
        finally:
            await reader.close()

    return asyncio.run(run())


def _feast(store: FeatureStore, service: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    features = store.get_feature_service(service)
    response = store.get_online_features(
        features=features, entity_rows=rows, full_feature_names=True
    )
    result: dict[str, Any] = response.to_dict()
    return result


def test_every_scalar_type_matches_feast(typed_repo: Any, same_features: Parity) -> None:
    store = typed_repo.store()
    rows = _typed_rows(300, seed=1)
    theirs = _feast(store, "everything", rows)
    ours = _read(store, "everything", rows)
    same_features(ours, theirs, ["user_id", "item_id", "shop_id"])
    # The data really has what the test claims to cover.
    assert None in theirs["user_stats__f64"]
    assert None in theirs["item_info__price"]
    assert any(isinstance(v, float) for v in theirs["user_stats__f32"])
    assert any(v is not None for v in theirs["user_stats__seen"])
    assert None in theirs["item_ratio__price_ratio"]
    # The frames handed to pandas-mode views: nullable ints, floats, bools and strings.
    plain = theirs["plain_frame__frame"][0]
    for column in ("item_id:object", "amount:float64", "shop_info__open:"):
        assert column in plain
    assert any("NoneType:None" in text for text in theirs["plain_frame__frame"])
    assert "seen:datetime64" in theirs["timestamp_frame__frame"][0]
    # Feast 0.67 keeps a python-mode view's outputs only under the names its UDF returns,
    # so with full feature names it drops them; parity means we do too.
    assert "user_mix__shout" not in theirs
    assert "user_mix__shout" not in ours


def test_a_single_row_and_a_subset_service(typed_repo: Any, same_features: Parity) -> None:
    store = typed_repo.store()
    for rows in (_typed_rows(1, seed=2), _typed_rows(50, seed=3)):
        keep = [{k: r[k] for k in ("user_id", "shop_id")} for r in rows]
        same_features(
            _read(store, "plain", keep), _feast(store, "plain", keep), ["user_id", "shop_id"]
        )


def test_pushed_rows_older_than_the_ttl_are_returned_when_not_enforced(typed_repo: Any) -> None:
    store = typed_repo.store()
    rows = [{"user_id": 103, "shop_id": 0}]
    ours = _read(store, "plain", rows)
    assert ours["user_stats__f64"] == [2.5]
    assert _feast(store, "plain", rows)["user_stats__f64"] == [2.5]


def test_versioned_view_fields(typed_repo: Any) -> None:
    store = typed_repo.store()
    view = store.get_feature_view("user_extra")
    ours = _read(store, "everything", _typed_rows(20, seed=4))
    # With versioning on, Feast names the column <view>@v<N> and the Redis fields <view>_v<N>.
    assert view.current_version_number == 1
    assert "user_extra@v1__score" in ours
    assert any(v is not None for v in ours["user_extra@v1__score"])


def test_demo_repo_parity(demo_repo: DemoRepo, same_features: Parity) -> None:
    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    rng = random.Random(7)
    customers = demo_repo.data.transactions["customer_id"].unique().tolist()
    merchants = demo_repo.data.transactions["merchant_id"].unique().tolist()
    rows = [
        {
            "customer_id": rng.choice([*customers[:500], 10**9, -3]),
            "merchant_id": rng.choice([*merchants, 10**9]),
            "amount": rng.choice([0.0, 12.5, 99.99, 1500.0]),
        }
        for _ in range(400)
    ]
    rows = [{k: int(v) if k != "amount" else v for k, v in r.items()} for r in rows]
    same_features(
        _read(store, "fraud_v1", rows),
        _feast(store, "fraud_v1", rows),
        ["customer_id", "merchant_id"],
    )


def test_factory_picks_the_reader_by_store(typed_repo: Any, tmp_path: Any) -> None:
    from tests.utils.repo import make_foreign_repo

    async def kinds() -> tuple[type, type]:
        redis_reader = make_online_reader(typed_repo.store(), 1.0)
        repo, _ = make_foreign_repo(tmp_path)
        sqlite_reader = make_online_reader(FeatureStore(repo_path=str(repo)), 1.0)
        await redis_reader.close()
        return type(redis_reader), type(sqlite_reader)

    assert asyncio.run(kinds()) == (RedisOnlineFeatureReader, OnlineFeatureReader)


def test_both_reply_readers_agree(demo_repo: DemoRepo, monkeypatch: Any) -> None:
    """Replies taken straight off hiredis equal redis-py's own per-reply read."""
    from features.redis import fetch as redis_fetch

    store = open_feature_store(demo_repo.path, demo_repo.online_store)
    customers = demo_repo.data.transactions["customer_id"].unique().tolist()
    rows = [
        {"customer_id": int(c), "merchant_id": 1 + i % 50, "amount": 10.0}
        for i, c in enumerate(customers[:1500])
    ]
    fast = _read(store, "fraud_v1", rows)
    monkeypatch.setattr(redis_fetch, "_NOT_ENOUGH_DATA", None)
    per_reply = _read(store, "fraud_v1", rows)
    assert_same_features(fast, per_reply, [])
    assert sum(v is not None for v in fast["customer_profile__country"]) > 1000
