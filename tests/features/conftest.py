"""A Feast repo of every scalar type the fast Redis read supports, written by Feast itself."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from feast import FeatureStore
from feast.data_source import PushMode

from features.store import feast_apply, open_feature_store
from jobs.demo.redis_server import LocalRedisServer

FEATURE_STORE_YAML = """\
project: typed
provider: local
registry:
  path: data/registry.db
  enable_online_feature_view_versioning: true
online_store:
  type: redis
  redis_type: {redis_type}
  connection_string: "{connection_string}"
offline_store:
  type: file
entity_key_serialization_version: 3
"""

DEFINITIONS = """\
from datetime import timedelta

import pandas as pd
from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
from feast import RequestSource, ValueType
from feast.on_demand_feature_view import on_demand_feature_view
from feast.types import Bool, Float32, Float64, Int32, Int64, String, UnixTimestamp

user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.INT64)
item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING)
shop = Entity(name="shop", join_keys=["shop_id"], value_type=ValueType.INT32)

user_source = FileSource(name="user_source", path="data/user.parquet",
                         timestamp_field="event_timestamp")
user_push = PushSource(name="user_push", batch_source=user_source)

user_stats = FeatureView(
    name="user_stats",
    entities=[user],
    ttl=timedelta(days=1),
    schema=[
        Field(name="i32", dtype=Int32),
        Field(name="i64", dtype=Int64),
        Field(name="f32", dtype=Float32),
        Field(name="f64", dtype=Float64),
        Field(name="flag", dtype=Bool),
        Field(name="label", dtype=String),
        Field(name="seen", dtype=UnixTimestamp),
    ],
    source=user_push,
)

user_extra = FeatureView(
    name="user_extra",
    entities=[user],
    ttl=timedelta(days=30),
    schema=[Field(name="score", dtype=Float64), Field(name="visits", dtype=Int64)],
    source=FileSource(path="data/user_extra.parquet", timestamp_field="event_timestamp"),
    version="v1",
)

item_info = FeatureView(
    name="item_info",
    entities=[item],
    ttl=timedelta(days=30),
    schema=[Field(name="price", dtype=Float64), Field(name="category", dtype=String)],
    source=FileSource(path="data/item.parquet", timestamp_field="event_timestamp"),
)

shop_info = FeatureView(
    name="shop_info",
    entities=[shop],
    ttl=timedelta(days=30),
    schema=[Field(name="rating", dtype=Float32), Field(name="open", dtype=Bool)],
    source=FileSource(path="data/shop.parquet", timestamp_field="event_timestamp"),
)

order = RequestSource(name="order", schema=[Field(name="amount", dtype=Float64)])


@on_demand_feature_view(
    sources=[item_info, order],
    schema=[Field(name="price_ratio", dtype=Float64)],
    mode="pandas",
)
def item_ratio(inputs: pd.DataFrame) -> pd.DataFrame:
    price = pd.to_numeric(inputs["price"], errors="coerce").astype("float64")
    out = pd.DataFrame(index=inputs.index)
    out["price_ratio"] = inputs["amount"].astype("float64") / price
    return out


@on_demand_feature_view(
    sources=[user_stats, order],
    schema=[Field(name="amount_plus_i64", dtype=Float64), Field(name="shout", dtype=String)],
    mode="python",
)
def user_mix(inputs: dict) -> dict:
    return {
        "amount_plus_i64": [
            None if i is None else a + i for a, i in zip(inputs["amount"], inputs["i64"])
        ],
        "shout": [None if s is None else s.upper() for s in inputs["label"]],
    }


# The two views below put every column's name and dtype, and every cell's type and value,
# into their output: any difference in the frame a pandas-mode view is handed shows up there.
# One sees only plain columns (the fast frame), the other a timestamp (Feast's Arrow route).
# Feast serializes each view's function on its own, so the two bodies share no helper.
@on_demand_feature_view(
    sources=[item_info, shop_info, user_extra, order],
    schema=[Field(name="frame", dtype=String)],
    mode="pandas",
)
def plain_frame(inputs: pd.DataFrame) -> pd.DataFrame:
    head = "|".join(f"{c}:{inputs[c].dtype}" for c in inputs.columns)
    cells = [inputs[c].tolist() for c in inputs.columns]
    text = [head + "||" + "|".join(f"{type(v).__name__}:{v!r}" for v in row)
            for row in zip(*cells)]
    return pd.DataFrame({"frame": text}, index=inputs.index)


@on_demand_feature_view(
    sources=[user_stats, order],
    schema=[Field(name="frame", dtype=String)],
    mode="pandas",
)
def timestamp_frame(inputs: pd.DataFrame) -> pd.DataFrame:
    head = "|".join(f"{c}:{inputs[c].dtype}" for c in inputs.columns)
    cells = [inputs[c].tolist() for c in inputs.columns]
    text = [head + "||" + "|".join(f"{type(v).__name__}:{v!r}" for v in row)
            for row in zip(*cells)]
    return pd.DataFrame({"frame": text}, index=inputs.index)


everything = FeatureService(
    name="everything",
    features=[user_stats, user_extra, item_info, shop_info, item_ratio, user_mix, plain_frame,
              timestamp_frame],
)
plain = FeatureService(name="plain", features=[user_stats, shop_info[["rating"]]])
"""

USERS = 40
ITEMS = [f"item-{i}" for i in range(15)] + ["ünï-çødé", ""]
SHOPS = 12


@dataclass(frozen=True)
class TypedRepo:
    """A materialized and pushed-to Feast repo, and the entity values it knows."""

    path: Path
    connection_string: str
    redis_type: str
    now: datetime

    def store(self) -> FeatureStore:
        """A fresh FeatureStore on the repo."""
        return open_feature_store(self.path, self.connection_string)


def _nullable(values: Any, every: int) -> Any:
    return [None if i % every == 3 else v for i, v in enumerate(values.tolist())]


def make_typed_repo(target: Path, connection_string: str, redis_type: str = "redis") -> TypedRepo:
    """Write, apply, materialize and push the typed repo; some values are null on purpose."""
    rng = np.random.default_rng(5)
    repo = target / "typed_repo"
    (repo / "data").mkdir(parents=True)
    (repo / "feature_store.yaml").write_text(
        FEATURE_STORE_YAML.format(redis_type=redis_type, connection_string=connection_string)
    )
    (repo / "definitions.py").write_text(DEFINITIONS)
    now = datetime.now(UTC).replace(microsecond=0)
    fresh = now - timedelta(hours=2)
    users = np.arange(USERS, dtype=np.int64) - 5  # negative ids too
    user = pd.DataFrame(
        {
            "user_id": users,
            "event_timestamp": fresh,
            "i32": pd.array(_nullable(rng.integers(-(2**31), 2**31, USERS), 7), dtype="Int32"),
            "i64": pd.array(_nullable(rng.integers(-(2**62), 2**62, USERS), 5), dtype="Int64"),
            "f32": rng.normal(0, 1e3, USERS).astype(np.float32),
            "f64": _nullable(rng.normal(0, 1, USERS), 4),
            "flag": rng.integers(0, 2, USERS).astype(bool),
            "label": _nullable(rng.choice(["a", "bb", "ç", "x" * 200], USERS), 6),
            "seen": pd.to_datetime(rng.integers(0, 2_000_000_000, USERS), unit="s", utc=True),
        }
    )
    user.to_parquet(repo / "data" / "user.parquet")
    pd.DataFrame(
        {
            "user_id": users[::2],
            "event_timestamp": fresh,
            "score": rng.uniform(0, 1, len(users[::2])),
            "visits": rng.integers(0, 10**6, len(users[::2])),
        }
    ).to_parquet(repo / "data" / "user_extra.parquet")
    pd.DataFrame(
        {
            "item_id": ITEMS,
            "event_timestamp": fresh,
            "price": _nullable(rng.uniform(1, 100, len(ITEMS)), 5),
            "category": rng.choice(["food", "toys"], len(ITEMS)),
        }
    ).to_parquet(repo / "data" / "item.parquet")
    pd.DataFrame(
        {
            "shop_id": np.arange(SHOPS, dtype=np.int32),
            "event_timestamp": fresh,
            "rating": rng.uniform(0, 5, SHOPS).astype(np.float32),
            "open": rng.integers(0, 2, SHOPS).astype(bool),
        }
    ).to_parquet(repo / "data" / "shop.parquet")

    feast_apply(repo, connection_string)
    store = open_feature_store(repo, connection_string)
    store.materialize(now - timedelta(days=20), now)
    # Pushed rows overwrite some users, add new ones, and one is older than the view's TTL:
    # Feast 0.67's online read still returns it, and so must we.
    pushed = user.iloc[:6].copy()
    pushed["user_id"] = [1, 2, 100, 101, 102, 103]
    pushed["event_timestamp"] = [now, now, now, now, now, now - timedelta(days=10)]
    pushed["f64"] = [0.5, None, -0.0, 1e300, float("nan"), 2.5]
    store.push("user_push", pushed, to=PushMode.ONLINE)
    return TypedRepo(repo, connection_string, redis_type, now)


@pytest.fixture(scope="session")
def typed_repo(
    tmp_path_factory: pytest.TempPathFactory, redis_server: LocalRedisServer
) -> TypedRepo:
    """The typed repo in the tests' Redis."""
    return make_typed_repo(tmp_path_factory.mktemp("typed"), redis_server.connection_string)


Columns = Mapping[str, Sequence[Any]]


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float) and ours != ours:
        return theirs != theirs  # NaN
    return type(ours) is type(theirs) and ours == theirs


def assert_same_features(ours: Columns, theirs: Columns, keys: Sequence[str]) -> None:
    """Every feature column Feast returned, value for value and type for type."""
    expected = {k: v for k, v in theirs.items() if k not in keys}
    assert sorted(ours) == sorted(expected)
    for name, values in expected.items():
        got = list(ours[name])
        assert len(got) == len(values), name
        wrong = [(i, got[i], values[i]) for i in range(len(values)) if not _same(got[i], values[i])]
        assert not wrong, f"{name}: (row, ours, feast) {wrong[:5]}"


@pytest.fixture
def same_features() -> Callable[[Columns, Columns, Sequence[str]], None]:
    """The parity assertion: our columns equal Feast's ``to_dict()`` minus the join keys."""
    return assert_same_features
