"""``FeaturePusher`` without HTTP: what any front end (a route, a stream) gets back and raises."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from features.errors import (
    FeatureStoreError,
    InvalidPush,
    OnlineStoreUnavailable,
    PushSourceNotFound,
    PushTooLarge,
)
from features.push import FeaturePusher, PushResult, PushTarget
from features.store import open_feature_store
from jobs.demo.redis_server import free_port
from tests.utils.repo import DemoRepo, private_demo_repo

SOURCE = "customer_activity_push"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoRepo]:
    """Pushes change what the store holds: a repo and a Redis of this module's own."""
    with private_demo_repo(tmp_path_factory.mktemp("pusher")) as demo:
        yield demo


@pytest.fixture
def pusher(repo: DemoRepo) -> FeaturePusher:
    """A pusher over the module's repo, at most 10 rows a push."""
    return FeaturePusher(open_feature_store(repo.path, repo.online_store), max_rows=10)


def rows(repo: DemoRepo, n: int) -> dict[str, list[Any]]:
    """``n`` activity rows of real customers, timed now."""
    customers = sorted(int(c) for c in repo.data.customer_activity["customer_id"].unique())[:n]
    now = datetime.now(UTC).isoformat()
    return {
        "customer_id": customers,
        "event_timestamp": [now] * n,
        "txn_count_1h": list(range(n)),
        "txn_amount_1h": [1.5] * n,
        "txn_count_24h": list(range(n)),
    }


def test_a_push_says_what_it_wrote_and_feast_reads_it(
    pusher: FeaturePusher, repo: DemoRepo
) -> None:
    df = {**rows(repo, 3), "txn_count_1h": [40, 41, 42]}
    pushed = pusher.push(SOURCE, df, "online")
    assert pushed == PushResult(SOURCE, PushTarget.ONLINE, 3, ("customer_activity",))
    read = pusher.store.get_online_features(
        ["customer_activity:txn_count_1h"], [{"customer_id": c} for c in df["customer_id"]]
    ).to_dict()
    assert read["txn_count_1h"] == [40, 41, 42]
    assert pusher.push(SOURCE, rows(repo, 1), PushTarget.ONLINE_AND_OFFLINE).rows == 1


def test_every_problem_of_a_push_is_listed_by_column(pusher: FeaturePusher, repo: DemoRepo) -> None:
    df = {**rows(repo, 2), "txn_amount_1h": ["a", "b"]}
    del df["txn_count_24h"]
    with pytest.raises(InvalidPush) as raised:
        pusher.push(SOURCE, df)
    assert [p["field"] for p in raised.value.problems] == ["df.txn_amount_1h", "df.txn_count_24h"]
    assert "(and 1 more)" in str(raised.value)


def test_sources_sizes_and_modes_are_refused_with_their_own_errors(
    pusher: FeaturePusher, repo: DemoRepo
) -> None:
    with pytest.raises(PushSourceNotFound, match="customer_activity_push"):
        pusher.push("nope", rows(repo, 1))
    with pytest.raises(PushTooLarge, match="11 rows"):
        pusher.push(SOURCE, rows(repo, 11))
    with pytest.raises(InvalidPush, match="online_and_offline"):
        pusher.push(SOURCE, rows(repo, 1), "sideways")


def test_an_online_store_that_does_not_answer_is_unavailable(repo: DemoRepo) -> None:
    store = open_feature_store(repo.path, f"127.0.0.1:{free_port()}")
    with pytest.raises(OnlineStoreUnavailable):
        FeaturePusher(store, max_rows=10).push(SOURCE, rows(repo, 1))


def test_an_offline_source_that_cannot_be_read_is_a_store_error(
    pusher: FeaturePusher, repo: DemoRepo
) -> None:
    source = repo.path / "data" / "customer_activity.parquet"
    moved = source.with_name("moved-away.parquet")
    source.rename(moved)
    try:
        with pytest.raises(FeatureStoreError, match="offline source") as raised:
            pusher.push(SOURCE, rows(repo, 1), "offline")
        assert not isinstance(raised.value, InvalidPush)  # the server's trouble, not the rows'
    finally:
        moved.rename(source)
