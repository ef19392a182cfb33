"""The frames handed to pandas-mode views equal Feast's ``Table.from_pydict(...).to_pandas()``."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from feast.on_demand_feature_view import OnDemandFeatureView

from features.redis.reader import RedisOnlineFeatureReader
from features.transforms import frames as feast_frames
from features.transforms.frames import arrow_pandas_column, feast_column, feast_columns, feast_frame

PLAIN_COLUMNS: list[list[Any]] = [
    [],
    [None],
    [None, None, None],
    [1, 2, -(2**63), 2**63 - 1],
    [1, None, 2**62],
    [0.5, float("nan"), -0.0, 1e300],
    [0.5, None, float("inf")],
    [True, False],
    [True, None, False],
    ["a", "", "ünï"],
    ["a", None],
]

# Arrow converts these itself (or refuses them): the fast frame must step aside.
ARROW_COLUMNS: list[list[Any]] = [
    [1, 2.5],  # ints and floats: Arrow makes doubles, or refuses big ints
    [2**62, 0.5],
    [2**63],  # beyond int64
    [True, 1],
    [pd.Timestamp("2024-01-01", tz="UTC")],
    [np.float64(1.5)],
    [b"bytes"],
    [[1, 2]],
]


@pytest.mark.parametrize("values", PLAIN_COLUMNS, ids=repr)
def test_plain_columns_convert_as_arrow_does(values: list[Any]) -> None:
    ours = pd.Series(arrow_pandas_column(values))
    theirs = pa.array(values).to_pandas()
    pd.testing.assert_series_equal(ours, theirs, check_exact=True)
    assert [type(v) for v in ours.tolist()] == [type(v) for v in theirs.tolist()]


@pytest.mark.parametrize("values", ARROW_COLUMNS, ids=repr)
def test_other_columns_are_left_to_arrow(values: list[Any]) -> None:
    assert arrow_pandas_column(values) is None
    assert feast_frame({"x": values}) is None


@pytest.mark.parametrize("constructor", ["block manager", "public"])
def test_random_frames_equal_arrows(constructor: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if constructor == "public":  # as if pandas changed its internals

        def changed(*_args: Any) -> pd.DataFrame:
            raise AttributeError("no such internals")

        monkeypatch.setattr(feast_frames, "_unconsolidated_frame", changed)
    rng = random.Random(11)
    makers = [
        lambda: rng.randint(-(2**63), 2**63 - 1),
        lambda: rng.uniform(-1e6, 1e6),
        lambda: rng.random() < 0.5,
        lambda: rng.choice(["", "x", "ç", "long" * 20]),
    ]
    for _ in range(200):
        rows = rng.randint(0, 6)
        columns: dict[str, list[Any]] = {}
        for c in range(rng.randint(1, 8)):
            make = rng.choice(makers)
            nulls = rng.random() < 0.4
            column = [None if nulls and rng.random() < 0.3 else make() for _ in range(rows)]
            columns[f"c{c}"] = column
        ours = feast_frame(columns, [("alias", "c0")])
        table = pa.Table.from_pydict(columns)
        theirs = table.append_column("alias", table["c0"]).to_pandas()
        assert ours is not None
        pd.testing.assert_frame_equal(ours, theirs, check_exact=True)


def test_an_alias_never_duplicates_a_column() -> None:
    # Arrow would append a second column of the same name; a dict cannot, so Feast decides.
    assert feast_frame({"a": [1], "b": [2]}, [("b", "a")]) is None


def test_an_alias_is_a_column_of_its_own() -> None:
    frame = feast_frame({"a": [1.0, 2.0]}, [("b", "a")])
    assert frame is not None
    frame.loc[0, "b"] = 9.0
    assert frame["a"].tolist() == [1.0, 2.0]


@pytest.mark.parametrize(
    "series",
    [
        pd.Series([1.5, np.nan, -0.0]),
        pd.Series([1, 2], dtype="int64"),
        pd.Series([1.5, 2.5], dtype="float32"),
        pd.Series(["a", None], dtype=object),
        pd.Series([True, False]),
        pd.Series([1, None], dtype="Int64"),
    ],
    ids=lambda s: str(s.dtype),
)
def test_output_columns_read_as_from_pandas_does(series: pd.Series) -> None:
    theirs = pa.Table.from_pandas(pd.DataFrame({"x": series}))["x"].to_numpy()
    ours = feast_column(series)
    assert ours.dtype == theirs.dtype
    assert [repr(v) for v in ours.tolist()] == [repr(v) for v in theirs.tolist()]


def test_plain_views_skip_the_arrow_round_trip(
    typed_repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timestamp view goes through Feast's transform_arrow; the plain ones never do."""
    through_arrow: list[str] = []
    original = OnDemandFeatureView.transform_arrow

    def spy(self: OnDemandFeatureView, table: pa.Table, full: bool = False) -> pa.Table:
        through_arrow.append(self.name)
        return original(self, table, full)

    monkeypatch.setattr(OnDemandFeatureView, "transform_arrow", spy)
    rows = [{"user_id": 1, "item_id": "item-1", "shop_id": 2, "amount": 3.5}]

    async def read() -> dict[str, Any]:
        reader = RedisOnlineFeatureReader(typed_repo.store(), timeout_s=5.0)
        try:
            return dict(await reader.read("everything", rows))
        finally:
            await reader.close()

    columns = asyncio.run(read())
    assert columns["plain_frame__frame"][0].startswith("user_id:int64|item_id:object")
    assert set(through_arrow) == {"timestamp_frame"}


def test_output_frames_read_as_from_pandas_does() -> None:
    floats = pd.DataFrame({"a": [1.5, np.nan], "b": [-0.0, 2.0]})
    mixed = pd.DataFrame({"a": [1.5, np.nan], "s": ["x", None]})
    for frame in (floats, mixed):
        table = pa.Table.from_pandas(frame)
        ours = feast_columns(frame, list(frame.columns))
        for name, column in zip(frame.columns, ours, strict=True):
            theirs = table[name].to_numpy()
            assert column.dtype == theirs.dtype
            assert [repr(v) for v in column.tolist()] == [repr(v) for v in theirs.tolist()]
    # Only some of the columns: each one on its own.
    assert feast_columns(floats, ["b"])[0].tolist() == [-0.0, 2.0]
